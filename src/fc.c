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

/* A fully connected kernel job.  Each slot's state is one column of pairs:
   K, and `channels` NTKs, where channel c freezes the affine layers before
   the c-th (channel 0: the network as given; more channels give every
   frozen-prefix NTK in one pass, see ntk_fc_family).  Taps copy K and each
   channel's NTK after chosen ops into output matrices. */
typedef struct {
  const nt_plan *plan;
  const double *x, *z, *s0x, *selfx, *selfz;
  const int *shx, *shz;      /* per row of x, z: its power-of-two shift (NULL: none) */
  const int *deg;            /* per op: the degree of its output (homogeneous plans) */
  size_t stride;
  int n, m, d, sym;
  int same;                  /* z is x (or equal to it): pair (j, j) is an input with itself */
  int native;                /* the Gram matrix by nt_gram's own loop, not BLAS */
  int channels;
  int *tap_at;               /* per op: its tap, or -1 */
  double **tap_k, **tap_t;   /* per tap: K, and channels NTKs (NULL: not wanted) */
  int nouts;
  double **outs;             /* every output matrix (mirroring, overflow count) */
  double *gram;              /* an output whose column j holds the Gram before it is read */
  const double *start;       /* resumed runs (ntk_fc_resume): the given K, read column by column */
  const double *theta0;      /* and the given NTK (NULL: zero) */
  double *planes;            /* per activation: sqrt(s) then 1 / sqrt(s) of the rows */
  double *work;              /* per thread and slot: K, then the channels' NTKs; a scratch column */
} fc_job;

static size_t work_per_thread(const fc_job *job)
{
  return (size_t) job->n * ((1 + (size_t) job->channels) * job->plan->nslots + 1);
}

/* NTK update of an activation on every channel: t_c *= kdot. */
static void scale_channels(double *t, size_t n, int channels, const double *kdot, int rows)
{
  for (int c = 0; c < channels; c++)
    for (int i = 0; i < rows; i++) t[c * n + i] *= kdot[i];
}

/* Rows [r0, r0 + rows) of column j: kb[slot], tb[slot] hold each slot's
   state (K, then the channels' NTKs); sz the column input's self
   variances; a, affine count the activations and dense layers passed. */
struct nt_fc_block {
  const fc_job *job;
  const double *sz;
  int r0, rows, a, affine, skip;
  double **kb, **tb, *scratch;
  int j;                     /* the column: input j of z */
};

void nt_fc_branch(struct nt_fc_block *b, const nt_op *op)
{
  /* one channel (ntk_fc_family refuses branches) */
  double *ks[NT_MAX_SLOTS], *ts[NT_MAX_SLOTS];
  for (int s = 0; s < b->job->plan->nslots; s++) { ks[s] = b->kb[s] + b->r0; ts[s] = b->tb[s] + b->r0; }
  nt_branch_step(op, ks, ts, b->rows);
}

void nt_fc_dense(struct nt_fc_block *b, const nt_op *op)
{
  double *k = b->kb[op->slot] + b->r0, *t = b->tb[op->slot] + b->r0;
  double w = op->p1, bias = op->p2, fan = op->p3;
  int rows = b->rows;
  if (fan > 0) {   /* standard parameterization: T += fan K_in + 1, K_in before the map */
    for (int c = 0; c < b->job->channels; c++) {
      double keep = op->trainable && b->affine >= c ? 1.0 : 0.0, *tc = t + (size_t) c * b->job->n;
      for (int i = 0; i < rows; i++) tc[i] = w * tc[i] + keep * (fan * k[i] + 1.0);
    }
    for (int i = 0; i < rows; i++) k[i] = w * k[i] + bias;
    b->affine++;
    return;
  }
  for (int i = 0; i < rows; i++) k[i] = w * k[i] + bias;
  for (int c = 0; c < b->job->channels; c++) {
    double keep = op->trainable && b->affine >= c ? 1.0 : 0.0, *tc = t + (size_t) c * b->job->n;
    for (int i = 0; i < rows; i++) tc[i] = w * tc[i] + keep * k[i];
  }
  b->affine++;
}

void nt_fc_abrelu(struct nt_fc_block *b, const nt_op *op)
{
  const fc_job *job = b->job;
  int n = job->n, a = b->a, r0 = b->r0;
  double *k = b->kb[op->slot] + r0, *t = b->tb[op->slot] + r0;
  const double *plane = job->planes + (size_t) 2 * n * a;
  double r2 = b->sz[NT_SELF * a + 1], ir2 = b->sz[NT_SELF * a + 2];
  if (job->channels == 1) {
    const nt_op *next = op->fuse ? op + 1 : NULL;   /* the fusion pass's dense layer */
    nt_abrelu_column(op->p1, op->p2, plane + r0, plane + n + r0, r2, ir2, k, t, b->rows, next);
    if (next) { b->skip = 1; b->affine++; }
  } else {   /* kdot into the scratch column, then every channel */
    for (int i = 0; i < b->rows; i++) b->scratch[i] = 1.0;
    nt_abrelu_column(op->p1, op->p2, plane + r0, plane + n + r0, r2, ir2, k, b->scratch, b->rows,
                     NULL);
    scale_channels(t, n, job->channels, b->scratch, b->rows);
  }
  b->a++;
}

void nt_fc_elementwise(struct nt_fc_block *b, const nt_op *op)
{
  const fc_job *job = b->job;
  int a = b->a, r0 = b->r0;
  double *k = b->kb[op->slot] + r0, *t = b->tb[op->slot] + r0;
  for (int i = 0; i < b->rows; i++)
    k[i] = nt_act_self(op, job->selfx + job->stride * (r0 + i) + NT_SELF * a, b->sz + NT_SELF * a,
                       k[i], b->scratch + i);
  scale_channels(t, job->n, job->channels, b->scratch, b->rows);
  b->a++;
}

/* Train-mode dropout (dropout.c): the pair of an input with itself, row j
   of column j, times 1 / rate; other pairs unchanged. */
void nt_fc_dropout(struct nt_fc_block *b, const nt_op *op)
{
  const fc_job *job = b->job;
  int j = b->j;
  if (!job->same || j < b->r0 || j >= b->r0 + b->rows) return;
  double f = 1.0 / op->p1;
  b->kb[op->slot][j] *= f;
  for (int c = 0; c < job->channels; c++) b->tb[op->slot][(size_t) c * job->n + j] *= f;
}

/* Non-finite entries of a block (|v| <= DBL_MAX is false for Inf and NaN:
   inline, unlike R_FINITE). */
static R_xlen_t count_bad(const double *v, int rows)
{
  R_xlen_t bad = 0;
  for (int i = 0; i < rows; i++) bad += !(fabs(v[i]) <= DBL_MAX);
  return bad;
}

/* Rows [r0, r0 + rows) of column j, tapped after op l, into dst: shifted
   back by the inputs' shifts when there are any (see fc_inputs).  Returns
   the count of non-finite entries, overflow of the true value included. */
static R_xlen_t tap_copy(const fc_job *job, double *dst, const double *src, int l, int j, int r0,
                         int rows)
{
  if (job->shx) nt_unshift(dst, src, job->shx + r0, job->shz[j], job->deg[l], rows);
  else memcpy(dst, src, rows * sizeof(double));
  return count_bad(dst, rows);
}

/* All ops, through their registry steps, on rows [r0, r1) of column j;
   the taps after them.  Returns the count of non-finite tapped entries. */
static R_xlen_t column_layers(const fc_job *job, const double *sz, int j, int r0, int r1,
                              double **kb, double **tb, double *scratch)
{
  struct nt_fc_block b = {job, sz, r0, r1 - r0, 0, 0, 0, kb, tb, scratch, j};
  int n = job->n, rows = r1 - r0, C = job->channels;
  R_xlen_t bad = 0;
  for (int l = 0; l < job->plan->nops; l++) {
    const nt_op *op = job->plan->ops + l;
    b.skip = 0;
    op->info->fc(&b, op);
    l += b.skip;   /* taps sit after dense layers, never inside a fused pair */
    int q = job->tap_at[l];
    if (q < 0) continue;
    size_t at = (size_t) n * j + r0;
    if (job->tap_k[q]) bad += tap_copy(job, job->tap_k[q] + at, kb[op->slot] + r0, l, j, r0, rows);
    for (int c = 0; c < C; c++) {
      double *dst = job->tap_t[(size_t) q * C + c];
      if (dst) bad += tap_copy(job, dst + at, tb[op->slot] + (size_t) c * n + r0, l, j, r0, rows);
    }
  }
  return bad;
}

/* The recursion runs layer by layer down a column of pairs (one z input
   against its rows), so that the ReLU duals form plain loops
   (nt_abrelu_column, src/relu_column.c) that the compiler vectorises; in
   blocks of rows small enough that the column and its row planes stay in
   the L1 cache through all layers. */
#define FC_CHUNK 32   /* columns per task */

static double chunk_pairs(void *vctx, R_xlen_t task)
{
  const fc_job *job = (const fc_job *) vctx;
  double j0 = (double) task * FC_CHUNK, j1 = j0 + FC_CHUNK < job->m ? j0 + FC_CHUNK : job->m;
  return job->sym ? 0.5 * (j1 * (j1 + 1) - j0 * (j0 + 1)) : (double) job->n * (j1 - j0);
}

static R_xlen_t kernel_chunk(void *vctx, R_xlen_t task)
{
  const int block = 256;
  fc_job *job = (fc_job *) vctx;
  int j0 = (int) (task * FC_CHUNK), j1 = j0 + FC_CHUNK < job->m ? j0 + FC_CHUNK : job->m;
  if (!job->start)
    gram_chunk(job->x, job->z, job->n, job->m, job->d, job->sym, j0, j1, job->s0x, job->gram,
               job->native);
  const double *k0 = job->start ? job->start : job->gram;
  int n = job->n, tid = 0;
#ifdef _OPENMP
  tid = omp_get_thread_num();
#endif
  int nslots = job->plan->nslots, C = job->channels;
  double *base = job->work + work_per_thread(job) * tid;
  double *kbs[NT_MAX_SLOTS], *tbs[NT_MAX_SLOTS];
  for (int s = 0; s < nslots; s++) {
    kbs[s] = base + (size_t) n * (1 + C) * s;
    tbs[s] = kbs[s] + n;
  }
  double *scratch = base + (size_t) n * (1 + C) * nslots;
  R_xlen_t bad = 0;
  for (int j = j0; j < j1; j++) {
    int rows = job->sym ? j + 1 : n;
    const double *sz = job->selfz + job->stride * j;
    memcpy(kbs[0], k0 + (size_t) n * j, rows * sizeof(double));
    for (int c = 0; c < C; c++) {
      if (job->theta0) memcpy(tbs[0] + (size_t) c * n, job->theta0 + (size_t) n * j, rows * sizeof(double));
      else memset(tbs[0] + (size_t) c * n, 0, rows * sizeof(double));
    }
    for (int r0 = 0; r0 < rows; r0 += block)
      bad += column_layers(job, sz, j, r0, r0 + block < rows ? r0 + block : rows, kbs, tbs, scratch);
  }
  if (job->sym)   /* mirror the chunk in cache (rows no other chunk uses as Gram scratch) */
    for (int o = 0; o < job->nouts; o++) nt_mirror_chunk(job->outs[o], n, j0, j1);
  return bad;
}

/* Output matrices: allocated, registered for mirroring and the overflow
   count, advised for huge pages. */
static SEXP new_output(fc_job *job)
{
  SEXP k = Rf_allocMatrix(REALSXP, job->n, job->m);
  job->outs[job->nouts++] = REAL(k);
  nt_advise_huge(REAL(k), (size_t) job->n * job->m * sizeof(double));
  return k;
}

/* Taps and channels: `ntap` taps, all outputs NULL until set. */
static void job_taps(fc_job *job, int channels, int ntap, int nouts)
{
  job->channels = channels;
  job->tap_at = (int *) R_alloc(job->plan->nops > 0 ? job->plan->nops : 1, sizeof(int));
  for (int l = 0; l < job->plan->nops; l++) job->tap_at[l] = -1;
  job->tap_k = (double **) R_alloc(ntap, sizeof(double *));
  job->tap_t = (double **) R_alloc((size_t) ntap * channels, sizeof(double *));
  for (int q = 0; q < ntap; q++) job->tap_k[q] = NULL;
  for (int q = 0; q < ntap * channels; q++) job->tap_t[q] = NULL;
  job->outs = (double **) R_alloc(nouts, sizeof(double *));
  job->nouts = 0;
}

/* The per-activation row planes, the per-thread work, then the engine. */
static void run_job(fc_job *job, int nth, double cost, int show)
{
  const nt_plan *plan = job->plan;
  int n = job->n;
  job->planes = (double *) R_alloc((size_t) 2 * n * (plan->nact > 0 ? plan->nact : 1), sizeof(double));
  for (int a = 0; a < plan->nact; a++)
    for (int i = 0; i < n; i++) {
      job->planes[(size_t) 2 * n * a + i] = job->selfx[job->stride * i + NT_SELF * a + 1];
      job->planes[(size_t) 2 * n * a + n + i] = job->selfx[job->stride * i + NT_SELF * a + 2];
    }
  job->work = (double *) R_alloc(work_per_thread(job) * nth, sizeof(double));
  job->gram = job->outs[0];   /* the Gram is overwritten in place, column by column */
  /* blocks of about 0.1 s (cost: work units per pair) */
  nt_drive_spec spec = {(job->m + FC_CHUNK - 1) / FC_CHUNK, chunk_pairs, kernel_chunk,
                        1e7 * nth / cost, nth};
  nt_progress bar;
  nt_progress_start(&bar, show, job->sym ? 0.5 * (double) n * (n + 1) : (double) n * job->m);
  R_xlen_t bad = nt_drive(&spec, job, &bar);
  nt_progress_end(&bar);
  if (bad > 0)
    Rf_error("%.0f kernel entries overflowed the double range; rescale 'x' or lower the variances",
             (double) bad);
}

/* The rows of a (n x d) shifted by powers of two for a plan of degree
   `degree` (homog.c): their shifts into *shift and the shifted copy
   returned; a itself and *shift NULL when no row needs a shift (then
   nothing changes) or the plan is not homogeneous (degree 0). */
static const double *shift_rows(const double *a, int n, int d, int degree, int **shift)
{
  *shift = NULL;
  if (degree < 1) return a;
  double *top = (double *) R_alloc(n > 0 ? n : 1, sizeof(double));
  for (int i = 0; i < n; i++) top[i] = 0;
  for (int c = 0; c < d; c++)
    for (int i = 0; i < n; i++) top[i] = fmax(top[i], fabs(a[i + (size_t) n * c]));
  int *sh = (int *) R_alloc(n > 0 ? n : 1, sizeof(int)), any = 0;
  for (int i = 0; i < n; i++) any |= (sh[i] = nt_input_shift(top[i], degree)) != 0;
  if (!any) return a;
  double *out = (double *) R_alloc((size_t) n * d, sizeof(double));
  for (int c = 0; c < d; c++)
    for (int i = 0; i < n; i++) {
      size_t at = i + (size_t) n * c;
      out[at] = sh[i] ? ldexp(a[at], -sh[i]) : a[at];
    }
  *shift = sh;
  return out;
}

/* Checks shared by the kernel and family entry points; fills the inputs'
   self variances.  Homogeneous plans run on rows shifted by powers of two
   into a safe range and shift their outputs back (homog.c), so that tiny
   and huge inputs keep every digit. */
static void fc_self_states(fc_job *job, const double *s0x, const double *s0z, int nth);

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
  job->same = job->sym || (job->n == job->m &&
                           memcmp(REAL(x), REAL(z), (size_t) job->n * job->d * sizeof(double)) == 0);
  int *deg = (int *) R_alloc(plan->nops > 0 ? plan->nops : 1, sizeof(int));
  int degree = nt_plan_degree(plan, deg);
  int *shx, *shz = NULL;
  job->x = shift_rows(REAL(x), job->n, job->d, degree, &shx);
  job->z = job->sym ? NULL : shift_rows(REAL(z), job->m, job->d, degree, &shz);
  job->deg = deg;
  job->shx = job->shz = NULL;
  if (shx || shz) {   /* one side shifted: the other's shifts are 0 */
    int *zero = (int *) R_alloc(job->n > job->m ? job->n : job->m, sizeof(int));
    memset(zero, 0, (job->n > job->m ? job->n : job->m) * sizeof(int));
    job->shx = shx ? shx : zero;
    job->shz = job->sym ? job->shx : shz ? shz : zero;
  }
  job->start = job->theta0 = NULL;
  double *s0x = (double *) R_alloc(job->n, sizeof(double));
  row_norms(job->x, job->n, job->d, s0x);
  double *s0z = NULL;
  if (!job->sym) {
    s0z = (double *) R_alloc(job->m, sizeof(double));
    row_norms(job->z, job->m, job->d, s0z);
  }
  fc_self_states(job, s0x, s0z, nth);
}

/* The self states of x (s0x) and, unless symmetric, z (s0z) at every
   activation of the job's plan. */
static void fc_self_states(fc_job *job, const double *s0x, const double *s0z, int nth)
{
  const nt_plan *plan = job->plan;
  job->stride = plan->nact > 0 ? NT_SELF * (size_t) plan->nact : 1;
  double *selfx = (double *) R_alloc(job->stride * job->n, sizeof(double));
  if (fc_self_all(plan, s0x, job->n, selfx, job->stride, nth))
    Rf_error("an activation table is too narrow for 'x'; this is a bug in ntk");
  job->s0x = s0x;
  job->selfx = job->selfz = selfx;
  if (!job->sym) {
    double *selfz = (double *) R_alloc(job->stride * job->m, sizeof(double));
    if (fc_self_all(plan, s0z, job->m, selfz, job->stride, nth))
      Rf_error("an activation table is too narrow for 'z'; this is a bug in ntk");
    job->selfz = selfz;
  }
}

/* The NTK and NNGP outputs of a plain (one-tap) job: list(ntk, nngp). */
static SEXP fc_run_outputs(fc_job *job, const nt_plan *plan, int want_ntk, int want_nngp, int nth,
                           int show)
{
  nt_check_alloc(job->n, job->m, want_ntk + want_nngp, "the kernel matrix");
  if (plan->nops < 1) Rf_error("the plan has no layers");
  job_taps(job, 1, 1, 2);
  job->tap_at[plan->nops - 1] = 0;   /* one tap: the output */
  SEXP k_nngp = PROTECT(want_nngp ? new_output(job) : R_NilValue);
  SEXP k_ntk = PROTECT(want_ntk ? new_output(job) : R_NilValue);
  job->tap_k[0] = want_nngp ? REAL(k_nngp) : NULL;
  job->tap_t[0] = want_ntk ? REAL(k_ntk) : NULL;
  run_job(job, nth, plan_cost(plan), show);
  SEXP res = nt_result(2, (SEXP[]) {k_ntk, k_nngp});
  UNPROTECT(2);
  return res;
}

/* What a kernel call asks for: the kernels, threads, progress bar; and
   its plan. */
typedef struct { int want_ntk, want_nngp, nth, show; } fc_request;

static void fc_read_request(SEXP what, SEXP threads, SEXP progress, SEXP ops_int, SEXP ops_dbl,
                            SEXP tables, fc_request *rq, nt_plan *plan)
{
  nt_check_what(what, &rq->want_ntk, &rq->want_nngp);
  rq->nth = nt_threads_clamp(nt_check_int_scalar(threads, "threads", 1, 1024));
  rq->show = nt_check_flag(progress, "progress");
  nt_plan_read(ops_int, ops_dbl, tables, plan);
}

SEXP ntk_fc_kernel(SEXP x, SEXP z, SEXP ops_int, SEXP ops_dbl, SEXP tables,
                   SEXP what, SEXP threads, SEXP progress, SEXP native_gram)
{
  nt_mem_begin();
  fc_request rq;
  nt_plan plan;
  fc_read_request(what, threads, progress, ops_int, ops_dbl, tables, &rq, &plan);
  fc_job job;
  job.native = nt_check_flag(native_gram, "native_gram");
  fc_inputs(x, z, &plan, rq.nth, &job);
  return fc_run_outputs(&job, &plan, rq.want_ntk, rq.want_nngp, rq.nth, rq.show);
}

/* Self variances for a resumed run: a double vector of n finite,
   non-negative values. */
static const double *resume_variances(SEXP v, int n, const char *name)
{
  if (TYPEOF(v) != REALSXP || XLENGTH(v) != n)
    Rf_error("'%s' must be a double vector of length %d", name, n);
  const double *a = REAL(v);
  for (int i = 0; i < n; i++)
    if (!(a[i] >= 0) || !R_FINITE(a[i])) Rf_error("'%s' must be finite and non-negative", name);
  return a;
}

/* The rest of a fully connected network from a given state instead of the
   inputs: covariances k (n x m; z = x when kz is NULL, then k is n x n),
   the NTK so far theta (n x m, or NULL for zero), and the two sides' self
   variances kx, kz; `same` says that the pair (j, j) is an input with
   itself (dropout).  A user-supplied dual (R/dual.R) runs between such
   segments.  Returns list(ntk, nngp) as ntk_fc_kernel does. */
SEXP ntk_fc_resume(SEXP k, SEXP theta, SEXP kx, SEXP kz, SEXP same, SEXP ops_int, SEXP ops_dbl,
                   SEXP tables, SEXP what, SEXP threads, SEXP progress)
{
  nt_mem_begin();
  fc_request rq;
  nt_plan plan;
  fc_read_request(what, threads, progress, ops_int, ops_dbl, tables, &rq, &plan);
  nt_plan_require(&plan, NT_ENGINE_FC);
  for (int l = 0; l < plan.nops; l++)
    if (plan.ops[l].code == NT_OP_TABLE && plan.ops[l].table == NULL)
      Rf_error("activation table of layer %d is missing", l + 1);
  nt_check_real_matrix(k, "k");
  fc_job job;
  memset(&job, 0, sizeof job);
  job.plan = &plan;
  job.sym = Rf_isNull(kz);
  job.n = Rf_nrows(k); job.m = Rf_ncols(k);
  if (job.sym && job.n != job.m) Rf_error("'k' must be square when 'kz' is NULL");
  nt_check_finite(REAL(k), XLENGTH(k), "k");
  if (!Rf_isNull(theta)) {
    nt_check_real_matrix(theta, "theta");
    if (Rf_nrows(theta) != job.n || Rf_ncols(theta) != job.m)
      Rf_error("'theta' must be a matrix of the dimensions of 'k'");
    nt_check_finite(REAL(theta), XLENGTH(theta), "theta");
  }
  const double *s0x = resume_variances(kx, job.n, "kx");
  const double *s0z = job.sym ? s0x : resume_variances(kz, job.m, "kz");
  /* a covariance beyond its variances has no Gaussian pair (rounding allowed) */
  const double *kk = REAL(k);
  for (int j = 0; j < job.m; j++)
    for (int i = 0; i < job.n; i++) {
      double c = kk[i + (size_t) job.n * j];
      if (c * c > s0x[i] * s0z[j] * (1 + 1e-6) + 1e-300)
        Rf_error("'k' holds a covariance larger than its variances allow, at [%d, %d]", i + 1, j + 1);
    }
  job.same = nt_check_flag(same, "same") || job.sym;
  int *deg = (int *) R_alloc(plan.nops > 0 ? plan.nops : 1, sizeof(int));
  for (int l = 0; l < plan.nops; l++) deg[l] = 0;   /* no shifts: the state is given */
  job.deg = deg;
  fc_self_states(&job, s0x, s0z, rq.nth);
  job.start = kk;
  job.theta0 = Rf_isNull(theta) ? NULL : REAL(theta);
  return fc_run_outputs(&job, &plan, rq.want_ntk, rq.want_nngp, rq.nth, rq.show);
}

/* Pre-activation self variances of inputs with variances s0, for finding the
   range an activation table must cover.  Returns list(var = nact x n matrix,
   NA after a failure; status = per input 0 or 1 + the failing layer). */
SEXP ntk_fc_self(SEXP s0, SEXP ops_int, SEXP ops_dbl, SEXP tables)
{
  nt_mem_begin();
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
    for (int j = 0; j < plan.nact; j++) {
      double v = self[NT_SELF * j];
      if (!ISNAN(v) && !R_FINITE(v))
        Rf_error("the inputs' variances overflowed at activation %d; rescale 'x'", j + 1);
      REAL(var)[j + (size_t) plan.nact * i] = v;
    }
  }
  SEXP res = nt_result(2, (SEXP[]) {var, status});
  UNPROTECT(2);
  return res;
}

/* The dual kernels of a one-activation plan on given (s1, s2, c) triples:
   list(k, kdot).  Used to verify quadrature rules, and by the tests. */
SEXP ntk_act_dual(SEXP ops_int, SEXP ops_dbl, SEXP tables, SEXP s1, SEXP s2, SEXP c)
{
  nt_mem_begin();
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
   layers: the engine runs once with L + 1 NTK channels (channel fix freezes
   the first fix dense layers) and a tap after every dense layer dep, which
   gives NNGP(dep) and NTK(dep, fix) for fix <= dep. */
SEXP ntk_fc_family(SEXP x, SEXP z, SEXP ops_int, SEXP ops_dbl, SEXP tables, SEXP threads,
                   SEXP progress, SEXP native_gram)
{
  nt_mem_begin();
  int nth = nt_threads_clamp(nt_check_int_scalar(threads, "threads", 1, 1024));
  int show = nt_check_flag(progress, "progress");
  nt_plan plan;
  nt_plan_read(ops_int, ops_dbl, tables, &plan);
  if (plan.nops % 2 != 1) Rf_error("the family needs dense, then [activation, dense] layers");
  for (int l = 0; l < plan.nops; l++)
    if ((l % 2 == 0) != (plan.ops[l].code == NT_OP_DENSE) || (l % 2 == 1 && !nt_is_activation(plan.ops + l)))
      Rf_error("the family needs dense, then [activation, dense] layers");
  int L = plan.nops / 2;
  fc_job job;
  job.native = nt_check_flag(native_gram, "native_gram");
  fc_inputs(x, z, &plan, nth, &job);
  int nk = (L + 1) * (L + 2) / 2;
  nt_check_alloc(job.n, job.m, (double) nk + L + 1, "the family of kernel matrices");
  job_taps(&job, L + 1, L + 1, nk + L + 1);
  SEXP ntk = PROTECT(Rf_allocVector(VECSXP, nk));
  SEXP nngp = PROTECT(Rf_allocVector(VECSXP, L + 1));
  for (int dep = 0; dep <= L; dep++) {
    job.tap_at[2 * dep] = dep;
    SET_VECTOR_ELT(nngp, dep, new_output(&job));
    job.tap_k[dep] = REAL(VECTOR_ELT(nngp, dep));
    for (int fix = 0; fix <= dep; fix++) {
      int at = dep * (dep + 1) / 2 + fix;
      SET_VECTOR_ELT(ntk, at, new_output(&job));
      job.tap_t[(size_t) dep * (L + 1) + fix] = REAL(VECTOR_ELT(ntk, at));
    }
  }
  run_job(&job, nth, plan_cost(&plan) + 2.0 * nk, show);
  SEXP res = nt_result(2, (SEXP[]) {ntk, nngp});
  UNPROTECT(2);
  return res;
}
