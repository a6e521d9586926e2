/* Graph aggregation (nt_aggregate): h_out(p) = sum_q A[p, q] h(q) over the
   positions (nodes) of each input, with A the adjacency of that input's
   graph; its registry entry and adjacency lookup.  The engines' steps are
   in conv.c (all position pairs: K_out = A_x K A_z', the NTK alike, the
   graph NTK of Du et al. 2019) and finite.c.  The op has no parameters,
   so it adds nothing of its own to the NTK. */
#include "ntk.h"

/* p1 = 0: one adjacency shared by all graphs (P x P values); p1 = 1: one
   per graph (a multiple of P x P values, checked against the positions and
   the number of inputs by the engines). */
static const char *aggregate_check(const nt_op *op)
{
  return op->p1 == 0 || op->p1 == 1 ? NULL : "the per-graph flag must be 0 or 1";
}

R_xlen_t nt_graph_count(const nt_op *op, int P)
{
  R_xlen_t pp = (R_xlen_t) P * P;
  if (op->p1 == 0) return op->ncoef == pp ? 0 : -1;
  return op->ncoef % pp == 0 ? op->ncoef / pp : -1;
}

const double *nt_graph_adjacency(const nt_op *op, int g, int P)
{
  return op->p1 == 0 ? op->coef : op->coef + (size_t) g * P * P;
}

const nt_op_info nt_graph_ops[] = {
  {NT_OP_AGGREGATE, "aggregate", NT_KIND_SPATIAL | NT_KIND_HOMOGENEOUS, 0, NULL, NULL, NULL,
   nt_conv_aggregate, nt_fl_aggregate_forward, nt_fl_aggregate_backward, aggregate_check}
};
const int nt_n_graph_ops = (int) (sizeof(nt_graph_ops) / sizeof(nt_graph_ops[0]));
