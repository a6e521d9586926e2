/* Geometry shared by the convolutional and finite engines: the checks of a
   window op's geometry column, and the map from output positions and filter
   offsets to input positions (zero or circular padding). */
#include "ntk.h"

/* An R error unless the conv or pool op of layer l (0-based), reading an
   h x w image, has a geometry whose every index stays inside the image and
   inside int. */
void nt_check_window(const int *g, int code, int h, int w, int l)
{
  int ho = g[NT_G_HOUT], wo = g[NT_G_WOUT];
  if (g[NT_G_HIN] != h || g[NT_G_WIN] != w)
    Rf_error("layer %d expects %d x %d positions, but gets %d x %d",
             l + 1, g[NT_G_HIN], g[NT_G_WIN], h, w);
  if (ho < 1 || wo < 1 || ho > 65536 || wo > 65536)
    Rf_error("layer %d writes %d x %d positions: each side must be 1 to 65536", l + 1, ho, wo);
  if (g[NT_G_QH] < 1 || g[NT_G_QW] < 1 || g[NT_G_QH] > 1000 || g[NT_G_QW] > 1000)
    Rf_error("layer %d has a %d x %d window: each side must be 1 to 1000", l + 1, g[NT_G_QH], g[NT_G_QW]);
  if (g[NT_G_SH] < 1 || g[NT_G_SW] < 1 || g[NT_G_SH] > 1000 || g[NT_G_SW] > 1000)
    Rf_error("layer %d has stride %d x %d: each must be 1 to 1000", l + 1, g[NT_G_SH], g[NT_G_SW]);
  if (g[NT_G_PT] < -1000 || g[NT_G_PT] > 1000 || g[NT_G_PL] < -1000 || g[NT_G_PL] > 1000)
    Rf_error("layer %d has padding %d (top) and %d (left): each must be within -1000 to 1000",
             l + 1, g[NT_G_PT], g[NT_G_PL]);
  /* pooling: every window starts inside the image or in the leading padding
     (less than a window), so that each holds at least one position; the
     engines clip windows to the image ("same" padding) */
  if (code == NT_OP_AVGPOOL &&
      (g[NT_G_PT] < 0 || g[NT_G_PL] < 0 || g[NT_G_PT] >= g[NT_G_QH] || g[NT_G_PL] >= g[NT_G_QW] ||
       (ho - 1) * g[NT_G_SH] - g[NT_G_PT] > h - 1 || (wo - 1) * g[NT_G_SW] - g[NT_G_PL] > w - 1))
    Rf_error("layer %d: pooling windows leave the image", l + 1);
}

/* map[e * nout + o]: the input position that output o reads at filter
   offset e along one axis, or -1 in the zero padding. */
void nt_window_map(int *map, int nout, int nin, int q, int stride, int pad, int circ)
{
  for (int e = 0; e < q; e++)
    for (int o = 0; o < nout; o++) {
      int j = o * stride + e - pad;
      if (circ) j = ((j % nin) + nin) % nin;
      map[(size_t) e * nout + o] = (j >= 0 && j < nin) ? j : -1;
    }
}
