/* A network compiled by R/plan.R: an integer matrix (code, trainable,
   table index) and a double matrix (two parameters), one column per layer,
   plus the list of activation tables. */
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

void nt_plan_read(SEXP ops_int, SEXP ops_dbl, SEXP tables, nt_plan *plan)
{
  if (!Rf_isInteger(ops_int) || !Rf_isMatrix(ops_int) || Rf_nrows(ops_int) != 3)
    Rf_error("'ops_int' must be an integer matrix with 3 rows");
  if (TYPEOF(ops_dbl) != REALSXP || !Rf_isMatrix(ops_dbl) || Rf_nrows(ops_dbl) != 2)
    Rf_error("'ops_dbl' must be a double matrix with 2 rows");
  int n = Rf_ncols(ops_int);
  if (Rf_ncols(ops_dbl) != n)
    Rf_error("'ops_int' and 'ops_dbl' must have the same number of columns");
  if (TYPEOF(tables) != VECSXP) Rf_error("'tables' must be a list");
  int ntab = (int) XLENGTH(tables);
  nt_table *tab = (nt_table *) R_alloc(ntab > 0 ? ntab : 1, sizeof(nt_table));
  int *have = (int *) R_alloc(ntab > 0 ? ntab : 1, sizeof(int));
  for (int i = 0; i < ntab; i++) {
    have[i] = VECTOR_ELT(tables, i) != R_NilValue;
    if (have[i]) read_table(VECTOR_ELT(tables, i), tab + i);
  }
  plan->nops = n;
  plan->nact = 0;
  plan->ops = (nt_op *) R_alloc(n > 0 ? n : 1, sizeof(nt_op));
  const int *oi = INTEGER(ops_int);
  const double *od = REAL(ops_dbl);
  for (int l = 0; l < n; l++) {
    nt_op *op = plan->ops + l;
    op->code = oi[3 * l];
    op->trainable = oi[3 * l + 1] != 0;
    op->p1 = od[2 * l];
    op->p2 = od[2 * l + 1];
    op->table = NULL;
    if (!R_FINITE(op->p1) || !R_FINITE(op->p2))
      Rf_error("layer %d has a non-finite parameter", l + 1);
    const nt_op_info *info = nt_op_lookup(op->code);
    if (info == NULL) Rf_error("layer %d has an unknown code %d", l + 1, op->code);
    op->kind = info->kind;
    if (info->variances && (op->p1 < 0 || op->p2 < 0))
      Rf_error("layer %d has a negative variance", l + 1);
    if (op->code == NT_OP_TABLE) {
      int ti = oi[3 * l + 2];
      if (ti < 1 || ti > ntab) Rf_error("layer %d names a missing activation table", l + 1);
      op->table = have[ti - 1] ? tab + ti - 1 : NULL;
    }
    if (info->kind & NT_KIND_ELEMENTWISE) plan->nact++;
  }
}

int nt_plan_self(const nt_plan *plan, double s0, double *self)
{
  double s = s0;
  int j = 0;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    if (op->code == NT_OP_DENSE) {
      s = op->p1 * s + op->p2;
      continue;
    }
    double r = sqrt(s), k, kdot;
    self[NT_SELF * j] = s;
    self[NT_SELF * j + 1] = r;
    self[NT_SELF * j + 2] = r > 0 ? 1.0 / r : 0.0;
    if (op->code == NT_OP_TABLE &&
        (op->table == NULL || !(nt_table_reach(op->table, s) <= -op->table->lo)))
      return l + 1;
    nt_act_pair(op, s, s, r, r, s, &k, &kdot);
    s = k;
    j++;
  }
  return 0;
}
