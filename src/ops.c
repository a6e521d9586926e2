/* The op registry: one descriptor per layer code, the single place that
   says what an op is and how each engine runs it (its steps).  The structural ops are
   listed here; the elementwise ones, with their hooks, in activations.c.
   Plans are validated against it (plan.c), engines refuse ops they do not
   run (nt_plan_require), and R reads the codes and the row layouts from it
   at load time. */
#include "ntk.h"

/* Pooling ops: p1 = 0 averages, p1 = 1 sums (SumPool, GlobalSumPool);
   p2 = 1 divides an average by the window's positions inside the image
   (normalize_edges, "same" padding), p2 = 0 by its size. */
static const char *pool_check(const nt_op *op)
{
  if (op->p1 != 0 && op->p1 != 1) return "the pooling flag must be 0 (average) or 1 (sum)";
  return op->p2 == 0 || op->p2 == 1 ? NULL : "the edge flag must be 0 or 1";
}

/* Dense and conv: p3 = the fan-in of the standard parameterization (0:
   the NTK parameterization), p4 = the declared width (0: none). */
static const char *affine_check(const nt_op *op)
{
  if (op->p3 < 0 || op->p3 > 1e12 || op->p3 != floor(op->p3))
    return "the fan-in must be a whole number from 0 (NTK parameterization) to 1e12";
  if (op->p4 < 0 || op->p4 > 1048576 || op->p4 != floor(op->p4))
    return "the width must be a whole number from 0 (none) to 2^20";
  return NULL;
}

/* code, name, kind, variances, dual, value, then each engine's step:
   fully connected, convolutional, finite forward and backward, and the
   check of the parameters */
static const nt_op_info structural_ops[] = {
  {NT_OP_DENSE, "dense", NT_KIND_AFFINE | NT_KIND_HOMOGENEOUS, 1, NULL, NULL,
   nt_fc_dense, nt_conv_dense, nt_fl_affine_forward, nt_fl_affine_backward, affine_check},
  {NT_OP_CONV, "conv", NT_KIND_AFFINE | NT_KIND_SPATIAL | NT_KIND_HOMOGENEOUS, 1, NULL, NULL,
   NULL, nt_conv_conv, nt_fl_affine_forward, nt_fl_affine_backward, affine_check},
  {NT_OP_CONV_LOCAL, "conv_local", NT_KIND_AFFINE | NT_KIND_SPATIAL | NT_KIND_HOMOGENEOUS, 1, NULL,
   NULL, NULL, nt_conv_conv, nt_fl_affine_forward, nt_fl_affine_backward, affine_check},
  {NT_OP_AVGPOOL, "pool", NT_KIND_SPATIAL | NT_KIND_HOMOGENEOUS, 0, NULL, NULL,
   NULL, nt_conv_pool, nt_fl_pool_forward, nt_fl_pool_backward, pool_check},
  {NT_OP_FLATTEN, "flatten", NT_KIND_READOUT | NT_KIND_HOMOGENEOUS, 0, NULL, NULL,
   NULL, nt_conv_readout, nt_fl_flatten_forward, nt_fl_copy_backward},
  {NT_OP_GAP, "gap", NT_KIND_READOUT | NT_KIND_HOMOGENEOUS, 0, NULL, NULL,
   NULL, nt_conv_readout, nt_fl_gap_forward, nt_fl_gap_backward, pool_check},
  {NT_OP_LAP, "lap", NT_KIND_READOUT | NT_KIND_HOMOGENEOUS, 0, NULL, NULL,
   NULL, nt_conv_readout, NULL, NULL},
  {NT_OP_FANOUT, "fanout", NT_KIND_BRANCH, 0, NULL, NULL,
   nt_fc_branch, nt_conv_branch, nt_fl_fanout_forward, nt_fl_copy_backward},
  {NT_OP_SUM, "sum", NT_KIND_BRANCH, 0, NULL, NULL,
   nt_fc_branch, nt_conv_branch, nt_fl_fanin_forward, nt_fl_fanin_backward},
  {NT_OP_PROD, "prod", NT_KIND_BRANCH, 0, NULL, NULL,
   nt_fc_branch, nt_conv_branch, nt_fl_fanin_forward, nt_fl_fanin_backward},
  {NT_OP_CONCAT, "concat", NT_KIND_BRANCH, 0, NULL, NULL,
   nt_fc_branch, nt_conv_branch, nt_fl_fanin_forward, nt_fl_fanin_backward}
};
#define N_STRUCTURAL ((int) (sizeof(structural_ops) / sizeof(structural_ops[0])))

/* The registry: the structural ops, then the lists of the other files. */
static const nt_op_info *registry_entry(int i)
{
  const nt_op_info *lists[] = {structural_ops, nt_elementwise_ops, nt_norm_ops, nt_dropout_ops,
                               nt_graph_ops};
  const int sizes[] = {N_STRUCTURAL, nt_n_elementwise_ops, nt_n_norm_ops, nt_n_dropout_ops,
                       nt_n_graph_ops};
  for (int j = 0; j < 5; j++) {
    if (i < sizes[j]) return lists[j] + i;
    i -= sizes[j];
  }
  return NULL;
}
static int registry_size(void)
{
  return N_STRUCTURAL + nt_n_elementwise_ops + nt_n_norm_ops + nt_n_dropout_ops + nt_n_graph_ops;
}

const nt_op_info *nt_op_lookup(int code)
{
  for (int i = 0; i < registry_size(); i++)
    if (registry_entry(i)->code == code) return registry_entry(i);
  return NULL;
}

/* Whether `engine` runs op: it has the engine's step, and an elementwise
   op the hook that step calls (the dual for kernels, the value for finite
   networks). */
static int engine_runs(const nt_op_info *info, int engine)
{
  int elementwise = (info->kind & NT_KIND_ELEMENTWISE) != 0;
  switch (engine) {
  case NT_ENGINE_FC: return info->fc != NULL && (!elementwise || info->dual != NULL);
  case NT_ENGINE_CONV: return info->conv != NULL && (!elementwise || info->dual != NULL);
  default:   /* the generic elementwise step calls the value hook */
    return info->fl_forward != NULL && info->fl_backward != NULL &&
      (info->fl_forward != nt_fl_elementwise_forward || info->value != NULL);
  }
}

void nt_plan_require(const nt_plan *plan, int engine)
{
  for (int l = 0; l < plan->nops; l++) {
    const nt_op_info *info = plan->ops[l].info;
    /* finite networks read phi from the table: it must be given */
    if (engine == NT_ENGINE_FINITE && plan->ops[l].code == NT_OP_TABLE && plan->ops[l].table == NULL)
      Rf_error("activation table of layer %d is missing", l + 1);
    if (info && engine_runs(info, engine)) continue;
    const char *name = info ? info->name : "unknown";
    if (engine == NT_ENGINE_FC)
      Rf_error("layer %d (%s) is spatial; matrix inputs take dense layers and activations",
               l + 1, name);
    if (engine == NT_ENGINE_FINITE)
      Rf_error("layer %d (%s) has no finite-network counterpart here", l + 1, name);
    Rf_error("layer %d (%s) is not run by the convolutional engine", l + 1, name);
  }
}

static const char *geometry_rows[NT_G_ROWS] = {
  "hin", "win", "hout", "wout", "qh", "qw", "sh", "sw", "pt", "pl", "circ", "lapc", "bsy", "bsx",
  "din", "dout", "qd", "sd", "pd"
};
static const char *plan_rows[NT_P_ROWS] = {"code", "trainable", "table", "slot", "first", "count"};

static SEXP strings(const char *const *s, int n)
{
  SEXP out = PROTECT(Rf_allocVector(STRSXP, n));
  for (int i = 0; i < n; i++) SET_STRING_ELT(out, i, Rf_mkChar(s[i]));
  UNPROTECT(1);
  return out;
}

/* list(codes = named integer codes, kinds = their kind flags, geometry =
   the names of the geometry rows in order, plan = the names of the rows
   of a plan's integer matrix, max_slots) */
SEXP ntk_op_layout(void)
{
  int n = registry_size();
  SEXP out = PROTECT(Rf_allocVector(VECSXP, 5));
  SEXP codes = PROTECT(Rf_allocVector(INTSXP, n));
  SEXP kinds = PROTECT(Rf_allocVector(INTSXP, n));
  SEXP names = PROTECT(Rf_allocVector(STRSXP, n));
  for (int i = 0; i < n; i++) {
    INTEGER(codes)[i] = registry_entry(i)->code;
    INTEGER(kinds)[i] = registry_entry(i)->kind;
    SET_STRING_ELT(names, i, Rf_mkChar(registry_entry(i)->name));
  }
  Rf_setAttrib(codes, R_NamesSymbol, names);
  Rf_setAttrib(kinds, R_NamesSymbol, names);
  SET_VECTOR_ELT(out, 0, codes);
  SET_VECTOR_ELT(out, 1, kinds);
  SET_VECTOR_ELT(out, 2, strings(geometry_rows, NT_G_ROWS));
  SET_VECTOR_ELT(out, 3, strings(plan_rows, NT_P_ROWS));
  SET_VECTOR_ELT(out, 4, Rf_ScalarInteger(NT_MAX_SLOTS));
  static const char *labels[5] = {"codes", "kinds", "geometry", "plan", "max_slots"};
  Rf_setAttrib(out, R_NamesSymbol, strings(labels, 5));
  UNPROTECT(4);
  return out;
}
