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

/* A kernel matrix as the ntKernelMatrix S4 object, labelled, without the
   copies that dimnames<-, class<- and asS4() make of a value bound to a
   variable: `k` comes straight from an engine (held by its result list
   alone), so it is changed in place; a shared one is duplicated first. */
SEXP ntk_as_kernel_matrix(SEXP k, SEXP labels)
{
  if (TYPEOF(k) != REALSXP || !Rf_isMatrix(k)) Rf_error("'k' must be a double matrix");
  nt_check_finite(REAL(k), XLENGTH(k), "k");   /* the engines never return NaN */
  if (!Rf_isNull(labels) && (TYPEOF(labels) != VECSXP || XLENGTH(labels) != 2))
    Rf_error("'labels' must be NULL or a list of two");
  if (MAYBE_SHARED(k)) k = Rf_duplicate(k);
  PROTECT(k);
  if (!Rf_isNull(labels)) Rf_dimnamesgets(k, labels);
  SEXP cls = PROTECT(Rf_mkString("ntKernelMatrix"));
  Rf_setAttrib(cls, Rf_install("package"), Rf_mkString("ntk"));
  Rf_classgets(k, cls);
  k = Rf_asS4(k, TRUE, 0);
  UNPROTECT(2);
  return k;
}

/* Copies the upper-triangle entries of columns [j0, j1) of the n x n matrix
   a to the lower triangle: rows [j0, j1) of the columns before.  Chunks
   write disjoint rows, and none of the rows another chunk reads; called on a
   chunk just computed, while it is in cache. */
void nt_mirror_chunk(double *a, int n, int j0, int j1)
{
  for (int i = 0; i < j1; i++)
    for (int j = (i + 1 > j0 ? i + 1 : j0); j < j1; j++)
      a[j + (size_t) n * i] = a[i + (size_t) n * j];
}
