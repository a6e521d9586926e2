# Memory guards of the R side; the C side checks its own allocations
# (src/checks.c) against the same figure.

# Bytes a call may allocate: options(ntk.memory_limit) when set, else what
# the system has available (Linux: MemAvailable within the memory cgroup's
# limit); 0 when unknown.
available_memory <- function() .Call(C_ntk_available_memory)

# Stop before allocating when `bytes` exceed the memory available.
check_memory <- function(bytes, what) {
  avail <- available_memory()
  if (avail > 0 && bytes > avail)
    stop(sprintf(paste0("%s would need %.2f GB, but %.2f GB of memory are available ",
                        "(options(ntk.memory_limit) sets the figure)"), what, bytes / 1e9, avail / 1e9),
         call. = FALSE)
  invisible(bytes)
}
