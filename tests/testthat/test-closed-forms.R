# Values derivable by hand from the layer semantics (?ntk) and the arc-cosine kernels.

test_that("one ReLU layer on orthogonal, parallel and opposite unit inputs", {
  x <- rbind(c(1, 0), c(0, 1), c(-1, 0), c(2, 0))
  k <- nt_kernel(nt_fc(1, "relu", w_var = 2), x, what = c("ntk", "nngp"))
  # K0 = x.x'/2; theta = pi/2 gives E[relu relu] = sqrt(s1 s2) / (2 pi).
  expect_equal(k$nngp[1, 2], 2 * 0.5 / (2 * pi), tolerance = 1e-14)
  expect_equal(k$ntk[1, 2], 1 / (2 * pi), tolerance = 1e-14)
  # Same input: NNGP 2 * s / 2 = 1/2, NTK 2 * (1/2 * 1/2) + 1/2 = 1.
  expect_equal(k$nngp[1, 1], 0.5, tolerance = 1e-14)
  expect_equal(k$ntk[1, 1], 1, tolerance = 1e-14)
  # Opposite inputs: theta = pi, both kernels vanish.
  expect_equal(k$nngp[1, 3], 0, tolerance = 1e-14)
  expect_equal(k$ntk[1, 3], 0, tolerance = 1e-14)
  # Parallel inputs of norms 1 and 2: twice the same-input values.
  expect_equal(k$ntk[1, 4], 2, tolerance = 1e-14)
  expect_equal(k$nngp[1, 4], 1, tolerance = 1e-14)
})

test_that("one erf layer on a unit input", {
  x <- rbind(c(1, 0))
  k <- nt_kernel(nt_fc(1, "erf", w_var = 2), x, what = c("ntk", "nngp"))
  # s = 1/2: E[erf erf] = 2/pi asin(1/2) = 1/3; E[erf' erf'] = 4 / (pi sqrt(3)).
  expect_equal(k$nngp[1, 1], 2 / 3, tolerance = 1e-14)
  expect_equal(k$ntk[1, 1], 2 * 0.5 * 4 / (pi * sqrt(3)) + 2 / 3, tolerance = 1e-14)
})

test_that("leaky ReLU and abs reduce to their elementary expectations", {
  x <- rbind(c(1, 0), c(0, 1))
  abs_k <- nt_kernel(nt_serial(nt_dense(), nt_abs()), x, what = c("ntk", "nngp"))
  # |u| for u ~ N(0, 1/2): E[u^2] = 1/2; orthogonal: E|u| E|v| = 2 s / pi.
  expect_equal(abs_k$nngp[1, 1], 0.5, tolerance = 1e-14)
  expect_equal(abs_k$nngp[1, 2], 2 * 0.5 / pi, tolerance = 1e-14)
  expect_equal(abs_k$ntk[1, 1], 0.5, tolerance = 1e-14)
  expect_equal(abs_k$ntk[1, 2], 0, tolerance = 1e-14)  # E[sign u] E[sign v] = 0
  leaky <- nt_kernel(nt_serial(nt_dense(), nt_leaky_relu(0.3)), x, what = c("ntk", "nngp"))
  # orthogonal: E[phi(u)]^2 = ((1 - 0.3) sqrt(s) / sqrt(2 pi))^2
  expect_equal(leaky$nngp[1, 2], 0.7^2 * 0.5 / (2 * pi), tolerance = 1e-14)
  # same input: E[phi^2] = E[phi'^2] s = (1 + 0.3^2) / 2 * s
  expect_equal(leaky$nngp[1, 1], 1.09 / 2 * 0.5, tolerance = 1e-14)
  expect_equal(leaky$ntk[1, 1], 1.09 / 2 * 0.5, tolerance = 1e-14)
})

test_that("GELU matches its one-dimensional expectations", {
  # Orthogonal inputs: E[u Phi(u)] = s / sqrt(2 pi (1 + s)), s = 1/2.
  x <- rbind(c(1, 0), c(0, 1))
  k <- nt_kernel(nt_serial(nt_dense(), nt_gelu()), x, what = c("ntk", "nngp"))
  s <- 0.5
  expect_equal(k$nngp[1, 2], (s / sqrt(2 * pi * (1 + s)))^2, tolerance = 1e-13)
  # Same input: E[(u Phi(u))^2] by one-dimensional integration.
  same <- integrate(function(z) (sqrt(s) * z * pnorm(sqrt(s) * z))^2 * dnorm(z),
                    -Inf, Inf, rel.tol = 1e-12)$value
  expect_equal(k$nngp[1, 1], same, tolerance = 1e-10)
  dsame <- integrate(function(z) (pnorm(sqrt(s) * z) + sqrt(s) * z * dnorm(sqrt(s) * z))^2 *
                       dnorm(z), -Inf, Inf, rel.tol = 1e-12)$value
  expect_equal(k$ntk[1, 1], s * dsame, tolerance = 1e-10)
})

test_that("depth 0 is the linear kernel and fixed = depth gives the NNGP", {
  set.seed(1)
  x <- matrix(rnorm(24), 6)
  z <- matrix(rnorm(12), 3)
  lin <- nt_kernel(nt_fc(0, b_var = 0.3), x, z, what = c("ntk", "nngp"))
  expect_equal(unclass(lin$nngp)[, ], x %*% t(z) / 4 + 0.3, tolerance = 1e-14)
  expect_equal(unclass(lin$ntk)[, ], x %*% t(z) / 4 + 0.3, tolerance = 1e-14)
  for (act in c("relu", "erf", "gelu")) {
    k <- nt_kernel(nt_fc(4, act, b_var = 0.1, fixed = 4), x, z, what = c("ntk", "nngp"))
    expect_equal(unclass(k$ntk)[, ], unclass(k$nngp)[, ], tolerance = 1e-14)
  }
})

test_that("identity activations give a scaled linear kernel", {
  set.seed(2)
  x <- matrix(rnorm(15), 5)
  k <- nt_kernel(nt_fc(3, "identity", w_var = 1.5), x, what = c("ntk", "nngp"))
  lin <- tcrossprod(x) / 3
  expect_equal(unclass(k$nngp)[, ], 1.5^3 * lin, tolerance = 1e-14)
  # T = sum over the 4 dense layers of (product of later w_var) * K_l.
  expect_equal(unclass(k$ntk)[, ], 4 * 1.5^3 * lin, tolerance = 1e-14)
})

test_that("ReLU with c_sigma = 2 keeps the variance through depth 50", {
  x <- rbind(c(3, 4), c(1e-150, 0), c(1e150, 1e150), c(0, 0))
  k <- nt_kernel(nt_fc(50, "relu", w_var = 2), x, what = c("ntk", "nngp"))
  s <- rowSums(x^2) / 2
  expect_equal(diag(k$nngp), s, tolerance = 1e-13)
  expect_equal(diag(k$ntk), 51 * s, tolerance = 1e-13)
  expect_true(all(is.finite(k$ntk)) && all(is.finite(k$nngp)))
  expect_equal(k$ntk[4, ], rep(0, 4))
})
