/* Advice to back large output matrices with transparent huge pages where
   the kernel offers them on request (Linux's "madvise" mode): the first
   write to a fresh matrix then faults once per 2 MB instead of once per
   4 kB, which for a kernel matrix costs as much as the arithmetic. */
#include "ntk.h"
#if defined(__linux__)
#include <sys/mman.h>
#include <stdint.h>
#endif

void nt_advise_huge(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const uintptr_t huge = (uintptr_t) 1 << 21;
  uintptr_t start = ((uintptr_t) p + huge - 1) & ~(huge - 1), end = ((uintptr_t) p + bytes) & ~(huge - 1);
  if (end > start) (void) madvise((void *) start, end - start, MADV_HUGEPAGE);
#else
  (void) p;
  (void) bytes;
#endif
}
