/* Finite networks in the NTK parametrization: weights and biases N(0, 1),
   scaled by sqrt(w_var / fan_in) and sqrt(b_var) (in the standard
   parameterization the trained parameters are the scaled weights
   themselves: drawn with those scales, used unscaled).  Activations of all inputs
   are stored channels fastest: for input i, position p, channel c at
   a[(i * P + p) * C + c], i.e. a C x (n P) column-major matrix, so dense
   layers and convolutions (through im2col) are single BLAS calls.
   Used for Monte Carlo NNGP / NTK kernels (nt_empirical) and full-batch
   gradient descent (nt_train); gradients come from backpropagation. */
#include "ntk.h"
#include <R_ext/Random.h>
#include <string.h>

typedef struct nt_fl_layer {
  int code, trainable;
  const nt_op *op;
  int in;                          /* tape index of the input (0: the network's input,
                                      l + 1: the output of layer l) */
  int *ins, nins;                  /* fan-in: the tape indices of the branches, in order */
  double w, b;
  double fw, fb;                   /* forward scales of W and beta: sqrt(w / fan), sqrt(b) in
                                      the NTK parameterization, 1 in the standard one */
  double iw, ib;                   /* their initial scales: 1, or sqrt(w / fan), sqrt(b) */
  int pin, cin, pout, cout;        /* positions and channels in and out */
  int hin, win, hout, wout, qh, qw, sh, sw, pt, pl, circ;
  int fan;                         /* rows of W: cin (dense) or qh qw cin (conv) */
  int npos;                        /* filters: 1, or pout for a local convolution */
  size_t nwts, nbias;              /* fan cout npos weights, cout npos biases */
  double *W, *beta;                /* fan x cout, cout */
  double *gW, *gbeta;              /* gradients (training) */
  int *patch;                      /* conv: input position per (filter offset, output) or -1 */
} fl_layer;

typedef struct {
  int nl;
  fl_layer *layers;
  int p0, c0;                      /* input positions and channels */
} fl_net;

/* ---- building the network ----------------------------------------------- */

/* Shapes of a slot's state: positions (h x w = p) and channels. */
typedef struct { int p, c, h, w, at; } fl_shape;

/* The window's input position per (offset, output position), -1 in the
   padding: rows from nt_row_map (heights and depths), columns from
   nt_window_map; offset e = ey qw + ex. */
static void fl_patch(fl_layer *L, const int *g)
{
  int circ = L->code == NT_OP_AVGPOOL ? 0 : g[NT_G_CIRC];
  L->patch = (int *) R_alloc((size_t) L->qh * L->qw * L->pout, sizeof(int));
  int *my = (int *) R_alloc((size_t) L->qh * L->hout, sizeof(int));
  int *mx = (int *) R_alloc((size_t) L->qw * L->wout, sizeof(int));
  nt_row_map(my, g);
  nt_window_map(mx, L->wout, L->win, L->qw, L->sw, L->pl, circ);
  for (int ey = 0; ey < L->qh; ey++)
    for (int ex = 0; ex < L->qw; ex++)
      for (int o = 0; o < L->pout; o++) {
        int jy = my[(size_t) ey * L->hout + o / L->wout], jx = mx[(size_t) ex * L->wout + o % L->wout];
        L->patch[((size_t) ey * L->qw + ex) * L->pout + o] = jy >= 0 && jx >= 0 ? jy * L->win + jx : -1;
      }
}

static void fl_build(fl_net *net, const nt_plan *plan, const int *geom, int h0, int w0, int c0,
                     int width)
{
  net->nl = plan->nops;
  net->layers = (fl_layer *) R_alloc(plan->nops, sizeof(fl_layer));
  net->p0 = h0 * w0;
  net->c0 = c0;
  fl_shape slots[NT_MAX_SLOTS];
  slots[0] = (fl_shape) {h0 * w0, c0, h0, w0, 0};
  for (int l = 0; l < plan->nops; l++) {
    fl_layer *L = net->layers + l;
    const nt_op *op = plan->ops + l;
    const int *g = geom + (size_t) NT_G_ROWS * l;
    fl_shape *in = slots + op->slot;
    int p = in->p, c = in->c, h = in->h, w = in->w;
    memset(L, 0, sizeof(fl_layer));
    L->code = op->code; L->trainable = op->trainable; L->w = op->p1; L->b = op->p2; L->op = op;
    L->in = in->at;
    L->pin = p; L->cin = c; L->hin = h; L->win = w;
    int last = l == plan->nops - 1;
    if (nt_is_conv(op->code) || op->code == NT_OP_AVGPOOL) nt_check_window(g, op->code, h, w, l);
    if ((op->code == NT_OP_FLATTEN || op->code == NT_OP_GAP) && (double) p * c > 1e9)
      Rf_error("layer %d is too large", l + 1);
    if (nt_is_conv(op->code) &&
        ((double) g[NT_G_HOUT] * g[NT_G_WOUT] > 1e8 || (double) g[NT_G_QH] * g[NT_G_QW] * c > 1e8))
      Rf_error("layer %d is too large", l + 1);
    switch (op->code) {
    case NT_OP_DENSE:
      L->cout = last ? 1 : op->p4 > 0 ? (int) op->p4 : width; L->pout = p; L->fan = c;
      L->hout = h; L->wout = w;
      break;
    case NT_OP_CONV: case NT_OP_CONV_LOCAL:
      L->hout = g[NT_G_HOUT]; L->wout = g[NT_G_WOUT];
      L->qh = g[NT_G_QH]; L->qw = g[NT_G_QW]; L->sh = g[NT_G_SH]; L->sw = g[NT_G_SW];
      L->pt = g[NT_G_PT]; L->pl = g[NT_G_PL]; L->circ = g[NT_G_CIRC];
      L->pout = L->hout * L->wout; L->cout = op->p4 > 0 ? (int) op->p4 : width;
      L->fan = L->qh * L->qw * c;
      fl_patch(L, g);
      break;
    case NT_OP_AVGPOOL:
      if ((double) g[NT_G_HOUT] * g[NT_G_WOUT] > 1e8 || (double) g[NT_G_QH] * g[NT_G_QW] > 1e8)
        Rf_error("layer %d is too large", l + 1);
      L->hout = g[NT_G_HOUT]; L->wout = g[NT_G_WOUT];
      L->qh = g[NT_G_QH]; L->qw = g[NT_G_QW]; L->sh = g[NT_G_SH]; L->sw = g[NT_G_SW];
      L->pt = g[NT_G_PT]; L->pl = g[NT_G_PL];
      L->pout = L->hout * L->wout; L->cout = c;
      fl_patch(L, g);
      break;
    case NT_OP_FLATTEN:
      L->pout = 1; L->cout = p * c; L->hout = L->wout = 1;
      break;
    case NT_OP_GAP:
      L->pout = 1; L->cout = c; L->hout = L->wout = 1;
      break;
    case NT_OP_FANOUT:
      L->pout = p; L->cout = c; L->hout = h; L->wout = w;
      break;
    case NT_OP_SUM: case NT_OP_PROD: case NT_OP_CONCAT:
      L->nins = op->count + 1;
      L->ins = (int *) R_alloc(L->nins, sizeof(int));
      L->ins[0] = in->at;
      for (int j = 0; j < op->count; j++) {
        const fl_shape *b = slots + op->first + j;
        if (b->p != p || b->c != c)
          Rf_error("layer %d merges branches of different shapes (%d x %d and %d x %d; "
                   "finite networks need equal widths)", l + 1, p, c, b->p, b->c);
        L->ins[j + 1] = b->at;
      }
      L->pout = p; L->hout = h; L->wout = w;
      L->cout = op->code == NT_OP_CONCAT ? c * L->nins : c;
      break;
    case NT_OP_LAYERNORM: case NT_OP_LAYERNORM_ALL:
      if ((op->code == NT_OP_LAYERNORM ? 1.0 : (double) p) * c < 2)
        Rf_error("layer %d (layer norm) normalises over an axis of width 1", l + 1);
      L->pout = p; L->cout = c; L->hout = h; L->wout = w;
      break;
    default:                          /* elementwise: nt_plan_require checked the hook */
      L->pout = p; L->cout = c; L->hout = h; L->wout = w;
    }
    if (L->fan) {
      L->npos = op->code == NT_OP_CONV_LOCAL ? L->pout : 1;
      L->nwts = (size_t) L->fan * L->cout * L->npos;
      L->nbias = (size_t) L->cout * L->npos;
      if ((double) L->nwts > 1e9) Rf_error("layer %d is too large", l + 1);
      L->W = (double *) R_alloc(L->nwts, sizeof(double));
      L->beta = (double *) R_alloc(L->nbias, sizeof(double));
      int standard = op->p3 > 0;   /* the trained parameters are the scaled weights */
      L->fw = standard ? 1.0 : sqrt(L->w / L->fan);
      L->fb = standard ? 1.0 : sqrt(L->b);
      L->iw = standard ? sqrt(L->w / L->fan) : 1.0;
      L->ib = standard ? sqrt(L->b) : 1.0;
    }
    *in = (fl_shape) {L->pout, L->cout, L->hout, L->wout, l + 1};
    if (op->code == NT_OP_FANOUT)
      for (int j = op->first; j < op->first + op->count; j++) slots[j] = *in;
  }
}

static void fl_draw(fl_net *net)
{
  for (int l = 0; l < net->nl; l++) {
    fl_layer *L = net->layers + l;
    if (!L->fan) continue;
    for (size_t i = 0; i < L->nwts; i++) L->W[i] = L->iw * norm_rand();
    for (size_t i = 0; i < L->nbias; i++) L->beta[i] = L->ib * norm_rand();
  }
}

/* ---- forward and backward ------------------------------------------------ */

typedef struct nt_fl_tape {
  double **a;       /* a[0]: the inputs, a[l + 1]: the output of layer l, cout x (n pout) */
  double **d;       /* d[i]: gradient with respect to a[i] (backward pass) */
  size_t *len;      /* entries of a[i] */
  double **cols;    /* conv: im2col of the input, fan x (n pout) */
  int n;
  int graph0;       /* the graph of input 0 (aggregation: test inputs follow the training ones) */
} fl_tape;

static void fl_tape_alloc(const fl_net *net, int n, fl_tape *tp)
{
  tp->n = n;
  tp->graph0 = 0;
  tp->a = (double **) R_alloc(net->nl + 1, sizeof(double *));
  tp->d = (double **) R_alloc(net->nl + 1, sizeof(double *));
  tp->len = (size_t *) R_alloc(net->nl + 1, sizeof(size_t));
  tp->cols = (double **) R_alloc(net->nl, sizeof(double *));
  for (int l = 0; l <= net->nl; l++) {
    size_t sz = l == 0 ? (size_t) net->p0 * net->c0
                       : (size_t) net->layers[l - 1].cout * net->layers[l - 1].pout;
    nt_check_alloc((double) sz, (double) n, 2, "the finite network's activations");
    tp->len[l] = sz * n;
    /* a fan-out's output is its input: no copy */
    int alias = l > 0 && net->layers[l - 1].code == NT_OP_FANOUT;
    tp->a[l] = alias ? tp->a[net->layers[l - 1].in] : (double *) R_alloc(sz * n, sizeof(double));
    tp->d[l] = (double *) R_alloc(sz * n, sizeof(double));
  }
  for (int l = 0; l < net->nl; l++) {
    const fl_layer *L = net->layers + l;
    tp->cols[l] = NULL;
    if (nt_is_conv(L->code)) {
      nt_check_alloc((double) L->fan * L->pout, (double) n, 1, "the convolution patches");
      tp->cols[l] = (double *) R_alloc((size_t) L->fan * L->pout * n, sizeof(double));
    }
    if (L->code == NT_OP_DROPOUT)   /* the mask of the last forward pass */
      tp->cols[l] = (double *) R_alloc((size_t) L->cin * L->pin * n, sizeof(double));
  }
}

/* C (M x N) = alpha op(A) op(B) + beta C in blocks of about 2e8 flops,
   with an interrupt check after each: the finite networks run on the main
   thread, and one product at a large width or n takes minutes. Columns of
   C are split, and the inner dimension K too when one column is long. */
static void gemm_blocked(const char *ta, const char *tb, int M, int N, int K, double alpha,
                         const double *A, int lda, const double *B, int ldb, double beta,
                         double *C, int ldc)
{
  const double budget = 2e8;
  double per_col = 2.0 * M * (double) K + 1;
  int cols = per_col >= budget ? 1 : (int) fmin((double) N, budget / per_col);
  int depth = per_col <= budget ? K : (int) fmax(1.0, budget / (2.0 * M + 1));
  if (cols < 1) cols = 1;
  if (depth < 1) depth = 1;
  int a_trans = ta[0] == 'T', b_trans = tb[0] == 'T';
  for (int j0 = 0; j0 < N; j0 += cols) {
    int nb = N - j0 < cols ? N - j0 : cols;
    double *Cj = C + (size_t) j0 * ldc;
    for (int k0 = 0; k0 < K; k0 += depth) {
      int kb = K - k0 < depth ? K - k0 : depth;
      double bk = k0 == 0 ? beta : 1.0;
      /* op(A)(:, k0..) and op(B)(k0.., j0..) in their stored layouts */
      const double *Ak = a_trans ? A + k0 : A + (size_t) k0 * lda;
      const double *Bk = b_trans ? B + j0 + (size_t) k0 * ldb : B + k0 + (size_t) j0 * ldb;
      F77_CALL(dgemm)(ta, tb, &M, &nb, &kb, &alpha, Ak, &lda, Bk, &ldb, &bk, Cj, &ldc
                      FCONE FCONE);
      R_CheckUserInterrupt();
    }
  }
}

static void im2col(const fl_layer *L, const double *in, double *cols, int n)
{
  int q = L->qh * L->qw;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < L->pout; o++) {
      double *col = cols + ((size_t) i * L->pout + o) * L->fan;
      for (int e = 0; e < q; e++) {
        int j = L->patch[(size_t) e * L->pout + o];
        double *dst = col + (size_t) e * L->cin;
        if (j < 0) memset(dst, 0, L->cin * sizeof(double));
        else memcpy(dst, in + ((size_t) i * L->pin + j) * L->cin, L->cin * sizeof(double));
      }
    }
}

/* out (cout x m) = fw W' in (fan x m) + fb beta; a local convolution uses
   filter o (and bias o) at output position o: the columns j = i pout + o. */
static void affine_fwd(const fl_layer *L, const double *in, double *out, int m)
{
  double alpha = L->fw, zero = 0, sb = L->fb;
  int fan = L->fan, cout = L->cout, P = L->npos;
  for (int o = 0; o < P; o++)
    gemm_blocked("T", "N", cout, m / P, fan, alpha, L->W + (size_t) o * fan * cout, fan,
                 in + (size_t) o * fan, fan * P, zero, out + (size_t) o * cout, cout * P);
  for (int j = 0; j < m; j++) {
    const double *beta = L->beta + (size_t) (j % P) * cout;
    for (int c = 0; c < cout; c++) out[(size_t) j * cout + c] += sb * beta[c];
  }
}

/* The branches of a fan-in into out (sum, product, or channels side by side). */
static void fan_in_fwd(const fl_layer *L, fl_tape *tp, double *out)
{
  size_t len = tp->len[L->ins[0]];
  if (L->code == NT_OP_CONCAT) {
    size_t rows = len / L->cin;           /* (input, position) pairs */
    for (int b = 0; b < L->nins; b++) {
      const double *src = tp->a[L->ins[b]];
      for (size_t r = 0; r < rows; r++)
        memcpy(out + r * L->cout + (size_t) b * L->cin, src + r * L->cin, L->cin * sizeof(double));
    }
    return;
  }
  memcpy(out, tp->a[L->ins[0]], len * sizeof(double));
  for (int b = 1; b < L->nins; b++) {
    const double *src = tp->a[L->ins[b]];
    if (L->code == NT_OP_SUM) for (size_t k = 0; k < len; k++) out[k] += src[k];
    else for (size_t k = 0; k < len; k++) out[k] *= src[k];
  }
}

/* ---- the ops' forward and backward steps (named in the registry) -------- */

void nt_fl_affine_forward(const fl_layer *L, fl_tape *tp, int l)
{
  int n = tp->n;
  const double *in = tp->a[L->in];
  if (nt_is_conv(L->code)) {
    im2col(L, in, tp->cols[l], n);
    affine_fwd(L, tp->cols[l], tp->a[l + 1], L->pout * n);
  } else {
    affine_fwd(L, in, tp->a[l + 1], L->pin * n);
  }
}

/* The factor of each output position o of a pooling layer: 1 (sum), one
   over the window's size (average) or over its in-image positions
   (normalize_edges). */
static double pool_factor(const fl_layer *L, int o)
{
  int q = L->qh * L->qw, count = 0;
  if (L->op->p1 == 1) return 1.0;
  if (L->op->p2 != 1) return 1.0 / q;
  for (int e = 0; e < q; e++) count += L->patch[(size_t) e * L->pout + o] >= 0;
  return 1.0 / count;
}

void nt_fl_pool_forward(const fl_layer *L, fl_tape *tp, int l)
{
  int n = tp->n, q = L->qh * L->qw;
  const double *in = tp->a[L->in];
  double *out = tp->a[l + 1];
  memset(out, 0, (size_t) L->pout * n * L->cout * sizeof(double));
  for (int i = 0; i < n; i++)
    for (int o = 0; o < L->pout; o++) {
      double s = pool_factor(L, o);
      double *dst = out + ((size_t) i * L->pout + o) * L->cout;
      for (int e = 0; e < q; e++) {
        int j = L->patch[(size_t) e * L->pout + o];
        if (j < 0) continue;
        const double *src = in + ((size_t) i * L->pin + j) * L->cin;
        for (int c = 0; c < L->cin; c++) dst[c] += s * src[c];
      }
    }
}

void nt_fl_flatten_forward(const fl_layer *L, fl_tape *tp, int l)
{
  memcpy(tp->a[l + 1], tp->a[L->in], (size_t) tp->n * L->pin * L->cin * sizeof(double));
}

void nt_fl_gap_forward(const fl_layer *L, fl_tape *tp, int l)
{
  int n = tp->n;
  const double *in = tp->a[L->in];
  double *out = tp->a[l + 1], s = L->op->p1 == 1 ? 1.0 : 1.0 / L->pin;   /* sum or mean */
  memset(out, 0, (size_t) n * L->cout * sizeof(double));
  for (int i = 0; i < n; i++)
    for (int p = 0; p < L->pin; p++)
      for (int c = 0; c < L->cin; c++)
        out[(size_t) i * L->cout + c] += in[((size_t) i * L->pin + p) * L->cin + c] * s;
}

void nt_fl_fanout_forward(const fl_layer *L, fl_tape *tp, int l)
{
  (void) L; (void) tp; (void) l;   /* the output aliases the input (fl_tape_alloc) */
}

void nt_fl_fanin_forward(const fl_layer *L, fl_tape *tp, int l)
{
  fan_in_fwd(L, tp, tp->a[l + 1]);
}

void nt_fl_elementwise_forward(const fl_layer *L, fl_tape *tp, int l)
{
  size_t sz = (size_t) tp->n * L->pin * L->cin;
  const double *in = tp->a[L->in];
  double *out = tp->a[l + 1], deriv;
  nt_value_fn phi = L->op->info->value;
  for (size_t k = 0; k < sz; k++) out[k] = phi(L->op, in[k], &deriv);
}

/* Layer normalisation of a finite network: each group (the channels of one
   position, or of all positions) divided by its root mean square
   r = sqrt(mean h^2 + eps).  The mean that LayerNorm also subtracts is zero
   in the infinite-width limit, so both have the kernel of normalize.c;
   this one has it exactly on the inputs too. */
static size_t norm_group(const fl_layer *L)
{
  return L->code == NT_OP_LAYERNORM ? (size_t) L->cin : (size_t) L->cin * L->pin;
}

static double group_rms(const double *h, size_t g, double eps)
{
  double ss = 0;
  for (size_t k = 0; k < g; k++) ss += h[k] * h[k];
  return sqrt(ss / g + eps);
}

void nt_fl_norm_forward(const fl_layer *L, fl_tape *tp, int l)
{
  size_t g = norm_group(L), groups = (size_t) tp->n * L->pin * L->cin / g;
  const double *in = tp->a[L->in];
  double *out = tp->a[l + 1];
  for (size_t q = 0; q < groups; q++) {
    const double *h = in + q * g;
    double inv = 1.0 / group_rms(h, g, L->op->p1);
    for (size_t k = 0; k < g; k++) out[q * g + k] = h[k] * inv;
  }
}

/* y = h / r: dL/dh = (dL/dy - y mean(dL/dy y)) / r */
void nt_fl_norm_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  size_t g = norm_group(L), groups = (size_t) tp->n * L->pin * L->cin / g;
  const double *in = tp->a[L->in], *y = tp->a[l + 1], *delta = tp->d[l + 1];
  double *next = tp->d[L->in];
  for (size_t q = 0; q < groups; q++) {
    size_t at = q * g;
    double inv = 1.0 / group_rms(in + at, g, L->op->p1), dot = 0;
    for (size_t k = 0; k < g; k++) dot += delta[at + k] * y[at + k];
    dot /= g;
    for (size_t k = 0; k < g; k++) next[at + k] += (delta[at + k] - y[at + k] * dot) * inv;
  }
}

/* Train-mode dropout: each unit of each input kept with probability rate
   and scaled by 1 / rate, a new mask in every forward pass (dropout.c). */
void nt_fl_dropout_forward(const fl_layer *L, fl_tape *tp, int l)
{
  size_t sz = (size_t) tp->n * L->pin * L->cin;
  const double *in = tp->a[L->in];
  double *out = tp->a[l + 1], *mask = tp->cols[l], keep = L->op->p1;
  for (size_t k = 0; k < sz; k++) {
    mask[k] = unif_rand() < keep ? 1.0 / keep : 0.0;
    out[k] = in[k] * mask[k];
  }
}

void nt_fl_dropout_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  size_t sz = (size_t) tp->n * L->pin * L->cin;
  const double *delta = tp->d[l + 1], *mask = tp->cols[l];
  double *next = tp->d[L->in];
  for (size_t k = 0; k < sz; k++) next[k] += delta[k] * mask[k];
}

/* Graph aggregation (graph.c) of input i's P x C block: dst(p) += sum_q
   A_i[p, q] src(q), or with A_i' (transposed, the backward pass). */
static void aggregate_blocks(const fl_layer *L, const fl_tape *tp, const double *src, double *dst,
                             int transposed)
{
  int P = L->pin, C = L->cin;
  for (int i = 0; i < tp->n; i++) {
    const double *a = nt_graph_adjacency(L->op, tp->graph0 + i, P);
    for (int p = 0; p < P; p++)
      for (int q = 0; q < P; q++) {
        double w = a[p + (size_t) P * q];
        if (w == 0) continue;
        int from = transposed ? p : q, to = transposed ? q : p;
        const double *in = src + ((size_t) i * P + from) * C;
        double *out = dst + ((size_t) i * P + to) * C;
        for (int c = 0; c < C; c++) out[c] += w * in[c];
      }
  }
}

void nt_fl_aggregate_forward(const fl_layer *L, fl_tape *tp, int l)
{
  memset(tp->a[l + 1], 0, (size_t) tp->n * L->pin * L->cin * sizeof(double));
  aggregate_blocks(L, tp, tp->a[L->in], tp->a[l + 1], 0);
}

void nt_fl_aggregate_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  aggregate_blocks(L, tp, tp->d[l + 1], tp->d[L->in], 1);
}

static void fl_forward(const fl_net *net, fl_tape *tp)
{
  GetRNGstate();   /* dropout masks (main thread) */
  for (int l = 0; l < net->nl; l++) {
    const fl_layer *L = net->layers + l;
    L->op->info->fl_forward(L, tp, l);
  }
  PutRNGstate();
}

/* The gradient of a fan-in's output (delta) added to its branches'. */
static void fan_in_bwd(const fl_layer *L, fl_tape *tp, const double *delta)
{
  size_t len = tp->len[L->ins[0]];
  for (int b = 0; b < L->nins; b++) {
    double *dst = tp->d[L->ins[b]];
    if (L->code == NT_OP_SUM) {
      for (size_t k = 0; k < len; k++) dst[k] += delta[k];
    } else if (L->code == NT_OP_CONCAT) {
      size_t rows = len / L->cin;
      for (size_t r = 0; r < rows; r++)
        for (int c = 0; c < L->cin; c++) dst[r * L->cin + c] += delta[r * L->cout + (size_t) b * L->cin + c];
    } else {
      for (size_t k = 0; k < len; k++) {
        double others = 1;
        for (int o = 0; o < L->nins; o++) if (o != b) others *= tp->a[L->ins[o]][k];
        dst[k] += delta[k] * others;
      }
    }
  }
}

void nt_fl_affine_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  int n = tp->n;
  const double *delta = tp->d[l + 1];
  double *next = tp->d[L->in];
  const double *feat = nt_is_conv(L->code) ? tp->cols[l] : tp->a[L->in];
  if (L->trainable) visit(L, l, feat, delta, n, ctx);
  if (L->in == 0) return;   /* the inputs' own gradient is never used */
  /* d feat = fw W delta : fan x (n pout) */
  double alpha = L->fw, zero = 0, one = 1;
  int fan = L->fan, cout = L->cout, m = L->pout * n, P = L->npos;
  if (L->code == NT_OP_DENSE) {
    gemm_blocked("N", "N", fan, m, cout, alpha, L->W, fan, delta, cout, one, next, fan);
    return;
  }
  const void *vmax = vmaxget();   /* dfeat lives for this layer only */
  double *dfeat = (double *) R_alloc((size_t) fan * m, sizeof(double));
  for (int o = 0; o < P; o++)   /* P = 1: the shared filter on all columns */
    gemm_blocked("N", "N", fan, m / P, cout, alpha, L->W + (size_t) o * fan * cout, fan,
                 delta + (size_t) o * cout, cout * P, zero, dfeat + (size_t) o * fan, fan * P);
  int q = L->qh * L->qw;
  for (int i = 0; i < n; i++)
    for (int o = 0; o < L->pout; o++)
      for (int e = 0; e < q; e++) {
        int j = L->patch[(size_t) e * L->pout + o];
        if (j < 0) continue;
        const double *src = dfeat + ((size_t) i * L->pout + o) * fan + (size_t) e * L->cin;
        double *dst = next + ((size_t) i * L->pin + j) * L->cin;
        for (int c = 0; c < L->cin; c++) dst[c] += src[c];
      }
  vmaxset(vmax);
}

void nt_fl_pool_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  int n = tp->n, q = L->qh * L->qw;
  const double *delta = tp->d[l + 1];
  double *next = tp->d[L->in];
  for (int i = 0; i < n; i++)
    for (int o = 0; o < L->pout; o++) {
      double s = pool_factor(L, o);
      const double *src = delta + ((size_t) i * L->pout + o) * L->cout;
      for (int e = 0; e < q; e++) {
        int j = L->patch[(size_t) e * L->pout + o];
        if (j < 0) continue;
        double *dst = next + ((size_t) i * L->pin + j) * L->cin;
        for (int c = 0; c < L->cin; c++) dst[c] += s * src[c];
      }
    }
}

/* flatten and fan-out: the output's gradient is the input's */
void nt_fl_copy_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  size_t sz = (size_t) tp->n * L->pin * L->cin;
  const double *delta = tp->d[l + 1];
  double *next = tp->d[L->in];
  for (size_t k = 0; k < sz; k++) next[k] += delta[k];
}

void nt_fl_gap_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  const double *delta = tp->d[l + 1];
  double *next = tp->d[L->in], s = L->op->p1 == 1 ? 1.0 : 1.0 / L->pin;
  for (int i = 0; i < tp->n; i++)
    for (int p = 0; p < L->pin; p++)
      for (int c = 0; c < L->cin; c++)
        next[((size_t) i * L->pin + p) * L->cin + c] += delta[(size_t) i * L->cout + c] * s;
}

void nt_fl_fanin_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  fan_in_bwd(L, tp, tp->d[l + 1]);
}

void nt_fl_elementwise_backward(const fl_layer *L, fl_tape *tp, int l, nt_fl_visit visit, void *ctx)
{
  (void) visit; (void) ctx;
  size_t sz = (size_t) tp->n * L->pin * L->cin;
  const double *in = tp->a[L->in], *delta = tp->d[l + 1];
  double *next = tp->d[L->in];
  nt_value_fn phi = L->op->info->value;
  for (size_t k = 0; k < sz; k++) {
    double deriv;
    phi(L->op, in[k], &deriv);
    next[k] += delta[k] * deriv;
  }
}

/* Backpropagation of d (gradient with respect to the network output, one
   value per input) through the network, each op through its registry
   step.  For every trainable layer, visit(layer, l, input-side features,
   output-side deltas, ctx) receives what its parameter gradients are made
   of.  Gradients are accumulated per tape entry, so that a fan-out's
   copies add up. */
static void fl_backward(const fl_net *net, fl_tape *tp, const double *d, nt_fl_visit visit, void *ctx)
{
  for (int i = 0; i <= net->nl; i++) memset(tp->d[i], 0, tp->len[i] * sizeof(double));
  memcpy(tp->d[net->nl], d, tp->len[net->nl] * sizeof(double));
  for (int l = net->nl - 1; l >= 0; l--) {
    const fl_layer *L = net->layers + l;
    L->op->info->fl_backward(L, tp, l, visit, ctx);
  }
}

/* ---- empirical kernels ---------------------------------------------------- */

typedef struct { double *ntk; int n; } ntk_ctx;

/* Adds this layer's <grad f(x_i), grad f(x_j)> to the NTK. One position per
   input: (w / fan) (feat' feat) * (delta' delta) + b (delta' delta), without
   forming the gradients, a block of columns at a time; several positions:
   the gradients themselves, a block of output channels at a time. Either
   way the workspace is bounded (about 8 MB) and freed before returning. */
static void ntk_visit(const fl_layer *L, int l, const double *feat, const double *delta, int n,
                      void *vctx)
{
  ntk_ctx *ctx = (ntk_ctx *) vctx;
  const double cap = 1048576;     /* doubles of workspace */
  int fan = L->fan, cout = L->cout, m = L->pout;
  double one = 1, zero = 0;
  const void *vmax = vmaxget();
  if (L->npos > 1) {   /* a local convolution: position o's own filter sees only position o */
    int P = L->npos;
    double *gf = (double *) R_alloc((size_t) n * n, sizeof(double));
    double *gd = (double *) R_alloc((size_t) n * n, sizeof(double));
    for (int o = 0; o < P; o++) {
      gemm_blocked("T", "N", n, n, fan, one, feat + (size_t) o * fan, fan * P, feat + (size_t) o * fan,
                   fan * P, zero, gf, n);
      gemm_blocked("T", "N", n, n, cout, one, delta + (size_t) o * cout, cout * P,
                   delta + (size_t) o * cout, cout * P, zero, gd, n);
      for (size_t k = 0; k < (size_t) n * n; k++)
        ctx->ntk[k] += (L->fw * L->fw * gf[k] + L->fb * L->fb) * gd[k];
    }
    vmaxset(vmax);
    return;
  }
  if (m == 1) {
    int cols = (int) fmax(1.0, fmin((double) n, cap / (2.0 * n)));
    double *gf = (double *) R_alloc((size_t) n * cols, sizeof(double));
    double *gd = (double *) R_alloc((size_t) n * cols, sizeof(double));
    for (int j0 = 0; j0 < n; j0 += cols) {
      int nb = n - j0 < cols ? n - j0 : cols;
      gemm_blocked("T", "N", n, nb, fan, one, feat, fan, feat + (size_t) j0 * fan, fan, zero, gf, n);
      gemm_blocked("T", "N", n, nb, cout, one, delta, cout, delta + (size_t) j0 * cout, cout, zero,
                   gd, n);
      double *out = ctx->ntk + (size_t) j0 * n;
      for (size_t k = 0; k < (size_t) n * nb; k++)
        out[k] += (L->fw * L->fw * gf[k] + L->fb * L->fb) * gd[k];
    }
    vmaxset(vmax);
    return;
  }
  int chans = (int) fmax(1.0, fmin((double) cout, cap / ((fan + 1.0) * n)));
  size_t len = (size_t) fan * chans + chans;   /* a block's weights and biases */
  double *grads = (double *) R_alloc(len * n, sizeof(double));
  double alpha = L->fw, sb = L->fb;
  for (int c0 = 0; c0 < cout; c0 += chans) {
    int cb = cout - c0 < chans ? cout - c0 : chans;
    size_t rows = (size_t) fan * cb + cb;
    int every = (int) fmax(1.0, 2e8 / (2.0 * fan * cb * m));   /* samples between checks */
    for (int i = 0; i < n; i++) {
      if ((i + 1) % every == 0) R_CheckUserInterrupt();
      double *g = grads + rows * i;
      const double *fi = feat + (size_t) i * m * fan, *di = delta + (size_t) i * m * cout + c0;
      /* dW(:, c0..) = alpha feat_i (fan x m) delta_i(c0.., :)' (m x cb) */
      F77_CALL(dgemm)("N", "T", &fan, &cb, &m, &alpha, fi, &fan, di, &cout, &zero, g, &fan
                      FCONE FCONE);
      for (int c = 0; c < cb; c++) {
        double s = 0;
        for (int o = 0; o < m; o++) s += di[(size_t) o * cout + c];
        g[(size_t) fan * cb + c] = sb * s;
      }
    }
    R_CheckUserInterrupt();
    if (rows > INT_MAX) Rf_error("layer %d is too large for a finite network", l + 1);
    gemm_blocked("T", "N", n, n, (int) rows, one, grads, (int) rows, grads, (int) rows, one,
                 ctx->ntk, n);
  }
  vmaxset(vmax);
}

static void fl_read(SEXP x, SEXP shape, SEXP ops_int, SEXP ops_dbl, SEXP geom, SEXP tables,
                    SEXP width, nt_plan *plan, fl_net *net, int *n)
{
  if (TYPEOF(shape) != INTSXP || XLENGTH(shape) != 3) Rf_error("'shape' must be 3 integers");
  int h = INTEGER(shape)[0], w = INTEGER(shape)[1], c = INTEGER(shape)[2];
  if (h < 1 || w < 1 || c < 1 || h > 65536 || w > 65536 || c > 1000000)
    Rf_error("'shape' must be positive (and not absurdly large)");
  nt_check_real_matrix(x, "x");
  if ((double) Rf_nrows(x) != (double) h * w * c) Rf_error("'x' must have H W C rows");
  nt_check_finite(REAL(x), XLENGTH(x), "x");
  *n = Rf_ncols(x);
  nt_plan_read(ops_int, ops_dbl, tables, plan);   /* tables: polynomial coefficients */
  nt_plan_require(plan, NT_ENGINE_FINITE);
  if (!Rf_isInteger(geom) || !Rf_isMatrix(geom) || Rf_nrows(geom) != NT_G_ROWS ||
      Rf_ncols(geom) != plan->nops)
    Rf_error("'geom' must be an integer matrix with a column per layer");
  if (plan->nops < 1 || plan->ops[plan->nops - 1].code != NT_OP_DENSE)
    Rf_error("a finite network must end with a dense layer");
  int wd = nt_check_int_scalar(width, "width", 1, 1 << 20);
  fl_build(net, plan, INTEGER(geom), h, w, c, wd);
  for (int l = 0; l < net->nl; l++) {   /* one adjacency, or one per input */
    const fl_layer *L = net->layers + l;
    if (L->code != NT_OP_AGGREGATE) continue;
    R_xlen_t graphs = nt_graph_count(L->op, L->pin);
    if (graphs < 0)
      Rf_error("layer %d: the adjacency does not match the %d positions it aggregates", l + 1, L->pin);
    if (L->op->p1 != 0 && graphs < *n)
      Rf_error("layer %d holds the adjacency of %.0f graphs, but the inputs are %d graphs", l + 1,
               (double) graphs, *n);
  }
  if (net->layers[net->nl - 1].pout != 1)
    Rf_error("a finite network on images needs a readout before its last dense layer");
  /* BLAS takes int sizes: positions times inputs, fan-ins times outputs */
  for (int l = 0; l < net->nl; l++) {
    const fl_layer *L = net->layers + l;
    if ((double) L->pin * *n > INT_MAX / 2 || (double) L->pout * *n > INT_MAX / 2 ||
        (double) L->fan * L->cout > INT_MAX / 2)
      Rf_error("layer %d is too large for a finite network", l + 1);
  }
}

static double one_task(void *ctx, R_xlen_t task)
{
  (void) ctx; (void) task;
  return 1.0;
}

/* One Monte Carlo sample: a fresh network, its NNGP given the features
   entering the readout (averaged over the readout's weights) and its NTK,
   added to the sums. */
typedef struct {
  fl_net *net;
  fl_tape *tp;
  double *acc_k, *acc_t;
  const double *ones;
  int n;
} empirical_job;

static R_xlen_t empirical_sample(void *vctx, R_xlen_t task)
{
  empirical_job *job = (empirical_job *) vctx;
  (void) task;
  int n = job->n;
  const fl_layer *last = job->net->layers + job->net->nl - 1;
  GetRNGstate();
  fl_draw(job->net);
  PutRNGstate();
  const void *vmax = vmaxget();
  fl_forward(job->net, job->tp);
  int fan = last->fan;
  double alpha = last->w / fan, one = 1;
  const double *feat = job->tp->a[last->in];
  gemm_blocked("T", "N", n, n, fan, alpha, feat, fan, feat, fan, one, job->acc_k, n);
  for (size_t k = 0; k < (size_t) n * n; k++) job->acc_k[k] += last->b;
  ntk_ctx ctx = {job->acc_t, n};
  fl_backward(job->net, job->tp, job->ones, ntk_visit, &ctx);
  vmaxset(vmax);
  return 0;
}

SEXP ntk_empirical(SEXP x, SEXP shape, SEXP ops_int, SEXP ops_dbl, SEXP geom, SEXP tables,
                   SEXP width, SEXP samples, SEXP progress)
{
  nt_mem_begin();
  nt_plan plan;
  fl_net net;
  int n;
  fl_read(x, shape, ops_int, ops_dbl, geom, tables, width, &plan, &net, &n);
  int ns = nt_check_int_scalar(samples, "samples", 1, 1000000);
  nt_check_alloc(n, n, 2, "the empirical kernels");
  SEXP ntk = PROTECT(Rf_allocMatrix(REALSXP, n, n));
  SEXP nngp = PROTECT(Rf_allocMatrix(REALSXP, n, n));
  double *acc_t = REAL(ntk), *acc_k = REAL(nngp);
  memset(acc_t, 0, (size_t) n * n * sizeof(double));
  memset(acc_k, 0, (size_t) n * n * sizeof(double));
  fl_tape tp;
  fl_tape_alloc(&net, n, &tp);
  memcpy(tp.a[0], REAL(x), (size_t) n * net.p0 * net.c0 * sizeof(double));
  double *ones = (double *) R_alloc(n, sizeof(double));
  for (int i = 0; i < n; i++) ones[i] = 1;
  empirical_job job = {&net, &tp, acc_k, acc_t, ones, n};
  nt_drive_spec spec = {ns, one_task, empirical_sample, 0, 0};   /* serial: draws use R's RNG */
  nt_progress bar;
  nt_progress_start(&bar, nt_check_flag(progress, "progress"), ns);
  nt_drive(&spec, &job, &bar);
  nt_progress_end(&bar);
  R_xlen_t bad = 0;
  for (size_t k = 0; k < (size_t) n * n; k++) {
    acc_t[k] /= ns;
    acc_k[k] /= ns;
    bad += !R_FINITE(acc_t[k]) || !R_FINITE(acc_k[k]);
  }
  if (bad)
    Rf_error("the finite networks overflowed: %.0f kernel entries are not finite; rescale `x` "
             "or lower the variances", (double) bad);
  SEXP res = nt_result(2, (SEXP[]) {ntk, nngp});
  UNPROTECT(2);
  return res;
}

/* ---- training ------------------------------------------------------------- */

/* Accumulates the loss gradient of a layer: dW += fw feat delta',
   dbeta += fb sum(delta), summed over inputs and positions. */
static void grad_visit(const fl_layer *L, int l, const double *feat, const double *delta, int n,
                       void *ctx)
{
  (void) l; (void) ctx;
  fl_layer *M = (fl_layer *) L;
  int fan = L->fan, cout = L->cout, m = L->pout * n, P = L->npos;
  double alpha = L->fw, one = 1;
  for (int o = 0; o < P; o++)   /* P = 1: the shared filter, all columns */
    gemm_blocked("N", "T", fan, cout, m / P, alpha, feat + (size_t) o * fan, fan * P,
                 delta + (size_t) o * cout, cout * P, one, M->gW + (size_t) o * fan * cout, fan);
  double sb = L->fb;
  for (int j = 0; j < m; j++) {
    double *gb = M->gbeta + (size_t) (j % P) * cout;
    for (int c = 0; c < cout; c++) gb[c] += sb * delta[(size_t) j * cout + c];
  }
}

static void empirical_ntk(fl_net *net, fl_tape *tp, double *out, const char *which)
{
  int n = tp->n;
  double *ones = (double *) R_alloc(n, sizeof(double));
  for (int i = 0; i < n; i++) ones[i] = 1;
  memset(out, 0, (size_t) n * n * sizeof(double));
  fl_forward(net, tp);
  ntk_ctx ctx = {out, n};
  fl_backward(net, tp, ones, ntk_visit, &ctx);
  for (size_t k = 0; k < (size_t) n * n; k++)
    if (!R_FINITE(out[k])) Rf_error("the empirical NTK (%s) overflowed; rescale `x`", which);
}

/* Step s of gradient descent: the predictions (recorded at the steps of
   `rec`), then, before the last, one step on the squared loss. */
typedef struct {
  fl_net *net;
  fl_tape *tp, *tt;
  const double *y, *f0, *f0t;
  double *resid, **w0, norm0, lr;
  const int *rec;
  int r, steps, n, m;
  double *out_train, *out_test, *change;
} train_job;

static double weight_change(const train_job *job)
{
  double d2 = 0;
  for (int l = 0; l < job->net->nl; l++) {
    const fl_layer *L = job->net->layers + l;
    const double *w0 = job->w0[l];
    if (!w0) continue;
    size_t nw = L->nwts;
    for (size_t k = 0; k < nw; k++) d2 += (L->W[k] - w0[k]) * (L->W[k] - w0[k]);
    for (size_t k = 0; k < L->nbias; k++) d2 += (L->beta[k] - w0[nw + k]) * (L->beta[k] - w0[nw + k]);
  }
  return job->norm0 > 0 ? sqrt(d2 / job->norm0) : 0;
}

static R_xlen_t train_step(void *vctx, R_xlen_t task)
{
  train_job *job = (train_job *) vctx;
  fl_net *net = job->net;
  int s = (int) task, n = job->n, m = job->m;
  fl_forward(net, job->tp);
  const double *f = job->tp->a[net->nl];
  for (int i = 0; i < n; i++)
    if (!R_FINITE(f[i]))
      Rf_error("training diverged: the predictions overflowed by step %d (learning rate %g); "
               "use a smaller `learning_rate`, or rescale `x` and `y`", s, job->lr);
  if (s == job->rec[job->r]) {
    for (int i = 0; i < n; i++) job->out_train[(size_t) n * job->r + i] = f[i] - job->f0[i];
    if (m) {
      fl_forward(net, job->tt);
      for (int i = 0; i < m; i++)
        job->out_test[(size_t) m * job->r + i] = job->tt->a[net->nl][i] - job->f0t[i];
    }
    job->change[job->r] = weight_change(job);
    if (!R_FINITE(job->change[job->r]))
      Rf_error("training diverged: the weights overflowed by step %d (learning rate %g)", s, job->lr);
    job->r++;
  }
  if (s == job->steps) return 0;
  for (int i = 0; i < n; i++) job->resid[i] = f[i] - job->f0[i] - job->y[i];
  for (int l = 0; l < net->nl; l++) {
    fl_layer *L = net->layers + l;
    if (!job->w0[l]) continue;
    memset(L->gW, 0, L->nwts * sizeof(double));
    memset(L->gbeta, 0, L->nbias * sizeof(double));
  }
  const void *vmax = vmaxget();
  fl_backward(net, job->tp, job->resid, grad_visit, NULL);
  vmaxset(vmax);
  for (int l = 0; l < net->nl; l++) {
    fl_layer *L = net->layers + l;
    if (!job->w0[l]) continue;
    for (size_t k = 0; k < L->nwts; k++) L->W[k] -= job->lr * L->gW[k];
    for (size_t k = 0; k < L->nbias; k++) L->beta[k] -= job->lr * L->gbeta[k];
  }
  return 0;
}

SEXP ntk_train(SEXP x, SEXP y, SEXP x_test, SEXP shape, SEXP ops_int, SEXP ops_dbl, SEXP geom,
               SEXP tables, SEXP width, SEXP learning_rate, SEXP record, SEXP want_ntk, SEXP center,
               SEXP progress)
{
  nt_mem_begin();
  nt_plan plan;
  fl_net net;
  int n, m = 0;
  fl_read(x, shape, ops_int, ops_dbl, geom, tables, width, &plan, &net, &n);
  for (int l = 0; l < plan.nops; l++)
    if (plan.ops[l].code == NT_OP_DROPOUT)
      Rf_error("layer %d (dropout): training here is deterministic gradient descent; "
               "check dropout's kernel with nt_empirical()", l + 1);
  if (TYPEOF(y) != REALSXP || XLENGTH(y) != n) Rf_error("'y' must be a double vector, one value per input");
  nt_check_finite(REAL(y), n, "y");
  if (!Rf_isNull(x_test)) {
    nt_check_real_matrix(x_test, "x_test");
    if (Rf_nrows(x_test) != Rf_nrows(x)) Rf_error("'x_test' must have the rows of 'x'");
    nt_check_finite(REAL(x_test), XLENGTH(x_test), "x_test");
    m = Rf_ncols(x_test);
  }
  for (int l = 0; l < net.nl; l++)   /* per-graph adjacency: the test graphs follow */
    if (net.layers[l].code == NT_OP_AGGREGATE && net.layers[l].op->p1 != 0 &&
        nt_graph_count(net.layers[l].op, net.layers[l].pin) < (R_xlen_t) n + m)
      Rf_error("layer %d holds the adjacency of fewer graphs than the %d training and %d test inputs",
               l + 1, n, m);
  if (TYPEOF(learning_rate) != REALSXP || XLENGTH(learning_rate) != 1 ||
      !(REAL(learning_rate)[0] > 0) || !R_FINITE(REAL(learning_rate)[0]))
    Rf_error("'learning_rate' must be a positive number");
  double lr = REAL(learning_rate)[0];
  if (TYPEOF(record) != INTSXP || XLENGTH(record) < 1) Rf_error("'record' must be integer steps");
  int nrec = (int) XLENGTH(record);
  const int *rec = INTEGER(record);
  for (int r = 0; r < nrec; r++)
    if (rec[r] < 0 || rec[r] > 1000000000 || (r > 0 && rec[r] <= rec[r - 1]))
      Rf_error("'record' must be increasing steps between 0 and 1e9");
  int steps = rec[nrec - 1];
  int ntk_flag = nt_check_flag(want_ntk, "want_ntk");
  int centred = nt_check_flag(center, "center");

  fl_tape tp, tt;
  fl_tape_alloc(&net, n, &tp);
  memcpy(tp.a[0], REAL(x), (size_t) n * net.p0 * net.c0 * sizeof(double));
  if (m) {
    fl_tape_alloc(&net, m, &tt);
    tt.graph0 = n;
    memcpy(tt.a[0], REAL(x_test), (size_t) m * net.p0 * net.c0 * sizeof(double));
  }
  /* the empirical NTK is taken on x and x_test together */
  fl_tape ta;
  if (ntk_flag) {
    fl_tape_alloc(&net, n + m, &ta);
    memcpy(ta.a[0], REAL(x), (size_t) n * net.p0 * net.c0 * sizeof(double));
    if (m) memcpy(ta.a[0] + (size_t) n * net.p0 * net.c0, REAL(x_test),
                  (size_t) m * net.p0 * net.c0 * sizeof(double));
  }
  GetRNGstate();
  fl_draw(&net);
  PutRNGstate();
  /* initial parameters, and gradient buffers */
  double **w0 = (double **) R_alloc(net.nl, sizeof(double *));
  double norm0 = 0;
  for (int l = 0; l < net.nl; l++) {
    fl_layer *L = net.layers + l;
    w0[l] = NULL;
    if (!L->fan || !L->trainable) continue;
    size_t nw = L->nwts;
    w0[l] = (double *) R_alloc(nw + L->nbias, sizeof(double));
    memcpy(w0[l], L->W, nw * sizeof(double));
    memcpy(w0[l] + nw, L->beta, L->nbias * sizeof(double));
    L->gW = (double *) R_alloc(nw, sizeof(double));
    L->gbeta = (double *) R_alloc(L->nbias, sizeof(double));
    for (size_t k = 0; k < nw + L->nbias; k++) norm0 += w0[l][k] * w0[l][k];
  }
  nt_check_alloc((double) n + m, nrec + 1.0, 1, "the recorded predictions");
  if (ntk_flag) nt_check_alloc((double) n + m, (double) n + m, 2, "the empirical NTKs before and after");
  SEXP out_train = PROTECT(Rf_allocMatrix(REALSXP, n, nrec));
  SEXP out_test = PROTECT(m ? Rf_allocMatrix(REALSXP, m, nrec) : R_NilValue);
  SEXP change = PROTECT(Rf_allocVector(REALSXP, nrec));
  SEXP ntk0 = PROTECT(ntk_flag ? Rf_allocMatrix(REALSXP, n + m, n + m) : R_NilValue);
  SEXP ntk1 = PROTECT(ntk_flag ? Rf_allocMatrix(REALSXP, n + m, n + m) : R_NilValue);
  if (ntk_flag) empirical_ntk(&net, &ta, REAL(ntk0), "ntk_start");
  /* centred: the output is f(theta) - f(theta_0), which starts at 0 */
  double *resid = (double *) R_alloc(n, sizeof(double));
  double *f0 = (double *) R_alloc(n, sizeof(double)), *f0t = (double *) R_alloc(m + 1, sizeof(double));
  memset(f0, 0, n * sizeof(double));
  memset(f0t, 0, (m + 1) * sizeof(double));
  if (centred) {
    fl_forward(&net, &tp);
    memcpy(f0, tp.a[net.nl], n * sizeof(double));
    if (m) {
      fl_forward(&net, &tt);
      memcpy(f0t, tt.a[net.nl], m * sizeof(double));
    }
  }
  train_job job = {&net, &tp, m ? &tt : NULL, REAL(y), f0, f0t, resid, w0, norm0, lr, rec, 0, steps,
                   n, m, REAL(out_train), m ? REAL(out_test) : NULL, REAL(change)};
  nt_drive_spec spec = {(R_xlen_t) steps + 1, one_task, train_step, 0, 0};   /* serial: steps in order */
  nt_progress bar;
  nt_progress_start(&bar, nt_check_flag(progress, "progress"), steps + 1);
  nt_drive(&spec, &job, &bar);
  nt_progress_end(&bar);
  if (ntk_flag) empirical_ntk(&net, &ta, REAL(ntk1), "ntk_end");
  SEXP res = nt_result(5, (SEXP[]) {out_train, out_test, change, ntk0, ntk1});
  UNPROTECT(5);
  return res;
}
