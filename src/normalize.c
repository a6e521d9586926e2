/* Layer normalisation (nt_layer_norm): its dual hook and registry entries;
   the engines' steps for the normalisation over channels and space are in
   conv.c and finite.c.

   In the infinite-width limit the mean of a layer's channels is zero and
   their mean square is the self variance s of the kernel state, so the
   layer divides the state by the square roots of both inputs' variances:
   K(x, z) -> K / sqrt((s_x + eps) (s_z + eps)), and the NTK likewise (the
   normaliser is a constant in the limit, so no gradient flows through it).
   Over channels the variances are those of each position; over channels
   and space, their mean over the positions.  The output is again a
   Gaussian process (of unit variance): activations may follow. */
#include "ntk.h"

static void layer_norm_dual(const nt_op *op, double s1, double s2, double r1, double r2,
                            double c, double *k, double *kdot)
{
  (void) r1; (void) r2;
  double g = 1.0 / sqrt(s1 + op->p1) / sqrt(s2 + op->p1);   /* one side at a time: no overflow */
  *k = c * g;
  *kdot = g;
}

/* p1 = eps, added to the variances: positive, so that a zero input stays 0. */
static const char *layer_norm_check(const nt_op *op)
{
  return op->p1 > 0 ? NULL : "eps must be positive";
}

/* Kind ELEMENTWISE: the engines record the self variances before the op
   and run it through its dual, as an activation. */
const nt_op_info nt_norm_ops[] = {
  {NT_OP_LAYERNORM, "layer_norm", NT_KIND_ELEMENTWISE, 0, layer_norm_dual, NULL,
   nt_fc_elementwise, nt_conv_elementwise, nt_fl_norm_forward, nt_fl_norm_backward,
   layer_norm_check},
  {NT_OP_LAYERNORM_ALL, "layer_norm_all", NT_KIND_ELEMENTWISE, 0, layer_norm_dual, NULL,
   nt_fc_elementwise, nt_conv_norm_all, nt_fl_norm_forward, nt_fl_norm_backward,
   layer_norm_check}
};
const int nt_n_norm_ops = (int) (sizeof(nt_norm_ops) / sizeof(nt_norm_ops[0]));
