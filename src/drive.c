/* The one block driver of the engines: tasks run in blocks, on OpenMP
   threads or serially on the main thread, and between blocks the main
   thread alone steps the progress bar and checks for interrupts (no R API
   call inside a parallel region). */
#include "ntk.h"

R_xlen_t nt_drive(const nt_drive_spec *d, void *ctx, nt_progress *bar)
{
  R_xlen_t bad = 0;
  int nth = d->nth > 0 ? d->nth : 1;
  double block = d->block_work > 0 ? d->block_work : nth;
  for (R_xlen_t t0 = 0; t0 < d->ntasks; ) {
    R_xlen_t t1 = t0;
    double work = 0;
    while (t1 < d->ntasks && (t1 == t0 || work < block)) work += d->weight(ctx, t1++);
    double started = nt_now();
    if (d->nth == 0) {
      for (R_xlen_t t = t0; t < t1; t++) bad += d->run(ctx, t);
    } else {
#ifdef _OPENMP
#pragma omp parallel for num_threads(nth) schedule(dynamic, 1) reduction(+:bad)
#endif
      for (R_xlen_t t = t0; t < t1; t++) bad += d->run(ctx, t);
    }
    /* adaptive blocks: doubled while a block is too short to time well */
    if (d->block_work <= 0 && nt_now() - started < 0.05) block *= 2;
    nt_progress_step(bar, work);
    t0 = t1;
  }
  return bad;
}
