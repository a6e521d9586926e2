/* The op registry: one descriptor per layer code, the single place that
   says what an op is and which engines run it. Plans are validated against
   it (plan.c), engines refuse ops they do not run (nt_plan_require), and R
   reads the codes and the geometry rows from it at load time. */
#include "ntk.h"

#define ALL_ENGINES (NT_ENGINE_FC | NT_ENGINE_CONV | NT_ENGINE_FINITE)
#define SPATIAL_ENGINES (NT_ENGINE_CONV | NT_ENGINE_FINITE)

static const nt_op_info registry[] = {
  {NT_OP_DENSE, "dense", NT_KIND_AFFINE, ALL_ENGINES, 1},
  {NT_OP_ABRELU, "abrelu", NT_KIND_ELEMENTWISE, ALL_ENGINES, 0},
  {NT_OP_ERF, "erf", NT_KIND_ELEMENTWISE, ALL_ENGINES, 0},
  {NT_OP_GELU, "gelu", NT_KIND_ELEMENTWISE, ALL_ENGINES, 0},
  {NT_OP_IDENTITY, "identity", NT_KIND_ELEMENTWISE, ALL_ENGINES, 0},
  {NT_OP_TABLE, "table", NT_KIND_ELEMENTWISE, NT_ENGINE_FC | NT_ENGINE_CONV, 0},
  {NT_OP_CONV, "conv", NT_KIND_AFFINE | NT_KIND_SPATIAL, SPATIAL_ENGINES, 1},
  {NT_OP_AVGPOOL, "pool", NT_KIND_SPATIAL, SPATIAL_ENGINES, 0},
  {NT_OP_FLATTEN, "flatten", NT_KIND_READOUT, SPATIAL_ENGINES, 0},
  {NT_OP_GAP, "gap", NT_KIND_READOUT, SPATIAL_ENGINES, 0},
  {NT_OP_LAP, "lap", NT_KIND_READOUT, NT_ENGINE_CONV, 0}
};
#define NT_NOPS ((int) (sizeof(registry) / sizeof(registry[0])))

const nt_op_info *nt_op_lookup(int code)
{
  for (int i = 0; i < NT_NOPS; i++)
    if (registry[i].code == code) return registry + i;
  return NULL;
}

void nt_plan_require(const nt_plan *plan, int engine)
{
  for (int l = 0; l < plan->nops; l++) {
    const nt_op_info *info = nt_op_lookup(plan->ops[l].code);
    if (info && (info->engines & engine)) continue;
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

/* list(codes = named integer codes, kinds = their kind flags, geometry =
   the names of the geometry rows in order) */
SEXP ntk_op_layout(void)
{
  SEXP out = PROTECT(Rf_allocVector(VECSXP, 3));
  SEXP codes = PROTECT(Rf_allocVector(INTSXP, NT_NOPS));
  SEXP kinds = PROTECT(Rf_allocVector(INTSXP, NT_NOPS));
  SEXP names = PROTECT(Rf_allocVector(STRSXP, NT_NOPS));
  for (int i = 0; i < NT_NOPS; i++) {
    INTEGER(codes)[i] = registry[i].code;
    INTEGER(kinds)[i] = registry[i].kind;
    SET_STRING_ELT(names, i, Rf_mkChar(registry[i].name));
  }
  Rf_setAttrib(codes, R_NamesSymbol, names);
  Rf_setAttrib(kinds, R_NamesSymbol, names);
  SEXP geom = PROTECT(Rf_allocVector(STRSXP, NT_G_ROWS));
  for (int i = 0; i < NT_G_ROWS; i++) SET_STRING_ELT(geom, i, Rf_mkChar(geometry_rows[i]));
  SET_VECTOR_ELT(out, 0, codes);
  SET_VECTOR_ELT(out, 1, kinds);
  SET_VECTOR_ELT(out, 2, geom);
  SEXP labels = PROTECT(Rf_allocVector(STRSXP, 3));
  SET_STRING_ELT(labels, 0, Rf_mkChar("codes"));
  SET_STRING_ELT(labels, 1, Rf_mkChar("kinds"));
  SET_STRING_ELT(labels, 2, Rf_mkChar("geometry"));
  Rf_setAttrib(out, R_NamesSymbol, labels);
  UNPROTECT(6);
  return out;
}
