/* Dropout in train mode (nt_dropout): its registry entry; the engines'
   steps are in fc.c, conv.c and finite.c.

   Each unit is kept with probability `rate` (p1, neural-tangents' keep
   rate) and scaled by 1 / rate, independently for every input and
   position.  Two different inputs, or two positions, see independent
   masks, whose products have mean 1: their kernel entries are unchanged.
   An input with itself at one position sees the same mask twice, of mean
   square 1 / rate: those entries of the NNGP, the NTK and the self
   variances are multiplied by 1 / rate.  The output is not Gaussian: a
   dense or convolutional layer must come before the next activation. */
#include "ntk.h"

static const char *dropout_check(const nt_op *op)
{
  return op->p1 > 0 && op->p1 <= 1 ? NULL : "the keep rate must be in (0, 1]";
}

const nt_op_info nt_dropout_ops[] = {
  {NT_OP_DROPOUT, "dropout", 0, 0, NULL, NULL, nt_fc_dropout, nt_conv_dropout,
   nt_fl_dropout_forward, nt_fl_dropout_backward, dropout_check}
};
const int nt_n_dropout_ops = (int) (sizeof(nt_dropout_ops) / sizeof(nt_dropout_ops[0]));
