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
#' Accuracy: Gauss rules converge fast when `phi` bends on the scale of the
#' pre-activation standard deviation, slowly when the inputs reach far into
#' the flat parts of a saturating `phi` (erf at standard deviation 10 needs
#' about 80 nodes for `1e-9`). With `nodes = NULL` the rule is chosen per
#' kernel computation: the smallest of 20, 28, 40, 56, 80 and 112 nodes whose
#' `E[phi(u)^2]`, `E[phi(u)]^2` and the same for `phi'`, at the largest
#' variance the inputs reach (and the smallest, unless below `1e-6` times the
#' largest), agree with adaptive one-dimensional
#' integration (`integrate()`) to `tol` relative; a warning says when none
#' does. The table itself (cubic Hermite interpolation) adds errors of order
#' `(range / cells)^4`, negligible for smooth `phi`; a kink away from 0 is
#' resolved to first order only. Without `deriv`, `phi'` is taken from
#' one-sided fourth-order differences on the grid. Cost: `4 * nodes^2`
#' table reads per pair and layer.
#'
#' A user-supplied dual: with `dual = function(c11, c12, c22)` giving
#' `E[phi(u) phi(v)]` for a centred Gaussian pair with variances `c11`, `c22`
#' and covariance `c12` (vectorised: each argument is a vector, one entry
#' per pair), fully connected kernels on matrix inputs use that closed form
#' for the NNGP instead of quadrature. The NTK's factor
#' `E[phi'(u) phi'(v)]` (by Price's theorem the derivative of the dual in
#' `c12`) comes from `dual_deriv` of the same arguments when given, and
#' otherwise from the quadrature above, on a table fitted to the variances
#' each kernel reaches. The network is then computed in segments: up to the
#' layer by the C engine, through the layer in R on all pairs at once, and on
#' from that state (the dual runs in blocks of columns; memory holds a
#' copy of the NNGP and NTK and, for `z = NULL`, an `n x n` transpose while
#' they are mirrored).
#' Such a layer must sit on the main line of the network, not inside a
#' branch; image networks and [nt_fc_family()] refuse it (drop `dual`
#' to use quadrature there). Finite networks ([nt_empirical()],
#' [nt_train()]) use `fun` and `deriv`. At construction the dual is compared
#' with the quadrature of `fun` on a few covariances, with a warning when
#' they differ by more than `1e-6` relative.
#'
#' @param fun A vectorised function of one numeric vector.
#' @param deriv Its derivative (vectorised), or `NULL` for numerical
#'   differentiation.
#' @param dual `NULL`, or a function `(c11, c12, c22)` returning
#'   `E[phi(u) phi(v)]` (see Details).
#' @param dual_deriv `NULL`, or a function `(c11, c12, c22)` returning
#'   `E[phi'(u) phi'(v)]`; `NULL` takes it by quadrature.
#' @param nodes Gauss nodes per dimension (radius and each arc), or `NULL`
#'   to choose them automatically (see Details).
#' @param cells Number of table cells (even).
#' @param tol Target relative accuracy of the automatic choice of `nodes`.
#' @param label Name shown when the network is printed.
#' @return A layer object of class `nt_layer`.
#' @examples
#' softplus <- nt_activation(function(u) log1p(exp(u)), function(u) plogis(u))
#' nt_kernel(nt_serial(nt_dense(), softplus, nt_dense()), matrix(rnorm(6), 3))
#' # erf with its closed-form dual (Williams 1997)
#' erf <- function(u) 2 * pnorm(sqrt(2) * u) - 1
#' erf_dual <- function(c11, c12, c22)
#'   2 / pi * asin(2 * c12 / sqrt((1 + 2 * c11) * (1 + 2 * c22)))
#' nt_kernel(nt_fc(2, nt_activation(erf, dual = erf_dual)), matrix(rnorm(6), 3))
#' @export
nt_activation <- function(fun, deriv = NULL, nodes = NULL, cells = 2^16, tol = 1e-9,
                          label = deparse1(substitute(fun)), dual = NULL, dual_deriv = NULL) {
  check_vectorised(fun, "fun")
  if (!is.null(deriv)) check_vectorised(deriv, "deriv")
  check_dual_function(dual, "dual")
  check_dual_function(dual_deriv, "dual_deriv")
  if (is.null(dual) && !is.null(dual_deriv))
    stop("`dual_deriv` needs `dual`: give the dual kernel too", call. = FALSE)
  if (!is.null(nodes)) nodes <- check_count(nodes, "nodes", 2L, 200L)
  tol <- check_number(tol, "tol", lower = 0)
  cells <- check_count(cells, "cells", 16L, 2^24)
  if (cells %% 2L) stop("`cells` must be even, so that 0 is a grid node", call. = FALSE)
  if (nchar(label) > 40L) label <- paste0(substr(label, 1L, 37L), "...")
  layer <- new_activation("Activation", "table", fun = fun, deriv = deriv,
                          nodes = nodes, cells = cells, tol = tol, label = label,
                          dual = dual, dual_deriv = dual_deriv)
  if (!is.null(dual)) check_dual_agrees(layer)
  layer
}

check_vectorised <- function(f, arg) {
  if (!is.function(f)) stop(sprintf("`%s` must be a function", arg), call. = FALSE)
  probe <- c(-1.5, 0, 2)
  out <- tryCatch(suppressWarnings(f(probe)), error = function(e)
    stop(sprintf("`%s` failed on a numeric vector: %s", arg, conditionMessage(e)),
         call. = FALSE))
  if (!is.numeric(out) || length(out) != length(probe))
    stop(sprintf("`%s` must be vectorised: it must map a numeric vector to numbers of the same length (c(-1.5, 0, 2) gave %s)",
                 arg, if (is.numeric(out)) sprintf("%d values", length(out)) else class(out)[1]),
         call. = FALSE)
  if (!all(is.finite(out))) {
    bad <- which(!is.finite(out))[1]
    stop(sprintf("`%s` returned %s at u = %g: an activation must be finite for every real input",
                 arg, format(out[bad]), probe[bad]), call. = FALSE)
  }
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
    # Lanczos form of the Stieltjes procedure: orthonormal polynomials.
    a <- b <- numeric(n)
    q_prev <- numeric(length(t))
    q <- rep(1 / sqrt(sum(w)), length(t))
    for (k in seq_len(n)) {
      a[k] <- sum(w * t * q^2)
      r <- (t - a[k]) * q - (if (k == 1L) 0 else sqrt(b[k])) * q_prev
      if (k < n) {
        b[k + 1L] <- sum(w * r^2)
        q_prev <- q
        q <- r / sqrt(b[k + 1L])
      }
    }
    .rules[[key]] <- gauss_rule_from_recurrence(a, b, sum(w))
  }
  .rules[[key]]
}

# The table that src/plan.c reads: phi, phi' and phi'' as one-sided limits at
# both ends of every cell of a grid on [-reach, reach] that has 0 as a node,
# with the Gauss rules; the rules are chosen to meet layer$tol unless
# layer$nodes fixes them.
activation_table <- function(layer, var_range) {
  if (!all(is.finite(var_range)))
    stop(sprintf("the variance before %s is not finite", format(layer)), call. = FALSE)
  if (!is.null(layer$nodes)) return(tabulate_activation(layer, max(var_range), layer$nodes))
  candidates <- c(20L, 28L, 40L, 56L, 80L, 112L)
  for (nodes in candidates) {
    table <- tabulate_activation(layer, max(var_range), nodes)
    err <- quadrature_error(table, var_range)
    if (err <= layer$tol) return(table)
  }
  warning(sprintf("%s: quadrature with %d nodes reaches only %.1e relative accuracy; the variances are large for this function",
                  format(layer), nodes, err), call. = FALSE)
  table
}

tabulate_activation <- function(layer, max_var, nodes) {
  radial <- gauss_radial(nodes)
  angular <- gauss_legendre(nodes)
  reach <- 1.25 * sqrt(max_var) * max(radial$x)
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

# phi and phi' as the C code reads them from a table (cubic Hermite).
table_interpolate <- function(table, u) {
  pos <- (u - table$lo) * table$inv_h
  cell <- pmin(pmax(floor(pos), 0), table$cells - 1)
  s <- pos - cell
  at <- 6 * cell
  v <- rbind(table$vals[at + 1], table$vals[at + 2], table$vals[at + 3],
             table$vals[at + 4], table$vals[at + 5], table$vals[at + 6])
  h <- 1 / table$inv_h
  h00 <- 2 * s^3 - 3 * s^2 + 1; h01 <- 3 * s^2 - 2 * s^3
  h10 <- (s^3 - 2 * s^2 + s) * h; h11 <- (s^3 - s^2) * h
  list(f = h00 * v[1, ] + h01 * v[2, ] + h10 * v[3, ] + h11 * v[4, ],
       df = h00 * v[3, ] + h01 * v[4, ] + h10 * v[5, ] + h11 * v[6, ])
}

# Largest relative error of the C quadrature at the extreme variances, for a
# parallel pair (E[phi(u)^2]) and an orthogonal one (E[phi(u)]^2), against
# adaptive integration of the same tabulated functions.
quadrature_error <- function(table, var_range) {
  ints <- assemble_plan(list(list(ints = c(code = op_code("table"), table = 1L), dbls = c(0, 0),
                                 geom = integer(0))))$ints
  err <- 0
  # Gauss rules struggle with wide Gaussians, not narrow ones: check the
  # largest variance, and the smallest unless it is negligible beside it.
  top <- max(var_range)
  # at variance 0 the Gaussian is a point mass, which every rule integrates exactly
  if (!(top > 0)) return(0)
  for (s in unique(c(top, var_range[var_range > 1e-6 * top]))) {
    got <- .Call(C_ntk_act_dual, ints, matrix(0, 4L, 1L), list(table), c(s, s), c(s, s), c(s, 0))
    expect <- function(which, power) {
      g <- function(z) table_interpolate(table, sqrt(s) * z)[[which]]^power * stats::dnorm(z)
      tryCatch(sum(vapply(list(c(-Inf, 0), c(0, Inf)), function(r)
        stats::integrate(g, r[1], r[2], rel.tol = 1e-12, subdivisions = 1000L,
                         stop.on.error = FALSE)$value, 1)),
        error = function(e) stop(sprintf(paste0(
          "the activation's Gaussian moments are not finite at variance %.3g (%s): ",
          "it grows too fast for an infinitely wide network with these variances; lower the weight ",
          "variances or rescale `x`"),
          s, conditionMessage(e)), call. = FALSE))
    }
    for (which in 1:2) {
      second <- expect(which, 2)
      want <- c(second, expect(which, 1)^2)
      err <- max(err, abs(got[[which]] - want) / max(second, 1e-300))
    }
  }
  err
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
  if (!is.numeric(out) || length(out) != length(u))
    stop(sprintf(paste0("`%s` must return a numeric vector as long as its argument: given %d values ",
                        "it returned %d (%s)"), arg, length(u), length(out), class(out)[1]),
         call. = FALSE)
  bad <- !is.finite(out)
  if (any(bad))
    stop(sprintf(paste0("`%s` is not finite at u = %.4g, inside [-%g, %g], the range its inputs ",
                        "reach: it grows too fast for these variances; lower the weight variances, ",
                        "rescale `x`, or bound the function"), arg, u[bad][1], reach, reach),
         call. = FALSE)
  as.double(out)
}
