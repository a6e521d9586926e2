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
    stop(sprintf(paste0("%s would need %s, but %s of memory are available ",
                        "(options(ntk.memory_limit) sets the figure)"), what, format_bytes(bytes),
                 format_bytes(avail)), call. = FALSE)
  invisible(bytes)
}

# "2.50 GB" or, below a gigabyte, "3.2 MB" (as src/checks.c writes them).
format_bytes <- function(bytes) {
  if (bytes >= 1e9) sprintf("%.2f GB", bytes / 1e9) else sprintf("%.1f MB", bytes / 1e6)
}
