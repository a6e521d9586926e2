# Positive homogeneity (src/homog.c): networks of ReLU-family activations
# and layers without bias have K(a x, b z) = (a b)^D K(x, z) for a, b > 0
# (D = 1, or the sum of the degrees at a product fan-in), NNGP and NTK.
# The engines run such inputs shifted by powers of two, which is exact, so
# for power-of-two scales the kernel of the scaled input is the scaled
# kernel up to the one rounding of a subnormal result: the tolerance is
# 1e-14 relative (the results are in fact identical) plus one subnormal ulp
# (2^-1074) for entries that underflow into the subnormal range. Scales
# that are not powers of two round the input itself (relative 2^-53), which
# the kernels pass on with a factor of order one: 1e-12.

# Whether a and b agree within rel relative and abs absolute error.
near <- function(a, b, rel = 1e-14, abs = 2^-1074) {
  a <- as.vector(unclass(a))
  b <- as.vector(unclass(b))
  all(is.finite(a)) && all(abs(a - b) <= rel * abs(b) + abs)
}

both <- function(net, x, z = NULL) nt_kernel(net, x, z, what = c("ntk", "nngp"))

# Small multiples of 1/4 stay exact when scaled down to 2^-1070.
quarters <- function(n, d) matrix(sample(-4:4, n * d, TRUE) / 4, n, d)

homogeneous_fc <- list(
  relu = nt_fc(2), deep_fixed = nt_fc(4, fixed = 2), leaky = nt_fc(2, nt_leaky_relu(0.1)),
  abs = nt_fc(3, "abs"), identity = nt_fc(2, "identity"),
  abrelu = nt_serial(nt_dense(1), nt_leaky_relu(-2), nt_dense(0.5), nt_relu(), nt_dense(3))
)

test_that("fully connected kernels of power-of-two scaled inputs are the scaled kernels", {
  set.seed(61)
  x <- quarters(5, 3)
  x[5, ] <- 0                                      # a zero row: kernel 0, not NaN
  z <- quarters(3, 3)
  for (net in homogeneous_fc) {
    base <- both(net, x)
    cross <- both(net, x, z)
    for (e in c(-1070, -531, -257, 257, 500)) {
      s <- 2^e
      k <- both(net, x * s)
      kz <- both(net, x * s, z)
      for (w in c("ntk", "nngp")) {
        expect_true(near(k[[w]], base[[w]] * s * s), info = paste(format(net)[2], e, w))
        expect_true(near(kz[[w]], cross[[w]] * s), info = paste(format(net)[2], e, w))
      }
    }
  }
  # the depth-1 ReLU NNGP keeps the input variance exactly: K(x, x) = |x|^2 / d
  for (s in c(1e-160, 1e-155, 1e150)) {
    expect_true(near(diag(nt_kernel(nt_fc(1), x * s, what = "nngp")),
                     rowSums(x^2) / 3 * s * s, rel = 1e-12))
  }
})

test_that("any scale that does not overflow the kernel gives the scaled kernel", {
  set.seed(62)
  x <- matrix(rnorm(12), 4)
  base <- both(nt_fc(3), x)
  for (s in c(1e-320 / 1e-160, 1e-300, 1e-160, 1e-100, 1e100, 1e150, 3e153)) {
    k <- both(nt_fc(3), x * s)
    expect_true(near(k$ntk, base$ntk * s * s, rel = 1e-12), info = format(s))
    expect_true(near(k$nngp, base$nngp * s * s, rel = 1e-12), info = format(s))
  }
  # the family's every depth and frozen prefix
  fam <- nt_fc_family(x * 1e-160, max_depth = 2)
  ref <- nt_fc_family(x, max_depth = 2)
  for (i in seq_along(fam$ntk)) expect_true(near(fam$ntk[[i]], ref$ntk[[i]] * 1e-160 * 1e-160,
                                                 rel = 1e-12))
  # the input Gram overflows, yet the output of a net that shrinks it is finite
  shrink <- nt_fc(10, w_var = 1)
  expect_gt(max(tcrossprod(x * 1e154) / 3), .Machine$double.xmax)
  expect_true(near(nt_kernel(shrink, x * 1e154), nt_kernel(shrink, x) * 1e154 * 1e154,
                   rel = 1e-12))
})

test_that("rows of very different scales in one call are each exact", {
  set.seed(63)
  x <- quarters(6, 4)
  x[6, ] <- 0
  sc <- 2^c(-1060, -700, -300, 0, 300, 500)
  xm <- x * sc
  for (net in homogeneous_fc[c("relu", "deep_fixed", "abs")]) {
    base <- both(net, x)
    mixed <- both(net, xm)
    for (w in c("ntk", "nngp")) expect_true(near(mixed[[w]], base[[w]] * outer(sc, sc)))
  }
  # entrywise against each pair computed on its own
  mixed <- nt_kernel(homogeneous_fc$deep_fixed, xm)
  for (i in 1:5) for (j in (i + 1):6) {
    pair <- nt_kernel(homogeneous_fc$deep_fixed, xm[i, , drop = FALSE], xm[j, , drop = FALSE])
    expect_identical(unclass(mixed)[i, j], unclass(pair)[1, 1])
  }
  # x and z at different scales
  z <- quarters(3, 4)
  cross <- both(nt_fc(3), x, z)
  k <- both(nt_fc(3), x * 2^-900, z * 2^400)
  expect_true(near(k$ntk, cross$ntk * 2^-500))
  expect_true(near(k$nngp, cross$nngp * 2^-500))
  # the entries near 1e-308 of mixed data that used to be off
  k <- nt_kernel(nt_fc(2), rbind(x[1, ] * 1e-160, x[2, ] * 1e-150, x[3, ]))
  ref <- nt_kernel(nt_fc(2), x[1:3, ]) * outer(c(1e-160, 1e-150, 1), c(1e-160, 1e-150, 1))
  expect_true(near(k, ref, rel = 1e-12))
})

test_that("a product fan-in doubles the degree", {
  set.seed(64)
  x <- quarters(4, 3)
  net <- nt_serial(nt_dense(1), nt_fan_out(2),
                   nt_parallel(nt_serial(nt_relu(), nt_dense(2)), nt_serial(nt_abs(), nt_dense(1))),
                   nt_fan_in_prod(), nt_dense(1), nt_relu(), nt_dense(2))
  base <- both(net, x)
  for (e in c(-1000, -400, -100, 100, 250)) {
    k <- both(net, x * 2^e)
    expect_true(near(k$ntk, base$ntk * 2^(4 * e)))
    expect_true(near(k$nngp, base$nngp * 2^(4 * e)))
  }
  expect_error(nt_kernel(net, x * 2^300), "overflowed")
})

test_that("convolutional kernels of scaled images are the scaled kernels", {
  set.seed(65)
  img <- array(sample(-4:4, 4 * 16, TRUE) / 4, c(4, 4, 4, 1))
  img[4, , , ] <- 0
  img2 <- array(sample(-4:4, 2 * 16, TRUE) / 4, c(2, 4, 4, 1))
  nets <- list(
    gap = nt_cnn(2, readout = "gap"), flatten = nt_cnn(2, readout = "flatten"),
    lap = nt_serial(nt_conv(3, 1), nt_relu(), nt_conv(3, 2), nt_abs(), nt_local_avg_pool(1),
                    nt_dense(1)),
    pool = nt_serial(nt_conv(3, 1, padding = "circular"), nt_leaky_relu(0.2), nt_avg_pool(2),
                     nt_conv(2, 2), nt_relu(), nt_global_avg_pool()),
    residual = nt_serial(nt_conv(3, 1), nt_residual(nt_serial(nt_relu(), nt_conv(3, 2))),
                         nt_relu(), nt_global_avg_pool()))
  sc <- 2^c(-1070, -300, 0, 500)
  for (nm in names(nets)) {
    net <- nets[[nm]]
    base <- both(net, img)
    cross <- both(net, img, img2)
    for (e in c(-1070, -300, 500)) {
      k <- both(net, img * 2^e)
      kz <- both(net, img * 2^e, img2)
      for (w in c("ntk", "nngp")) {
        expect_true(near(k[[w]], base[[w]] * 2^e * 2^e), info = paste(nm, e, w))
        expect_true(near(kz[[w]], cross[[w]] * 2^e), info = paste(nm, e, w))
      }
    }
    mixed <- both(net, img * sc)
    for (w in c("ntk", "nngp")) expect_true(near(mixed[[w]], base[[w]] * outer(sc, sc)), info = nm)
  }
  k <- nt_kernel(nets$gap, img * 1e-160)
  expect_true(near(k, nt_kernel(nets$gap, img) * 1e-160 * 1e-160, rel = 1e-12))
  expect_error(nt_kernel(nets$gap, img * 2^600), "overflowed")
})

test_that("networks with bias take tiny inputs to the kernel of zero inputs", {
  set.seed(66)
  x <- matrix(rnorm(15), 5)
  x[5, ] <- 0
  nets <- list(nt_fc(3, b_var = 0.1), nt_fc(2, "abs", b_var = 0.3),
               nt_serial(nt_dense(1), nt_relu(), nt_dense(2, 0.1), nt_leaky_relu(0.1),
                         nt_dense(2, 0.05)),
               nt_fc(2, "erf", b_var = 0.2))
  for (net in nets) {
    limit <- both(net, x * 0)
    for (s in c(2^-1074, 1e-320, 1e-300, 1e-160)) {
      k <- both(net, x * s)
      expect_true(near(k$ntk, limit$ntk, rel = 1e-12, abs = 0), info = format(s))
      expect_true(near(k$nngp, limit$nngp, rel = 1e-12, abs = 0), info = format(s))
    }
  }
  # smooth activations without bias are not homogeneous: tiny, finite, no NaN
  for (act in c("erf", "gelu")) {
    k <- both(nt_fc(2, act), x * 1e-160)
    expect_true(all(is.finite(k$ntk)) && all(is.finite(k$nngp)))
    expect_lt(max(abs(k$ntk)), 1e-300)
  }
  img <- array(rnorm(3 * 9), c(3, 3, 3, 1))
  net <- nt_cnn(2, readout = "gap", b_var = 0.1)
  expect_true(near(nt_kernel(net, img * 1e-300), nt_kernel(net, img * 0), rel = 1e-12, abs = 0))
})

test_that("all-zero inputs give zero kernels at every scale of their partner", {
  x <- matrix(0, 2, 3)
  z <- rbind(c(1, -2, 3) * 2^-1000, c(1, 1, 1) * 2^500)
  for (net in homogeneous_fc[c("relu", "leaky", "abs")]) {
    k <- both(net, x, z)
    expect_identical(unclass(k$ntk)[, ], matrix(0, 2, 2))
    expect_identical(unclass(k$nngp)[, ], matrix(0, 2, 2))
  }
})
