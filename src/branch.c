/* Fan-out and fan-in on kernel states, shared by every kernel engine.
   After a fan-out the copies carry the same NNGP K and NTK T.  At a fan-in
   the branches are independent given the input (the compiler checks that at
   most one branch has no dense or convolutional layer of its own, whose
   fresh zero-mean weights make the branches' cross-covariances vanish), so
   sum:     K = sum K_b,             T = sum T_b;
   product: K = prod K_b,            T = sum_b T_b prod_{c != b} K_c;
   concat:  K = mean K_b,            T = mean T_b  (equal widths). */
#include "ntk.h"
#include <string.h>

void nt_branch_step(const nt_op *op, double *const *k, double *const *t, size_t len)
{
  double *k0 = k[op->slot], *t0 = t ? t[op->slot] : NULL;
  switch (op->code) {
  case NT_OP_FANOUT:
    for (int j = 0; j < op->count; j++) {
      memcpy(k[op->first + j], k0, len * sizeof(double));
      if (t) memcpy(t[op->first + j], t0, len * sizeof(double));
    }
    return;
  case NT_OP_SUM:
  case NT_OP_CONCAT:
    for (int j = 0; j < op->count; j++) {
      const double *kb = k[op->first + j], *tb = t ? t[op->first + j] : NULL;
      for (size_t e = 0; e < len; e++) k0[e] += kb[e];
      if (t) for (size_t e = 0; e < len; e++) t0[e] += tb[e];
    }
    if (op->code == NT_OP_CONCAT) {
      double scale = 1.0 / (op->count + 1);
      for (size_t e = 0; e < len; e++) k0[e] *= scale;
      if (t) for (size_t e = 0; e < len; e++) t0[e] *= scale;
    }
    return;
  case NT_OP_PROD:
    /* (K, T) <- (K K_b, T K_b + K T_b), one branch at a time */
    for (int j = 0; j < op->count; j++) {
      const double *kb = k[op->first + j], *tb = t ? t[op->first + j] : NULL;
      for (size_t e = 0; e < len; e++) {
        if (t) t0[e] = t0[e] * kb[e] + k0[e] * tb[e];
        k0[e] *= kb[e];
      }
    }
    return;
  default:
    /* plan validation admits no other branch op; refuse rather than guess */
    return;
  }
}
