/* The result lists of the .Call entry points. */
#include "ntk.h"

/* list(items[0], ..., items[n - 1]); the items are protected by the caller. */
SEXP nt_result(int n, const SEXP *items)
{
  SEXP res = PROTECT(Rf_allocVector(VECSXP, n));
  for (int i = 0; i < n; i++) SET_VECTOR_ELT(res, i, items[i]);
  UNPROTECT(1);
  return res;
}
