# References written out by hand for several test files.

# The ReLU duals of a kernel state k (with its own diagonal as the
# variances): E[relu relu] and E[relu' relu'], parallel pairs exact.
relu_duals <- function(k) {
  s <- sqrt(diag(k))
  rho <- pmin(pmax(k / outer(s, s), -1), 1)
  diag(rho) <- 1
  theta <- acos(rho)
  list(k = outer(s, s) * (sin(theta) + (pi - theta) * rho) / (2 * pi), kdot = (pi - theta) / (2 * pi))
}

# One gradient step of size 1e-5 on 1/2 |f - y|^2 from f - f0 = 0 moves f by
# 1e-5 Theta y to first order (the second-order part is about 1e-5 of it).
expect_gradient_step <- function(net, x, y, width) {
  fit <- nt_train(net, x, y, width = width, learning_rate = 1e-5, steps = 1, record = c(0, 1), ntk = TRUE,
                  seed = 3)
  expect_equal(fit$train[, 2] - fit$train[, 1], drop(1e-5 * fit$ntk_start %*% y), tolerance = 1e-4)
}

# Monte Carlo: the NTK and NNGP of `samples` finite networks of width
# `width` against the kernels, each within `tolerance` of its largest entry.
expect_monte_carlo <- function(net, x, width, samples, seed, tolerance, label = "") {
  want <- nt_kernel(net, x, what = c("ntk", "nngp"))
  got <- nt_empirical(net, x, width = width, samples = samples, what = c("ntk", "nngp"), seed = seed)
  for (k in c("ntk", "nngp"))
    expect_lt(max(abs(got[[k]] - want[[k]])) / max(abs(want[[k]])), tolerance, label = paste(label, k))
}
