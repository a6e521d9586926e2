/* Kernel gradients of fully connected networks: the NNGP and the NTK with
   their derivatives in every variance of the network, by forward-mode
   differentiation of the recursion.  Each pair carries, beside K and T, one
   tangent of each per parameter; each input's self variances carry theirs
   (the self pass), since an activation's dual depends on them too:

     dense      K' = w K + b               dK' = w dK + [w] K + [b]
                T' = w T + K'              dT' = w dT + [w] T + dK'
     activation K' = F(c, s1, s2)          dK' = G dc + F_1 ds1 + F_2 ds2
                T' = T G(c, s1, s2)        dT' = G dT + T (G_c dc + G_1 ds1 + G_2 ds2)

   ([w], [b]: 1 for the parameter the layer's variance is tied to; F_c = G
   by Price's theorem).  The first layer may hold one weight variance per
   input column (relevance): K0 = sum_k w_k x_k z_k / d, dK0/dw_k =
   x_k z_k / d.  Supported: dense layers in the NTK parameterization, ABReLU
   (ReLU, leaky ReLU, abs), erf (a erf(b u) + c) and the identity. */
#include "ntk.h"
#include <string.h>

typedef struct {
  const nt_plan *plan;
  int np;                 /* parameters */
  const int *pw, *pb;     /* per op: the parameter its w_var, b_var is tied to, or -1 */
  const double *ard;      /* the first layer's weight variance per input column, or NULL */
  int ard0;               /* the parameter of ard[0] */
  const double *x, *z;    /* n x d and m x d, column-major */
  int n, m, d, sym;
  double *selfx, *selfz;  /* per input and activation: s, then ds per parameter */
  size_t stride;          /* nact (1 + np) */
  double **out;           /* ntk, nngp, then dntk and dnngp per parameter */
  double *work;           /* per thread: 3 np */
} gr_job;

enum { GR_ABRELU, GR_ERF, GR_IDENTITY };

/* F = E[phi phi], G = E[phi' phi'] and the partials F_1, F_2, G_c, G_1, G_2
   in (c, s1, s2), into o[0..6].  At parallel pairs (rho = +-1) and at zero
   variances the ReLU family's G is not differentiable (G_c ~ 1 / sin theta);
   its terms are set to 0 there, which is exact for an input with itself
   (rho stays 1 under every parameter). */
static void act_partials(const nt_op *op, int kind, double c, double s1, double s2, double *o)
{
  for (int i = 0; i < 7; i++) o[i] = 0;
  double r1 = sqrt(s1), r2 = sqrt(s2);
  if (kind == GR_IDENTITY) {
    o[0] = c; o[1] = 1;
    return;
  }
  if (kind == GR_ABRELU) {
    double a = op->p1, b = op->p2, F, G;
    double ir1 = r1 > 0 ? 1.0 / r1 : 0.0, ir2 = r2 > 0 ? 1.0 / r2 : 0.0;
    nt_abrelu_dual(a, b, r1, r2, ir1, ir2, c, &F, &G);
    o[0] = F; o[1] = G;
    if (s1 > 0) o[2] = (F - c * G) / (2.0 * s1);   /* Euler: degree 1 */
    if (s2 > 0) o[3] = (F - c * G) / (2.0 * s2);
    double rho = nt_snap_rho(c * ir1 * ir2);
    if (r1 > 0 && r2 > 0 && fabs(rho) < 1.0) {
      double sin_t = sqrt((1.0 - rho) * (1.0 + rho));
      o[4] = (a - b) * (a - b) / (6.28318530717958647692 * r1 * r2 * sin_t);
      o[5] = -c * o[4] / (2.0 * s1);                 /* Euler: degree 0 */
      o[6] = -c * o[4] / (2.0 * s2);
    }
    return;
  }
  /* a erf(b u) + c: with S = b^2 s, C = b^2 c and Q = (1 + 2 S1)(1 + 2 S2) - 4 C^2,
     G = a^2 b^2 (4 / pi) / sqrt(Q), F_1 = -G C / (1 + 2 S1), G_c = 4 b^2 C G / Q,
     G_1 = -b^2 (1 + 2 S2) G / Q */
  double F, G, b2 = op->p2 * op->p2;
  nt_act_pair(op, s1, s2, r1, r2, c, &F, &G);
  double S1 = b2 * s1, S2 = b2 * s2, C = b2 * c;
  double Q = (1.0 + 2.0 * S1) * (1.0 + 2.0 * S2) - 4.0 * C * C;
  if (Q < 1.0 + 2.0 * (S1 + S2)) Q = 1.0 + 2.0 * (S1 + S2);   /* rounding at |c| = sqrt(s1 s2) */
  o[0] = F; o[1] = G;
  o[2] = -G * C / (1.0 + 2.0 * S1);
  o[3] = -G * C / (1.0 + 2.0 * S2);
  o[4] = 4.0 * b2 * C * G / Q;
  o[5] = -b2 * (1.0 + 2.0 * S2) * G / Q;
  o[6] = -b2 * (1.0 + 2.0 * S1) * G / Q;
}

static int act_kind(const nt_op *op)
{
  if (op->code == NT_OP_ABRELU) return GR_ABRELU;
  return strcmp(op->info->name, "erf") == 0 ? GR_ERF : GR_IDENTITY;
}

/* One pair's recursion from K0 = k (tangents dk) with the two inputs' self
   records sx, sz; in the self pass (rec not NULL, sx = sz = NULL) the state
   itself is the self variance, recorded before each activation.  On return
   res = {T, K}, dk and dt the tangents. */
static void gr_pair(const gr_job *job, double k, double *dk, double *dt, const double *sx,
                    const double *sz, double *rec, double *res)
{
  const nt_plan *plan = job->plan;
  int np = job->np, a = 0;
  double t = 0, o[7];
  for (int p = 0; p < np; p++) dt[p] = 0;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    if (op->code == NT_OP_DENSE) {
      double w = op->p1, keep = op->trainable ? 1.0 : 0.0, k_old = k, t_old = t;
      int pw = job->pw[l], pb = job->pb[l];
      k = w * k + op->p2;
      t = w * t + keep * k;
      for (int p = 0; p < np; p++) {
        dk[p] = w * dk[p] + (p == pw ? k_old : 0.0) + (p == pb ? 1.0 : 0.0);
        dt[p] = w * dt[p] + (p == pw ? t_old : 0.0) + keep * dk[p];
      }
      continue;
    }
    const double *r1, *r2;
    if (rec) {
      double *r = rec + (size_t) a * (1 + np);
      r[0] = k;
      memcpy(r + 1, dk, np * sizeof(double));
      r1 = r2 = r;
    } else {
      r1 = sx + (size_t) a * (1 + np);
      r2 = sz + (size_t) a * (1 + np);
    }
    act_partials(op, act_kind(op), k, r1[0], r2[0], o);
    for (int p = 0; p < np; p++) {
      double dc = dk[p], d1 = r1[1 + p], d2 = r2[1 + p];
      dt[p] = o[1] * dt[p] + t * (o[4] * dc + o[5] * d1 + o[6] * d2);
      dk[p] = o[1] * dc + o[2] * d1 + o[3] * d2;
    }
    k = o[0];
    t *= o[1];
    a++;
  }
  res[0] = t;
  res[1] = k;
}

/* K0 of rows i of x and j of z (or x), and its tangents. */
static double gr_input(const gr_job *job, const double *x, int nx, int i, const double *z, int nz,
                       int j, double *dk)
{
  double k = 0;
  for (int p = 0; p < job->np; p++) dk[p] = 0;
  for (int c = 0; c < job->d; c++) {
    double prod = x[i + (size_t) nx * c] * z[j + (size_t) nz * c] / job->d;
    if (job->ard) {
      dk[job->ard0 + c] = prod;
      k += job->ard[c] * prod;
    } else {
      k += prod;
    }
  }
  return k;
}

static double column_weight(void *vctx, R_xlen_t task)
{
  const gr_job *job = (const gr_job *) vctx;
  return job->sym ? (double) task + 1 : (double) job->n;
}

/* Column j: every row (the upper triangle when z is x). */
static R_xlen_t gr_column(void *vctx, R_xlen_t task)
{
  gr_job *job = (gr_job *) vctx;
  int tid = 0, np = job->np, j = (int) task;
#ifdef _OPENMP
  tid = omp_get_thread_num();
#endif
  double *dk = job->work + (size_t) 3 * np * tid, *dt = dk + np, res[2];
  const double *z = job->sym ? job->x : job->z;
  int nz = job->sym ? job->n : job->m, rows = job->sym ? j + 1 : job->n;
  const double *sz = (job->sym ? job->selfx : job->selfz) + job->stride * j;
  R_xlen_t bad = 0;
  for (int i = 0; i < rows; i++) {
    double k0 = gr_input(job, job->x, job->n, i, z, nz, j, dk);
    gr_pair(job, k0, dk, dt, job->selfx + job->stride * i, sz, NULL, res);
    size_t at = i + (size_t) job->n * j;
    job->out[0][at] = res[0];
    job->out[1][at] = res[1];
    for (int p = 0; p < np; p++) {
      job->out[2 + p][at] = dt[p];
      job->out[2 + np + p][at] = dk[p];
    }
    for (int q = 0; q < 2 + 2 * np; q++) bad += !(fabs(job->out[q][at]) <= DBL_MAX);
  }
  return bad;
}

/* The self records of n inputs (rows of a). */
static void gr_self(const gr_job *job, const double *a, int n, double *self)
{
  double *dk = job->work, *dt = dk + job->np, res[2];
  for (int i = 0; i < n; i++) {
    double k0 = gr_input(job, a, n, i, a, n, i, dk);
    gr_pair(job, k0, dk, dt, NULL, NULL, self + job->stride * i, res);
  }
}

/* The plan's ops must be ones whose tangents gr_pair knows, in one slot. */
static void gr_check_plan(const nt_plan *plan)
{
  if (plan->nslots != 1 || plan->branches)
    Rf_error("kernel gradients are not available for networks with branches yet");
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    int ok = (op->code == NT_OP_DENSE && op->p3 == 0) || op->code == NT_OP_ABRELU ||
             strcmp(op->info->name, "erf") == 0 || strcmp(op->info->name, "identity") == 0;
    if (!ok)
      Rf_error("layer %d (%s%s): kernel gradients are available for dense layers in the NTK "
               "parameterization, ReLU-type, erf and identity activations only", l + 1,
               op->info->name, op->code == NT_OP_DENSE ? ", standard parameterization" : "");
  }
}

static double *input_matrix(SEXP a, int d, const char *name, int *rows)
{
  nt_check_real_matrix(a, name);
  if (Rf_ncols(a) != d) Rf_error("'%s' must have %d columns", name, d);
  *rows = Rf_nrows(a);
  if (*rows < 1) Rf_error("'%s' has no rows", name);
  nt_check_finite(REAL(a), XLENGTH(a), name);
  return REAL(a);
}

/* x (n x d), z (m x d or NULL: z = x), the plan, params (a 2 x nops integer
   matrix: the parameter, 0-based, of each op's w_var and b_var, or -1),
   nparams, ard (NULL, or the first layer's weight variance per column,
   whose parameters are ard_first, ard_first + 1, ...), threads.  Returns
   list(ntk, nngp, dntk, dnngp), the last two lists of nparams matrices. */
SEXP ntk_fc_gradient(SEXP x, SEXP z, SEXP ops_int, SEXP ops_dbl, SEXP tables, SEXP params,
                     SEXP nparams, SEXP ard, SEXP ard_first, SEXP threads)
{
  nt_mem_begin();
  nt_plan plan;
  nt_plan_read(ops_int, ops_dbl, tables, &plan);
  nt_plan_require(&plan, NT_ENGINE_FC);
  gr_check_plan(&plan);
  int nth = nt_threads_clamp(nt_check_int_scalar(threads, "threads", 1, 1024));
  gr_job job;
  memset(&job, 0, sizeof job);
  job.plan = &plan;
  job.np = nt_check_int_scalar(nparams, "nparams", 0, 100000);
  nt_check_real_matrix(x, "x");
  job.d = Rf_ncols(x);
  if (job.d < 1) Rf_error("'x' has no columns");
  job.x = input_matrix(x, job.d, "x", &job.n);
  job.sym = Rf_isNull(z);
  job.m = job.n;
  if (!job.sym) job.z = input_matrix(z, job.d, "z", &job.m);
  if (!Rf_isInteger(params) || !Rf_isMatrix(params) || Rf_nrows(params) != 2 ||
      Rf_ncols(params) != plan.nops)
    Rf_error("'params' must be an integer matrix with 2 rows and a column per layer");
  const int *pm = INTEGER(params);
  for (int i = 0; i < 2 * plan.nops; i++)
    if (pm[i] < -1 || pm[i] >= job.np) Rf_error("'params' has an index outside 0..%d", job.np - 1);
  int *pw = (int *) R_alloc(plan.nops + 1, sizeof(int)), *pb = (int *) R_alloc(plan.nops + 1, sizeof(int));
  for (int l = 0; l < plan.nops; l++) {
    int dense = plan.ops[l].code == NT_OP_DENSE;
    pw[l] = dense ? pm[2 * l] : -1;
    pb[l] = dense ? pm[2 * l + 1] : -1;
  }
  job.pw = pw; job.pb = pb;
  if (!Rf_isNull(ard)) {
    if (TYPEOF(ard) != REALSXP || XLENGTH(ard) != job.d)
      Rf_error("'ard' must be a double vector with one entry per column of 'x'");
    for (int c = 0; c < job.d; c++)
      if (!(REAL(ard)[c] >= 0) || !R_FINITE(REAL(ard)[c])) Rf_error("'ard' must be finite and non-negative");
    job.ard = REAL(ard);
    job.ard0 = nt_check_int_scalar(ard_first, "ard_first", 0, job.np);
    if (job.ard0 + job.d > job.np) Rf_error("'ard_first' leaves no parameter for every column");
    if (plan.nops < 1 || plan.ops[0].code != NT_OP_DENSE || plan.ops[0].p1 != 1)
      Rf_error("with 'ard', the first layer must be dense with w_var 1 (the columns carry the weights)");
  }
  job.stride = (size_t) plan.nact * (1 + job.np);
  /* small problems (evidence searches evaluate many): threads cost more than they save */
  if ((double) job.n * job.m * (1 + job.np) * (plan.nops + 1) < 2e6) nth = 1;
  nt_check_alloc((double) job.n, (double) job.m, 2.0 * (1 + job.np), "the kernels and their gradients");
  nt_check_alloc((double) job.n + job.m, (double) job.stride + 1, 1, "the self records");
  job.selfx = (double *) R_alloc((size_t) job.n * job.stride + 1, sizeof(double));
  job.selfz = job.sym ? job.selfx : (double *) R_alloc((size_t) job.m * job.stride + 1, sizeof(double));
  job.work = (double *) R_alloc((size_t) 3 * (job.np + 1) * nth, sizeof(double));
  gr_self(&job, job.x, job.n, job.selfx);
  if (!job.sym) gr_self(&job, job.z, job.m, job.selfz);
  SEXP res = PROTECT(Rf_allocVector(VECSXP, 4));
  SEXP dntk = PROTECT(Rf_allocVector(VECSXP, job.np)), dnngp = PROTECT(Rf_allocVector(VECSXP, job.np));
  job.out = (double **) R_alloc(2 + 2 * (size_t) job.np, sizeof(double *));
  for (int q = 0; q < 2 + 2 * job.np; q++) {
    SEXP mat = Rf_allocMatrix(REALSXP, job.n, job.m);
    if (q < 2) SET_VECTOR_ELT(res, q, mat);
    else if (q < 2 + job.np) SET_VECTOR_ELT(dntk, q - 2, mat);
    else SET_VECTOR_ELT(dnngp, q - 2 - job.np, mat);
    job.out[q] = REAL(mat);
  }
  SET_VECTOR_ELT(res, 2, dntk);
  SET_VECTOR_ELT(res, 3, dnngp);
  nt_drive_spec spec = {job.m, column_weight, gr_column, 0, nth};
  nt_progress bar;
  nt_progress_start(&bar, 0, (double) job.n * job.m);
  R_xlen_t bad = nt_drive(&spec, &job, &bar);
  if (bad > 0)
    Rf_error("%.0f kernel or gradient values are not finite: the variances overflow the double range",
             (double) bad);
  if (job.sym)
    for (int q = 0; q < 2 + 2 * job.np; q++) {
      double *a = job.out[q];
      for (int j = 0; j < job.n; j++)
        for (int i = j + 1; i < job.n; i++) a[i + (size_t) job.n * j] = a[j + (size_t) job.n * i];
    }
  UNPROTECT(3);
  return res;
}
