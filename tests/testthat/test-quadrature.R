# nt_activation() computes the dual kernels by numerical quadrature; the
# closed forms of ?activations are an independent check of it, and it
# of them.
quadrature_error <- function(numeric_layer, closed_layer, depth = 3, b_var = 0.1,
                             fixed = 0) {
  set.seed(5)
  x <- matrix(rnorm(7 * 4), 7)
  x[2, ] <- x[1, ] * 1.5         # parallel
  x[3, ] <- -x[1, ] + 1e-4       # nearly anti-parallel
  x[4, ] <- 0                    # zero input
  z <- matrix(rnorm(3 * 4, sd = 1.5), 3)
  a <- nt_kernel(nt_fc(depth, numeric_layer, b_var = b_var, fixed = fixed), x, z,
                 what = c("ntk", "nngp"))
  b <- nt_kernel(nt_fc(depth, closed_layer, b_var = b_var, fixed = fixed), x, z,
                 what = c("ntk", "nngp"))
  c(ntk = max(abs(a$ntk - b$ntk) / pmax(abs(b$ntk), 1e-3)),
    nngp = max(abs(a$nngp - b$nngp) / pmax(abs(b$nngp), 1e-3)))
}

test_that("quadrature reproduces the ReLU closed form to 1e-6", {
  relu <- function(u) pmax(u, 0)
  expect_lt(max(quadrature_error(nt_activation(relu, function(u) as.numeric(u > 0)),
                                 nt_relu())), 1e-6)
  expect_lt(max(quadrature_error(nt_activation(relu), nt_relu(), fixed = 1)), 1e-6)
})

test_that("quadrature reproduces the erf closed form to 1e-6", {
  erf <- function(u) 2 * pnorm(sqrt(2) * u) - 1
  expect_lt(max(quadrature_error(nt_activation(erf, function(u) 2 / sqrt(pi) * exp(-u^2)),
                                 nt_erf())), 1e-6)
  expect_lt(max(quadrature_error(nt_activation(erf), nt_erf(), depth = 6, b_var = 0)), 1e-6)
})

test_that("quadrature agrees with GELU, abs and leaky ReLU closed forms", {
  expect_lt(max(quadrature_error(nt_activation(function(u) u * pnorm(u)), nt_gelu())), 1e-6)
  expect_lt(max(quadrature_error(nt_activation(abs, sign), nt_abs())), 1e-6)
  leaky <- function(u) ifelse(u > 0, u, 0.2 * u)
  expect_lt(max(quadrature_error(nt_activation(leaky), nt_leaky_relu(0.2))), 1e-6)
})

test_that("a non-odd smooth activation matches one-dimensional integrals", {
  # cos: for independent u, v, E[cos u] = exp(-s/2), so orthogonal inputs
  # give exp(-(s1 + s2)/2); E[cos(u)^2] = (1 + exp(-2s)) / 2.
  x <- rbind(c(2, 0), c(0, 1))
  k <- nt_kernel(nt_serial(nt_dense(), nt_activation(cos, function(u) -sin(u))), x,
                 what = c("ntk", "nngp"))
  s <- c(2, 0.5)
  expect_equal(k$nngp[1, 2], exp(-sum(s) / 2), tolerance = 1e-9)
  expect_equal(diag(k$nngp), (1 + exp(-2 * s)) / 2, tolerance = 1e-9)
  # E[sin(u)^2] = (1 - exp(-2s)) / 2, times T = s.
  expect_equal(diag(k$ntk), s * (1 - exp(-2 * s)) / 2, tolerance = 1e-9)
})
