# Default thread count, kept on the R side (as data.table does).

.ntk_state <- new.env(parent = emptyenv())

#' Get or set the number of threads
#'
#' The default is read when the package loads: the option `ntk.threads`, else
#' the environment variable `NTK_NUM_THREADS`, else `OMP_NUM_THREADS`, else
#' all processors; never more than 2 when `_R_CHECK_LIMIT_CORES_` is set (as
#' `R CMD check --as-cran` does), and never more than OpenMP's thread limit.
#' Without OpenMP support the package runs on one thread.
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
  .ntk_state$threads <- clamp_threads(check_count(n, "n", lower = 1L))
  invisible(old)
}

clamp_threads <- function(n) {
  info <- .Call(C_ntk_omp_info)
  as.integer(max(1L, min(n, info[2L])))
}

default_threads <- function() {
  first_valid <- function(values) {
    for (v in values) {
      v <- suppressWarnings(as.integer(v))
      if (length(v) == 1L && !is.na(v) && v >= 1L) return(v)
    }
    NA_integer_
  }
  n <- first_valid(list(getOption("ntk.threads"), Sys.getenv("NTK_NUM_THREADS"),
                        Sys.getenv("OMP_NUM_THREADS")))
  if (is.na(n)) n <- .Call(C_ntk_omp_info)[1L]
  limit <- tolower(Sys.getenv("_R_CHECK_LIMIT_CORES_", ""))
  if (nzchar(limit) && limit != "false") n <- min(n, 2L)
  clamp_threads(n)
}

.onLoad <- function(libname, pkgname) {
  .ntk_state$threads <- default_threads()
  load_op_layout()
}
