/* Thread control in the manner of data.table's openmp-utils.c: R keeps the
   default (R/threads.R); C only clamps a request to what OpenMP offers. */
#include "ntk.h"

int nt_threads_clamp(int requested)
{
#ifdef _OPENMP
  int limit = omp_get_thread_limit();
  if (requested > limit) requested = limit;
  return requested < 1 ? 1 : requested;
#else
  (void) requested;
  return 1;
#endif
}

SEXP ntk_omp_info(void)
{
  SEXP out = PROTECT(Rf_allocVector(INTSXP, 2));
#ifdef _OPENMP
  INTEGER(out)[0] = omp_get_num_procs();
  INTEGER(out)[1] = omp_get_thread_limit();
#else
  INTEGER(out)[0] = 1;
  INTEGER(out)[1] = 1;
#endif
  UNPROTECT(1);
  return out;
}
