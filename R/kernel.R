# nt_kernel(): the exact infinite-width kernels of a network.

#' Infinite-width NTK and NNGP kernels
#'
#' Computes the neural tangent kernel and/or the NNGP kernel of a network at
#' infinite width, for all pairs of rows of `x` and `z`. The input Gram matrix
#' comes from BLAS; the C core then runs all layers fused per pair on
#' `threads` OpenMP threads, checking for interrupts (Ctrl-C) between blocks
#' of work. With `z = NULL` only the upper triangle is computed and the
#' result is exactly symmetric.
#'
#' Inputs enter as `K0 = x . x' / d` for `d` features (see [ntk-package] for
#' the layer semantics). Kernel values that overflow the double range are an
#' error, never `Inf` or `NaN`.
#'
#' @param net A network ([nt_serial()], [nt_fc()]) or a single layer.
#' @param x A numeric matrix (`n x d`) or a data frame of numeric columns.
#' @param z `NULL` (then `z = x`) or inputs like `x` with the same columns.
#' @param what `"ntk"`, `"nngp"` or `c("ntk", "nngp")` (both in one pass).
#' @param threads Number of OpenMP threads.
#' @param progress Show a progress bar for long computations.
#' @return For one kernel a kernlab [kernlab::kernelMatrix] (`n x m`); for
#'   both a list with elements `ntk` and `nngp`.
#' @examples
#' x <- as.matrix(iris[1:5, 1:4])
#' nt_kernel(nt_fc(depth = 2), x)
#' both <- nt_kernel(nt_fc(depth = 2, activation = "erf"), x, what = c("ntk", "nngp"))
#' both$nngp
#' @export
nt_kernel <- function(net, x, z = NULL, what = "ntk", threads = nt_threads(),
                      progress = interactive()) {
  net <- as_network(net)
  what <- check_what(what)
  x <- as_input_matrix(x, "x")
  if (!is.null(z)) {
    z <- as_input_matrix(z, "z")
    if (ncol(z) != ncol(x))
      stop(sprintf("`z` has %d columns but `x` has %d", ncol(z), ncol(x)), call. = FALSE)
  }
  threads <- clamp_threads(check_count(threads, "threads", lower = 1L))
  progress <- check_flag(progress, "progress")
  plan <- compile_plan(net)
  plan <- fit_tables(plan, c(rowSums(x^2), if (!is.null(z)) rowSums(z^2)) / ncol(x))
  wanted <- c(ntk = "ntk" %in% what, nngp = "nngp" %in% what)
  res <- .Call(C_ntk_fc_kernel, x, z, plan$ints, plan$dbls, plan$tables,
               unname(wanted), threads, progress)
  names(res) <- c("ntk", "nngp")
  labels <- list(rownames(x), if (is.null(z)) rownames(x) else rownames(z))
  res <- lapply(res[what], function(k) {
    if (!all(vapply(labels, is.null, logical(1)))) dimnames(k) <- labels
    as.kernelMatrix(k)
  })
  if (length(what) == 1L) res[[1L]] else res[c("ntk", "nngp")[wanted]]
}
