# A heatmap of a kernel matrix, its samples grouped by class.

#' Plot a kernel matrix
#'
#' A heatmap of the kernel, row 1 at the top. With `y` (a factor or vector of
#' classes, one per row, and per column when the matrix is square) the
#' samples are ordered by class, the classes separated by lines and named on
#' the axes, so that a kernel that separates the classes shows bright
#' diagonal blocks. `normalize = TRUE` shows the correlations
#' `K[i, j] / sqrt(K[i, i] K[j, j])` of a square kernel instead of its
#' values, which takes out the inputs' scales.
#'
#' @param x An `ntKernelMatrix` (from [nt_kernel()]).
#' @param y `NULL`, or the classes of the rows (and columns).
#' @param normalize Show correlations instead of values (square kernels).
#' @param col Colours, low to high.
#' @param main Title.
#' @param ... Passed to [graphics::image()].
#' @return `x`, invisibly.
#' @examples
#' x <- scale(as.matrix(iris[, 1:4]))
#' k <- nt_kernel(nt_fc(3), x)
#' plot(k, iris$Species, normalize = TRUE)
#' @importFrom grDevices hcl.colors
#' @export
plot.ntKernelMatrix <- function(x, y = NULL, normalize = FALSE, col = grDevices::hcl.colors(64, "YlOrRd", rev = TRUE),
                                main = if (normalize) "Kernel correlations" else "Kernel", ...) {
  k <- x@.Data
  normalize <- check_flag(normalize, "normalize")
  # a training kernel (symmetric): rows and columns are the same samples;
  # a test x training kernel of equal counts is not
  square <- nrow(k) == ncol(k) && isSymmetric(unname(k))
  if (normalize) {
    if (!square) stop("`normalize = TRUE` needs a symmetric (training) kernel", call. = FALSE)
    s <- sqrt(diag(k))
    if (any(!(s > 0))) stop("`normalize = TRUE` needs a positive diagonal", call. = FALSE)
    k <- k / outer(s, s)
  }
  rows <- seq_len(nrow(k))
  cols <- seq_len(ncol(k))
  groups <- NULL
  if (!is.null(y)) {
    if (length(y) != nrow(k))
      stop(sprintf("`y` has %d values but the kernel has %d rows", length(y), nrow(k)), call. = FALSE)
    y <- as.factor(y)
    rows <- order(y)
    if (square) cols <- rows
    groups <- table(y)
  }
  shown <- k[rev(rows), cols, drop = FALSE]   # row 1 at the top
  graphics::image(seq_along(cols), seq_along(rows), t(shown), col = col, axes = FALSE,
                  xlab = "", ylab = "", main = main, ...)
  graphics::box()
  if (!is.null(groups)) {
    cuts <- cumsum(groups)
    mids <- cuts - groups / 2 + 0.5
    graphics::abline(h = nrow(k) - cuts[-length(cuts)] + 0.5, col = "grey30")
    graphics::axis(2, at = nrow(k) - mids + 1, labels = names(groups), tick = FALSE, las = 0,
                   cex.axis = 0.8)
    if (square) {
      graphics::abline(v = cuts[-length(cuts)] + 0.5, col = "grey30")
      graphics::axis(1, at = mids, labels = names(groups), tick = FALSE, cex.axis = 0.8)
    }
  }
  graphics::mtext(sprintf("range %.3g to %.3g", min(k), max(k)), side = 3, line = 0.2, cex = 0.8)
  invisible(x)
}
