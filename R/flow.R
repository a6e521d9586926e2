# Gradient-flow predictions (KERNELS.md section 4) and GP posteriors.

#' Predictions of gradient flow under a kernel
#'
#' Mean predictions of a wide network trained by gradient flow on the loss
#' `1/2 * ||f(X) - y||^2` from `f_0 = 0`, at every time in `t`:
#' `f_t(X) = (I - exp(-eta Theta t)) y` on the training points and
#' `f_t(X*) = Theta* Theta^-1 (I - exp(-eta Theta t)) y` on test points, with
#' `Theta = k_train + diag_reg * I` (`diag_reg` enters the dynamics, as in
#' neural-tangents). One symmetric eigendecomposition of `Theta` serves every
#' finite `t` (the factor `(1 - exp(-eta l t)) / l` tends to `eta t` as
#' `l -> 0`); `t = Inf` alone is kernel regression by a Cholesky solve.
#' Eigenvalues below `-1e-10` times the largest are clipped to 0 with a
#' warning; for a singular `Theta` the `t = Inf` limit is the minimum-norm
#' (pseudo-inverse) solution.
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
  learning_rate <- check_number(learning_rate, "learning_rate", lower = 0)
  if (learning_rate == 0) stop("`learning_rate` must be positive", call. = FALSE)
  diag_reg <- check_number(diag_reg, "diag_reg", lower = 0)
  if (!is.null(nngp)) nngp <- check_nngp(nngp, n, k_test)
  flow <- flow_prepare(theta + diag(diag_reg, n), learning_rate, all(is.infinite(t)))
  flow_predict(flow, targets, k_test, t, nngp, vector_y = is.null(dim(y)))
}

# The factorisation of Theta reused for any targets, test kernel and times.
flow_prepare <- function(theta, learning_rate, infinite_only) {
  if (infinite_only) {
    r <- tryCatch(chol(theta), error = function(e) NULL)
    if (!is.null(r)) return(list(kind = "chol", r = r, eta = learning_rate))
  }
  eig <- eigen(theta, symmetric = TRUE)
  l <- eig$values
  top <- max(abs(l), .Machine$double.xmin)
  if (any(l < -1e-10 * top))
    warning(sprintf("`k_train` has negative eigenvalues (down to %.3g); clipped to 0",
                    min(l)), call. = FALSE)
  l[l < 0] <- 0
  list(kind = "eigen", values = l, vectors = eig$vectors, eta = learning_rate,
       tol = nrow(theta) * .Machine$double.eps * top)
}

# Per eigenvalue l and time t: the training factor 1 - exp(-eta l t) and the
# test factor (1 - exp(-eta l t)) / l (-> eta t as l -> 0; at t = Inf 1 / l on
# the range of Theta and 0 on its null space).
flow_factors <- function(flow, t) {
  l <- flow$values
  if (is.infinite(t)) {
    on <- l > flow$tol
    return(list(train = as.numeric(on), test = ifelse(on, 1 / pmax(l, flow$tol), 0)))
  }
  decay <- -expm1(-flow$eta * l * t)
  list(train = decay, test = ifelse(l > 0, decay / pmax(l, .Machine$double.xmin), flow$eta * t))
}

flow_predict <- function(flow, targets, k_test, t, nngp, vector_y) {
  n <- nrow(targets); k <- ncol(targets); m <- if (is.null(k_test)) 0L else nrow(k_test)
  train <- array(0, c(n, k, length(t)))
  test <- if (m) array(0, c(m, k, length(t))) else NULL
  cov <- if (!is.null(nngp)) array(0, c(m, m, length(t))) else NULL
  if (flow$kind == "chol") {
    solve_theta <- function(b) backsolve(flow$r, forwardsolve(t(flow$r), b, upper.tri = FALSE))
    alpha <- solve_theta(targets)
    for (i in seq_along(t)) {
      train[, , i] <- targets
      if (m) test[, , i] <- k_test %*% alpha
    }
    if (!is.null(nngp)) {
      a <- t(solve_theta(t(k_test)))                   # Theta* Theta^-1
      cov[, , 1] <- ensemble_cov(a, nngp)
      for (i in seq_along(t)) cov[, , i] <- cov[, , 1]
    }
  } else {
    v <- flow$vectors
    vty <- crossprod(v, targets)
    b <- if (m) k_test %*% v else NULL                # Theta* V
    for (i in seq_along(t)) {
      g <- flow_factors(flow, t[i])
      train[, , i] <- v %*% (g$train * vty)
      if (m) test[, , i] <- b %*% (g$test * vty)
      if (!is.null(nngp)) cov[, , i] <- ensemble_cov(sweep(b, 2, g$test, `*`) %*% t(v), nngp)
    }
  }
  label <- paste0("t=", format(t))
  shape <- function(a) {
    if (is.null(a)) return(NULL)
    if (vector_y) { a <- a[, 1, , drop = TRUE]; dim(a) <- c(dim(a)[1] %||% length(a), length(t)) }
    dimnames(a)[[length(dim(a))]] <- label
    a
  }
  if (!is.null(cov)) dimnames(cov)[[3]] <- label
  list(train = shape(train), test = shape(test), t = t, cov = cov)
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
#' at `1e-10` times its mean diagonal and growing tenfold until the Cholesky
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
  fact <- jittered_chol(kx)
  solve_k <- function(b) backsolve(fact$r, forwardsolve(t(fact$r), b, upper.tri = FALSE))
  mean <- k_test %*% solve_k(targets)
  if (is.null(dim(y))) mean <- drop(mean)
  cov <- NULL
  if (!is.null(k_test_test)) {
    w <- forwardsolve(t(fact$r), t(k_test), upper.tri = FALSE)
    cov <- k_test_test - crossprod(w)
    cov <- (cov + t(cov)) / 2
  }
  list(mean = mean, cov = cov, jitter = fact$jitter)
}

jittered_chol <- function(k) {
  scale <- mean(diag(k))
  if (!(scale > 0)) scale <- 1
  jitter <- 0
  repeat {
    r <- tryCatch(chol(k + diag(jitter, nrow(k))), error = function(e) NULL)
    if (!is.null(r)) break
    jitter <- if (jitter == 0) 1e-10 * scale else 10 * jitter
    if (jitter > 1e3 * scale)
      stop("`k_train` is not positive semi-definite: no jitter makes it factorisable", call. = FALSE)
  }
  if (jitter > 0)
    warning(sprintf("`k_train` is numerically singular: added jitter %.3g to its diagonal", jitter),
            call. = FALSE)
  list(r = r, jitter = jitter)
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
