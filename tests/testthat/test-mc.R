# The analytic kernels against Monte Carlo kernels of wide random networks.
# Tolerance: the Monte Carlo mean deviates from the limit by sampling noise,
# whose size we estimate from the spread over the `nets` networks (its
# relative Frobenius standard error `se`, about 0.02 here), plus a finite-width
# bias of order 1/width (about 0.001). An error within 4 se + 0.01 is
# consistent with the limit; a wrong kernel (a misplaced variance, bias or
# frozen layer) is off by far more.
mc_inputs <- function() {
  set.seed(3)
  x <- matrix(rnorm(6 * 5), 6)
  x[2, ] <- 0.5 * x[1, ] + 0.1 * rnorm(5)   # a near-parallel pair
  x[3, ] <- -x[1, ]                         # an anti-parallel pair
  x
}

expect_mc_agrees <- function(activation, depth, w_var, b_var, fixed = 0) {
  x <- mc_inputs()
  set.seed(11)
  mc <- mc_fc_kernels(x, depth, activation, w_var, b_var, fixed, width = 1024, nets = 40)
  exact <- nt_kernel(nt_fc(depth, activation, w_var, b_var, fixed), x,
                     what = c("ntk", "nngp"))
  for (what in c("ntk", "nngp")) {
    se <- sqrt(sum(mc[[what]]$se^2) / sum(exact[[what]]^2))
    expect_lt(se, 0.05)
    expect_lt(rel_frobenius(mc[[what]]$mean, exact[[what]]), 4 * se + 0.01,
              label = paste(activation, what, "Monte Carlo error"))
  }
}

test_that("ReLU kernels match wide random networks", {
  expect_mc_agrees("relu", depth = 3, w_var = 2, b_var = 0)
})

test_that("erf kernels with bias match wide random networks", {
  expect_mc_agrees("erf", depth = 3, w_var = 1.5, b_var = 0.2)
})

test_that("a frozen first layer matches wide random networks", {
  expect_mc_agrees("relu", depth = 2, w_var = 2, b_var = 0.1, fixed = 1)
})

test_that("abs, leaky ReLU and GELU kernels match wide random networks", {
  expect_mc_agrees("abs", depth = 2, w_var = 1, b_var = 0.05)
  expect_mc_agrees("leaky_relu", depth = 2, w_var = 2, b_var = 0)
  expect_mc_agrees("gelu", depth = 2, w_var = 2, b_var = 0.1)
})
