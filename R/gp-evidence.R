# The evidence of a Gaussian process with an NNGP / NTK covariance, its
# exact gradient in the log variances, and the multi-start search.

# Cholesky factor R (A = R'R) of a covariance, with a diagonal jitter only
# when plain chol() fails.
gp_chol <- function(A) {
  R <- tryCatch(chol(A), error = function(e) NULL)
  if (!is.null(R)) return(list(R = R, jitter = 0))
  scale <- mean(diag(A))
  for (jitter in scale * 10^seq(-10, -4)) {
    R <- tryCatch(chol(A + diag(jitter, nrow(A))), error = function(e) NULL)
    if (!is.null(R)) return(list(R = R, jitter = jitter))
  }
  stop(sprintf("the covariance is not positive definite even with a jitter of %.3g", scale * 1e-4),
       call. = FALSE)
}

# The log marginal likelihood of y under N(0, K + noise I) for the network
# `net` with the parameter values of `u`, and its gradient in the log of
# each parameter named in `free` (then in log noise, when fitted).
gp_log_evidence <- function(net, u, x, y, kernel, free, fit_noise, threads) {
  candidate <- gp_set_parameters(net, u$values)
  k <- nt_kernel(candidate, x, what = kernel, gradient = TRUE, threads = threads, progress = FALSE)
  grads <- attr(k, "gradient")
  A <- k@.Data
  diag(A) <- diag(A) + u$noise
  ch <- gp_chol(A)
  R <- ch$R
  alpha <- backsolve(R, backsolve(R, y, transpose = TRUE))
  n <- length(y)
  value <- -0.5 * sum(y * alpha) - sum(log(diag(R))) - 0.5 * n * log(2 * pi)
  W <- tcrossprod(alpha) - chol2inv(R)    # d value = 1/2 tr(W dA)
  gradient <- vapply(free, function(name) 0.5 * sum(W * grads[[name]]) * u$values[[name]], numeric(1))
  if (fit_noise) gradient <- c(gradient, noise = 0.5 * sum(diag(W)) * u$noise)
  list(value = value, gradient = gradient, alpha = alpha, chol = R, jitter = ch$jitter,
       net = candidate)
}

# Maximises the evidence of one network over the parameters `optimise`
# frees, by L-BFGS-B on their logarithms from `starts` points.
gp_optimise <- function(net, x, y, kernel, optimise, noise, starts, bounds, threads) {
  if ("relevance" %in% optimise) net <- with_relevance(net, ncol(x))
  p <- kernel_parameters(net, ncol(x))
  box <- gp_free(p$names, optimise, bounds)
  free <- p$names[box$free]
  fit_noise <- "noise" %in% optimise
  lower <- log(c(box$lower[box$free], if (fit_noise) bounds$noise[1]))
  upper <- log(c(box$upper[box$free], if (fit_noise) bounds$noise[2]))
  unpack <- function(theta) {
    values <- p$values
    values[free] <- exp(theta[seq_along(free)])
    list(values = values, noise = if (fit_noise) exp(theta[length(theta)]) else noise)
  }
  cache <- new.env(parent = emptyenv())
  evaluate <- function(theta) {
    if (!identical(cache$theta, theta)) {
      cache$theta <- theta
      cache$res <- gp_log_evidence(net, unpack(theta), x, y, kernel, free, fit_noise, threads)
    }
    cache$res
  }
  # the network's own values, then random points within a factor 10 of them
  # (the noise between 1e-3 and 1 of the response's variance), in the box
  start0 <- pmin(pmax(log(c(p$values[free], if (fit_noise) noise)), lower), upper)
  near <- function() {
    theta <- start0 + stats::runif(length(start0), -log(10), log(10))
    if (fit_noise) theta[length(theta)] <- stats::runif(1, log(1e-3), 0)
    pmin(pmax(theta, lower), upper)
  }
  points <- c(list(start0), lapply(seq_len(starts - 1L), function(i) near()))
  runs <- lapply(points, function(theta0) {
    if (!length(theta0)) return(list(par = theta0, value = -evaluate(theta0)$value, convergence = 0L))
    tryCatch(stats::optim(theta0, function(th) -evaluate(th)$value, function(th) -evaluate(th)$gradient,
                          method = "L-BFGS-B", lower = lower, upper = upper,
                          control = list(maxit = 200, factr = 1e7)),
             error = function(e) NULL)
  })
  ok <- !vapply(runs, is.null, logical(1))
  if (!any(ok)) stop("the evidence could not be evaluated from any starting point", call. = FALSE)
  table <- data.frame(start = which(ok), logLik = -vapply(runs[ok], `[[`, numeric(1), "value"),
                      convergence = vapply(runs[ok], function(r) as.integer(r$convergence), integer(1)))
  best <- runs[ok][[which.max(table$logLik)]]
  final <- evaluate(best$par)
  u <- unpack(best$par)
  list(value = final$value, parameters = u$values, noise = u$noise, net = final$net,
       alpha = final$alpha, chol = final$chol, jitter = final$jitter, starts = table,
       df = length(free) + fit_noise + 1L)
}
