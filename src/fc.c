/* Fully connected kernels.  The input Gram matrix comes from BLAS (dgemm per
   chunk of columns) straight into the output buffer; then each column of
   pairs runs all layers in two per-thread arrays, reading its Gram entries
   and the inputs' self variances, and writes its NNGP and NTK in place.
   No n x m temporary per layer; for z = NULL only the upper triangle is
   computed and then mirrored, so the result is exactly symmetric. */
#include "ntk.h"
#include <string.h>

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

/* Copies the upper-triangle entries of columns [j0, j1) to the lower
   triangle: rows [j0, j1) of the columns before.  Chunks write disjoint rows,
   and none of the rows another chunk reads or uses as Gram scratch. */
static void mirror_chunk(double *a, int n, int j0, int j1)
{
  for (int i = 0; i < j1; i++)
    for (int j = (i + 1 > j0 ? i + 1 : j0); j < j1; j++)
      a[j + (size_t) n * i] = a[i + (size_t) n * j];
}

/* The Gram matrix of columns [j0, j1): rows 0..j1-1 (upper triangle) when
   z is x, all rows otherwise; BLAS on a column chunk, so that threads share
   the Gram work and each chunk is still in cache when its pairs run
   (src/gram.c: BLAS or a register-blocked loop). */
static void gram_chunk(const double *x, const double *z, int n, int m, int d, int sym,
                       int j0, int j1, const double *s0x, double *gram, int native)
{
  int rows = sym ? j1 : n, cols = j1 - j0, ldz = sym ? n : m;
  nt_gram(x, n, (sym ? x : z) + j0, ldz, rows, cols, d, 1.0 / d, gram + (size_t) n * j0, n, native);
  if (sym)   /* the diagonal exactly as the self variances, so rho = 1 there */
    for (int j = j0; j < j1; j++) gram[j + (size_t) n * j] = s0x[j];
}

/* Runs chunk(ctx, j0, j1) over column chunks of an n x m kernel on nth
   threads, in blocks of about 0.1 s with the progress bar and interrupt
   checks in between.  Returns the count of non-finite entries. */
typedef R_xlen_t (*fc_chunk_fn)(void *ctx, int j0, int j1);

static R_xlen_t fc_drive(void *ctx, fc_chunk_fn chunk, int n, int m, int sym, int nth,
                         double cost, int show)
{
  const int width = 32;
  double total = sym ? 0.5 * (double) n * (n + 1) : (double) n * m;
  double block_pairs = 1e7 * nth / cost;
  nt_progress bar;
  nt_progress_start(&bar, show, total);
  R_xlen_t bad = 0;
  for (int c0 = 0; c0 < m; ) {
    int c1 = c0;
    double pairs = 0;
    while (c1 < m && (c1 == c0 || pairs < block_pairs)) {
      int e = c1 + width < m ? c1 + width : m;
      pairs += sym ? 0.5 * ((double) e * (e + 1) - (double) c1 * (c1 + 1)) : (double) n * (e - c1);
      c1 = e;
    }
    int nchunks = (c1 - c0 + width - 1) / width;
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) reduction(+:bad)
#endif
    for (int c = 0; c < nchunks; c++) {
      int j0 = c0 + c * width, j1 = j0 + width < c1 ? j0 + width : c1;
      bad += chunk(ctx, j0, j1);
    }
    (void) nth;
    nt_progress_step(&bar, pairs);
    c0 = c1;
  }
  nt_progress_end(&bar);
  return bad;
}

typedef struct {
  const nt_plan *plan;
  const double *x, *z, *s0x, *selfx, *selfz;
  size_t stride;
  int n, m, d, sym;
  int native;                /* the Gram matrix by nt_gram's own loop, not BLAS */
  double *gram, *out_k, *out_t;
  double *planes;            /* per activation: sqrt(s) then 1 / sqrt(s) of the rows */
  double *work;              /* per thread: two columns */
} fc_job;

/* All layers on rows [r0, r1) of one column of pairs (kb[slot], tb[slot]
   hold the column of each slot's state; sz the column input's self
   variances). */
static void column_layers(const fc_job *job, const double *sz, int r0, int r1, double **kb,
                          double **tb)
{
  int n = job->n, rows = r1 - r0, a = 0;
  for (int l = 0; l < job->plan->nops; l++) {
    const nt_op *op = job->plan->ops + l;
    double *k = kb[op->slot] + r0, *t = tb[op->slot] + r0;
    if (op->kind & NT_KIND_BRANCH) {
      double *ks[NT_MAX_SLOTS], *ts[NT_MAX_SLOTS];
      for (int j = 0; j < job->plan->nslots; j++) { ks[j] = kb[j] + r0; ts[j] = tb[j] + r0; }
      nt_branch_step(op, ks, ts, rows);
      continue;
    }
    if (op->kind & NT_KIND_AFFINE) {   /* dense: the only affine op on vectors */
      double w = op->p1, bias = op->p2, keep = op->trainable ? 1.0 : 0.0;
      for (int i = 0; i < rows; i++) {
        double kk = w * k[i] + bias;
        k[i] = kk;
        t[i] = w * t[i] + keep * kk;
      }
      continue;
    }
    if (op->code == NT_OP_ABRELU) {
      const double *plane = job->planes + (size_t) 2 * n * a;
      const nt_op *next = op->fuse ? op + 1 : NULL;   /* the fusion pass's dense layer */
      nt_abrelu_column(op->p1, op->p2, plane + r0, plane + n + r0, sz[NT_SELF * a + 1],
                       sz[NT_SELF * a + 2], k, t, rows, next);
      if (next) l++;
    } else {
      for (int i = 0; i < rows; i++) {
        double kd;
        k[i] = nt_act_self(op, job->selfx + job->stride * (r0 + i) + NT_SELF * a, sz + NT_SELF * a,
                           k[i], &kd);
        t[i] *= kd;
      }
    }
    a++;
  }
}

/* The recursion runs layer by layer down a column of pairs (one z input
   against its rows), so that the ReLU duals form plain loops
   (nt_abrelu_column, src/relu_column.c) that the compiler vectorises; in
   blocks of rows small enough that the column and its row planes stay in
   the L1 cache through all layers. */
static R_xlen_t kernel_chunk(void *vctx, int j0, int j1)
{
  const int block = 256;
  fc_job *job = (fc_job *) vctx;
  gram_chunk(job->x, job->z, job->n, job->m, job->d, job->sym, j0, j1, job->s0x, job->gram, job->native);
  int n = job->n, tid = 0;
#ifdef _OPENMP
  tid = omp_get_thread_num();
#endif
  int nslots = job->plan->nslots;
  double *kbs[NT_MAX_SLOTS], *tbs[NT_MAX_SLOTS];
  for (int s = 0; s < nslots; s++) {
    kbs[s] = job->work + (size_t) 2 * n * (nslots * (size_t) tid + s);
    tbs[s] = kbs[s] + n;
  }
  double *kb = kbs[0], *tb = tbs[0];
  R_xlen_t bad = 0;
  for (int j = j0; j < j1; j++) {
    int rows = job->sym ? j + 1 : n;
    const double *sz = job->selfz + job->stride * j;
    memcpy(kb, job->gram + (size_t) n * j, rows * sizeof(double));
    memset(tb, 0, rows * sizeof(double));
    for (int r0 = 0; r0 < rows; r0 += block)
      column_layers(job, sz, r0, r0 + block < rows ? r0 + block : rows, kbs, tbs);
    /* |v| <= DBL_MAX is false for Inf and NaN: inline, unlike R_FINITE */
    double *ok = job->out_k ? job->out_k + (size_t) n * j : NULL;
    double *ot = job->out_t ? job->out_t + (size_t) n * j : NULL;
    if (ok) memcpy(ok, kb, rows * sizeof(double));
    if (ot) memcpy(ot, tb, rows * sizeof(double));
    for (int i = 0; i < rows; i++)
      bad += !(fabs(kb[i]) <= DBL_MAX && fabs(tb[i]) <= DBL_MAX);
  }
  if (job->sym) {   /* mirror the chunk while it is in cache */
    if (job->out_k) mirror_chunk(job->out_k, n, j0, j1);
    if (job->out_t) mirror_chunk(job->out_t, n, j0, j1);
  }
  return bad;
}

/* Checks shared by the kernel and family entry points; fills the inputs'
   self variances. */
static void fc_inputs(SEXP x, SEXP z, const nt_plan *plan, int nth, fc_job *job)
{
  nt_check_real_matrix(x, "x");
  job->sym = Rf_isNull(z);
  if (!job->sym) nt_check_real_matrix(z, "z");
  job->n = Rf_nrows(x); job->d = Rf_ncols(x); job->m = job->sym ? job->n : Rf_nrows(z);
  if (!job->sym && Rf_ncols(z) != job->d) Rf_error("'z' must have as many columns as 'x'");
  nt_check_finite(REAL(x), XLENGTH(x), "x");
  if (!job->sym) nt_check_finite(REAL(z), XLENGTH(z), "z");
  nt_plan_require(plan, NT_ENGINE_FC);
  for (int l = 0; l < plan->nops; l++)
    if (plan->ops[l].code == NT_OP_TABLE && plan->ops[l].table == NULL)
      Rf_error("activation table of layer %d is missing", l + 1);
  job->plan = plan;
  job->x = REAL(x);
  job->z = job->sym ? NULL : REAL(z);
  job->stride = plan->nact > 0 ? NT_SELF * (size_t) plan->nact : 1;
  double *s0x = (double *) R_alloc(job->n, sizeof(double));
  double *selfx = (double *) R_alloc(job->stride * job->n, sizeof(double));
  row_norms(job->x, job->n, job->d, s0x);
  if (fc_self_all(plan, s0x, job->n, selfx, job->stride, nth))
    Rf_error("an activation table is too narrow for 'x'; this is a bug in ntk");
  job->s0x = s0x;
  job->selfx = job->selfz = selfx;
  if (!job->sym) {
    double *s0z = (double *) R_alloc(job->m, sizeof(double));
    double *selfz = (double *) R_alloc(job->stride * job->m, sizeof(double));
    row_norms(job->z, job->m, job->d, s0z);
    if (fc_self_all(plan, s0z, job->m, selfz, job->stride, nth))
      Rf_error("an activation table is too narrow for 'z'; this is a bug in ntk");
    job->selfz = selfz;
  }
}

SEXP ntk_fc_kernel(SEXP x, SEXP z, SEXP ops_int, SEXP ops_dbl, SEXP tables,
                   SEXP what, SEXP threads, SEXP progress, SEXP native_gram)
{
  int want_ntk, want_nngp;
  nt_check_what(what, &want_ntk, &want_nngp);
  int nth = nt_threads_clamp(nt_check_int_scalar(threads, "threads", 1, 1024));
  int show = nt_check_flag(progress, "progress");
  nt_plan plan;
  nt_plan_read(ops_int, ops_dbl, tables, &plan);
  fc_job job;
  job.native = nt_check_flag(native_gram, "native_gram");
  fc_inputs(x, z, &plan, nth, &job);
  int n = job.n, m = job.m;
  nt_check_alloc(n, m, want_ntk + want_nngp, "the kernel matrix");
  job.planes = (double *) R_alloc((size_t) 2 * n * (plan.nact > 0 ? plan.nact : 1), sizeof(double));
  for (int a = 0; a < plan.nact; a++)
    for (int i = 0; i < n; i++) {
      job.planes[(size_t) 2 * n * a + i] = job.selfx[job.stride * i + NT_SELF * a + 1];
      job.planes[(size_t) 2 * n * a + n + i] = job.selfx[job.stride * i + NT_SELF * a + 2];
    }
  job.work = (double *) R_alloc((size_t) 2 * n * nth * plan.nslots, sizeof(double));
  SEXP k_ntk = PROTECT(want_ntk ? Rf_allocMatrix(REALSXP, n, m) : R_NilValue);
  SEXP k_nngp = PROTECT(want_nngp ? Rf_allocMatrix(REALSXP, n, m) : R_NilValue);
  job.out_t = want_ntk ? REAL(k_ntk) : NULL;
  job.out_k = want_nngp ? REAL(k_nngp) : NULL;
  if (job.out_t) nt_advise_huge(job.out_t, (size_t) n * m * sizeof(double));
  if (job.out_k) nt_advise_huge(job.out_k, (size_t) n * m * sizeof(double));
  job.gram = want_nngp ? job.out_k : job.out_t;   /* the Gram is overwritten in place */
  R_xlen_t bad = fc_drive(&job, kernel_chunk, n, m, job.sym, nth, plan_cost(&plan), show);
  if (bad > 0)
    Rf_error("%.0f kernel entries overflowed the double range; rescale 'x' or lower the variances",
             (double) bad);
  SEXP res = nt_result(2, (SEXP[]) {k_ntk, k_nngp});
  UNPROTECT(2);
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
  nt_plan_require(&plan, NT_ENGINE_FC);
  size_t stride = plan.nact > 0 ? NT_SELF * (size_t) plan.nact : 1;
  double *self = (double *) R_alloc(stride, sizeof(double));
  SEXP var = PROTECT(Rf_allocMatrix(REALSXP, plan.nact, (int) n));
  SEXP status = PROTECT(Rf_allocVector(INTSXP, n));
  for (R_xlen_t i = 0; i < n; i++) {
    for (size_t j = 0; j < stride; j++) self[j] = NA_REAL;
    INTEGER(status)[i] = nt_plan_self(&plan, REAL(s0)[i], self);
    for (int j = 0; j < plan.nact; j++) REAL(var)[j + (size_t) plan.nact * i] = self[NT_SELF * j];
  }
  SEXP res = nt_result(2, (SEXP[]) {var, status});
  UNPROTECT(2);
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
  SEXP res = nt_result(2, (SEXP[]) {k, kdot});
  UNPROTECT(2);
  return res;
}

/* ---- every K[dep][fix] of a fully connected network in one pass ----------

   For nt_fc(L, ...) -- dense, then L times [activation, dense] -- the
   networks nt_fc(dep, fixed = fix) for dep <= L share the first 2 dep + 1
   layers, so one recursion per pair gives all of them: with K_h the NNGP
   after dense layer h and m_h = w_h * E[phi'(u) phi'(v)] of the activation
   before it, NTK(dep, fix) = sum_{h = fix..dep} K_h prod_{g = h+1..dep} m_g. */
typedef struct {
  fc_job job;
  int depth;
  double **ntk, **nngp;      /* (depth+1)(depth+2)/2 by (dep, fix); depth+1 */
} family_job;

static R_xlen_t family_chunk(void *vctx, int j0, int j1)
{
  family_job *fj = (family_job *) vctx;
  fc_job *job = &fj->job;
  int L = fj->depth;
  double ks[NT_MAX_FAMILY + 1], ms[NT_MAX_FAMILY + 1], run[NT_MAX_FAMILY + 1];
  gram_chunk(job->x, job->z, job->n, job->m, job->d, job->sym, j0, j1, job->s0x, job->gram, job->native);
  R_xlen_t bad = 0;
  for (int j = j0; j < j1; j++) {
    int rows = job->sym ? j + 1 : job->n;
    const double *sz = job->selfz + job->stride * j;
    for (int i = 0; i < rows; i++) {
      size_t idx = i + (size_t) job->n * j;
      const double *sx = job->selfx + job->stride * i;
      double k = job->gram[idx], kd = 1;
      int h = 0, a = 0;
      for (int l = 0; l < job->plan->nops; l++) {
        const nt_op *op = job->plan->ops + l;
        if (op->code == NT_OP_DENSE) {
          k = op->p1 * k + op->p2;
          ks[h] = k;
          ms[h] = op->p1 * kd;
          h++;
        } else {
          k = nt_act_self(op, sx + NT_SELF * a, sz + NT_SELF * a, k, &kd);
          a++;
        }
      }
      for (int dep = 0; dep <= L; dep++) {
        fj->nngp[dep][idx] = ks[dep];
        bad += !R_FINITE(ks[dep]);
      }
      for (int fix = 0; fix <= L; fix++) run[fix] = 0;
      int at = 0;
      for (int dep = 0; dep <= L; dep++) {
        for (int fix = 0; fix <= dep; fix++) {
          run[fix] = (dep > 0 ? run[fix] * ms[dep] : 0) + (dep >= fix ? ks[dep] : 0);
          fj->ntk[at + fix][idx] = run[fix];
          bad += !R_FINITE(run[fix]);
        }
        /* frozen-from-above runs start later: fix > dep stays 0 */
        at += dep + 1;
      }
    }
  }
  return bad;
}

SEXP ntk_fc_family(SEXP x, SEXP z, SEXP ops_int, SEXP ops_dbl, SEXP tables, SEXP threads,
                   SEXP progress, SEXP native_gram)
{
  int nth = nt_threads_clamp(nt_check_int_scalar(threads, "threads", 1, 1024));
  int show = nt_check_flag(progress, "progress");
  nt_plan plan;
  nt_plan_read(ops_int, ops_dbl, tables, &plan);
  if (plan.nops % 2 != 1) Rf_error("the family needs dense, then [activation, dense] layers");
  for (int l = 0; l < plan.nops; l++)
    if ((l % 2 == 0) != (plan.ops[l].code == NT_OP_DENSE) || (l % 2 == 1 && !nt_is_activation(plan.ops + l)))
      Rf_error("the family needs dense, then [activation, dense] layers");
  int L = plan.nops / 2;
  if (L > NT_MAX_FAMILY) Rf_error("the family's depth must be at most %d", NT_MAX_FAMILY);
  family_job fj;
  fj.depth = L;
  fj.job.native = nt_check_flag(native_gram, "native_gram");
  fc_inputs(x, z, &plan, nth, &fj.job);
  int n = fj.job.n, m = fj.job.m, nk = (L + 1) * (L + 2) / 2;
  nt_check_alloc(n, m, nk + L + 1, "the family of kernel matrices");
  SEXP ntk = PROTECT(Rf_allocVector(VECSXP, nk));
  SEXP nngp = PROTECT(Rf_allocVector(VECSXP, L + 1));
  fj.ntk = (double **) R_alloc(nk, sizeof(double *));
  fj.nngp = (double **) R_alloc(L + 1, sizeof(double *));
  for (int i = 0; i < nk; i++) {
    SET_VECTOR_ELT(ntk, i, Rf_allocMatrix(REALSXP, n, m));
    fj.ntk[i] = REAL(VECTOR_ELT(ntk, i));
    nt_advise_huge(fj.ntk[i], (size_t) n * m * sizeof(double));
  }
  for (int i = 0; i <= L; i++) {
    SET_VECTOR_ELT(nngp, i, Rf_allocMatrix(REALSXP, n, m));
    fj.nngp[i] = REAL(VECTOR_ELT(nngp, i));
    nt_advise_huge(fj.nngp[i], (size_t) n * m * sizeof(double));
  }
  fj.job.gram = fj.nngp[0];     /* K_0 = w_0 K0 + b_0 overwrites it in place */
  fj.job.out_k = fj.job.out_t = NULL;
  R_xlen_t bad = fc_drive(&fj, family_chunk, n, m, fj.job.sym, nth,
                          plan_cost(&plan) + nk, show);
  if (bad > 0)
    Rf_error("%.0f kernel entries overflowed the double range; rescale 'x' or lower the variances",
             (double) bad);
  if (fj.job.sym) {
    for (int i = 0; i < nk; i++) nt_mirror_upper(fj.ntk[i], n, nth);
    for (int i = 0; i <= L; i++) nt_mirror_upper(fj.nngp[i], n, nth);
  }
  SEXP res = nt_result(2, (SEXP[]) {ntk, nngp});
  UNPROTECT(2);
  return res;
}
