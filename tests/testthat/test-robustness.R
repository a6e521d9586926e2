# Numerical robustness at the edges the literature reports trouble with.
test_that("depth 100 ReLU and erf networks stay finite and keep their structure", {
  set.seed(1)
  x <- matrix(rnorm(5 * 3), 5)
  relu <- nt_kernel(nt_fc(100), x, what = c("ntk", "nngp"))
  # c_sigma = 2 keeps the diagonal: K(x, x) = |x|^2 / d, Theta(x, x) = 101 |x|^2 / d
  expect_equal(diag(relu$nngp), rowSums(x^2) / 3, tolerance = 1e-12)
  expect_equal(diag(relu$ntk), 101 * rowSums(x^2) / 3, tolerance = 1e-12)
  # deep ReLU kernels converge to a constant correlation (Hayou et al.): nearly 1
  rho <- relu$nngp / sqrt(outer(diag(relu$nngp), diag(relu$nngp)))
  expect_gt(min(rho), 0.99)
  erf <- nt_kernel(nt_fc(100, "erf", b_var = 0.1), x, what = c("ntk", "nngp"))
  expect_true(all(is.finite(erf$ntk)) && all(is.finite(erf$nngp)))
  expect_gt(min(eigen(erf$ntk, symmetric = TRUE, only.values = TRUE)$values), -1e-10)
})

test_that("w_var = 10 grows geometrically but stays finite until the double range ends", {
  x <- matrix(c(1, 2, 3, 4), 2)
  k <- nt_kernel(nt_fc(50, w_var = 10), x, what = "nngp")
  # ReLU halves the variance, the dense layer multiplies it by 10: 5^50 growth
  expect_equal(k[1, 1], 5^50 * sum(x[1, ]^2) / 2, tolerance = 1e-10)
  erf <- nt_kernel(nt_fc(50, "erf", w_var = 10), x, what = c("ntk", "nngp"))
  expect_true(all(is.finite(erf$ntk)))                 # erf saturates: no growth in K
  expect_lt(max(erf$nngp), 10)
  expect_error(nt_kernel(nt_fc(500, w_var = 10), x), "overflowed the double range")
})

test_that("zero inputs without bias give zero kernels, not NaN", {
  x <- rbind(0, c(1, 2))
  for (act in c("relu", "erf", "gelu", "abs", "leaky_relu", "identity")) {
    k <- nt_kernel(nt_fc(3, act), x, what = c("ntk", "nngp"))
    expect_equal(unname(k$ntk[1, ]), c(0, 0))
    expect_equal(unname(k$nngp[1, ]), c(0, 0))
  }
})

test_that("near-singular training kernels give finite predictions and posteriors", {
  x <- matrix(rnorm(10), 5)
  x <- rbind(x, x + 1e-12)                            # pairs of nearly identical points
  k <- nt_kernel(nt_fc(2), x, what = c("ntk", "nngp"))
  y <- rep(c(1, -1), 5)
  p <- suppressWarnings(nt_predict(k$ntk, y, k$ntk[1:2, ], t = c(1, 100, Inf)))
  expect_true(all(is.finite(p$train)) && all(is.finite(p$test)))
  expect_warning(post <- nt_gp(k$nngp, y, k$nngp[1:2, ], k$nngp[1:2, 1:2]), "jitter")
  expect_true(all(is.finite(post$mean)) && all(is.finite(post$cov)))
  expect_gt(post$jitter, 0)
})
