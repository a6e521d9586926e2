/* A symmetric eigendecomposition that Ctrl-C can interrupt. LAPACK's dsyevr
   runs on a worker thread, on malloc'ed copies, while the main thread checks
   for interrupts every 50 ms. An interrupt returns at once; the worker runs
   to its end in the background and the last of the two to let go of the job
   frees it (no R memory is touched off the main thread). */
#include "ntk.h"
#include <R_ext/Lapack.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int n, info;
  double *a, *w, *z;
  int *isuppz;
  int refs, done;           /* guarded by lock */
  pthread_mutex_t lock;
} eig_job;

static void job_free(eig_job *j)
{
  free(j->a); free(j->w); free(j->z); free(j->isuppz);
  pthread_mutex_destroy(&j->lock);
  free(j);
}

static void job_release(eig_job *j)
{
  pthread_mutex_lock(&j->lock);
  int left = --j->refs;
  pthread_mutex_unlock(&j->lock);
  if (left == 0) job_free(j);
}

/* All eigenpairs of the lower triangle of a (destroyed), ascending. */
static int dsyevr_all(int n, double *a, double *w, double *z, int *isuppz)
{
  char jobz = 'V', range = 'A', uplo = 'L';
  double vl = 0, vu = 0, abstol = 0, wsize;
  int il = 0, iu = 0, found, lwork = -1, liwork = -1, isize, info = 0;
  F77_CALL(dsyevr)(&jobz, &range, &uplo, &n, a, &n, &vl, &vu, &il, &iu, &abstol, &found, w, z,
                   &n, isuppz, &wsize, &lwork, &isize, &liwork, &info FCONE FCONE FCONE);
  if (info != 0) return info;
  lwork = (int) wsize;
  liwork = isize;
  double *work = (double *) malloc((size_t) lwork * sizeof(double));
  int *iwork = (int *) malloc((size_t) liwork * sizeof(int));
  if (!work || !iwork) info = -1000;
  else
    F77_CALL(dsyevr)(&jobz, &range, &uplo, &n, a, &n, &vl, &vu, &il, &iu, &abstol, &found, w, z,
                     &n, isuppz, work, &lwork, iwork, &liwork, &info FCONE FCONE FCONE);
  free(work);
  free(iwork);
  return info;
}

static void *eig_worker(void *arg)
{
  eig_job *j = (eig_job *) arg;
  int info = dsyevr_all(j->n, j->a, j->w, j->z, j->isuppz);
  pthread_mutex_lock(&j->lock);
  j->info = info;
  j->done = 1;
  pthread_mutex_unlock(&j->lock);
  job_release(j);
  return NULL;
}

static int job_done(eig_job *j)
{
  pthread_mutex_lock(&j->lock);
  int done = j->done;
  pthread_mutex_unlock(&j->lock);
  return done;
}

/* Polls until the worker is done; R_CheckUserInterrupt may jump out. */
static SEXP wait_for(void *data)
{
  eig_job *j = (eig_job *) data;
  struct timespec pause = {0, 50000000};
  while (!job_done(j)) {
    nanosleep(&pause, NULL);
    R_CheckUserInterrupt();
  }
  return R_NilValue;
}

/* On an interrupt the main thread lets go of the job; the worker frees it. */
static void let_go_on_jump(void *data, Rboolean jump)
{
  if (jump) job_release((eig_job *) data);
}

static eig_job *job_new(const double *x, int n)
{
  eig_job *j = (eig_job *) calloc(1, sizeof(eig_job));
  if (!j) return NULL;
  size_t nn = (size_t) n * n;
  j->n = n;
  j->a = (double *) malloc(nn * sizeof(double));
  j->z = (double *) malloc(nn * sizeof(double));
  j->w = (double *) malloc((size_t) n * sizeof(double));
  j->isuppz = (int *) malloc(2 * (size_t) n * sizeof(int));
  if (!j->a || !j->z || !j->w || !j->isuppz || pthread_mutex_init(&j->lock, NULL) != 0) {
    free(j->a); free(j->z); free(j->w); free(j->isuppz); free(j);
    return NULL;
  }
  memcpy(j->a, x, nn * sizeof(double));
  j->refs = 2;
  return j;
}

/* list(values = decreasing, vectors = matching columns), as eigen() gives. */
SEXP ntk_sym_eigen(SEXP x)
{
  nt_mem_begin();
  nt_check_real_matrix(x, "x");
  int n = Rf_nrows(x);
  if (Rf_ncols(x) != n) Rf_error("'x' must be a square matrix");
  nt_check_finite(REAL(x), XLENGTH(x), "x");
  nt_check_alloc(n, n, 3, "the eigendecomposition's workspace");
  eig_job *j = job_new(REAL(x), n);
  if (!j) Rf_error("cannot allocate the eigendecomposition's workspace (%d x %d)", n, n);
  pthread_t worker;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int started = pthread_create(&worker, &attr, eig_worker, j) == 0;
  pthread_attr_destroy(&attr);
  if (!started) {   /* no thread to be had: decompose here, uninterruptibly */
    j->info = dsyevr_all(n, j->a, j->w, j->z, j->isuppz);
    j->done = 1;
    j->refs = 1;
  } else {
    SEXP token = PROTECT(R_MakeUnwindCont());
    R_UnwindProtect(wait_for, j, let_go_on_jump, j, token);
    UNPROTECT(1);
  }
  int info = j->info;
  if (info != 0) {
    job_release(j);
    Rf_error("the eigendecomposition failed (LAPACK dsyevr info %d)", info);
  }
  free(j->a);
  j->a = NULL;
  SEXP values = PROTECT(Rf_allocVector(REALSXP, n));
  SEXP vectors = PROTECT(Rf_allocMatrix(REALSXP, n, n));
  double *v = REAL(values), *out = REAL(vectors);
  for (int k = 0; k < n; k++) {       /* LAPACK ascends; eigen() descends */
    v[k] = j->w[n - 1 - k];
    memcpy(out + (size_t) k * n, j->z + (size_t) (n - 1 - k) * n, (size_t) n * sizeof(double));
  }
  job_release(j);
  SEXP res = nt_result(2, (SEXP[]) {values, vectors});
  UNPROTECT(2);
  return res;
}
