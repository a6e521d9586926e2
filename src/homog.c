/* Positive homogeneity: inputs of any magnitude.

   A plan whose ops are all positively homogeneous of degree 1 on the
   kernel state (affine ops without bias, ABReLU, identity, pooling,
   readouts; fan-ins of branches of equal degree, products adding their
   degrees) has K(a x, b z) = (a b)^D K(x, z) for a, b > 0, NNGP and NTK
   alike, D its degree.  The engines then run each input shifted by a power
   of two into a safe range -- exact in floating point, so no rounding is
   introduced -- and shift each output entry back once (ldexp: a single
   rounding, and only where the true value is subnormal or overflows).
   This keeps the variances of tiny inputs out of the subnormal range,
   where they lose digits and their inverse square roots meet them as
   0 * Inf, and those of huge ones below overflow. */
#include "ntk.h"
#include <stdint.h>
#include <string.h>

/* Inputs whose largest |entry| lies in [2^-Z, 2^Z), Z = NT_SHIFT_ZONE / D,
   run unshifted: their kernel states stay within about 2^(+-2 Z D) =
   2^(+-512) of the network's own scale, far from both ends of the double
   range; others are shifted to the nearest end of that zone, as close to
   their own scale as is safe.  (Shifting a huge input down, entries below
   2^-1300 times its largest may lose digits: far below its rounding.) */
#define NT_SHIFT_ZONE 256
#define NT_MAX_DEGREE 64

int nt_plan_degree(const nt_plan *plan, int *deg)
{
  int d[NT_MAX_SLOTS] = {0};
  d[0] = 1;
  for (int l = 0; l < plan->nops; l++) {
    const nt_op *op = plan->ops + l;
    int *v = d + op->slot;
    if (op->kind & NT_KIND_BRANCH) {
      for (int j = op->first; j < op->first + op->count; j++) {
        if (op->code == NT_OP_FANOUT) d[j] = *v;
        else if (op->code == NT_OP_PROD) *v += d[j];
        else if (op->code == NT_OP_SUM || op->code == NT_OP_CONCAT) {
          if (d[j] != *v) return 0;   /* branches of unequal degree */
        } else return 0;
      }
    } else if (!(op->kind & NT_KIND_HOMOGENEOUS) ||
               ((op->kind & NT_KIND_AFFINE) && (op->p2 != 0 || op->p3 != 0))) {   /* a bias, or the
                                                                               standard NTK's + 1 */
      return 0;
    }
    if (*v > NT_MAX_DEGREE) return 0;
    if (deg) deg[l] = *v;
  }
  return d[0];
}

int nt_input_shift(double maxabs, int degree)
{
  if (!(maxabs > 0) || degree < 1) return 0;
  int e, z = NT_SHIFT_ZONE / degree;
  frexp(maxabs, &e);   /* maxabs = f 2^e, f in [1/2, 1) */
  return e > z ? e - z : e < 1 - z ? e - (1 - z) : 0;
}

/* 2^e for a normal exponent, -1022 <= e <= 1023, from its bits: a product
   by it rounds once, like ldexp, which costs several times as much. */
static inline double pow2(int e)
{
  uint64_t bits = (uint64_t) (e + 1023) << 52;
  double p;
  memcpy(&p, &bits, sizeof p);
  return p;
}

void nt_unshift(double *out, const double *v, const int *shift, int shift_z, int degree, int rows)
{
  for (int i = 0; i < rows; i++) {
    int e = degree * (shift[i] + shift_z);
    out[i] = e >= -1022 && e <= 1023 ? v[i] * pow2(e) : ldexp(v[i], e);
  }
}
