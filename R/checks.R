# Argument checks shared by the exported functions: each names the argument.

# A vector of finite non-negative variances.
check_variances <- function(x, arg) {
  if (!is.numeric(x) || !length(x) || anyNA(x) || any(!is.finite(x)) || any(x < 0))
    stop(sprintf("`%s` must hold finite non-negative numbers", arg), call. = FALSE)
  as.double(x)
}

check_number <- function(x, arg, lower = -Inf, upper = Inf) {
  if (!is.numeric(x) || length(x) != 1L || !is.finite(x))
    stop(sprintf("`%s` must be a single finite number", arg), call. = FALSE)
  if (x < lower || x > upper) {
    range <- if (is.finite(upper)) sprintf("between %g and %g", lower, upper)
             else if (lower == 0) "non-negative" else sprintf("at least %g", lower)
    stop(sprintf("`%s` must be %s, not %g", arg, range, x), call. = FALSE)
  }
  as.double(x)
}

check_count <- function(x, arg, lower = 0L, upper = Inf) {
  x <- check_number(x, arg, lower, upper)
  if (x != round(x))
    stop(sprintf("`%s` must be a whole number, not %g", arg, x), call. = FALSE)
  as.integer(x)
}

check_flag <- function(x, arg) {
  if (!is.logical(x) || length(x) != 1L || is.na(x))
    stop(sprintf("`%s` must be TRUE or FALSE", arg), call. = FALSE)
  x
}

check_what <- function(what) {
  if (!is.character(what) || length(what) < 1L || anyNA(what) ||
      !all(what %in% c("ntk", "nngp")) || anyDuplicated(what))
    stop("`what` must be \"ntk\", \"nngp\" or c(\"ntk\", \"nngp\")", call. = FALSE)
  what
}

# A numeric matrix of inputs (one row per point) from a matrix, a data frame
# of numeric columns or a numeric vector (one column, as kernlab does).
as_input_matrix <- function(x, arg) {
  if (is.data.frame(x)) {
    if (ncol(x) == 0L) stop(sprintf("`%s` has no columns", arg), call. = FALSE)
    bad <- !vapply(x, function(col) is.numeric(col) && !is.factor(col), logical(1))
    if (any(bad)) {
      col <- names(x)[bad][1]
      stop(sprintf("`%s` column '%s' is not numeric (%s)", arg, col,
                   class(x[[col]])[1]), call. = FALSE)
    }
    x <- as.matrix(x)
  }
  if (is.null(dim(x)) && is.numeric(x)) x <- matrix(x, ncol = 1L)
  if (!is.matrix(x)) {
    if (is.array(x) && length(dim(x)) >= 6L)
      stop(sprintf(paste0("`%s` is a %d-dimensional array: images are n x H x W x C arrays, ",
                          "sequences n x L x C, volumes n x D x H x W x C, other inputs a matrix"),
                   arg, length(dim(x))), call. = FALSE)
    if (is.array(x))
      stop(sprintf("`%s` is a %d-dimensional array, but the network has no spatial layers; give a matrix",
                   arg, length(dim(x))), call. = FALSE)
    stop(sprintf("`%s` must be a numeric matrix or data frame, not %s", arg,
                 class(x)[1]), call. = FALSE)
  }
  if (!is.numeric(x))
    stop(sprintf("`%s` must be numeric, not %s", arg, typeof(x)), call. = FALSE)
  if (nrow(x) == 0L || ncol(x) == 0L)
    stop(sprintf("`%s` is empty (%d x %d)", arg, nrow(x), ncol(x)), call. = FALSE)
  if (!all(is.finite(x))) {
    at <- which(!is.finite(x), arr.ind = TRUE)[1, ]
    stop(sprintf("`%s` contains NA, NaN or Inf (first at row %d, column %d)",
                 arg, at[1], at[2]), call. = FALSE)
  }
  storage.mode(x) <- "double"
  x
}
