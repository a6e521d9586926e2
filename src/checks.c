/* Argument checks for the .Call entry points: the R functions check first,
   these make a direct call with wrong arguments an R error, never a crash. */
#include "ntk.h"
#include <unistd.h>

void nt_check_real_matrix(SEXP x, const char *name)
{
  if (TYPEOF(x) != REALSXP || !Rf_isMatrix(x))
    Rf_error("'%s' must be a double matrix", name);
  if (Rf_nrows(x) < 1 || Rf_ncols(x) < 1)
    Rf_error("'%s' must have at least one row and one column", name);
}

void nt_check_finite(const double *x, R_xlen_t n, const char *name)
{
  for (R_xlen_t i = 0; i < n; i++)
    if (!R_FINITE(x[i])) Rf_error("'%s' contains NA, NaN or Inf", name);
}

int nt_check_int_scalar(SEXP x, const char *name, int lo, int hi)
{
  if ((TYPEOF(x) != INTSXP && TYPEOF(x) != REALSXP) || XLENGTH(x) != 1)
    Rf_error("'%s' must be a single number", name);
  double v = Rf_asReal(x);
  if (ISNAN(v) || v < lo || v > hi)
    Rf_error("'%s' must be between %d and %d", name, lo, hi);
  return (int) v;
}

int nt_check_flag(SEXP x, const char *name)
{
  if (TYPEOF(x) != LGLSXP || XLENGTH(x) != 1 || LOGICAL(x)[0] == NA_LOGICAL)
    Rf_error("'%s' must be TRUE or FALSE", name);
  return LOGICAL(x)[0];
}

/* The 'what' flags (ntk, nngp) of the kernel entry points. */
void nt_check_what(SEXP what, int *want_ntk, int *want_nngp)
{
  if (TYPEOF(what) != LGLSXP || XLENGTH(what) != 2)
    Rf_error("'what' must be a logical vector (ntk, nngp)");
  *want_ntk = LOGICAL(what)[0] == 1;
  *want_nngp = LOGICAL(what)[1] == 1;
  if (!*want_ntk && !*want_nngp) Rf_error("'what' must ask for at least one kernel");
}

/* Physical memory in bytes, or 0 where the system does not say (R reads
   it through ntk_physical_memory, for nt_tiles_read()). */
double nt_physical_memory(void)
{
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) return (double) pages * size;
#endif
  return 0;
}

/* Fail with the size in GB, rather than crash or swap, when `copies`
   arrays of n x m doubles cannot be indexed or exceed the machine's
   physical memory. */
void nt_check_alloc(double n, double m, double copies, const char *what)
{
  double cells = n * m, bytes = cells * copies * sizeof(double);
  if (cells > (double) R_XLEN_T_MAX)
    Rf_error("%s of %.0f x %.0f entries exceeds R's vector length limit", what, n, m);
  double ram = nt_physical_memory();
  if (bytes > 1e13 || (ram > 0 && bytes > 0.9 * ram))
    Rf_error("%s of %.0f x %.0f entries would need %.1f GB (this machine has %.1f GB)",
             what, n, m, bytes / 1e9, ram / 1e9);
}

SEXP ntk_physical_memory(void)
{
  return Rf_ScalarReal(nt_physical_memory());
}
