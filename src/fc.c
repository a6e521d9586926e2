/* Fully connected kernels.  The input Gram matrix comes from BLAS (dsyrk for
   a symmetric kernel, dgemm for a cross kernel) straight into the output
   buffer; then every pair runs all layers fused, reading its Gram entry and
   the two inputs' self variances, and writes its NNGP and NTK in place.
   No n x m temporary per layer; for z = NULL only the upper triangle is
   computed and then mirrored, so the result is exactly symmetric. */
#include "ntk.h"

/* Work units per pair, so that a block of pairs takes about 0.1 s. */
static double plan_cost(const nt_plan *plan)
{
  double cost = 1;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    cost += op->code == NT_OP_TABLE ? 8.0 * op->table->nrad * op->table->nang : 4;
  }
  return cost;
}

static inline void fc_pair(const nt_plan *plan, double k, const double *sx,
                           const double *sz, double *k_out, double *t_out)
{
  double t = 0;
  int j = 0;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    if (op->code == NT_OP_DENSE) {
      k = op->p1 * k + op->p2;
      t = op->p1 * t + (op->trainable ? k : 0.0);
    } else {
      double kk, kd;
      if (op->code == NT_OP_ABRELU)
        nt_abrelu_dual(op->p1, op->p2, sx[NT_SELF * j + 1], sz[NT_SELF * j + 1],
                       sx[NT_SELF * j + 2], sz[NT_SELF * j + 2], k, &kk, &kd);
      else
        nt_act_pair(op, sx[NT_SELF * j], sz[NT_SELF * j], sx[NT_SELF * j + 1],
                    sz[NT_SELF * j + 1], k, &kk, &kd);
      k = kk;
      t *= kd;
      j++;
    }
  }
  *k_out = k;
  *t_out = t;
}

/* Self variances of each input (rows of a) at every activation.  s0 holds
   the input variances; returns the number of inputs whose variance left an
   activation table's range (0 when the plan's tables suffice). */
static int fc_self_all(const nt_plan *plan, const double *s0, int n,
                       double *self, size_t stride, int nth)
{
  int bad = 0;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(static) reduction(+:bad)
#endif
  for (int i = 0; i < n; i++)
    bad += nt_plan_self(plan, s0[i], self + stride * i) != 0;
  (void) nth;
  return bad;
}

static void row_norms(const double *x, int n, int d, double *out)
{
  for (int i = 0; i < n; i++) out[i] = 0;
  for (int c = 0; c < d; c++)
    for (int i = 0; i < n; i++) out[i] += x[i + (size_t) n * c] * x[i + (size_t) n * c];
  for (int i = 0; i < n; i++) out[i] /= d;
}

/* Copy the upper triangle into the lower one, in tiles for the cache. */
static void mirror_upper(double *a, int n, int nth)
{
  const int tile = 64;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
#endif
  for (int jb = 0; jb < n; jb += tile)
    for (int ib = 0; ib <= jb; ib += tile)
      for (int j = jb; j < jb + tile && j < n; j++)
        for (int i = ib; i < ib + tile && i < j; i++)
          a[j + (size_t) n * i] = a[i + (size_t) n * j];
  (void) nth;
}

SEXP ntk_fc_kernel(SEXP x, SEXP z, SEXP ops_int, SEXP ops_dbl, SEXP tables,
                   SEXP what, SEXP threads, SEXP progress)
{
  nt_check_real_matrix(x, "x");
  int sym = Rf_isNull(z);
  if (!sym) nt_check_real_matrix(z, "z");
  int n = Rf_nrows(x), d = Rf_ncols(x), m = sym ? n : Rf_nrows(z);
  if (!sym && Rf_ncols(z) != d) Rf_error("'z' must have as many columns as 'x'");
  nt_check_finite(REAL(x), XLENGTH(x), "x");
  if (!sym) nt_check_finite(REAL(z), XLENGTH(z), "z");
  if (TYPEOF(what) != LGLSXP || XLENGTH(what) != 2)
    Rf_error("'what' must be a logical vector (ntk, nngp)");
  int want_ntk = LOGICAL(what)[0] == 1, want_nngp = LOGICAL(what)[1] == 1;
  if (!want_ntk && !want_nngp) Rf_error("'what' must ask for at least one kernel");
  int nth = nt_threads_clamp(nt_check_int_scalar(threads, "threads", 1, 1024));
  int show = nt_check_flag(progress, "progress");
  nt_plan plan;
  nt_plan_read(ops_int, ops_dbl, tables, &plan);
  for (int l = 0; l < plan.nops; l++) {
    if (plan.ops[l].code == NT_OP_TABLE && plan.ops[l].table == NULL)
      Rf_error("activation table of layer %d is missing", l + 1);
    if (plan.ops[l].code >= NT_OP_CONV)
      Rf_error("layer %d is spatial; matrix inputs take dense layers and activations", l + 1);
  }
  nt_check_alloc(n, m, want_ntk + want_nngp, "the kernel matrix");

  SEXP k_ntk = PROTECT(want_ntk ? Rf_allocMatrix(REALSXP, n, m) : R_NilValue);
  SEXP k_nngp = PROTECT(want_nngp ? Rf_allocMatrix(REALSXP, n, m) : R_NilValue);
  double *out_t = want_ntk ? REAL(k_ntk) : NULL;
  double *out_k = want_nngp ? REAL(k_nngp) : NULL;
  double *gram = want_nngp ? out_k : out_t;

  double alpha = 1.0 / d, beta = 0.0;
  if (sym)
    F77_CALL(dsyrk)("U", "N", &n, &d, &alpha, REAL(x), &n, &beta, gram, &n FCONE FCONE);
  else
    F77_CALL(dgemm)("N", "T", &n, &m, &d, &alpha, REAL(x), &n, REAL(z), &m,
                    &beta, gram, &n FCONE FCONE);

  size_t stride = plan.nact > 0 ? NT_SELF * (size_t) plan.nact : 1;
  double *s0x = (double *) R_alloc(n, sizeof(double));
  double *selfx = (double *) R_alloc(stride * n, sizeof(double));
  double *selfz = selfx;
  if (sym) {
    for (int i = 0; i < n; i++) s0x[i] = gram[i + (size_t) n * i];
  } else {
    row_norms(REAL(x), n, d, s0x);
    double *s0z = (double *) R_alloc(m, sizeof(double));
    selfz = (double *) R_alloc(stride * m, sizeof(double));
    row_norms(REAL(z), m, d, s0z);
    if (fc_self_all(&plan, s0z, m, selfz, stride, nth))
      Rf_error("an activation table is too narrow for 'z'; this is a bug in ntk");
  }
  if (fc_self_all(&plan, s0x, n, selfx, stride, nth))
    Rf_error("an activation table is too narrow for 'x'; this is a bug in ntk");

  double cost = plan_cost(&plan);
  double total = sym ? 0.5 * (double) n * (n + 1) : (double) n * m;
  double block_pairs = 1e7 * nth / cost;   /* about 0.1 s per block */
  nt_progress bar;
  nt_progress_start(&bar, show, total);
  R_xlen_t bad = 0;
  for (int j0 = 0; j0 < m; ) {
    int j1 = j0;
    double pairs = 0;
    while (j1 < m && (j1 == j0 || pairs < block_pairs)) {
      pairs += sym ? j1 + 1 : n;
      j1++;
    }
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) reduction(+:bad)
#endif
    for (int j = j0; j < j1; j++) {
      int rows = sym ? j + 1 : n;
      const double *sz = selfz + stride * j;
      for (int i = 0; i < rows; i++) {
        size_t idx = i + (size_t) n * j;
        double k, t;
        fc_pair(&plan, gram[idx], selfx + stride * i, sz, &k, &t);
        if (out_k) out_k[idx] = k;
        if (out_t) out_t[idx] = t;
        bad += !R_FINITE(k) || !R_FINITE(t);
      }
    }
    nt_progress_step(&bar, pairs);
    j0 = j1;
  }
  nt_progress_end(&bar);
  if (bad > 0)
    Rf_error("%.0f kernel entries overflowed the double range; rescale 'x' or lower the variances",
             (double) bad);
  if (sym) {
    if (out_k) mirror_upper(out_k, n, nth);
    if (out_t) mirror_upper(out_t, n, nth);
  }

  SEXP res = PROTECT(Rf_allocVector(VECSXP, 2));
  SET_VECTOR_ELT(res, 0, k_ntk);
  SET_VECTOR_ELT(res, 1, k_nngp);
  UNPROTECT(3);
  return res;
}

/* Pre-activation self variances of inputs with variances s0, for finding the
   range an activation table must cover.  Returns list(var = nact x n matrix,
   NA after a failure; status = per input 0 or 1 + the failing layer). */
SEXP ntk_fc_self(SEXP s0, SEXP ops_int, SEXP ops_dbl, SEXP tables)
{
  if (TYPEOF(s0) != REALSXP) Rf_error("'s0' must be a double vector");
  R_xlen_t n = XLENGTH(s0);
  if (n > INT_MAX) Rf_error("'s0' is too long");
  nt_check_finite(REAL(s0), n, "s0");
  for (R_xlen_t i = 0; i < n; i++)
    if (REAL(s0)[i] < 0) Rf_error("'s0' must be non-negative");
  nt_plan plan;
  nt_plan_read(ops_int, ops_dbl, tables, &plan);
  for (int l = 0; l < plan.nops; l++)
    if (plan.ops[l].code >= NT_OP_CONV)
      Rf_error("layer %d is spatial; matrix inputs take dense layers and activations", l + 1);
  size_t stride = plan.nact > 0 ? NT_SELF * (size_t) plan.nact : 1;
  double *self = (double *) R_alloc(stride, sizeof(double));
  SEXP var = PROTECT(Rf_allocMatrix(REALSXP, plan.nact, (int) n));
  SEXP status = PROTECT(Rf_allocVector(INTSXP, n));
  for (R_xlen_t i = 0; i < n; i++) {
    for (size_t j = 0; j < stride; j++) self[j] = NA_REAL;
    INTEGER(status)[i] = nt_plan_self(&plan, REAL(s0)[i], self);
    for (int j = 0; j < plan.nact; j++) REAL(var)[j + (size_t) plan.nact * i] = self[NT_SELF * j];
  }
  SEXP res = PROTECT(Rf_allocVector(VECSXP, 2));
  SET_VECTOR_ELT(res, 0, var);
  SET_VECTOR_ELT(res, 1, status);
  UNPROTECT(3);
  return res;
}

/* The dual kernels of a one-activation plan on given (s1, s2, c) triples:
   list(k, kdot).  Used to verify quadrature rules, and by the tests. */
SEXP ntk_act_dual(SEXP ops_int, SEXP ops_dbl, SEXP tables, SEXP s1, SEXP s2, SEXP c)
{
  nt_plan plan;
  nt_plan_read(ops_int, ops_dbl, tables, &plan);
  if (plan.nops != 1 || plan.nact != 1) Rf_error("the plan must be one activation");
  if (plan.ops[0].code == NT_OP_TABLE && plan.ops[0].table == NULL)
    Rf_error("activation table is missing");
  if (TYPEOF(s1) != REALSXP || TYPEOF(s2) != REALSXP || TYPEOF(c) != REALSXP ||
      XLENGTH(s2) != XLENGTH(s1) || XLENGTH(c) != XLENGTH(s1))
    Rf_error("'s1', 's2' and 'c' must be double vectors of one length");
  R_xlen_t n = XLENGTH(s1);
  const double *a = REAL(s1), *b = REAL(s2), *cc = REAL(c);
  for (R_xlen_t i = 0; i < n; i++)
    if (!(a[i] >= 0) || !(b[i] >= 0) || !R_FINITE(a[i]) || !R_FINITE(b[i]) ||
        !R_FINITE(cc[i]) || cc[i] * cc[i] > a[i] * b[i] * (1 + 1e-12))
      Rf_error("(s1, s2, c) must be finite covariances, |c| <= sqrt(s1 s2)");
  SEXP k = PROTECT(Rf_allocVector(REALSXP, n));
  SEXP kdot = PROTECT(Rf_allocVector(REALSXP, n));
  for (R_xlen_t i = 0; i < n; i++) {
    if (plan.ops[0].code == NT_OP_TABLE &&
        nt_table_reach(plan.ops[0].table, a[i] > b[i] ? a[i] : b[i]) > -plan.ops[0].table->lo)
      Rf_error("a variance exceeds the activation table's range");
    nt_act_pair(plan.ops, a[i], b[i], sqrt(a[i]), sqrt(b[i]), cc[i], REAL(k) + i, REAL(kdot) + i);
  }
  SEXP res = PROTECT(Rf_allocVector(VECSXP, 2));
  SET_VECTOR_ELT(res, 0, k);
  SET_VECTOR_ELT(res, 1, kdot);
  UNPROTECT(3);
  return res;
}
