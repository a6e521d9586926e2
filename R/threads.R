# Default thread count, kept on the R side (as data.table does).

.ntk_state <- new.env(parent = emptyenv())

#' Get or set the number of threads
#'
#' The default is read when the package loads: the option `ntk.threads`, else
#' the environment variable `NTK_NUM_THREADS`, else `OMP_NUM_THREADS`, else
#' all processors; never more than 2 when `_R_CHECK_LIMIT_CORES_` is set (as
#' `R CMD check --as-cran` does). Settings that are not positive whole
#' numbers are skipped with a message. Every request (here, in the default
#' or a function's `threads`) is cut to the cores available (OpenMP's
#' processors and thread limit, and a Linux cgroup CPU quota), with one
#' warning per session. In a forked child process (`parallel::mclapply()`,
#' `future`'s multicore workers) the C code runs on one thread, since
#' OpenMP's thread pool does not survive a fork. Without OpenMP support the
#' package runs on one thread.
#'
#' @param n `NULL` to query, or the new default (a positive whole number).
#' @return The current default; when setting, the previous one, invisibly.
#' @examples
#' old <- nt_threads(1)
#' nt_threads()
#' nt_threads(old)
#' @export
nt_threads <- function(n = NULL) {
  if (is.null(n)) return(.ntk_state$threads)
  old <- .ntk_state$threads
  .ntk_state$threads <- clamp_threads(check_count(n, "n", lower = 1L), "nt_threads(n)")
  invisible(old)
}

# The cores this process may use: OpenMP's processors and thread limit, and
# the cgroup CPU quota where Linux states one (containers, batch jobs).
available_cores <- function() {
  info <- .Call(C_ntk_omp_info)
  cores <- min(info[1L], info[2L])
  quota <- cgroup_cpu_quota()
  if (!is.na(quota)) cores <- min(cores, max(1L, ceiling(quota)))
  as.integer(max(1L, cores))
}

cgroup_cpu_quota <- function() {
  read <- function(path) tryCatch(suppressWarnings(readLines(path, n = 1L)), error = function(e) character(0))
  v2 <- read("/sys/fs/cgroup/cpu.max")                     # "max 100000" or "200000 100000"
  if (length(v2)) {
    parts <- suppressWarnings(as.numeric(strsplit(v2, " ")[[1]]))
    if (length(parts) == 2L && all(is.finite(parts)) && parts[2] > 0) return(parts[1] / parts[2])
    return(NA_real_)
  }
  q <- suppressWarnings(as.numeric(read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")))
  p <- suppressWarnings(as.numeric(read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")))
  if (length(q) && length(p) && is.finite(q) && is.finite(p) && q > 0 && p > 0) q / p else NA_real_
}

# A request above the cores available is cut to them, with one warning per
# session naming where the request came from.
clamp_threads <- function(n, source = "`threads`") {
  cores <- available_cores()
  if (n <= cores) return(as.integer(max(1L, n)))
  if (!isTRUE(.ntk_state$warned_threads)) {
    .ntk_state$warned_threads <- TRUE
    warning(sprintf("%s asks for %s threads; ntk uses the %d cores available",
                    source, format(n, scientific = FALSE), cores), call. = FALSE)
  }
  cores
}

# The default when the package loads; never an error (a bad setting is
# reported and skipped).
default_threads <- function() {
  settings <- list(`option ntk.threads` = getOption("ntk.threads"),
                   `NTK_NUM_THREADS` = Sys.getenv("NTK_NUM_THREADS"),
                   `OMP_NUM_THREADS` = Sys.getenv("OMP_NUM_THREADS"))
  n <- NA_integer_
  source <- NULL
  for (name in names(settings)) {
    v <- settings[[name]]
    if (is.null(v) || identical(v, "")) next
    num <- if (is.numeric(v) || is.character(v)) suppressWarnings(as.numeric(v)) else NA_real_
    if (length(num) == 1L && !is.na(num) && num >= 1 && num == round(num)) {
      n <- num
      source <- name
      break
    }
    packageStartupMessage(sprintf("ntk: ignoring %s (not a positive whole number)", name))
  }
  if (is.na(n)) {
    n <- available_cores()
    source <- "the machine"
  }
  limit <- tolower(Sys.getenv("_R_CHECK_LIMIT_CORES_", ""))
  if (nzchar(limit) && limit != "false") n <- min(n, 2L)
  clamp_threads(n, source)
}

