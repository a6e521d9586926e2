/* The op registry: one descriptor per layer code, the single place that
   says what an op is and which engines run it.  The structural ops are
   listed here; the elementwise ones, with their hooks, in activations.c.
   Plans are validated against it (plan.c), engines refuse ops they do not
   run (nt_plan_require), and R reads the codes and the row layouts from it
   at load time. */
#include "ntk.h"

#define ALL_ENGINES (NT_ENGINE_FC | NT_ENGINE_CONV | NT_ENGINE_FINITE)
#define SPATIAL_ENGINES (NT_ENGINE_CONV | NT_ENGINE_FINITE)

static const nt_op_info structural_ops[] = {
  {NT_OP_DENSE, "dense", NT_KIND_AFFINE, ALL_ENGINES, 1, NULL, NULL},
  {NT_OP_CONV, "conv", NT_KIND_AFFINE | NT_KIND_SPATIAL, SPATIAL_ENGINES, 1, NULL, NULL},
  {NT_OP_AVGPOOL, "pool", NT_KIND_SPATIAL, SPATIAL_ENGINES, 0, NULL, NULL},
  {NT_OP_FLATTEN, "flatten", NT_KIND_READOUT, SPATIAL_ENGINES, 0, NULL, NULL},
  {NT_OP_GAP, "gap", NT_KIND_READOUT, SPATIAL_ENGINES, 0, NULL, NULL},
  {NT_OP_LAP, "lap", NT_KIND_READOUT, NT_ENGINE_CONV, 0, NULL, NULL},
  {NT_OP_FANOUT, "fanout", NT_KIND_BRANCH, ALL_ENGINES, 0, NULL, NULL},
  {NT_OP_SUM, "sum", NT_KIND_BRANCH, ALL_ENGINES, 0, NULL, NULL},
  {NT_OP_PROD, "prod", NT_KIND_BRANCH, ALL_ENGINES, 0, NULL, NULL},
  {NT_OP_CONCAT, "concat", NT_KIND_BRANCH, ALL_ENGINES, 0, NULL, NULL}
};
#define N_STRUCTURAL ((int) (sizeof(structural_ops) / sizeof(structural_ops[0])))

static const nt_op_info *registry_entry(int i)
{
  return i < N_STRUCTURAL ? structural_ops + i : nt_elementwise_ops + (i - N_STRUCTURAL);
}
static int registry_size(void) { return N_STRUCTURAL + nt_n_elementwise_ops; }

const nt_op_info *nt_op_lookup(int code)
{
  for (int i = 0; i < registry_size(); i++)
    if (registry_entry(i)->code == code) return registry_entry(i);
  return NULL;
}

/* Whether `engine` runs op: elementwise ops by their hooks (every engine
   on kernels needs the dual, finite networks the value), the others by
   their entry's engine flags. */
static int engine_runs(const nt_op_info *info, int engine)
{
  if (info->kind & NT_KIND_ELEMENTWISE)
    return engine == NT_ENGINE_FINITE ? info->value != NULL : info->dual != NULL;
  return (info->engines & engine) != 0;
}

void nt_plan_require(const nt_plan *plan, int engine)
{
  for (int l = 0; l < plan->nops; l++) {
    const nt_op_info *info = plan->ops[l].info;
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
  "hin", "win", "hout", "wout", "qh", "qw", "sh", "sw", "pt", "pl", "circ", "lapc", "bsy", "bsx"
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
