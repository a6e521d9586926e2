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

#define GR_BLOCK 256   /* rows of a column per block: its states stay in cache */

typedef struct {
  const nt_plan *plan;
  int np;                 /* parameters */
  const int *pw, *pb;     /* per op: the parameter its w_var, b_var is tied to, or -1 */
  const double *ard;      /* the first layer's weight variance per input column, or NULL */
  int ard0;               /* the parameter of ard[0] */
  const double *x, *z;    /* n x d and m x d, column-major */
  int n, m, d, sym;
  int chunk;              /* columns per task */
  /* self records, per activation a plane per quantity over the inputs:
     s, sqrt(s), 1 / sqrt(s), then ds per parameter (gr_plane) */
  double *selfx, *selfz;
  double **out;           /* ntk, nngp, then dntk and dnngp per parameter */
  double *work;           /* per thread: gr_work_size() */
} gr_job;

enum { GR_ABRELU, GR_ERF, GR_IDENTITY };

static size_t gr_work_size(int np) { return (size_t) GR_BLOCK * (2 * (size_t) np + 9); }

/* Plane `which` of activation a in the self records of `len` inputs. */
static inline double *gr_plane(double *self, size_t len, int np, int a, int which)
{
  return self + ((size_t) a * (3 + np) + which) * len;
}

/* F = E[phi phi], G = E[phi' phi'] and the partials F_1, F_2, G_c, G_1, G_2
   in (c, s1, s2), into o[0..6], for erf (a erf(b u) + c) and the identity:
   with S = b^2 s, C = b^2 c and Q = (1 + 2 S1)(1 + 2 S2) - 4 C^2,
   G = a^2 b^2 (4 / pi) / sqrt(Q), F_1 = -G C / (1 + 2 S1),
   G_c = 4 b^2 C G / Q, G_1 = -b^2 (1 + 2 S2) G / Q. */
static void smooth_partials(const nt_op *op, int kind, double c, double s1, double s2, double *o)
{
  for (int i = 0; i < 7; i++) o[i] = 0;
  if (kind == GR_IDENTITY) {
    o[0] = c; o[1] = 1;
    return;
  }
  double F, G, b2 = op->p2 * op->p2;
  nt_act_pair(op, s1, s2, sqrt(s1), sqrt(s2), c, &F, &G);
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

/* The tangents through a dense layer, before K and T are updated:
   dK' = w dK + [w] K + [b], dT' = w dT + keep dK' + [w] T, for each of the
   np parameters (rows of dk, dt GR_BLOCK apart).  Vectorised: restrict
   and omp simd, in the clones of ntk.h. */
NT_VECTOR_CLONES
static void dense_tangents(int np, int pw, int pb, double w, double keep, int rows,
                           const double *restrict k, const double *restrict t, double *restrict dk,
                           double *restrict dt)
{
  for (int p = 0; p < np; p++) {
    double *restrict dkp = dk + (size_t) p * GR_BLOCK, *restrict dtp = dt + (size_t) p * GR_BLOCK;
    double cw = p == pw ? 1.0 : 0.0, cb = p == pb ? 1.0 : 0.0;
#ifdef _OPENMP
#pragma omp simd
#endif
    for (int i = 0; i < rows; i++) {
      double v = w * dkp[i] + cw * k[i] + cb;
      dkp[i] = v;
      dtp[i] = w * dtp[i] + keep * v + cw * t[i];
    }
  }
}

/* The tangents through an activation with value partials f1, f2, slope G
   and its partials gc, g1, g2 (t: T before the activation):
   dT' = G dT + T (gc dc + g1 ds1 + g2 ds2), dK' = G dc + f1 ds1 + f2 ds2,
   dc = dK; ds1 from the x self planes (p-th at d1 + p * s1), ds2 the z
   input's (at d2 + p * s2). */
NT_VECTOR_CLONES
static void activation_tangents(int np, int rows, const double *restrict g, const double *restrict f1,
                                const double *restrict f2, const double *restrict gc,
                                const double *restrict g1, const double *restrict g2,
                                const double *restrict t, const double *d1, size_t s1,
                                const double *d2, size_t s2, double *restrict dk, double *restrict dt)
{
  for (int p = 0; p < np; p++) {
    double *restrict dkp = dk + (size_t) p * GR_BLOCK, *restrict dtp = dt + (size_t) p * GR_BLOCK;
    const double *restrict ds1 = d1 + (size_t) p * s1;
    double ds2 = d2[(size_t) p * s2];
#ifdef _OPENMP
#pragma omp simd
#endif
    for (int i = 0; i < rows; i++) {
      double dc = dkp[i];
      dtp[i] = g[i] * dtp[i] + t[i] * (gc[i] * dc + g1[i] * ds1[i] + g2[i] * ds2);
      dkp[i] = g[i] * dc + f1[i] * ds1[i] + f2[i] * ds2;
    }
  }
}

/* The recursion with tangents on a block of `rows` pairs of one column:
   k, t and the tangents dk, dt (np rows of GR_BLOCK each) start as K0, 0
   and dK0, 0.  xs, zs: the self planes of the block's x inputs (offset to
   the block's first row, xn inputs per plane) and of its z input (offset
   to it).  `record` is the self pass of one input (xs = zs): the state is
   written to its planes before each activation, which then reads it. */
static void gr_block(const gr_job *job, int rows, double *k, double *t, double *dk, double *dt,
                     double *xs, size_t xn, double *zs, size_t zn, int record, double *scratch)
{
  const nt_plan *plan = job->plan;
  int np = job->np, a = 0;
  const int B = GR_BLOCK;
  double *c = scratch, *g = c + B, *f1 = g + B, *f2 = f1 + B, *gc = f2 + B, *g1 = gc + B,
         *g2 = g1 + B;
  for (int i = 0; i < rows; i++) t[i] = 0;
  for (size_t e = 0; e < (size_t) np * B; e++) dt[e] = 0;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    if (op->code == NT_OP_DENSE) {
      double w = op->p1, bias = op->p2, keep = op->trainable ? 1.0 : 0.0;
      dense_tangents(np, job->pw[l], job->pb[l], w, keep, rows, k, t, dk, dt);
      for (int i = 0; i < rows; i++) k[i] = w * k[i] + bias;
      for (int i = 0; i < rows; i++) t[i] = w * t[i] + keep * k[i];
      continue;
    }
    if (record) {   /* one row: the input with itself */
      double s = k[0], r = sqrt(s);
      gr_plane(xs, xn, np, a, 0)[0] = s;
      gr_plane(xs, xn, np, a, 1)[0] = r;
      gr_plane(xs, xn, np, a, 2)[0] = r > 0 ? 1.0 / r : 0.0;
      for (int p = 0; p < np; p++) gr_plane(xs, xn, np, a, 3 + p)[0] = dk[(size_t) p * B];
    }
    const double *s1 = gr_plane(xs, xn, np, a, 0), *r1 = gr_plane(xs, xn, np, a, 1),
                 *ir1 = gr_plane(xs, xn, np, a, 2);
    double s2 = gr_plane(zs, zn, np, a, 0)[0], r2 = gr_plane(zs, zn, np, a, 1)[0],
           ir2 = gr_plane(zs, zn, np, a, 2)[0];
    memcpy(c, k, rows * sizeof(double));
    int kind = act_kind(op);
    if (kind == GR_ABRELU) {
      for (int i = 0; i < rows; i++) g[i] = 1.0;
      nt_abrelu_column(op->p1, op->p2, r1, ir1, r2, ir2, k, g, rows, NULL);
      nt_abrelu_partials(op->p1, op->p2, rows, c, k, g, ir1, ir2, f1, f2, gc, g1, g2);
    } else {
      double o[7];
      for (int i = 0; i < rows; i++) {
        smooth_partials(op, kind, c[i], s1[i], s2, o);
        k[i] = o[0]; g[i] = o[1]; f1[i] = o[2]; f2[i] = o[3]; gc[i] = o[4]; g1[i] = o[5]; g2[i] = o[6];
      }
    }
    activation_tangents(np, rows, g, f1, f2, gc, g1, g2, t, gr_plane(xs, xn, np, a, 3), xn,
                        gr_plane(zs, zn, np, a, 3), zn, dk, dt);
    for (int i = 0; i < rows; i++) t[i] *= g[i];
    a++;
  }
}

/* One input column's share of K0 (k += w x z) and, with relevance, its
   tangent (dc = x z). */
NT_VECTOR_CLONES
static void input_column(int len, const double *restrict xc, double zc, double w, double *restrict k,
                         double *restrict dc)
{
#ifdef _OPENMP
#pragma omp simd
#endif
  for (int i = 0; i < len; i++) k[i] += w * xc[i] * zc;
  if (dc) {
#ifdef _OPENMP
#pragma omp simd
#endif
    for (int i = 0; i < len; i++) dc[i] = xc[i] * zc;
  }
}

/* K0 of rows r0.. r0 + len - 1 of x (nx rows) against row j of z (nz
   rows) into k, and its tangents into the np rows of dk (GR_BLOCK apart);
   column by column, so that each pass reads x contiguously. */
static void gr_inputs(const gr_job *job, const double *x, int nx, int r0, int len, const double *z,
                      int nz, int j, double *k, double *dk)
{
  for (int i = 0; i < len; i++) k[i] = 0;
  for (int p = 0; p < job->np; p++) memset(dk + (size_t) p * GR_BLOCK, 0, len * sizeof(double));
  for (int c = 0; c < job->d; c++) {
    const double *xc = x + (size_t) nx * c + r0;
    double zc = z[j + (size_t) nz * c] / job->d, w = job->ard ? job->ard[c] : 1.0;
    double *dc = job->ard ? dk + (size_t) (job->ard0 + c) * GR_BLOCK : NULL;
    input_column(len, xc, zc, w, k, dc);
  }
}

static double chunk_weight(void *vctx, R_xlen_t task)
{
  const gr_job *job = (const gr_job *) vctx;
  double j0 = (double) task * job->chunk, j1 = j0 + job->chunk < job->m ? j0 + job->chunk : job->m;
  return job->sym ? (j1 * (j1 + 1) - j0 * (j0 + 1)) / 2 : (double) job->n * (j1 - j0);
}

/* Copies len values, returning how many are not finite (one pass). */
NT_VECTOR_CLONES
static R_xlen_t copy_counting(double *restrict to, const double *restrict from, int len)
{
  R_xlen_t bad = 0;
#ifdef _OPENMP
#pragma omp simd reduction(+:bad)
#endif
  for (int i = 0; i < len; i++) {
    to[i] = from[i];
    bad += !(fabs(from[i]) <= DBL_MAX);
  }
  return bad;
}

/* Column j: every row (the upper triangle when z is x), in blocks. */
static R_xlen_t gr_column(gr_job *job, int j, double *k)
{
  int np = job->np;
  double *t = k + GR_BLOCK, *dk = t + GR_BLOCK, *dt = dk + (size_t) np * GR_BLOCK,
         *scratch = dt + (size_t) np * GR_BLOCK;
  const double *z = job->sym ? job->x : job->z;
  int nz = job->sym ? job->n : job->m, rows = job->sym ? j + 1 : job->n;
  double *zs = (job->sym ? job->selfx : job->selfz) + j;
  R_xlen_t bad = 0;
  for (int r0 = 0; r0 < rows; r0 += GR_BLOCK) {
    int len = rows - r0 < GR_BLOCK ? rows - r0 : GR_BLOCK;
    gr_inputs(job, job->x, job->n, r0, len, z, nz, j, k, dk);
    gr_block(job, len, k, t, dk, dt, job->selfx + r0, job->n, zs, nz, 0, scratch);
    size_t at = r0 + (size_t) job->n * j;
    bad += copy_counting(job->out[0] + at, t, len) + copy_counting(job->out[1] + at, k, len);
    for (int p = 0; p < np; p++)
      bad += copy_counting(job->out[2 + p] + at, dt + (size_t) p * GR_BLOCK, len) +
             copy_counting(job->out[2 + np + p] + at, dk + (size_t) p * GR_BLOCK, len);
  }
  return bad;
}

/* A chunk of columns, then (z = x) its mirror while it is in cache. */
static R_xlen_t gr_chunk(void *vctx, R_xlen_t task)
{
  gr_job *job = (gr_job *) vctx;
  int tid = 0;
#ifdef _OPENMP
  tid = omp_get_thread_num();
#endif
  double *k = job->work + gr_work_size(job->np) * tid;
  int j0 = (int) task * job->chunk, j1 = j0 + job->chunk < job->m ? j0 + job->chunk : job->m;
  R_xlen_t bad = 0;
  for (int j = j0; j < j1; j++) bad += gr_column(job, j, k);
  if (job->sym)
    for (int q = 0; q < 2 + 2 * job->np; q++) nt_mirror_chunk(job->out[q], job->n, j0, j1);
  return bad;
}

/* The self records of n inputs (rows of a). */
static void gr_self(const gr_job *job, const double *a, int n, double *self)
{
  int np = job->np;
  double *k = job->work, *t = k + GR_BLOCK, *dk = t + GR_BLOCK, *dt = dk + (size_t) np * GR_BLOCK,
         *scratch = dt + (size_t) np * GR_BLOCK;
  for (int i = 0; i < n; i++) {
    gr_inputs(job, a, n, i, 1, a, n, i, k, dk);
    gr_block(job, 1, k, t, dk, dt, self + i, n, self + i, n, 1, scratch);
  }
}

/* The plan's ops must be ones whose tangents gr_block knows, in one slot. */
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
  /* small problems (evidence searches evaluate many): threads cost more than they save */
  if ((double) job.n * job.m * (1 + job.np) * (plan.nops + 1) < 2e6) nth = 1;
  nt_check_alloc((double) job.n, (double) job.m, 2.0 * (1 + job.np), "the kernels and their gradients");
  double planes = (double) plan.nact * (3 + job.np) + 1;
  nt_check_alloc((double) job.n + job.m, planes, 1, "the self records");
  job.selfx = (double *) R_alloc((size_t) job.n * (size_t) planes, sizeof(double));
  job.selfz = job.sym ? job.selfx : (double *) R_alloc((size_t) job.m * (size_t) planes, sizeof(double));
  job.work = (double *) R_alloc(gr_work_size(job.np) * nth, sizeof(double));
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
    nt_advise_huge(REAL(mat), (size_t) job.n * job.m * sizeof(double));
  }
  SET_VECTOR_ELT(res, 2, dntk);
  SET_VECTOR_ELT(res, 3, dnngp);
  /* chunks whose outputs fit in about 2 MB of cache, for the mirror */
  double cols = 2097152.0 / (8.0 * job.n * (2.0 + 2.0 * job.np));
  job.chunk = cols < 4 ? 4 : cols > 64 ? 64 : (int) cols;
  nt_drive_spec spec = {(job.m + job.chunk - 1) / job.chunk, chunk_weight, gr_chunk, 0, nth};
  nt_progress bar;
  nt_progress_start(&bar, 0, (double) job.n * job.m);
  R_xlen_t bad = nt_drive(&spec, &job, &bar);
  if (bad > 0)
    Rf_error("%.0f kernel or gradient values are not finite: the variances overflow the double range",
             (double) bad);
  UNPROTECT(3);
  return res;
}
