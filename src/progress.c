/* A text progress bar and interrupt checks, called between blocks of work on
   the main thread (never inside an OpenMP region).  An interrupt longjmps out
   of R_CheckUserInterrupt; all workspace is R_alloc'ed, so nothing leaks. */
#include "ntk.h"
#include <time.h>

double nt_now(void)
{
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

void nt_progress_start(nt_progress *p, int show, double total)
{
  p->show = show;
  p->total = total > 0 ? total : 1;
  p->done = 0;
  p->started = nt_now();
  p->last_pct = -1;
}

void nt_progress_step(nt_progress *p, double work)
{
  R_CheckUserInterrupt();
  p->done += work;
  if (!p->show) return;
  double elapsed = nt_now() - p->started;
  if (elapsed < 0.5) return;          /* short runs stay silent */
  int pct = (int) (100.0 * p->done / p->total);
  if (pct > 100) pct = 100;
  if (pct == p->last_pct) return;
  p->last_pct = pct;
  char bar[31];
  int fill = pct * 30 / 100;
  for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : ' ';
  bar[30] = '\0';
  double left = p->done > 0 ? elapsed * (p->total - p->done) / p->done : 0;
  REprintf("\r[%s] %3d%%  %.0fs left   ", bar, pct, left);
}

void nt_progress_end(nt_progress *p)
{
  if (p->show && p->last_pct >= 0) REprintf("\n");
}
