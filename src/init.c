/* Registration of the .Call entry points. */
#include "ntk.h"
#include <R_ext/Rdynload.h>

SEXP ntk_fc_kernel(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_fc_self(SEXP, SEXP, SEXP, SEXP);
SEXP ntk_fc_resume(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_omp_info(void);
SEXP ntk_fc_family(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_empirical(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_train(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_conv_kernel(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_conv_self(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_act_dual(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_physical_memory(void);
SEXP ntk_available_memory(void);
SEXP ntk_sym_eigen(SEXP);
SEXP ntk_svm_ovo(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);
SEXP ntk_as_kernel_matrix(SEXP, SEXP);
SEXP ntk_op_layout(void);
SEXP ntk_fc_gradient(SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP, SEXP);

static const R_CallMethodDef call_methods[] = {
  {"ntk_fc_kernel", (DL_FUNC) &ntk_fc_kernel, 9},
  {"ntk_fc_self", (DL_FUNC) &ntk_fc_self, 4},
  {"ntk_fc_resume", (DL_FUNC) &ntk_fc_resume, 11},
  {"ntk_omp_info", (DL_FUNC) &ntk_omp_info, 0},
  {"ntk_fc_family", (DL_FUNC) &ntk_fc_family, 8},
  {"ntk_empirical", (DL_FUNC) &ntk_empirical, 9},
  {"ntk_train", (DL_FUNC) &ntk_train, 14},
  {"ntk_conv_kernel", (DL_FUNC) &ntk_conv_kernel, 11},
  {"ntk_conv_self", (DL_FUNC) &ntk_conv_self, 7},
  {"ntk_act_dual", (DL_FUNC) &ntk_act_dual, 6},
  {"ntk_physical_memory", (DL_FUNC) &ntk_physical_memory, 0},
  {"ntk_available_memory", (DL_FUNC) &ntk_available_memory, 0},
  {"ntk_sym_eigen", (DL_FUNC) &ntk_sym_eigen, 1},
  {"ntk_svm_ovo", (DL_FUNC) &ntk_svm_ovo, 6},
  {"ntk_as_kernel_matrix", (DL_FUNC) &ntk_as_kernel_matrix, 2},
  {"ntk_op_layout", (DL_FUNC) &ntk_op_layout, 0},
  {"ntk_fc_gradient", (DL_FUNC) &ntk_fc_gradient, 10},
  {NULL, NULL, 0}
};

void R_init_ntk(DllInfo *dll)
{
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
  R_forceSymbols(dll, TRUE);
  nt_threads_init();
}
