/* Geometry shared by the convolutional and finite engines: the checks of a
   window op's geometry column, and the map from output positions and filter
   offsets to input positions (zero or circular padding). */
#include "ntk.h"

/* An R error unless the conv or pool op of layer l (0-based), reading an
   h x w grid of positions, has a geometry whose every index stays inside
   the grid and inside int (rows, depths and taps: see ntk.h). */
void nt_check_window(const int *g, int code, int h, int w, int l)
{
  int ho = g[NT_G_HOUT], wo = g[NT_G_WOUT];
  if (g[NT_G_HIN] != h || g[NT_G_WIN] != w)
    Rf_error("layer %d expects %d x %d positions, but gets %d x %d",
             l + 1, g[NT_G_HIN], g[NT_G_WIN], h, w);
  if (ho < 1 || wo < 1 || ho > 65536 || wo > 65536)
    Rf_error("layer %d writes %d x %d positions: each side must be 1 to 65536", l + 1, ho, wo);
  /* QH counts height times depth taps: each factor is 1 to 1000 (below) */
  if (g[NT_G_QH] < 1 || g[NT_G_QW] < 1 || g[NT_G_QH] > 1000000 || g[NT_G_QW] > 1000)
    Rf_error("layer %d has a %d x %d window: each side must be 1 to 1000", l + 1, g[NT_G_QH], g[NT_G_QW]);
  if ((double) g[NT_G_QH] * ho > 1e9)
    Rf_error("layer %d has %d row taps for %d rows: too large", l + 1, g[NT_G_QH], ho);
  if (g[NT_G_SH] < 1 || g[NT_G_SW] < 1 || g[NT_G_SH] > 1000 || g[NT_G_SW] > 1000)
    Rf_error("layer %d has stride %d x %d: each must be 1 to 1000", l + 1, g[NT_G_SH], g[NT_G_SW]);
  if (g[NT_G_PT] < -1000 || g[NT_G_PT] > 1000 || g[NT_G_PL] < -1000 || g[NT_G_PL] > 1000)
    Rf_error("layer %d has padding %d (top) and %d (left): each must be within -1000 to 1000",
             l + 1, g[NT_G_PT], g[NT_G_PL]);
  int din = g[NT_G_DIN], dout = g[NT_G_DOUT], qd = g[NT_G_QD];
  if (din < 1 || dout < 1 || qd < 1 || qd > 1000 || h % din || ho % dout || g[NT_G_QH] % qd)
    Rf_error("layer %d has an invalid depth geometry (depths %d in and %d out of %d and %d rows, "
             "%d depth taps of %d row taps)", l + 1, din, dout, h, ho, qd, g[NT_G_QH]);
  if (g[NT_G_QH] / qd > 1000)
    Rf_error("layer %d has a %d x %d window: each side must be 1 to 1000", l + 1, g[NT_G_QH] / qd,
             g[NT_G_QW]);
  if (g[NT_G_SD] < 1 || g[NT_G_SD] > 1000 || g[NT_G_PD] < -1000 || g[NT_G_PD] > 1000)
    Rf_error("layer %d has depth stride %d and padding %d: the stride must be 1 to 1000 and "
             "the padding within -1000 to 1000", l + 1, g[NT_G_SD], g[NT_G_PD]);
  /* pooling: along every axis each window starts inside the grid or in the
     leading padding (less than a window), so that each holds at least one
     position; the engines clip windows to the grid ("same" padding) */
  if (code == NT_OP_AVGPOOL) {
    int qh = g[NT_G_QH] / qd, hi = h / din, hp = ho / dout;
    int outside =
      g[NT_G_PT] < 0 || g[NT_G_PT] >= qh || (hp - 1) * g[NT_G_SH] - g[NT_G_PT] > hi - 1 ||
      g[NT_G_PL] < 0 || g[NT_G_PL] >= g[NT_G_QW] || (wo - 1) * g[NT_G_SW] - g[NT_G_PL] > w - 1 ||
      g[NT_G_PD] < 0 || g[NT_G_PD] >= qd || (dout - 1) * g[NT_G_SD] - g[NT_G_PD] > din - 1;
    if (outside) Rf_error("layer %d: pooling windows leave the image", l + 1);
  }
}

/* The input index that output o reads at offset e along an axis of n
   positions, or -1 in the zero padding. */
static inline int axis_index(int o, int e, int stride, int pad, int n, int circ)
{
  int j = o * stride + e - pad;
  if (circ) j = ((j % n) + n) % n;
  return j >= 0 && j < n ? j : -1;
}

/* map[e * nout + o]: the input position that output o reads at filter
   offset e along one axis, or -1 in the zero padding. */
void nt_window_map(int *map, int nout, int nin, int q, int stride, int pad, int circ)
{
  for (int e = 0; e < q; e++)
    for (int o = 0; o < nout; o++)
      map[(size_t) e * nout + o] = axis_index(o, e, stride, pad, nin, circ);
}

/* Rows are (height y, depth d) with row = y * D + d, and row taps
   (height offset, depth offset) with tap = ey * QD + ed; for images (D = 1)
   this is nt_window_map() along the height. */
void nt_row_map(int *map, const int *g)
{
  int din = g[NT_G_DIN], dout = g[NT_G_DOUT], qd = g[NT_G_QD], circ = g[NT_G_CIRC];
  int hin = g[NT_G_HIN] / din, hout = g[NT_G_HOUT] / dout, qh = g[NT_G_QH] / qd;
  size_t rows = (size_t) g[NT_G_HOUT];
  for (int ey = 0; ey < qh; ey++)
    for (int ed = 0; ed < qd; ed++) {
      int *m = map + (size_t) (ey * qd + ed) * rows;
      for (int oy = 0; oy < hout; oy++) {
        int jy = axis_index(oy, ey, g[NT_G_SH], g[NT_G_PT], hin, circ);
        for (int od = 0; od < dout; od++) {
          int jd = axis_index(od, ed, g[NT_G_SD], g[NT_G_PD], din, circ);
          m[(size_t) oy * dout + od] = jy >= 0 && jd >= 0 ? jy * din + jd : -1;
        }
      }
    }
}
