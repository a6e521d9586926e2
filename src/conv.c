/* Convolutional kernels (CNTK and CNN-GP, Arora et al. 2019) on NHWC images.
   For each pair of images the kernel state is a set of position pairs
   (i, i'), one value each for the NNGP K and the NTK T:
   - full: all P x P pairs, needed once any pooling (AvgPool, GAP) mixes
     positions, O(P^2 q^2) work per layer;
   - band: only pairs (i, i + delta) for the offsets delta that the readout
     reaches through the convolutions (the spatial diagonal for Flatten, a
     box for local average pooling), O(P |band| q^2) per layer.
   Each image's self covariances are computed once, by running the same
   engine on the pair (x, x) and recording the spatial diagonal before every
   activation.  Pairs run in parallel, each thread with its own workspace. */
#include "ntk.h"
#include <string.h>

typedef struct {
  nt_plan plan;
  const int *geom;        /* NT_G_ROWS per layer */
  int full;               /* 1: all position pairs, 0: band */
  int nb;                 /* band: number of offsets; base offsets below */
  const int *band;        /* 2 per offset: dy, dx at scale 1 */
  int k0;                 /* band index of offset (0, 0) */
  int in_sy, in_sx;       /* band scale at the input */
  int H, W, C;
  size_t state;           /* largest number of entries of a state */
  size_t self_len;        /* positions summed over activation layers */
  size_t *act_off;        /* offset of each activation layer in a self record */
  int **part;             /* band: per state (0 = input, l + 1 = after layer l) the
                             partner position of each entry, or -1 outside */
} sp_plan;

typedef struct {
  double *k, *t, *k2, *t2;  /* current and next state */
  double *kreg[NT_MAX_SLOTS], *treg[NT_MAX_SLOTS];   /* each slot's state */
  int *map_y, *map_x;       /* conv / pool index maps */
  double *row;              /* two rows of partial sums (band convolution) */
} sp_work;

#define G(l, row) (sp->geom[(size_t) NT_G_ROWS * (l) + (row)])

/* The affine map of a conv or dense layer on a window sum `raw` of K (and
   of T, in *t): K = scale raw + bias; T = scale T + keep K in the NTK
   parameterization, T = scale T + keep (fan raw + 1) in the standard one
   (fan: the layer's fan-in over its filter's offsets, 0 for the NTK
   parameterization). */
typedef struct { double scale, bias, keep, fan; } affine_map;

static inline void affine_finish(const affine_map *am, double *k, double *t)
{
  double raw = *k, kk = am->scale * raw + am->bias;
  *k = kk;
  *t = am->scale * *t + am->keep * (am->fan > 0 ? am->fan * raw + 1.0 : kk);
}

/* ---- per-layer pieces ------------------------------------------------ */

/* Partner of position i = (y, x) at offset (dy, dx) in an h x w image, or -1. */
static inline int partner(int i, int w, int h, long long dy, long long dx)
{
  long long y = i / w + dy, x = i % w + dx;   /* 64-bit: offsets times band scales */
  return (y >= 0 && y < h && x >= 0 && x < w) ? (int) (y * w + x) : -1;
}

/* ABReLU on n entries whose z side runs along zr / zi and whose x side
   steps by xstep (0: one x position for a row of the full state; 1: the
   spatial diagonal of a Flatten-only band). */
static void abrelu_run(double a, double b, const double *xr, const double *xi, size_t xstep,
                       const double *zr, const double *zi, double *k, double *t, size_t n)
{
  if (xstep == 0 && n <= INT_MAX) {
    /* one x position: the vectorised column loop of the fully connected
       kernels, with the sides swapped (the dual is symmetric in them) */
    nt_abrelu_column(a, b, zr, zi, xr[0], xi[0], k, t, (int) n, NULL);
    return;
  }
  for (size_t j = 0; j < n; j++) {
    double kk, kd;
    nt_abrelu_dual(a, b, xr[j * xstep], zr[j], xi[j * xstep], zi[j], k[j], &kk, &kd);
    k[j] = kk;
    t[j] *= kd;
  }
}

/* The activation on one row of the full state: x position i against all z
   positions (planes s, sqrt s, 1 / sqrt s of p values each). */
static void activate_row(const nt_op *op, const double *xs, size_t i, const double *zs,
                         size_t p, double *k, double *t)
{
  if (op->code == NT_OP_ABRELU) {
    abrelu_run(op->p1, op->p2, xs + p + i, xs + 2 * p + i, 0, zs + p, zs + 2 * p, k, t, p);
    return;
  }
  if (op->code == NT_OP_LAYERNORM) {   /* planes hold 1 / sqrt(s + eps) (self_planes) */
    const double gx = xs[2 * p + i], *gz = zs + 2 * p;
    for (size_t j = 0; j < p; j++) {
      double g = gx * gz[j];
      k[j] *= g;
      t[j] *= g;
    }
    return;
  }
  for (size_t j = 0; j < p; j++) {
    double kk, kd;
    nt_act_pair(op, xs[i], zs[j], xs[p + i], zs[p + j], k[j], &kk, &kd);
    k[j] = kk;
    t[j] *= kd;
  }
}

/* All-pairs convolution with stride 1 and zero padding, done separably:
   U sums the filter's columns (into k2, t2), then O sums its rows (back into
   k, t) -- 2q instead of q^2 additions per entry, all on contiguous runs.
   The affine map and, when given, the next activation finish each row. */
static void conv_full_separable(const sp_plan *sp, int l, sp_work *ws, const affine_map *am,
                                const nt_op *act, const double *xs, const double *zs)
{
  int hi = G(l, NT_G_HIN), wi = G(l, NT_G_WIN), ho = G(l, NT_G_HOUT), wo = G(l, NT_G_WOUT);
  int qh = G(l, NT_G_QH), qw = G(l, NT_G_QW), pt = G(l, NT_G_PT), pl = G(l, NT_G_PL);
  size_t pi = (size_t) hi * wi, pu = (size_t) hi * wo, po = (size_t) ho * wo;
  const int *my = ws->map_y, *mx = ws->map_x;
  for (int y = 0; y < hi; y++)
    for (int ox = 0; ox < wo; ox++) {
      double *uk = ws->k2 + ((size_t) y * wo + ox) * pu, *ut = ws->t2 + ((size_t) y * wo + ox) * pu;
      memset(uk, 0, pu * sizeof(double));
      memset(ut, 0, pu * sizeof(double));
      for (int ex = 0; ex < qw; ex++) {
        int jx = mx[(size_t) ex * wo + ox];
        if (jx < 0) continue;
        const double *sk = ws->k + ((size_t) y * wi + jx) * pi, *st = ws->t + ((size_t) y * wi + jx) * pi;
        int shift = ex - pl;
        int first = shift < 0 ? -shift : 0, last = wi - shift < wo ? wi - shift : wo;
        for (int y2 = 0; y2 < hi; y2++) {
          const double *rk = sk + (size_t) y2 * wi + shift, *rt = st + (size_t) y2 * wi + shift;
          double *dk = uk + (size_t) y2 * wo, *dt = ut + (size_t) y2 * wo;
          for (int ox2 = first; ox2 < last; ox2++) { dk[ox2] += rk[ox2]; dt[ox2] += rt[ox2]; }
        }
      }
    }
  for (int oy = 0; oy < ho; oy++)
    for (int ox = 0; ox < wo; ox++) {
      size_t o = (size_t) oy * wo + ox;
      double *dk = ws->k + o * po, *dt = ws->t + o * po;
      memset(dk, 0, po * sizeof(double));
      memset(dt, 0, po * sizeof(double));
      for (int ey = 0; ey < qh; ey++) {
        int jy = my[(size_t) ey * ho + oy];
        if (jy < 0) continue;
        const double *uk = ws->k2 + ((size_t) jy * wo + ox) * pu, *ut = ws->t2 + ((size_t) jy * wo + ox) * pu;
        int shift = ey - pt;
        int first = shift < 0 ? -shift : 0, last = hi - shift < ho ? hi - shift : ho;
        if (first >= last) continue;
        /* output rows oy2 in [first, last) read U rows oy2 + shift */
        const double *rk = uk + (size_t) (first + shift) * wo, *rt = ut + (size_t) (first + shift) * wo;
        double *ok = dk + (size_t) first * wo, *ot = dt + (size_t) first * wo;
        size_t len = (size_t) (last - first) * wo;
        for (size_t j = 0; j < len; j++) { ok[j] += rk[j]; ot[j] += rt[j]; }
      }
      for (size_t j = 0; j < po; j++) affine_finish(am, dk + j, dt + j);
      if (act) activate_row(act, xs, o, zs, po, dk, dt);
    }
}

/* All-pairs convolution, row by row of the output (each row accumulates from
   the filter's shifted input rows while it sits in cache), with the layer's
   affine map applied to the finished row. */
static void conv_full(const sp_plan *sp, int l, sp_work *ws, const affine_map *am,
                      const nt_op *act, const double *xs, const double *zs)
{
  int hi = G(l, NT_G_HIN), wi = G(l, NT_G_WIN), ho = G(l, NT_G_HOUT), wo = G(l, NT_G_WOUT);
  int qh = G(l, NT_G_QH), qw = G(l, NT_G_QW), sw = G(l, NT_G_SW);
  size_t pi = (size_t) hi * wi, po = (size_t) ho * wo;
  int contiguous = sw == 1 && !G(l, NT_G_CIRC);
  const int *my = ws->map_y, *mx = ws->map_x;
  for (size_t o = 0; o < po; o++) {
    int oy = (int) (o / wo), ox = (int) (o % wo);
    double *dk = ws->k2 + o * po, *dt = ws->t2 + o * po;
    memset(dk, 0, po * sizeof(double));
    memset(dt, 0, po * sizeof(double));
    for (int ey = 0; ey < qh; ey++) {
      int jy = my[(size_t) ey * ho + oy];
      if (jy < 0) continue;
      for (int ex = 0; ex < qw; ex++) {
        int jx = mx[(size_t) ex * wo + ox];
        if (jx < 0) continue;
        const double *sk = ws->k + ((size_t) jy * wi + jx) * pi;
        const double *st = ws->t + ((size_t) jy * wi + jx) * pi;
        const int *mxe = mx + (size_t) ex * wo;
        for (int oy2 = 0; oy2 < ho; oy2++) {
          int jy2 = my[(size_t) ey * ho + oy2];
          if (jy2 < 0) continue;
          const double *rk = sk + (size_t) jy2 * wi, *rt = st + (size_t) jy2 * wi;
          double *ok = dk + (size_t) oy2 * wo, *ot = dt + (size_t) oy2 * wo;
          if (contiguous) {   /* jx2 = ox2 + shift on a range of ox2 */
            int shift = ex - G(l, NT_G_PL);
            int first = shift < 0 ? -shift : 0, last = wi - shift < wo ? wi - shift : wo;
            for (int ox2 = first; ox2 < last; ox2++) {
              ok[ox2] += rk[ox2 + shift];
              ot[ox2] += rt[ox2 + shift];
            }
          } else {
            for (int ox2 = 0; ox2 < wo; ox2++) {
              int jx2 = mxe[ox2];
              if (jx2 >= 0) { ok[ox2] += rk[jx2]; ot[ox2] += rt[jx2]; }
            }
          }
        }
      }
    }
    for (size_t j = 0; j < po; j++) affine_finish(am, dk + j, dt + j);
    if (act) activate_row(act, xs, o, zs, po, dk, dt);   /* fused next layer */
  }
}

/* Band convolution, with the layer's affine map fused into the output.
   Entries whose partner lies outside the image are kept at exactly 0, so
   each band plane k is a plain 2-d stencil over positions: filter rows are
   summed first (v), then filter columns. */
static void conv_band(const sp_plan *sp, int l, sp_work *ws, const affine_map *am)
{
  int wi = G(l, NT_G_WIN), ho = G(l, NT_G_HOUT), wo = G(l, NT_G_WOUT);
  int qh = G(l, NT_G_QH), qw = G(l, NT_G_QW);
  int nb = sp->nb;
  const int *part = sp->part[l + 1], *my = ws->map_y, *mx = ws->map_x;
  double *vk = ws->row, *vt = ws->row + wi;
  for (int k = 0; k < nb; k++)
    for (int oy = 0; oy < ho; oy++) {
      for (int jx = 0; jx < wi; jx++) vk[jx] = vt[jx] = 0;
      for (int ey = 0; ey < qh; ey++) {
        int jy = my[(size_t) ey * ho + oy];
        if (jy < 0) continue;
        const double *rk = ws->k + (size_t) jy * wi * nb + k, *rt = ws->t + (size_t) jy * wi * nb + k;
        if (nb == 1) {
          for (int jx = 0; jx < wi; jx++) { vk[jx] += rk[jx]; vt[jx] += rt[jx]; }
        } else {
          for (int jx = 0; jx < wi; jx++) {
            vk[jx] += rk[(size_t) jx * nb];
            vt[jx] += rt[(size_t) jx * nb];
          }
        }
      }
      for (int ox = 0; ox < wo; ox++) {
        size_t e_out = ((size_t) oy * wo + ox) * nb + k;
        double ak = 0, at = 0;
        if (part[e_out] >= 0) {
          for (int ex = 0; ex < qw; ex++) {
            int jx = mx[(size_t) ex * wo + ox];
            if (jx >= 0) { ak += vk[jx]; at += vt[jx]; }
          }
          affine_finish(am, &ak, &at);
        }
        ws->k2[e_out] = ak;
        ws->t2[e_out] = at;
      }
    }
}

/* Pooling on all position pairs: the sums of K and T over both windows,
   divided by the window sizes (average pooling: padding counts as zeros),
   by the numbers of in-image positions (normalize_edges), or not at all
   (sum pooling).  The windows' positions come from the index maps (rows:
   heights and depths, nt_row_map; columns), -1 outside the image. */
static int window_rows(const int *map, int q, int nout, int o)
{
  int count = 0;
  for (int e = 0; e < q; e++) count += map[(size_t) e * nout + o] >= 0;
  return count;
}

static void avg_pool_full(const sp_plan *sp, int l, sp_work *ws)
{
  int wi = G(l, NT_G_WIN), ho = G(l, NT_G_HOUT), wo = G(l, NT_G_WOUT), hi = G(l, NT_G_HIN);
  int qh = G(l, NT_G_QH), qw = G(l, NT_G_QW);
  size_t pi = (size_t) hi * wi, po = (size_t) ho * wo;
  const nt_op *op = sp->plan.ops + l;
  int sum = op->p1 == 1, edges = op->p2 == 1;
  const int *my = ws->map_y, *mx = ws->map_x;
  for (size_t o = 0; o < po; o++) {
    int oy = (int) (o / wo), ox = (int) (o % wo);
    double n1 = (double) window_rows(my, qh, ho, oy) * window_rows(mx, qw, wo, ox);
    for (size_t o2 = 0; o2 < po; o2++) {
      int oy2 = (int) (o2 / wo), ox2 = (int) (o2 % wo);
      double ak = 0, at = 0;
      for (int ey = 0; ey < qh; ey++) {
        int ay = my[(size_t) ey * ho + oy];
        if (ay < 0) continue;
        for (int ex = 0; ex < qw; ex++) {
          int ax = mx[(size_t) ex * wo + ox];
          if (ax < 0) continue;
          const double *rk = ws->k + ((size_t) ay * wi + ax) * pi, *rt = ws->t + ((size_t) ay * wi + ax) * pi;
          for (int ey2 = 0; ey2 < qh; ey2++) {
            int by = my[(size_t) ey2 * ho + oy2];
            if (by < 0) continue;
            const double *bk = rk + (size_t) by * wi, *bt = rt + (size_t) by * wi;
            for (int ex2 = 0; ex2 < qw; ex2++) {
              int bx = mx[(size_t) ex2 * wo + ox2];
              if (bx >= 0) { ak += bk[bx]; at += bt[bx]; }
            }
          }
        }
      }
      double n2 = edges ? (double) window_rows(my, qh, ho, oy2) * window_rows(mx, qw, wo, ox2) : 0;
      double scale = sum ? 1.0 : edges ? 1.0 / (n1 * n2) : 1.0 / ((double) qh * qw * qh * qw);
      ws->k2[o * po + o2] = ak * scale;
      ws->t2[o * po + o2] = at * scale;
    }
  }
}

static void readout(const sp_plan *sp, int l, sp_work *ws)
{
  const int *part = sp->part[l];
  int code = sp->plan.ops[l].code;
  int h = G(l, NT_G_HIN), w = G(l, NT_G_WIN), c = G(l, NT_G_LAPC);
  int dep = G(l, NT_G_DIN), hp = h / dep;   /* rows: heights times depths (ntk.h) */
  if (c > h + w) c = h + w;   /* a window past the image is the whole image */
  size_t p = (size_t) h * w;
  double sk = 0, st = 0, norm = 1.0 / p;
  for (size_t i = 0; i < p; i++) {
    if (sp->full) {
      const double *rk = ws->k + i * p, *rt = ws->t + i * p;
      if (code == NT_OP_FLATTEN) {
        sk += rk[i]; st += rt[i];
      } else if (code == NT_OP_GAP) {
        for (size_t i2 = 0; i2 < p; i2++) { sk += rk[i2]; st += rt[i2]; }
      } else {   /* NT_OP_LAP */
        int r = (int) (i / w), x = (int) (i % w), y = r / dep, d = r % dep;
        for (int y2 = y - c; y2 <= y + c; y2++) {
          if (y2 < 0 || y2 >= hp) continue;
          for (int d2 = d - c; d2 <= d + c; d2++) {
            if (d2 < 0 || d2 >= dep) continue;
            const double *bk = rk + (size_t) (y2 * dep + d2) * w, *bt = rt + (size_t) (y2 * dep + d2) * w;
            for (int x2 = x - c; x2 <= x + c; x2++) {
              if (x2 < 0 || x2 >= w) continue;
              sk += bk[x2]; st += bt[x2];
            }
          }
        }
      }
    } else {
      for (int k = 0; k < sp->nb; k++) {
        if (code == NT_OP_FLATTEN && k != sp->k0) continue;
        if (part[i * sp->nb + k] < 0) continue;
        sk += ws->k[i * sp->nb + k];
        st += ws->t[i * sp->nb + k];
      }
    }
  }
  if (code == NT_OP_GAP) norm = sp->plan.ops[l].p1 == 1 ? 1.0 : norm / p;   /* sum or mean */
  ws->k2[0] = sk * norm;
  ws->t2[0] = st * norm;
}

/* ---- one pair -------------------------------------------------------- */

static void input_gram(const sp_plan *sp, const double *x, const double *z, sp_work *ws)
{
  size_t p = (size_t) sp->H * sp->W;
  int nb = sp->full ? (int) p : sp->nb;
  for (size_t i = 0; i < p; i++)
    for (int k = 0; k < nb; k++) {
      int j = sp->full ? k : sp->part[0][i * nb + k];
      double dot = 0;
      if (j >= 0)
        for (int c = 0; c < sp->C; c++) dot += x[i * sp->C + c] * z[(size_t) j * sp->C + c];
      ws->k[i * nb + k] = dot / sp->C;
      ws->t[i * nb + k] = 0;
    }
}

static inline void swap_state(sp_work *ws)
{
  double *a = ws->k; ws->k = ws->k2; ws->k2 = a;
  a = ws->t; ws->t = ws->t2; ws->t2 = a;
}

/* A dense layer's affine map on the valid entries. */
static void affine(sp_work *ws, size_t n, const int *part, const affine_map *am)
{
  for (size_t e = 0; e < n; e++) {
    if (part && part[e] < 0) continue;
    affine_finish(am, ws->k + e, ws->t + e);
  }
}

/* An activation on every valid entry (i, j): x side (s, sqrt s) at i, z side
   at the partner j (all positions j for the full state). */
static void activate(const nt_op *op, sp_work *ws, size_t p, int nb, int full,
                     const int *part, const double *xs, const double *zs)
{
  const double *xr = xs + p, *zr = zs + p, *xi = xs + 2 * p, *zi = zs + 2 * p;
  if (full) {
    for (size_t i = 0; i < p; i++) activate_row(op, xs, i, zs, p, ws->k + i * p, ws->t + i * p);
    return;
  }
  if (op->code == NT_OP_ABRELU && nb == 1) {
    /* the band is the offset (0, 0): every partner is the position itself */
    abrelu_run(op->p1, op->p2, xr, xi, 1, zr, zi, ws->k, ws->t, p);
    return;
  }
  if (op->code == NT_OP_LAYERNORM && nb == 1) {   /* planes: 1 / sqrt(s + eps) (self_planes) */
    for (size_t i = 0; i < p; i++) {
      double g = xi[i] * zi[i];
      ws->k[i] *= g;
      ws->t[i] *= g;
    }
    return;
  }
  for (size_t i = 0; i < p; i++) {
    double *k = ws->k + i * nb, *t = ws->t + i * nb;
    const int *pi = part ? part + i * nb : NULL;
    for (int c = 0; c < nb; c++) {
      int j = pi ? pi[c] : 0;
      if (j < 0) continue;
      double kk, kd;
      if (op->code == NT_OP_ABRELU)
        nt_abrelu_dual(op->p1, op->p2, xr[i], zr[j], xi[i], zi[j], k[c], &kk, &kd);
      else if (op->code == NT_OP_LAYERNORM) {
        kd = xi[i] * zi[j];
        kk = k[c] * kd;
      } else
        nt_act_pair(op, xs[i], zs[j], xr[i], zr[j], k[c], &kk, &kd);
      k[c] = kk;
      t[c] *= kd;
    }
  }
}

/* Runs the plan on the pair (x, z).  selfx / selfz hold the images' self
   variances (s, sqrt s per position, per activation layer); when record is
   not NULL this is the self pass of x (z == x): the spatial diagonal is
   recorded there before each activation and used at once.  Returns 0, or
   1 + the layer whose activation table is missing or too narrow (self pass). */
/* One pair of images on its way through the plan: per slot the positions
   (h x w) and whether still before its readout; `act` counts the
   activations passed, `skip` tells that a step also ran the next op. */
struct nt_conv_pass {
  const sp_plan *sp;
  sp_work *ws;
  const double *selfx, *selfz;
  double *record;
  int hs[NT_MAX_SLOTS], wsz[NT_MAX_SLOTS], sps[NT_MAX_SLOTS];
  int act, skip;
  int same;               /* the pair is one image with itself */
  int gx, gz;             /* the graphs of x and z (their adjacency in aggregation ops) */
};

/* The state layout of op l's slot: positions, entries per position, and
   the band's partner table (NULL for all pairs or after the readout). */
static size_t slot_layout(const struct nt_conv_pass *p, const nt_op *op, int l, int *nb,
                          const int **part)
{
  const sp_plan *sp = p->sp;
  int s = op->slot, spatial = p->sps[s];
  size_t pos = (size_t) p->hs[s] * p->wsz[s];
  *nb = !spatial ? 1 : sp->full ? (int) pos : sp->nb;
  *part = spatial && !sp->full ? sp->part[l] : NULL;
  return pos;
}

int nt_conv_dense(struct nt_conv_pass *p, const nt_op *op, int l)
{
  int nb;
  const int *part;
  size_t pos = slot_layout(p, op, l, &nb, &part);
  affine_map am = {op->p1, op->p2, op->trainable ? 1.0 : 0.0, op->p3};
  affine(p->ws, pos * nb, part, &am);
  return 0;
}

int nt_conv_branch(struct nt_conv_pass *p, const nt_op *op, int l)
{
  int nb;
  const int *part;
  size_t pos = slot_layout(p, op, l, &nb, &part);
  nt_branch_step(op, p->ws->kreg, p->ws->treg, pos * nb);
  for (int j = op->first; j < op->first + op->count && op->code == NT_OP_FANOUT; j++) {
    p->hs[j] = p->hs[op->slot]; p->wsz[j] = p->wsz[op->slot]; p->sps[j] = p->sps[op->slot];
  }
  return 0;
}

/* The row and column index maps of window op l (geometry.c). */
static void window_maps(const sp_plan *sp, int l, sp_work *ws, int circ)
{
  nt_row_map(ws->map_y, sp->geom + (size_t) NT_G_ROWS * l);
  nt_window_map(ws->map_x, G(l, NT_G_WOUT), G(l, NT_G_WIN), G(l, NT_G_QW), G(l, NT_G_SW),
                G(l, NT_G_PL), circ);
}

int nt_conv_conv(struct nt_conv_pass *p, const nt_op *op, int l)
{
  const sp_plan *sp = p->sp;
  sp_work *ws = p->ws;
  int s = op->slot;
  window_maps(sp, l, ws, G(l, NT_G_CIRC));
  double taps = (double) G(l, NT_G_QH) * G(l, NT_G_QW);
  affine_map am = {op->p1 / taps, op->p2, op->trainable ? 1.0 : 0.0, op->p3 / taps};
  /* Outside the self pass the next activation's variances are known, so
     the fusion pass lets it run on each output row while the row is in
     cache. */
  int fuse = sp->full && !p->record && op->fuse;
  const nt_op *next = fuse ? op + 1 : NULL;
  const double *fx = NULL, *fz = NULL;
  if (fuse) {
    fx = p->selfx + NT_SELF * sp->act_off[p->act];
    fz = p->selfz + NT_SELF * sp->act_off[p->act];
  }
  if (sp->full && G(l, NT_G_SH) == 1 && G(l, NT_G_SW) == 1 && !G(l, NT_G_CIRC) &&
      nt_plain_rows(sp->geom + (size_t) NT_G_ROWS * l)) {
    conv_full_separable(sp, l, ws, &am, next, fx, fz);
  } else {
    if (sp->full) conv_full(sp, l, ws, &am, next, fx, fz);
    else conv_band(sp, l, ws, &am);
    swap_state(ws);
  }
  p->hs[s] = G(l, NT_G_HOUT); p->wsz[s] = G(l, NT_G_WOUT);
  if (fuse) { p->act++; p->skip = 1; }
  if (op->code == NT_OP_CONV_LOCAL) {
    /* unshared weights: two different output positions have independent
       filters, so only the pairs of a position with itself remain (their
       values are the shared convolution's: one filter offset at a time) */
    int nb;
    const int *part;
    size_t pos = slot_layout(p, op, l, &nb, &part);
    for (size_t i = 0; i < pos; i++)
      for (int c = 0; c < nb; c++) {
        int diagonal = sp->full ? (size_t) c == i : c == sp->k0;
        if (!diagonal) ws->k[i * nb + c] = ws->t[i * nb + c] = 0.0;
      }
  }
  return 0;
}

int nt_conv_pool(struct nt_conv_pass *p, const nt_op *op, int l)
{
  const sp_plan *sp = p->sp;
  window_maps(sp, l, p->ws, 0);
  avg_pool_full(sp, l, p->ws);
  swap_state(p->ws);
  p->hs[op->slot] = G(l, NT_G_HOUT); p->wsz[op->slot] = G(l, NT_G_WOUT);
  return 0;
}

int nt_conv_readout(struct nt_conv_pass *p, const nt_op *op, int l)
{
  readout(p->sp, l, p->ws);
  swap_state(p->ws);
  p->hs[op->slot] = p->wsz[op->slot] = 1;
  p->sps[op->slot] = 0;
  return 0;
}

/* The self-variance planes (s, sqrt s, 1 / sqrt s per position; for a
   layer norm over channels 1 / sqrt(s + eps) in the third) of op l's
   input for x and z; in the self pass they are recorded first from the
   state's spatial diagonal.  Returns 1 + l when the activation table is
   missing or too narrow (self pass), else 0. */
static int self_planes(struct nt_conv_pass *p, const nt_op *op, int l, size_t pos, int nb,
                       const double **xs, const double **zs)
{
  const sp_plan *sp = p->sp;
  int spatial = p->sps[op->slot];
  size_t off = NT_SELF * sp->act_off[p->act];
  *xs = p->selfx + off;
  *zs = p->selfz + off;
  if (!p->record) return 0;
  double *rec = p->record + off, top = 0;
  int norm = op->code == NT_OP_LAYERNORM;   /* its scale 1 / sqrt(s + eps) instead */
  for (size_t i = 0; i < pos; i++) {
    double s = p->ws->k[i * nb + (!spatial ? 0 : sp->full ? (int) i : sp->k0)];
    rec[i] = s;
    rec[pos + i] = sqrt(s);
    rec[2 * pos + i] = norm ? 1.0 / sqrt(s + op->p1) : s > 0 ? 1.0 / rec[pos + i] : 0.0;
    if (s > top) top = s;
  }
  if (op->code == NT_OP_TABLE &&
      (op->table == NULL || !(nt_table_reach(op->table, top) <= -op->table->lo)))
    return l + 1;
  *xs = *zs = rec;
  return 0;
}

int nt_conv_elementwise(struct nt_conv_pass *p, const nt_op *op, int l)
{
  int nb;
  const int *part;
  const double *xs, *zs;
  size_t pos = slot_layout(p, op, l, &nb, &part);
  int failed = self_planes(p, op, l, pos, nb, &xs, &zs);
  if (failed) return failed;
  activate(op, p->ws, pos, nb, p->sp->full && p->sps[op->slot], part, xs, zs);
  p->act++;
  return 0;
}

/* Layer normalisation over channels and space: every entry divided by the
   square roots of the two images' mean variances over the positions
   (plus eps; normalize.c). */
int nt_conv_norm_all(struct nt_conv_pass *p, const nt_op *op, int l)
{
  int nb;
  const int *part;
  const double *xs, *zs;
  size_t pos = slot_layout(p, op, l, &nb, &part);
  self_planes(p, op, l, pos, nb, &xs, &zs);
  double mx = 0, mz = 0;
  for (size_t i = 0; i < pos; i++) { mx += xs[i]; mz += zs[i]; }
  double g = 1.0 / sqrt(mx / pos + op->p1) / sqrt(mz / pos + op->p1);
  sp_work *ws = p->ws;
  for (size_t e = 0; e < pos * nb; e++) {
    if (part && part[e] < 0) continue;
    ws->k[e] *= g;
    ws->t[e] *= g;
  }
  p->act++;
  return 0;
}

/* Train-mode dropout (dropout.c): for an image with itself, the entries of
   each position with itself times 1 / rate; all others unchanged. */
int nt_conv_dropout(struct nt_conv_pass *p, const nt_op *op, int l)
{
  if (!p->same) return 0;
  int nb;
  const int *part;
  size_t pos = slot_layout(p, op, l, &nb, &part);
  int spatial = p->sps[op->slot];
  double f = 1.0 / op->p1;
  for (size_t i = 0; i < pos; i++) {
    size_t e = i * nb + (!spatial ? 0 : p->sp->full ? i : (size_t) p->sp->k0);
    p->ws->k[e] *= f;
    p->ws->t[e] *= f;
  }
  return 0;
}

/* Graph aggregation (graph.c) on all position pairs: K <- A_x K A_z',
   T likewise, through the next-state buffers. */
int nt_conv_aggregate(struct nt_conv_pass *p, const nt_op *op, int l)
{
  (void) l;
  sp_work *ws = p->ws;
  int P = p->hs[op->slot] * p->wsz[op->slot];
  const double *ax = nt_graph_adjacency(op, p->gx, P), *az = nt_graph_adjacency(op, p->gz, P);
  double *state[2] = {ws->k, ws->t}, *tmp[2] = {ws->k2, ws->t2};
  for (int s = 0; s < 2; s++) {
    double *a = state[s], *b = tmp[s];
    /* b = a A_z': b[i][j] = sum_q a[i][q] A_z[j, q]; rows i are x positions */
    for (int i = 0; i < P; i++)
      for (int j = 0; j < P; j++) {
        double v = 0;
        for (int q = 0; q < P; q++) v += a[(size_t) i * P + q] * az[j + (size_t) P * q];
        b[(size_t) i * P + j] = v;
      }
    /* a = A_x b: a[i][j] = sum_q A_x[i, q] b[q][j] */
    for (int i = 0; i < P; i++)
      for (int j = 0; j < P; j++) {
        double v = 0;
        for (int q = 0; q < P; q++) v += ax[i + (size_t) P * q] * b[(size_t) q * P + j];
        a[(size_t) i * P + j] = v;
      }
  }
  return 0;
}

/* Runs the plan on the pair (x, z), each op through its registry step.
   selfx / selfz hold the images' self variances (s, sqrt s per position,
   per activation layer); when record is not NULL this is the self pass of
   x (z == x): the spatial diagonal is recorded there before each
   activation and used at once.  Returns 0, or 1 + the layer whose
   activation table is missing or too narrow (self pass). */
static int sp_pair(const sp_plan *sp, const double *x, const double *z, int same, int gx, int gz,
                   const double *selfx, const double *selfz, double *record,
                   sp_work *ws, double *k_out, double *t_out)
{
  struct nt_conv_pass p;
  p.sp = sp; p.ws = ws; p.selfx = selfx; p.selfz = selfz; p.record = record; p.same = same;
  p.gx = gx; p.gz = gz;
  p.hs[0] = sp->H; p.wsz[0] = sp->W; p.sps[0] = 1;
  p.act = 0;
  ws->k = ws->kreg[0]; ws->t = ws->treg[0];
  input_gram(sp, x, z, ws);
  for (int l = 0; l < sp->plan.nops; l++) {
    const nt_op *op = sp->plan.ops + l;
    int slot = op->slot;
    ws->k = ws->kreg[slot]; ws->t = ws->treg[slot];
    p.skip = 0;
    int failed = op->info->conv(&p, op, l);
    if (failed) return failed;
    ws->kreg[slot] = ws->k; ws->treg[slot] = ws->t;   /* a swap moved the state */
    l += p.skip;
  }
  *k_out = ws->kreg[0][0];
  *t_out = ws->treg[0][0];
  return 0;
}

/* ---- reading the plan and the images --------------------------------- */

/* A window op or readout of layer l reading depth d (0: not known yet):
   its geometry must say that depth; and the band of offsets, whose
   partners are shifts of plain rows, runs volumes only on the spatial
   diagonal (the band of the offset (0, 0) alone). */
static void depth_check(const sp_plan *sp, const int *g, int d, int l)
{
  if (d && g[NT_G_DIN] != d)
    Rf_error("layer %d expects depth %d, but gets %d", l + 1, g[NT_G_DIN], d);
  if (!sp->full && sp->nb != 1 && (g[NT_G_DIN] != 1 || !nt_plain_rows(g)))
    Rf_error("layer %d: a volume needs all position pairs unless only the spatial "
             "diagonal is kept", l + 1);
}

static void sp_read(SEXP x, SEXP ops_int, SEXP ops_dbl, SEXP geom, SEXP band, SEXP full,
                    SEXP tables, sp_plan *sp)
{
  if (TYPEOF(x) != REALSXP) Rf_error("'x' must be a double array");
  SEXP dim = Rf_getAttrib(x, R_DimSymbol);
  if (XLENGTH(dim) != 4) Rf_error("'x' must be a 4-dimensional array (C, W, H, n)");
  sp->C = INTEGER(dim)[0]; sp->W = INTEGER(dim)[1]; sp->H = INTEGER(dim)[2];
  if (sp->C < 1 || sp->W < 1 || sp->H < 1 || sp->W > 65536 || sp->H > 65536)
    Rf_error("'x' has an invalid image shape");
  nt_plan_read(ops_int, ops_dbl, tables, &sp->plan);
  nt_plan_require(&sp->plan, NT_ENGINE_CONV);
  int nops = sp->plan.nops;
  if (!Rf_isInteger(geom) || !Rf_isMatrix(geom) || Rf_nrows(geom) != NT_G_ROWS ||
      Rf_ncols(geom) != nops)
    Rf_error("'geom' must be an integer matrix with %d rows and a column per layer", NT_G_ROWS);
  sp->geom = INTEGER(geom);
  sp->full = nt_check_flag(full, "full");
  if (!Rf_isInteger(band) || !Rf_isMatrix(band) || Rf_nrows(band) != 2 || Rf_ncols(band) < 1)
    Rf_error("'band' must be an integer matrix with 2 rows");
  sp->nb = Rf_ncols(band);
  sp->band = INTEGER(band);
  sp->k0 = -1;
  for (int k = 0; k < sp->nb; k++)
    if (sp->band[2 * k] == 0 && sp->band[2 * k + 1] == 0) sp->k0 = k;
  if (sp->k0 < 0) Rf_error("'band' must contain the offset (0, 0)");
  for (int k = 0; k < 2 * sp->nb; k++)
    if (sp->band[k] < -65536 || sp->band[k] > 65536) Rf_error("'band' has an offset out of range");
  /* Walk the geometry: every layer must read the shape the previous one
     wrote, and every index the engine forms must stay inside the image. */
  /* Branches in the band engine: each op reads the partner table of the
     state before it in plan order, which for the first op of a branch is
     another branch's; exact only while every state has the input's shape
     and band scale 1 (stride-1 'same' convolutions), as checked here. */
  if (sp->plan.branches && !sp->full)
    for (int l = 0; l < nops; l++) {   /* up to the readout; vectors after it have no band */
      const int *g = sp->geom + (size_t) NT_G_ROWS * l;
      int readout = (sp->plan.ops[l].kind & NT_KIND_READOUT) != 0;
      if (l > 0 && (sp->plan.ops[l - 1].kind & NT_KIND_READOUT)) break;
      if (g[NT_G_HIN] != sp->H || g[NT_G_WIN] != sp->W || g[NT_G_SH] != 1 || g[NT_G_SW] != 1 ||
          g[NT_G_BSY] != 1 || g[NT_G_BSX] != 1 ||
          (!readout && (g[NT_G_HOUT] != sp->H || g[NT_G_WOUT] != sp->W)))
        Rf_error("a plan with fan-out and fan-in needs all position pairs ('full') unless every "
                 "layer keeps the image's shape with stride 1 (layer %d does not)", l + 1);
    }
  /* ds: each slot's depth (volumes, ntk.h), 0 until a window op names it */
  int hs[NT_MAX_SLOTS], wsz[NT_MAX_SLOTS], sps[NT_MAX_SLOTS], ds[NT_MAX_SLOTS], nact = 0;
  hs[0] = sp->H; wsz[0] = sp->W; sps[0] = 1; ds[0] = 0;
  double state = (double) sp->H * sp->W * (sp->full ? (double) sp->H * sp->W : sp->nb);
  double self_len = 0;
  sp->act_off = (size_t *) R_alloc(sp->plan.nact + 1, sizeof(size_t));
  for (int l = 0; l < nops; l++) {
    const int *g = sp->geom + (size_t) NT_G_ROWS * l;
    const nt_op *op = sp->plan.ops + l;
    int code = op->code, slot = op->slot;
    int h = hs[slot], w = wsz[slot], spatial = sps[slot], d = ds[slot];
    if (g[NT_G_HIN] != h || g[NT_G_WIN] != w)
      Rf_error("layer %d expects %d x %d positions, but gets %d x %d",
               l + 1, g[NT_G_HIN], g[NT_G_WIN], h, w);
    int is_spatial_op = (op->kind & (NT_KIND_SPATIAL | NT_KIND_READOUT)) != 0;
    if (is_spatial_op && !spatial) Rf_error("layer %d comes after the readout", l + 1);
    if (nt_is_conv(code) || code == NT_OP_AVGPOOL) {
      nt_check_window(g, code, h, w, l);
      depth_check(sp, g, d, l);
      d = g[NT_G_DOUT];
      if (code == NT_OP_AVGPOOL && !sp->full)
        Rf_error("layer %d: pooling needs all position pairs", l + 1);
      if (nt_is_conv(code) && g[NT_G_CIRC] && !sp->full)
        Rf_error("layer %d: circular padding needs all position pairs", l + 1);
      h = g[NT_G_HOUT]; w = g[NT_G_WOUT];
    } else if (code == NT_OP_AGGREGATE) {
      if (!sp->full) Rf_error("layer %d: aggregation needs all position pairs", l + 1);
      if (nt_graph_count(op, h * w) < 0)
        Rf_error("layer %d: the adjacency does not match the %d positions it aggregates", l + 1, h * w);
    } else if (is_spatial_op) {
      if (code == NT_OP_GAP && !sp->full) Rf_error("global average pooling needs all position pairs");
      if (g[NT_G_LAPC] < 0) Rf_error("layer %d has a negative window", l + 1);
      if (g[NT_G_DIN] < 1 || h % g[NT_G_DIN])
        Rf_error("layer %d reads %d rows as depth %d", l + 1, h, g[NT_G_DIN]);
      depth_check(sp, g, d, l);
      h = w = 1;
      d = 0;
      spatial = 0;
    } else if (op->kind & NT_KIND_BRANCH) {
      for (int j = op->first; j < op->first + op->count; j++) {
        if (code == NT_OP_FANOUT) { hs[j] = h; wsz[j] = w; sps[j] = spatial; ds[j] = d; }
        else if (hs[j] != h || wsz[j] != w || sps[j] != spatial || (ds[j] && d && ds[j] != d))
          Rf_error("layer %d merges branches of different shapes", l + 1);
      }
    } else if (nt_is_activation(op)) {
      sp->act_off[nact++] = (size_t) self_len;
      self_len += (double) h * w;
    }
    if (spatial && !sp->full &&
        (g[NT_G_BSY] < 1 || g[NT_G_BSX] < 1 || g[NT_G_BSY] > 65536 || g[NT_G_BSX] > 65536))
      Rf_error("layer %d has an invalid band scale", l + 1);
    /* every op's geometry column must name the shape it writes, which later
       steps (the band's partner tables) read */
    if (g[NT_G_HOUT] != h || g[NT_G_WOUT] != w)
      Rf_error("layer %d writes %d x %d positions, but its geometry says %d x %d",
               l + 1, h, w, g[NT_G_HOUT], g[NT_G_WOUT]);
    double st = (double) h * w * (!spatial ? 1 : sp->full ? (double) h * w : sp->nb);
    if (st > state) state = st;
    hs[slot] = h; wsz[slot] = w; sps[slot] = spatial; ds[slot] = d;
  }
  int spatial = sps[0];
  if (spatial) Rf_error("an image network must end with a readout layer");
  sp->in_sy = nops > 0 ? sp->geom[NT_G_BSY] * (nt_is_conv(sp->plan.ops[0].code) ? sp->geom[NT_G_SH] : 1) : 1;
  sp->in_sx = nops > 0 ? sp->geom[NT_G_BSX] * (nt_is_conv(sp->plan.ops[0].code) ? sp->geom[NT_G_SW] : 1) : 1;
  sp->part = (int **) R_alloc(nops + 1, sizeof(int *));
  for (int st = 0; st <= nops; st++) {
    sp->part[st] = NULL;
    if (sp->full) continue;
    int hh = st == 0 ? sp->H : sp->geom[(size_t) NT_G_ROWS * (st - 1) + NT_G_HOUT];
    int ww = st == 0 ? sp->W : sp->geom[(size_t) NT_G_ROWS * (st - 1) + NT_G_WOUT];
    int sy = st == 0 ? sp->in_sy : sp->geom[(size_t) NT_G_ROWS * (st - 1) + NT_G_BSY];
    int sx = st == 0 ? sp->in_sx : sp->geom[(size_t) NT_G_ROWS * (st - 1) + NT_G_BSX];
    size_t pp = (size_t) hh * ww;
    int *tab = (int *) R_alloc(pp * sp->nb, sizeof(int));
    for (size_t i = 0; i < pp; i++)
      for (int k = 0; k < sp->nb; k++)
        tab[i * sp->nb + k] = partner((int) i, ww, hh, (long long) sp->band[2 * k] * sy,
                                      (long long) sp->band[2 * k + 1] * sx);
    sp->part[st] = tab;
  }
  if (!(state <= 1e12)) Rf_error("the per-pair workspace of %.0f entries is too large", state);
  sp->state = (size_t) state;
  sp->self_len = (size_t) self_len;
}

static sp_work *sp_workspaces(const sp_plan *sp, int nth)
{
  sp_work *ws = (sp_work *) R_alloc(nth, sizeof(sp_work));
  size_t my = 1, mx = 1, wmax = sp->W;
  for (int l = 0; l < sp->plan.nops; l++) {
    if ((size_t) G(l, NT_G_WIN) > wmax) wmax = G(l, NT_G_WIN);
    size_t a = (size_t) G(l, NT_G_QH) * G(l, NT_G_HOUT), b = (size_t) G(l, NT_G_QW) * G(l, NT_G_WOUT);
    if (a > my) my = a;
    if (b > mx) mx = b;
  }
  int ns = sp->plan.nslots;
  nt_check_alloc((double) sp->state, 2.0 * ns + 2, nth, "the per-thread pair workspaces");
  for (int t = 0; t < nth; t++) {
    double *buf = (double *) R_alloc((2 * (size_t) ns + 2) * sp->state, sizeof(double));
    for (int j = 0; j < ns; j++) {
      ws[t].kreg[j] = buf + 2 * (size_t) j * sp->state;
      ws[t].treg[j] = ws[t].kreg[j] + sp->state;
    }
    ws[t].k = ws[t].kreg[0]; ws[t].t = ws[t].treg[0];
    ws[t].k2 = buf + 2 * (size_t) ns * sp->state; ws[t].t2 = ws[t].k2 + sp->state;
    ws[t].map_y = (int *) R_alloc(my, sizeof(int));
    ws[t].map_x = (int *) R_alloc(mx, sizeof(int));
    ws[t].row = (double *) R_alloc(2 * wmax, sizeof(double));
  }
  return ws;
}

static const double *image_data(SEXP x, int *n, const sp_plan *sp, const char *name)
{
  if (TYPEOF(x) != REALSXP) Rf_error("'%s' must be a double array", name);
  SEXP dim = Rf_getAttrib(x, R_DimSymbol);
  if (XLENGTH(dim) != 4 || INTEGER(dim)[0] != sp->C || INTEGER(dim)[1] != sp->W ||
      INTEGER(dim)[2] != sp->H || INTEGER(dim)[3] < 1)
    Rf_error("'%s' must be a (C, W, H, n) array of the images' shape", name);
  *n = INTEGER(dim)[3];
  nt_check_finite(REAL(x), XLENGTH(x), name);
  return REAL(x);
}

/* n images of len values each shifted by powers of two for a plan of
   degree `degree` (homog.c): their shifts into *shift and the shifted copy
   returned; x itself and *shift NULL when no image needs a shift or the
   plan is not homogeneous (degree 0). */
static const double *shift_images(const double *x, int n, size_t len, int degree, int **shift)
{
  *shift = NULL;
  if (degree < 1) return x;
  int *sh = (int *) R_alloc(n, sizeof(int)), any = 0;
  for (int i = 0; i < n; i++) {
    double top = 0;
    for (size_t e = 0; e < len; e++) top = fmax(top, fabs(x[len * i + e]));
    any |= (sh[i] = nt_input_shift(top, degree)) != 0;
  }
  if (!any) return x;
  double *out = (double *) R_alloc((size_t) n * len, sizeof(double));
  for (int i = 0; i < n; i++)
    for (size_t e = 0; e < len; e++)
      out[len * i + e] = sh[i] ? ldexp(x[len * i + e], -sh[i]) : x[len * i + e];
  *shift = sh;
  return out;
}

/* Self passes of n images: records (s, sqrt s) at every activation; returns
   per image 0 or 1 + the layer whose table is missing or too narrow. */
/* The self pass (each image against itself, recording its variances) as
   the driver's tasks, one image each, so that it is interruptible too. */
typedef struct {
  const sp_plan *sp;
  sp_work *ws;
  const double *x;
  double *self;
  int *status;
  int graph0;             /* the graph of image 0 */
} self_job;

static R_xlen_t self_image(void *vctx, R_xlen_t i)
{
  const self_job *job = (const self_job *) vctx;
  const sp_plan *sp = job->sp;
  size_t img = (size_t) sp->H * sp->W * sp->C;
#ifdef _OPENMP
  sp_work *w = job->ws + omp_get_thread_num();
#else
  sp_work *w = job->ws;
#endif
  double k, t;
  int g = job->graph0 + (int) i;
  job->status[i] = sp_pair(sp, job->x + img * i, job->x + img * i, 1, g, g, NULL, NULL,
                           job->self + NT_SELF * sp->self_len * i, w, &k, &t);
  return 0;
}

/* Every image and every pair costs about the same. */
static double unit_weight(void *ctx, R_xlen_t task)
{
  (void) ctx; (void) task;
  return 1.0;
}

static void self_passes(const sp_plan *sp, const double *x, int n, int graph0, double *self,
                        int *status, sp_work *ws, int nth, nt_progress *bar)
{
  self_job job = {sp, ws, x, self, status, graph0};
  nt_drive_spec spec = {n, unit_weight, self_image, 0, nth};
  nt_drive(&spec, &job, bar);
}

/* The pairs of a kernel matrix as the driver's tasks: column by column,
   rows i <= j for a symmetric one. */
typedef struct {
  const sp_plan *sp;
  sp_work *ws;
  const double *xd, *zd, *selfx, *selfz;
  size_t rec, img;
  int n, sym;
  int same;               /* z is x (or equal to it): pair (i, i) is an image with itself */
  double *out_k, *out_t;
  const int *shx, *shz;   /* the images' power-of-two shifts (NULL: none) */
  int degree;             /* of the plan, when shifted */
} conv_job;

static R_xlen_t conv_pair(void *vctx, R_xlen_t task)
{
  const conv_job *job = (const conv_job *) vctx;
  R_xlen_t i, j;
  if (job->sym) {   /* task = j (j + 1) / 2 + i, 0 <= i <= j */
    j = (R_xlen_t) ((sqrt(8.0 * (double) task + 1.0) - 1.0) / 2.0);
    while (j * (j + 1) / 2 > task) j--;
    while ((j + 1) * (j + 2) / 2 <= task) j++;
    i = task - j * (j + 1) / 2;
  } else {
    j = task / job->n;
    i = task % job->n;
  }
#ifdef _OPENMP
  sp_work *w = job->ws + omp_get_thread_num();
#else
  sp_work *w = job->ws;
#endif
  double k, t;
  sp_pair(job->sp, job->xd + job->img * i, job->zd + job->img * j, job->same && i == j,
          (int) i, (int) (job->sym ? j : job->n + j), job->selfx + job->rec * i,
          job->selfz + job->rec * j, NULL, w, &k, &t);
  size_t at = (size_t) i + (size_t) job->n * j;
  if (job->shx) {   /* back to the inputs' scale: K(a x, b z) = (a b)^D K(x, z) */
    nt_unshift(&k, &k, job->shx + i, job->shz[j], job->degree, 1);
    nt_unshift(&t, &t, job->shx + i, job->shz[j], job->degree, 1);
  }
  if (job->out_k) job->out_k[at] = k;
  if (job->out_t) job->out_t[at] = t;
  return !R_FINITE(k) || !R_FINITE(t);
}

/* Per-graph aggregation ops hold one adjacency per input: `graphs` of them
   (x's, then z's) are needed. */
static void check_graphs(const sp_plan *sp, R_xlen_t graphs)
{
  for (int l = 0; l < sp->plan.nops; l++) {
    const nt_op *op = sp->plan.ops + l;
    if (op->code != NT_OP_AGGREGATE || op->p1 == 0) continue;
    R_xlen_t have = nt_graph_count(op, G(l, NT_G_HIN) * G(l, NT_G_WIN));
    if (have < graphs)
      Rf_error("layer %d holds the adjacency of %.0f graphs, but the inputs are %.0f graphs", l + 1,
               (double) have, (double) graphs);
  }
}

SEXP ntk_conv_kernel(SEXP x, SEXP z, SEXP ops_int, SEXP ops_dbl, SEXP geom, SEXP band,
                     SEXP full, SEXP tables, SEXP what, SEXP threads, SEXP progress)
{
  nt_mem_begin();
  sp_plan sp;
  sp_read(x, ops_int, ops_dbl, geom, band, full, tables, &sp);
  int n, m, sym = Rf_isNull(z);
  const double *xd = image_data(x, &n, &sp, "x");
  const double *zd = sym ? xd : image_data(z, &m, &sp, "z");
  if (sym) m = n;
  /* homogeneous plans: images shifted into a safe range, outputs shifted
     back (homog.c), so that tiny and huge images keep every digit */
  check_graphs(&sp, (R_xlen_t) n + (sym ? 0 : m));
  int degree = nt_plan_degree(&sp.plan, NULL), *shx, *shz = NULL;
  size_t len = (size_t) sp.H * sp.W * sp.C;
  xd = shift_images(xd, n, len, degree, &shx);
  if (!sym) zd = shift_images(zd, m, len, degree, &shz);
  else { zd = xd; shz = shx; }
  if (shx || shz) {   /* one side shifted: the other's shifts are 0 */
    int *zero = (int *) R_alloc(n > m ? n : m, sizeof(int));
    memset(zero, 0, (size_t) (n > m ? n : m) * sizeof(int));
    if (!shx) shx = zero;
    if (!shz) shz = zero;
  }
  int want_ntk, want_nngp;
  nt_check_what(what, &want_ntk, &want_nngp);
  int nth = nt_threads_clamp(nt_check_int_scalar(threads, "threads", 1, 1024));
  int show = nt_check_flag(progress, "progress");
  for (int l = 0; l < sp.plan.nops; l++)
    if (sp.plan.ops[l].code == NT_OP_TABLE && sp.plan.ops[l].table == NULL)
      Rf_error("activation table of layer %d is missing", l + 1);
  nt_check_alloc(n, m, want_ntk + want_nngp, "the kernel matrix");
  nt_check_alloc((double) (n + m), (double) NT_SELF * sp.self_len, 1, "the images' self covariances");

  SEXP k_ntk = PROTECT(want_ntk ? Rf_allocMatrix(REALSXP, n, m) : R_NilValue);
  SEXP k_nngp = PROTECT(want_nngp ? Rf_allocMatrix(REALSXP, n, m) : R_NilValue);
  double *out_t = want_ntk ? REAL(k_ntk) : NULL, *out_k = want_nngp ? REAL(k_nngp) : NULL;
  sp_work *ws = sp_workspaces(&sp, nth);
  size_t rec = NT_SELF * sp.self_len, img = (size_t) sp.H * sp.W * sp.C;
  double *selfx = (double *) R_alloc((size_t) n * rec + 1, sizeof(double));
  double *selfz = selfx;
  int *status = (int *) R_alloc(n > m ? n : m, sizeof(int));

  nt_progress bar;
  double pairs_total = sym ? 0.5 * (double) n * (n + 1) : (double) n * m;
  nt_progress_start(&bar, show, pairs_total + n + (sym ? 0 : m));
  self_passes(&sp, xd, n, 0, selfx, status, ws, nth, &bar);
  for (int i = 0; i < n; i++)
    if (status[i]) Rf_error("activation table of layer %d is too narrow; this is a bug in ntk", status[i]);
  if (!sym) {
    selfz = (double *) R_alloc((size_t) m * rec + 1, sizeof(double));
    self_passes(&sp, zd, m, n, selfz, status, ws, nth, &bar);   /* z's graphs follow x's */
    for (int i = 0; i < m; i++)
      if (status[i]) Rf_error("activation table of layer %d is too narrow; this is a bug in ntk", status[i]);
  }

  int same = sym || (n == m && memcmp(xd, zd, (size_t) n * img * sizeof(double)) == 0);
  conv_job job = {&sp, ws, xd, zd, selfx, selfz, rec, img, n, sym, same, out_k, out_t, shx, shz,
                  degree};
  nt_drive_spec spec = {sym ? (R_xlen_t) n * (n + 1) / 2 : (R_xlen_t) n * m, unit_weight,
                        conv_pair, 0, nth};
  R_xlen_t bad = nt_drive(&spec, &job, &bar);
  nt_progress_end(&bar);
  if (bad > 0)
    Rf_error("%.0f kernel entries overflowed the double range; rescale 'x' or lower the variances",
             (double) bad);
  if (sym) {
    if (out_k) nt_mirror_upper(out_k, n, nth);
    if (out_t) nt_mirror_upper(out_t, n, nth);
  }
  SEXP res = nt_result(2, (SEXP[]) {k_ntk, k_nngp});
  UNPROTECT(2);
  return res;
}

/* For fitting activation tables: per image and activation layer the largest
   pre-activation variance over positions (NA after a failure), and status. */
SEXP ntk_conv_self(SEXP x, SEXP ops_int, SEXP ops_dbl, SEXP geom, SEXP band, SEXP full,
                   SEXP tables)
{
  nt_mem_begin();
  sp_plan sp;
  sp_read(x, ops_int, ops_dbl, geom, band, full, tables, &sp);
  int n;
  const double *xd = image_data(x, &n, &sp, "x");
  check_graphs(&sp, n);
  size_t rec = NT_SELF * sp.self_len;
  nt_check_alloc(n, (double) rec, 1, "the images' self covariances");
  double *self = (double *) R_alloc((size_t) n * rec + 1, sizeof(double));
  for (size_t i = 0; i < (size_t) n * rec; i++) self[i] = NA_REAL;
  SEXP var = PROTECT(Rf_allocMatrix(REALSXP, sp.plan.nact, n));
  SEXP status = PROTECT(Rf_allocVector(INTSXP, n));
  sp_work *ws = sp_workspaces(&sp, 1);
  nt_progress bar;
  nt_progress_start(&bar, 0, n);
  self_passes(&sp, xd, n, 0, self, INTEGER(status), ws, 0, &bar);
  for (int i = 0; i < n; i++)
    for (int a = 0; a < sp.plan.nact; a++) {
      size_t end = a + 1 < sp.plan.nact ? sp.act_off[a + 1] : sp.self_len;
      double top = NA_REAL;
      for (size_t q = sp.act_off[a]; q < end; q++) {
        double v = self[rec * i + NT_SELF * sp.act_off[a] + (q - sp.act_off[a])];
        if (ISNAN(v) && !R_IsNA(v))   /* NA: not reached; NaN: Inf - Inf on the way */
          Rf_error("the images' variances overflowed at activation %d; rescale 'x'", a + 1);
        if (!ISNAN(v) && (ISNAN(top) || v > top)) top = v;
      }
      if (!ISNAN(top) && !R_FINITE(top))
        Rf_error("the images' variances overflowed at activation %d; rescale 'x'", a + 1);
      REAL(var)[a + (size_t) sp.plan.nact * i] = top;
    }
  SEXP res = nt_result(2, (SEXP[]) {var, status});
  UNPROTECT(2);
  return res;
}
