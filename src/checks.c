/* Argument checks for the .Call entry points: the R functions check first,
   these make a direct call with wrong arguments an R error, never a crash. */
#include "ntk.h"
#include <unistd.h>
#include <stdio.h>

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

/* Physical memory in bytes, or 0 where the system does not say. */
double nt_physical_memory(void)
{
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGESIZE)
  long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && size > 0) return (double) pages * size;
#endif
  return 0;
}

/* The first number in a one-line file (cgroup limits), or -1. */
static double read_number(const char *path)
{
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  double v = -1;
  if (fscanf(f, "%lf", &v) != 1) v = -1;
  fclose(f);
  return v;
}

/* What the system says can still be allocated without swapping: Linux's
   MemAvailable, cut to the memory cgroup's limit less its usage (batch
   jobs and containers); elsewhere physical memory. 0 when unknown. */
static double system_available_memory(void)
{
  double avail = 0;
  FILE *f = fopen("/proc/meminfo", "r");
  if (f) {
    char line[256];
    double kb;
    while (fgets(line, sizeof line, f))
      if (sscanf(line, "MemAvailable: %lf kB", &kb) == 1) { avail = kb * 1024; break; }
    fclose(f);
  }
  if (avail <= 0) avail = nt_physical_memory();
  const char *limits[][2] = {{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"},
                             {"/sys/fs/cgroup/memory/memory.limit_in_bytes",
                              "/sys/fs/cgroup/memory/memory.usage_in_bytes"}};
  for (int i = 0; i < 2; i++) {
    double lim = read_number(limits[i][0]), used = read_number(limits[i][1]);
    if (lim > 0 && lim < 1e18 && used >= 0) {   /* "max" or a huge value: no limit */
      double left = lim > used ? lim - used : 0;
      if (avail <= 0 || left < avail) avail = left;
      break;
    }
  }
  return avail;
}

/* Bytes a call may allocate: options(ntk.memory_limit) when set (a
   positive number of bytes), else what the system has available. */
double nt_available_memory(void)
{
  SEXP opt = Rf_GetOption1(Rf_install("ntk.memory_limit"));
  if (opt != R_NilValue) {
    double v = (TYPEOF(opt) == REALSXP || TYPEOF(opt) == INTSXP) && XLENGTH(opt) == 1 ? Rf_asReal(opt) : -1;
    if (!(v > 0) || !R_FINITE(v))
      Rf_error("options(ntk.memory_limit) must be a positive number of bytes (or NULL for the system's figure)");
    return v;
  }
  return system_available_memory();
}

/* The memory one entry point has asked for so far: every big allocation of
   a call is live until it returns, so each check compares the running total
   (reset by nt_mem_begin at the start of every entry point). */
static double call_bytes = 0;

void nt_mem_begin(void)
{
  call_bytes = 0;
}

/* Fail with the figures, before allocating, when `copies` arrays of n x m
   doubles cannot be indexed or, with the rest of the call's memory, exceed
   what is available. */
void nt_check_alloc(double n, double m, double copies, const char *what)
{
  double cells = n * m, bytes = cells * copies * sizeof(double);
  if (!(cells <= (double) R_XLEN_T_MAX))
    Rf_error("%s of %.0f x %.0f entries exceeds R's vector length limit", what, n, m);
  call_bytes += bytes;
  double avail = nt_available_memory();
  if (call_bytes > 1e15 || (avail > 0 && call_bytes > avail)) {
    /* "2.50 GB", or below a gigabyte "3.2 MB" */
    int big = call_bytes >= 1e9, big_avail = avail >= 1e9;
    Rf_error("%s of %.0f x %.0f entries would bring this call to %.*f %s, but %.*f %s of memory "
             "are available (options(ntk.memory_limit) sets the figure)",
             what, n, m, big ? 2 : 1, call_bytes / (big ? 1e9 : 1e6), big ? "GB" : "MB",
             big_avail ? 2 : 1, avail / (big_avail ? 1e9 : 1e6), big_avail ? "GB" : "MB");
  }
}

SEXP ntk_physical_memory(void)
{
  return Rf_ScalarReal(nt_physical_memory());
}

/* Bytes a call may allocate, for the R side's own checks. */
SEXP ntk_available_memory(void)
{
  return Rf_ScalarReal(nt_available_memory());
}
