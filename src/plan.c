/* A network compiled by R/plan.R: an integer matrix (code, trainable,
   table index, slots) and a double matrix (four parameters), one column
   per layer, plus the list `tables` of per-layer data: the tabulated R
   functions of nt_activation() layers (lists) and the coefficients of
   polynomial layers (double vectors), each named by its layer's table index. */
#include "ntk.h"

static void read_table(SEXP tab, nt_table *t)
{
  if (TYPEOF(tab) != VECSXP || XLENGTH(tab) != 8)
    Rf_error("'tables' must hold lists of 8 elements");
  for (int i = 0; i < 8; i++)
    if (TYPEOF(VECTOR_ELT(tab, i)) != REALSXP)
      Rf_error("'tables' element %d is not a double vector", i + 1);
  double lo = REAL(VECTOR_ELT(tab, 0))[0], inv_h = REAL(VECTOR_ELT(tab, 1))[0];
  double cells = REAL(VECTOR_ELT(tab, 2))[0];
  SEXP vals = VECTOR_ELT(tab, 3);
  if (!R_FINITE(lo) || !R_FINITE(inv_h) || inv_h <= 0 || !(cells >= 1) ||
      cells > INT_MAX / 6 || XLENGTH(vals) != 6 * (R_xlen_t) cells)
    Rf_error("malformed activation table");
  nt_check_finite(REAL(vals), XLENGTH(vals), "activation table");
  t->lo = lo; t->h = 1.0 / inv_h; t->inv_h = inv_h; t->cells = (int) cells; t->vals = REAL(vals);
  SEXP rx = VECTOR_ELT(tab, 4), rw = VECTOR_ELT(tab, 5);
  SEXP ax = VECTOR_ELT(tab, 6), aw = VECTOR_ELT(tab, 7);
  if (XLENGTH(rx) < 1 || XLENGTH(rx) != XLENGTH(rw) || XLENGTH(ax) < 1 ||
      XLENGTH(ax) != XLENGTH(aw) || XLENGTH(rx) > 1000 || XLENGTH(ax) > 1000)
    Rf_error("malformed quadrature rule in activation table");
  t->nrad = (int) XLENGTH(rx); t->rad_x = REAL(rx); t->rad_w = REAL(rw);
  t->nang = (int) XLENGTH(ax); t->ang_x = REAL(ax); t->ang_w = REAL(aw);
}

/* The data of layer l (a polynomial's coefficients, an aggregation's
   adjacency matrices): entry ti (1-based) of `tables`, a finite double
   vector of min..max values. */
static void read_data(SEXP tables, int ti, int ntab, int l, nt_op *op, R_xlen_t min, R_xlen_t max)
{
  const char *name = op->info->name;
  if (ti < 1 || ti > ntab || TYPEOF(VECTOR_ELT(tables, ti - 1)) != REALSXP)
    Rf_error("layer %d (%s) names no data vector", l + 1, name);
  SEXP a = VECTOR_ELT(tables, ti - 1);
  R_xlen_t n = XLENGTH(a);
  if (n < min || n > max)
    Rf_error("layer %d (%s) must have %.0f to %.0f values", l + 1, name, (double) min, (double) max);
  nt_check_finite(REAL(a), n, name);
  op->coef = REAL(a);
  op->ncoef = n;
}

/* The slots of a plan: every op reads live slots, a fan-out writes free
   ones, a fan-in frees its branches, and the plan ends with slot 0 alone,
   so that no engine reads a state that was never written. */
static void check_slots(nt_plan *plan)
{
  int live[NT_MAX_SLOTS] = {0};
  live[0] = 1;
  plan->nslots = 1;
  plan->branches = 0;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    int branch = (op->kind & NT_KIND_BRANCH) != 0;
    if (op->slot < 0 || op->slot >= NT_MAX_SLOTS || !live[op->slot])
      Rf_error("layer %d reads slot %d, which holds no state", l + 1, op->slot);
    if (!branch) {
      if (op->count != 0) Rf_error("layer %d is not a fan-out or fan-in but names other slots", l + 1);
      continue;
    }
    plan->branches = 1;
    if (op->count < 1 || op->first < 0 || op->first > NT_MAX_SLOTS - op->count)
      Rf_error("layer %d names slots outside 0..%d", l + 1, NT_MAX_SLOTS - 1);
    for (int j = op->first; j < op->first + op->count; j++) {
      int fanout = op->code == NT_OP_FANOUT;
      if (j == op->slot || live[j] == fanout)
        Rf_error("layer %d: slot %d is %s", l + 1, j, fanout ? "in use" : "empty");
      live[j] = fanout;
      if (j + 1 > plan->nslots) plan->nslots = j + 1;
    }
  }
  for (int j = 1; j < NT_MAX_SLOTS; j++)
    if (live[j]) Rf_error("the plan leaves slot %d unmerged: every fan-out needs a fan-in", j);
}

/* The fusion pass: marks ops that an engine may run together with the next
   one on the same slot (ABReLU then dense: the vectorised column loop of
   the fully connected engine; a convolution then an activation: the
   convolutional engine's per-row activation). */
static void fuse_pass(nt_plan *plan)
{
  for (int l = 0; l < plan->nops; l++) {
    nt_op *op = plan->ops + l;
    op->fuse = 0;
    if (l + 1 >= plan->nops || op[1].slot != op->slot) continue;
    if (op->code == NT_OP_ABRELU && op[1].code == NT_OP_DENSE && op[1].p3 == 0) op->fuse = 1;
    /* (not a local convolution: its off-diagonal pairs are zeroed before the activation) */
    if (op->code == NT_OP_CONV && op[1].info->conv == nt_conv_elementwise) op->fuse = 1;
  }
}

void nt_plan_read(SEXP ops_int, SEXP ops_dbl, SEXP tables, nt_plan *plan)
{
  if (!Rf_isInteger(ops_int) || !Rf_isMatrix(ops_int))
    Rf_error("'ops_int' must be an integer matrix with %d rows", NT_P_ROWS);
  if (TYPEOF(ops_dbl) != REALSXP || !Rf_isMatrix(ops_dbl) || Rf_nrows(ops_dbl) != NT_N_PARAMS)
    Rf_error("'ops_dbl' must be a double matrix with %d rows", NT_N_PARAMS);
  int n = Rf_ncols(ops_int);
  if (Rf_ncols(ops_dbl) != n)
    Rf_error("'ops_int' and 'ops_dbl' must have the same number of columns");
  if (Rf_nrows(ops_int) != NT_P_ROWS)
    Rf_error("'ops_int' must be an integer matrix with %d rows", NT_P_ROWS);
  if (TYPEOF(tables) != VECSXP) Rf_error("'tables' must be a list");
  int ntab = (int) XLENGTH(tables);
  nt_table *tab = (nt_table *) R_alloc(ntab > 0 ? ntab : 1, sizeof(nt_table));
  int *have = (int *) R_alloc(ntab > 0 ? ntab : 1, sizeof(int));
  for (int i = 0; i < ntab; i++) {
    SEXP ti = VECTOR_ELT(tables, i);
    have[i] = ti != R_NilValue && TYPEOF(ti) != REALSXP;   /* a double vector: coefficients */
    if (have[i]) read_table(ti, tab + i);
  }
  plan->nops = n;
  plan->nact = 0;
  plan->ops = (nt_op *) R_alloc(n > 0 ? n : 1, sizeof(nt_op));
  const int *oi = INTEGER(ops_int);
  const double *od = REAL(ops_dbl);
  for (int l = 0; l < n; l++) {
    nt_op *op = plan->ops + l;
    const int *col = oi + (size_t) NT_P_ROWS * l;
    op->code = col[NT_P_CODE];
    op->trainable = col[NT_P_TRAINABLE] != 0;
    op->slot = col[NT_P_SLOT];
    op->first = col[NT_P_FIRST];
    op->count = col[NT_P_COUNT];
    const double *pd = od + (size_t) NT_N_PARAMS * l;
    op->p1 = pd[0];
    op->p2 = pd[1];
    op->p3 = pd[2];
    op->p4 = pd[3];
    op->table = NULL;
    op->coef = NULL;
    op->ncoef = 0;
    for (int i = 0; i < NT_N_PARAMS; i++)
      if (!R_FINITE(pd[i])) Rf_error("layer %d has a non-finite parameter", l + 1);
    const nt_op_info *info = nt_op_lookup(op->code);
    if (info == NULL) Rf_error("layer %d has an unknown code %d", l + 1, op->code);
    op->info = info;
    op->kind = info->kind;
    if (info->variances && (op->p1 < 0 || op->p2 < 0))
      Rf_error("layer %d has a negative variance", l + 1);
    const char *bad = info->check ? info->check(op) : NULL;
    if (bad) Rf_error("layer %d (%s): %s", l + 1, info->name, bad);
    if (op->code == NT_OP_TABLE) {
      int ti = col[NT_P_TABLE];
      if (ti < 1 || ti > ntab) Rf_error("layer %d names a missing activation table", l + 1);
      if (VECTOR_ELT(tables, ti - 1) != R_NilValue && !have[ti - 1])
        Rf_error("layer %d names activation table %d, which is not a table", l + 1, ti);
      op->table = have[ti - 1] ? tab + ti - 1 : NULL;
    }
    if (op->code == NT_OP_POLY) read_data(tables, col[NT_P_TABLE], ntab, l, op, 1, NT_MAX_POLY_COEF);
    if (op->code == NT_OP_AGGREGATE) read_data(tables, col[NT_P_TABLE], ntab, l, op, 1, R_XLEN_T_MAX);
    if (info->kind & NT_KIND_ELEMENTWISE) plan->nact++;
  }
  check_slots(plan);
  fuse_pass(plan);
}

int nt_plan_self(const nt_plan *plan, double s0, double *self)
{
  double s[NT_MAX_SLOTS], *sp[NT_MAX_SLOTS];
  for (int j = 0; j < NT_MAX_SLOTS; j++) sp[j] = s + j;
  s[0] = s0;
  int j = 0;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    double *v = s + op->slot;
    if (op->kind & NT_KIND_BRANCH) {
      nt_branch_step(op, sp, NULL, 1);
      continue;
    }
    if (op->code == NT_OP_DROPOUT) {   /* an input with itself: one mask twice */
      *v /= op->p1;
      continue;
    }
    if (!(op->kind & NT_KIND_ELEMENTWISE)) {   /* dense (the only other op on vectors) */
      *v = op->p1 * *v + op->p2;
      continue;
    }
    double r = sqrt(*v), k, kdot;
    self[NT_SELF * j] = *v;
    self[NT_SELF * j + 1] = r;
    self[NT_SELF * j + 2] = r > 0 ? 1.0 / r : 0.0;
    if (op->code == NT_OP_TABLE &&
        (op->table == NULL || !(nt_table_reach(op->table, *v) <= -op->table->lo)))
      return l + 1;
    nt_act_pair(op, *v, *v, r, r, *v, &k, &kdot);
    *v = k;
    j++;
  }
  return 0;
}
