# Gradient-flow predictions and GP posteriors (see vignette("ntk") and ?nt_predict).

#' Predictions of gradient flow under a kernel
#'
#' Mean predictions of a wide network trained by gradient flow on the loss
#' `1/2 * ||f(X) - y||^2` from `f_0 = 0`, at every time in `t`:
#' `f_t(X) = (I - exp(-eta Theta t)) y` on the training points and
#' `f_t(X*) = Theta* Theta^-1 (I - exp(-eta Theta t)) y` on test points, with
#' `Theta = k_train + diag_reg * I` (`diag_reg` enters the dynamics, as in
#' neural-tangents). One symmetric eigendecomposition of `Theta` serves every
#' `t`, `Inf` included, so that the predictions at finite `t` approach those at
#' `t = Inf` as `t` grows. The matrix is divided by its largest diagonal entry
#' first, so kernels of any magnitude give the same predictions. Eigenvalues
#' up to `max(n, 10)` machine epsilons times the largest are taken as a null
#' space and their directions left out at every `t`: for a singular `Theta`
#' the `t = Inf` limit is the minimum-norm (pseudo-inverse) solution, and a
#' warning says how many eigenvalues were dropped whenever that changes the
#' predictions. A `Theta` with an eigenvalue below `-1e-6` times its largest is
#' not a kernel: an error. Predictions that would overflow are an error too,
#' never `Inf` or `NaN`.
#'
#' Time convention: no division by the number of training values.
#' neural-tangents' `gradient_descent_mse` uses the mean loss, so its time
#' `t_nt` corresponds to `t = t_nt / (n * k)` here (`k = ncol(y)`).
#'
#' With `nngp = list(train, test, test_test)` (NNGP kernels: `n x n`,
#' `m x n`, `m x m`) it also returns the covariance of the test predictions
#' of an infinite ensemble of networks initialised as `f_0 ~ GP(0, NNGP)`:
#' `Sigma_t = K** + A K A' - (A K_X* + K_*X A')` with
#' `A = Theta* Theta^-1 (I - exp(-eta Theta t))`. With `k_train` the NNGP
#' itself this is the posterior of a network whose last layer alone is
#' trained, and at `t = Inf` the GP posterior.
#'
#' @param k_train Training kernel (`n x n`), a matrix or kernelMatrix.
#' @param y Targets: a numeric vector of length `n` or an `n x k` matrix.
#' @param k_test Test-by-training kernel (`m x n`), or `NULL`.
#' @param t Training times, non-negative (`Inf` allowed).
#' @param learning_rate The learning rate `eta`, positive.
#' @param diag_reg Non-negative value added to the diagonal of `k_train`.
#' @param nngp `NULL`, or a list with NNGP kernels `train`, `test`,
#'   `test_test` for the ensemble covariance.
#' @return A list: `train` (`n x length(t)` for a vector `y`,
#'   `n x k x length(t)` for a matrix), `test` (likewise with `m` rows, or
#'   `NULL`), `t`, and `cov` (`m x m x length(t)`, or `NULL`).
#' @examples
#' x <- matrix(rnorm(40), 20)
#' y <- sin(x[, 1])
#' k <- nt_kernel(nt_fc(2), x, what = c("ntk", "nngp"))
#' fit <- nt_predict(k$ntk, y, t = c(0, 1, 10, Inf))
#' round(fit$train[1:3, ], 3)
#' @export
nt_predict <- function(k_train, y, k_test = NULL, t = Inf, learning_rate = 1, diag_reg = 0,
                       nngp = NULL) {
  theta <- as_square_kernel(k_train, "k_train")
  n <- nrow(theta)
  targets <- as_targets(y, n)
  if (!is.null(k_test)) k_test <- as_cross_kernel(k_test, "k_test", n)
  t <- check_times(t)
  learning_rate <- check_learning_rate(learning_rate)
  diag_reg <- check_number(diag_reg, "diag_reg", lower = 0)
  if (!is.null(nngp)) nngp <- check_nngp(nngp, n, k_test)
  flow <- flow_prepare(theta, learning_rate, "`k_train`", ridge = diag_reg)
  warn_if_singular(flow, t, "`k_train`")
  flow_predict(flow, targets, k_test, t, nngp, vector_y = is.null(dim(y)))
}

check_learning_rate <- function(learning_rate) {
  learning_rate <- check_number(learning_rate, "learning_rate", lower = 0)
  if (learning_rate == 0) stop("`learning_rate` must be positive", call. = FALSE)
  learning_rate
}

# One symmetric eigendecomposition of Theta / s (s its largest diagonal
# entry, so that kernels of any magnitude decompose alike) serves every time
# and every ridge. Clearly negative eigenvalues mean the matrix is no kernel.
flow_decompose <- function(theta, arg) {
  n <- nrow(theta)
  s <- max(abs(diag(theta)))
  if (!(s > 0)) s <- max(abs(theta))
  if (!(s > 0)) s <- 1
  eig <- sym_eigen(theta)
  l <- eig$values / s
  top <- max(l[1], 0)
  if (l[n] < -1e-6 * top || top == 0 && l[n] < 0)
    stop(sprintf("%s is not positive semi-definite: its eigenvalues range from %.3g to %.3g",
                 arg, l[n] * s, l[1] * s), call. = FALSE)
  list(values = pmax(l, 0), vectors = eig$vectors, scale = s, n = n)
}

# eigen(theta, symmetric = TRUE), interruptible (src/eigen.c): the values
# decreasing, the vectors in matching columns.
sym_eigen <- function(theta) {
  stats::setNames(.Call(C_ntk_sym_eigen, theta), c("values", "vectors"))
}

# The flow of Theta + ridge * I from the decomposition of Theta. Eigenvalues
# up to n * eps times the largest are rounding noise of a null space: those
# directions are dropped at every t, so that finite times approach t = Inf
# instead of amplifying noise by t.
flow_ridge <- function(dec, ridge, learning_rate) {
  l <- dec$values + ridge / dec$scale
  top <- max(l)
  tol <- max(dec$n, 10L) * .Machine$double.eps * top
  keep <- l > tol
  vectors <- if (all(keep)) dec$vectors else dec$vectors[, keep, drop = FALSE]   # no copy if all kept
  list(values = l[keep], lambda = dec$values[keep], vectors = vectors, scale = dec$scale,
       eta = learning_rate, tol = tol, n = dec$n, dropped = sum(!keep))
}

flow_prepare <- function(theta, learning_rate, arg, ridge = 0) {
  flow_ridge(flow_decompose(theta, arg), ridge, learning_rate)
}

# A warning when dropping the null space changes a prediction: at t = Inf,
# or at times long enough for a dropped direction to have moved.
warn_if_singular <- function(flow, t, arg) {
  if (flow$dropped == 0L) return(invisible(FALSE))
  reach <- flow$eta * flow$scale * max(flow$tol, .Machine$double.xmin) * max(t)
  if (!(reach > 1e-8)) return(invisible(FALSE))
  warning(sprintf(paste0("%s is numerically singular: %d of its %d eigenvalues are below %.2g times ",
                         "the largest; their directions are left out (the minimum-norm solution ",
                         "at t = Inf). Add `diag_reg` to regularise instead."),
                  arg, flow$dropped, flow$n, max(flow$n, 10L) * .Machine$double.eps), call. = FALSE)
  invisible(TRUE)
}

# Per kept eigenvalue l (of Theta / s) and time t: the training factor
# 1 - exp(-eta s l t) and the test factor (1 - exp(-eta s l t)) / l, which
# multiplies Theta* / s. The product eta * t comes first so that t = 0
# gives 0 whatever the scales.
flow_factors <- function(flow, t) {
  l <- flow$values
  decay <- if (is.infinite(t)) rep(1, length(l)) else -expm1(-(flow$eta * t) * flow$scale * l)
  list(train = decay, test = decay / l)
}

flow_predict <- function(flow, targets, k_test, t, nngp, vector_y) {
  n <- nrow(targets); k <- ncol(targets); m <- if (is.null(k_test)) 0L else nrow(k_test)
  train <- array(0, c(n, k, length(t)))
  test <- if (m) array(0, c(m, k, length(t))) else NULL
  cov <- if (!is.null(nngp)) array(0, c(m, m, length(t))) else NULL
  y_scale <- max(abs(targets))
  if (!(y_scale > 0)) y_scale <- 1
  v <- flow$vectors
  vty <- crossprod(v, targets / y_scale)
  b <- if (m) (k_test / flow$scale) %*% v else NULL   # Theta* V / s
  nngp_scale <- if (!is.null(nngp)) max(abs(diag(nngp$train)), abs(diag(nngp$test_test)), .Machine$double.xmin)
  for (i in seq_along(t)) {
    g <- flow_factors(flow, t[i])
    train[, , i] <- y_scale * (v %*% (g$train * vty))
    if (m) test[, , i] <- y_scale * (b %*% (g$test * vty))
    if (!is.null(nngp)) {
      a <- sweep(b, 2, g$test, `*`) %*% t(v)          # Theta* Theta^-1 (I - exp(-eta Theta t))
      cov[, , i] <- nngp_scale * ensemble_cov(a, lapply(nngp, `/`, nngp_scale))
    }
  }
  if (!all(is.finite(train)) || !all(is.finite(test)) || !all(is.finite(cov)))
    stop("the predictions overflowed the range of doubles; rescale `y` or the kernels", call. = FALSE)
  if (!is.null(cov))
    for (i in seq_along(t)) cov[, , i] <- check_covariance(matrix(cov[, , i], m, m), nngp$test_test, "`nngp`")
  label <- paste0("t=", format(t))
  shape <- function(a) {
    if (is.null(a)) return(NULL)
    if (vector_y) a <- array(a[, 1, ], c(dim(a)[1], length(t)))
    dimnames(a)[[length(dim(a))]] <- label
    a
  }
  if (!is.null(cov)) dimnames(cov)[[3]] <- label
  list(train = shape(train), test = shape(test), t = t, cov = cov)
}

# A covariance whose diagonal is clearly negative comes from kernels that
# are not the blocks of one positive semi-definite kernel: an error, not
# negative variances. Rounding-level negatives (below 1e-8 of the prior
# variance) are set to 0.
check_covariance <- function(cov, prior, what) {
  v <- diag(cov)
  floor <- -1e-8 * max(abs(diag(prior)), .Machine$double.xmin)
  if (any(v < floor))
    stop(sprintf(paste0("%s are not blocks of one positive semi-definite kernel: the variance ",
                        "of test point %d would be %.3g"), what, which(v < floor)[1], v[v < floor][1]),
         call. = FALSE)
  diag(cov) <- pmax(v, 0)
  cov
}

# Sigma = K** + A K A' - (A K_X* + K_*X A')
ensemble_cov <- function(a, nngp) {
  cross <- a %*% t(nngp$test)
  s <- nngp$test_test + a %*% nngp$train %*% t(a) - cross - t(cross)
  (s + t(s)) / 2
}

#' Gaussian process posterior
#'
#' The posterior mean `K*X (K + diag_reg I)^-1 y` and covariance
#' `K** - K*X (K + diag_reg I)^-1 K_X*` of a GP with kernel `K` (for the
#' NNGP: the Bayesian posterior of an infinitely wide network). A training
#' kernel that is numerically singular gets a jitter on its diagonal, starting
#' at `1e-10` times its mean diagonal and growing tenfold (up to `1e-4` times
#' it; a kernel that needs more is not positive semi-definite, an error) until the Cholesky
#' factorisation succeeds (as Lee et al. 2018 did); a warning reports it, and
#' the result's `jitter` element holds it.
#'
#' @param k_train Training kernel (`n x n`).
#' @param y Targets: a vector of length `n` or an `n x k` matrix.
#' @param k_test Test-by-training kernel (`m x n`).
#' @param k_test_test Test kernel (`m x m`) for the covariance, or `NULL`.
#' @param diag_reg Non-negative noise variance added to the diagonal.
#' @return A list: `mean` (length `m`, or `m x k`), `cov` (`m x m` or `NULL`)
#'   and `jitter` (0 when none was needed).
#' @examples
#' x <- matrix(rnorm(40), 20)
#' k <- nt_kernel(nt_fc(2), rbind(x, x[1:3, ] + 0.1), what = "nngp")
#' post <- nt_gp(k[1:20, 1:20], sin(x[, 1]), k[21:23, 1:20], k[21:23, 21:23])
#' post$mean
#' @export
nt_gp <- function(k_train, y, k_test, k_test_test = NULL, diag_reg = 0) {
  kx <- as_square_kernel(k_train, "k_train")
  n <- nrow(kx)
  targets <- as_targets(y, n)
  k_test <- as_cross_kernel(k_test, "k_test", n)
  if (!is.null(k_test_test)) k_test_test <- as_square_kernel(k_test_test, "k_test_test", nrow(k_test))
  diag_reg <- check_number(diag_reg, "diag_reg", lower = 0)
  kx <- kx + diag(diag_reg, n)
  fact <- jittered_chol(kx, "k_train")
  s <- fact$scale
  solve_k <- function(b) backsolve(fact$r, forwardsolve(t(fact$r), b, upper.tri = FALSE))
  y_scale <- max(abs(targets), .Machine$double.xmin)
  mean <- y_scale * ((k_test / s) %*% solve_k(targets / y_scale))
  if (is.null(dim(y))) mean <- drop(mean)
  cov <- NULL
  if (!is.null(k_test_test)) {
    w <- forwardsolve(t(fact$r), t(k_test / s), upper.tri = FALSE)
    cov <- s * (k_test_test / s - crossprod(w))
    cov <- (cov + t(cov)) / 2
  }
  if (!all(is.finite(mean)) || !all(is.finite(cov)))
    stop("the posterior overflowed the range of doubles; rescale `y` or the kernels", call. = FALSE)
  if (!is.null(cov)) cov <- check_covariance(cov, k_test_test, "`k_train`, `k_test` and `k_test_test`")
  list(mean = mean, cov = cov, jitter = fact$jitter * s)
}

# Cholesky factor of k / s (s its mean diagonal) with the smallest jitter
# that makes it factorisable, from 1e-10 up to 1e-4 of the mean diagonal;
# needing more means the matrix is indefinite, not merely singular.
jittered_chol <- function(k, arg) {
  d <- diag(k)
  if (any(d < 0))
    stop(sprintf("`%s` is not positive semi-definite: diagonal entry %d is negative (%.3g)",
                 arg, which(d < 0)[1], d[d < 0][1]), call. = FALSE)
  s <- mean(d)
  if (!(s > 0)) stop(sprintf("`%s` is zero on its diagonal: no Gaussian process has it as covariance", arg),
                     call. = FALSE)
  k <- k / s
  jitter <- 0
  repeat {
    r <- tryCatch(chol(k + diag(jitter, nrow(k))), error = function(e) NULL)
    if (!is.null(r)) break
    jitter <- if (jitter == 0) 1e-10 else 10 * jitter
    if (jitter > 1e-4) {
      l <- eigen(k, symmetric = TRUE, only.values = TRUE)$values
      stop(sprintf("`%s` is not positive semi-definite: its smallest eigenvalue is %.3g times its largest",
                   arg, min(l) / max(l)), call. = FALSE)
    }
  }
  if (jitter > 0)
    warning(sprintf("`%s` is numerically singular: added jitter %.3g (%.0e times its mean diagonal) to its diagonal",
                    arg, jitter * s, jitter), call. = FALSE)
  list(r = r, jitter = jitter, scale = s)
}

# ---- argument checks -----------------------------------------------------

as_kernel_values <- function(k, arg) {
  if (is(k, "kernelMatrix")) k <- k@.Data
  if (is.data.frame(k)) k <- as.matrix(k)
  if (!is.matrix(k) || !is.numeric(k))
    stop(sprintf("`%s` must be a numeric matrix or kernelMatrix", arg), call. = FALSE)
  if (!all(is.finite(k))) stop(sprintf("`%s` contains NA, NaN or Inf", arg), call. = FALSE)
  storage.mode(k) <- "double"
  unname(k)
}

as_square_kernel <- function(k, arg, size = NULL) {
  k <- as_kernel_values(k, arg)
  if (nrow(k) != ncol(k) || nrow(k) == 0L)
    stop(sprintf("`%s` must be a non-empty square matrix, not %d x %d", arg, nrow(k), ncol(k)),
         call. = FALSE)
  if (!is.null(size) && nrow(k) != size)
    stop(sprintf("`%s` must be %d x %d", arg, size, size), call. = FALSE)
  if (max(abs(k - t(k))) > 1e-8 * max(abs(k), 1e-300))
    stop(sprintf("`%s` must be symmetric", arg), call. = FALSE)
  k
}

as_cross_kernel <- function(k, arg, n) {
  k <- as_kernel_values(k, arg)
  if (ncol(k) != n)
    stop(sprintf("`%s` must have one column per training point (%d), not %d", arg, n, ncol(k)),
         call. = FALSE)
  k
}

as_targets <- function(y, n) {
  if (is.data.frame(y)) y <- as.matrix(y)
  if (!is.numeric(y)) stop("`y` must be numeric (a vector or a matrix)", call. = FALSE)
  if (anyNA(y) || !all(is.finite(y))) stop("`y` contains NA, NaN or Inf", call. = FALSE)
  y <- if (is.null(dim(y))) matrix(y, ncol = 1L) else as.matrix(y)
  if (nrow(y) != n)
    stop(sprintf("`y` has %d rows (or values) but the training kernel has %d", nrow(y), n),
         call. = FALSE)
  storage.mode(y) <- "double"
  unname(y)
}

check_times <- function(t) {
  if (!is.numeric(t) || length(t) == 0L || anyNA(t))
    stop("`t` must be a numeric vector of times", call. = FALSE)
  if (any(t < 0)) stop("`t` must be non-negative", call. = FALSE)
  as.double(t)
}

check_nngp <- function(nngp, n, k_test) {
  if (!is.list(nngp) || !all(c("train", "test", "test_test") %in% names(nngp)))
    stop("`nngp` must be a list with elements train, test and test_test", call. = FALSE)
  if (is.null(k_test)) stop("`nngp` needs `k_test`", call. = FALSE)
  m <- nrow(k_test)
  out <- list(train = as_square_kernel(nngp$train, "nngp$train", n),
              test = as_cross_kernel(nngp$test, "nngp$test", n),
              test_test = as_square_kernel(nngp$test_test, "nngp$test_test", m))
  if (nrow(out$test) != m) stop(sprintf("`nngp$test` must have %d rows", m), call. = FALSE)
  out
}
