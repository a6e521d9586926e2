/* Thread control in the manner of data.table's openmp-utils.c: R keeps the
   default (R/threads.R); C only clamps a request to what OpenMP offers. */
#include "ntk.h"
#include <pthread.h>

/* A fork guard, as data.table has: OpenMP's thread pool does not survive
   fork(), so a forked child runs on one thread. */
static int forked_child = 0;
static void after_fork_child(void) { forked_child = 1; }
void nt_threads_init(void) { pthread_atfork(NULL, NULL, after_fork_child); }

int nt_threads_clamp(int requested)
{
  if (forked_child) return 1;
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
