# Activations given as R functions: tabulated on a grid, integrated in C by
# polar Gauss quadrature (src/activations.c).

#' Any activation function, by quadrature
#'
#' An elementwise layer for an arbitrary vectorised R function. Its dual
#' kernels `E[phi(u) phi(v)]` and `E[phi'(u) phi'(v)]` are computed in C: the
#' Gaussian pair is written in polar coordinates, the circle is cut where
#' `u` or `v` changes sign, and each arc and the radius are integrated with
#' Gauss rules of `nodes` points (`4 * nodes^2` evaluations per pair). `phi`
#' and `phi'` are read from a table of `cells` cells on the range the inputs
#' reach, by cubic Hermite interpolation between one-sided limits, so kinks
#' and jumps at 0 (ReLU, step functions) are exact.
#'
#' Accuracy: for a function smooth except at 0, quadrature and interpolation
#' errors are far below `1e-9` of the kernel's scale for ReLU, erf and GELU
#' with the defaults (tested against their closed forms to `1e-6` relative).
#' A kink away from 0 costs accuracy near it only (there the interpolation
#' is first order). Without `deriv`, `phi'` is taken from one-sided
#' fourth-order differences on the grid.
#'
#' @param fun A vectorised function of one numeric vector.
#' @param deriv Its derivative (vectorised), or `NULL` for numerical
#'   differentiation.
#' @param nodes Gauss nodes per dimension (radius and each arc).
#' @param cells Number of table cells (even).
#' @param label Name shown when the network is printed.
#' @return A layer object of class `nt_layer`.
#' @examples
#' softplus <- nt_activation(function(u) log1p(exp(u)), function(u) plogis(u))
#' nt_kernel(nt_serial(nt_dense(), softplus, nt_dense()), matrix(rnorm(6), 3))
#' @export
nt_activation <- function(fun, deriv = NULL, nodes = 20, cells = 2^16,
                          label = deparse1(substitute(fun))) {
  check_vectorised(fun, "fun")
  if (!is.null(deriv)) check_vectorised(deriv, "deriv")
  nodes <- check_count(nodes, "nodes", 2L, 200L)
  cells <- check_count(cells, "cells", 16L, 2^24)
  if (cells %% 2L) stop("`cells` must be even, so that 0 is a grid node", call. = FALSE)
  if (nchar(label) > 40L) label <- paste0(substr(label, 1L, 37L), "...")
  new_activation("Activation", code = "table", fun = fun, deriv = deriv,
                 nodes = nodes, cells = cells, label = label)
}

check_vectorised <- function(f, arg) {
  if (!is.function(f)) stop(sprintf("`%s` must be a function", arg), call. = FALSE)
  probe <- c(-1.5, 0, 2)
  out <- tryCatch(f(probe), error = function(e)
    stop(sprintf("`%s` failed on a numeric vector: %s", arg, conditionMessage(e)),
         call. = FALSE))
  if (!is.numeric(out) || length(out) != length(probe) || !all(is.finite(out)))
    stop(sprintf("`%s` must be vectorised: it must map a numeric vector to finite values of the same length",
                 arg), call. = FALSE)
  invisible(f)
}

# Cached Gauss rules, computed once per session.
.rules <- new.env(parent = emptyenv())

gauss_rule_from_recurrence <- function(a, b, mu0) {
  n <- length(a)
  jac <- diag(a, n)
  if (n > 1L) {
    off <- sqrt(b[-1L])
    jac[cbind(2:n, 1:(n - 1L))] <- off
    jac[cbind(1:(n - 1L), 2:n)] <- off
  }
  e <- eigen(jac, symmetric = TRUE)
  o <- order(e$values)
  list(x = e$values[o], w = mu0 * e$vectors[1L, o]^2)
}

gauss_legendre <- function(n) {
  key <- paste0("legendre", n)
  if (is.null(.rules[[key]])) {
    k <- seq_len(n) - 1
    .rules[[key]] <- gauss_rule_from_recurrence(rep(0, n), k^2 / (4 * k^2 - 1), 2)
  }
  .rules[[key]]
}

# Gauss rule for the weight r exp(-r^2 / 2) on (0, Inf), from the
# Stieltjes procedure on a fine Gauss-Legendre discretisation of (0, 40).
gauss_radial <- function(n) {
  key <- paste0("radial", n)
  if (is.null(.rules[[key]])) {
    fine <- gauss_legendre(600L)
    t <- 20 * (fine$x + 1)
    w <- 20 * fine$w * t * exp(-t^2 / 2)
    a <- b <- numeric(n)
    p_prev <- numeric(length(t)); p <- rep(1, length(t)); norm_prev <- 1
    for (k in seq_len(n)) {
      norm <- sum(w * p^2)
      a[k] <- sum(w * t * p^2) / norm
      b[k] <- if (k == 1L) sum(w) else norm / norm_prev
      p_next <- (t - a[k]) * p - (if (k == 1L) 0 else b[k]) * p_prev
      p_prev <- p; p <- p_next; norm_prev <- norm
    }
    .rules[[key]] <- gauss_rule_from_recurrence(a, b, sum(w))
  }
  .rules[[key]]
}

# The table that src/plan.c reads: phi, phi' and phi'' as one-sided limits at
# both ends of every cell of a grid on [-reach, reach] that has 0 as a node.
activation_table <- function(layer, max_var) {
  radial <- gauss_radial(layer$nodes)
  angular <- gauss_legendre(layer$nodes)
  reach <- 1.25 * sqrt(max_var) * max(radial$x)
  if (!is.finite(reach))
    stop(sprintf("the variance before %s is not finite", format(layer)), call. = FALSE)
  if (reach < 1e-150) reach <- 1
  cells <- layer$cells
  half <- cells / 2
  grid <- reach * ((0:cells) - half) / half
  h <- 2 * reach / cells
  nudge <- h * 1e-9
  step <- (h - 2 * nudge) / 4
  f <- function(u) evaluate_activation(layer$fun, u, "fun", reach)
  g <- if (is.null(layer$deriv)) NULL else function(u) evaluate_activation(layer$deriv, u, "deriv", reach)
  ends <- lapply(list(list(at = grid[-(cells + 1L)] + nudge, step = step),
                      list(at = grid[-1L] - nudge, step = -step)), function(end) {
    fs <- one_sided(f, end$at, end$step)
    if (is.null(g)) return(fs)
    gs <- one_sided(g, end$at, end$step)
    list(value = fs$value, slope = gs$value, curvature = gs$slope)
  })
  vals <- as.vector(rbind(ends[[1]]$value, ends[[2]]$value, ends[[1]]$slope,
                          ends[[2]]$slope, ends[[1]]$curvature, ends[[2]]$curvature))
  list(lo = -reach, inv_h = 1 / h, cells = as.double(cells), vals = vals,
       rad_x = radial$x, rad_w = radial$w, ang_x = angular$x, ang_w = angular$w)
}

# Value, first and second derivative of f at `at` from points on one side
# only (at + k * step, k = 0..4): fourth- and second-order differences.
one_sided <- function(f, at, step) {
  v <- lapply(0:4, function(k) f(at + k * step))
  list(value = v[[1]],
       slope = (-25 * v[[1]] + 48 * v[[2]] - 36 * v[[3]] + 16 * v[[4]] - 3 * v[[5]]) / (12 * step),
       curvature = (2 * v[[1]] - 5 * v[[2]] + 4 * v[[3]] - v[[4]]) / step^2)
}

evaluate_activation <- function(f, u, arg, reach) {
  out <- f(u)
  if (!is.numeric(out) || length(out) != length(u) || !all(is.finite(out)))
    stop(sprintf("`%s` must return finite values on [-%g, %g], the range the inputs reach",
                 arg, reach, reach), call. = FALSE)
  as.double(out)
}
