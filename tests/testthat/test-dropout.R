# Train-mode dropout against the recursion written out by hand, its
# limits (rate = 1 is no dropout; cross kernels are blocks of the joint
# kernel), and Monte Carlo kernels of wide finite networks, whose masks are
# drawn in every forward pass.

test_that("dropout multiplies the diagonal by 1 / rate, as written out by hand", {
  set.seed(1)
  x <- matrix(rnorm(15), 5)
  rate <- 0.6
  net <- nt_serial(nt_dense(2, 0.1), nt_relu(), nt_dropout(rate), nt_dense(1.5, 0.2))
  got <- nt_kernel(net, x, what = c("ntk", "nngp"))
  k1 <- 2 * tcrossprod(x) / 3 + 0.1
  s <- sqrt(diag(k1))
  rho <- pmin(pmax(k1 / outer(s, s), -1), 1)
  diag(rho) <- 1                                              # exactly, not to the last ulp
  theta <- acos(rho)
  relu <- outer(s, s) * (sin(theta) + (pi - theta) * rho) / (2 * pi)
  t2 <- k1 * (pi - theta) / (2 * pi)
  factor <- ifelse(diag(5) == 1, 1 / rate, 1)                 # an input with itself: the same mask twice
  want_nngp <- 1.5 * relu * factor + 0.2
  expect_equal(unclass(got$nngp)[, ], want_nngp, tolerance = 1e-12, ignore_attr = TRUE)
  expect_equal(unclass(got$ntk)[, ], 1.5 * t2 * factor + want_nngp, tolerance = 1e-12, ignore_attr = TRUE)
})

test_that("rate 1 is no dropout, and cross kernels are blocks of the joint kernel", {
  set.seed(2)
  x <- matrix(rnorm(12), 4)
  z <- matrix(rnorm(9), 3)
  plain <- nt_serial(nt_dense(2, 0.1), nt_relu(), nt_dense(1, 0.1), nt_erf(), nt_dense())
  with <- function(rate) nt_serial(nt_dense(2, 0.1), nt_relu(), nt_dropout(rate), nt_dense(1, 0.1), nt_erf(),
                                   nt_dropout(rate), nt_dense())
  for (what in c("ntk", "nngp")) {
    expect_equal(unclass(nt_kernel(with(1), x, what = what))[, ], unclass(nt_kernel(plain, x, what = what))[, ],
                 tolerance = 1e-14)
    joint <- unclass(nt_kernel(with(0.7), rbind(x, z), what = what))[, ]
    expect_equal(unclass(nt_kernel(with(0.7), x, z, what = what))[, ], joint[1:4, 5:7], tolerance = 1e-12)
    # z identical to x is the symmetric kernel (each input with itself)
    expect_equal(unclass(nt_kernel(with(0.7), x, x, what = what))[, ], unclass(nt_kernel(with(0.7), x, what = what))[, ],
                 tolerance = 1e-14)
  }
  # images: the same, position by position
  img <- array(rnorm(3 * 3 * 3 * 2), c(3, 3, 3, 2))
  cnn <- function(rate) nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_dropout(rate), nt_conv(3, 2), nt_relu(),
                                  nt_global_avg_pool(), nt_dense())
  plain_cnn <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_conv(3, 2), nt_relu(), nt_global_avg_pool(), nt_dense())
  expect_equal(unclass(nt_kernel(cnn(1), img))[, ], unclass(nt_kernel(plain_cnn, img))[, ], tolerance = 1e-14)
  joint <- unclass(nt_kernel(cnn(0.5), img))[, ]
  expect_equal(unclass(nt_kernel(cnn(0.5), img[1:2, , , , drop = FALSE], img[3, , , , drop = FALSE]))[, ],
               joint[1:2, 3], tolerance = 1e-12)
  expect_gt(min(diag(joint) - diag(unclass(nt_kernel(plain_cnn, img))[, ])), 0)
})

test_that("finite networks with dropout converge to its kernel", {
  # width 2048 (fully connected, 10 draws) and 512 channels (8 draws):
  # relative errors of 1-5 per cent were seen; 0.12 is several standard errors
  set.seed(3)
  x <- matrix(rnorm(15), 5)
  net <- nt_serial(nt_dense(2, 0.1), nt_relu(), nt_dropout(0.6), nt_dense(1.5, 0.2), nt_erf(), nt_dropout(0.8),
                   nt_dense())
  expect_monte_carlo(net, x, width = 2048, samples = 10, seed = 1,
                     tolerance = 0.12)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  for (readout in list(nt_global_avg_pool(), nt_flatten())) {
    cnn <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_dropout(0.5), nt_conv(3, 2), nt_relu(), nt_dropout(0.7),
                     readout, nt_dense())
    expect_monte_carlo(cnn, img, width = 512, samples = 8, seed = 2,
                       tolerance = 0.12, label = format(readout))
  }
})

test_that("dropout refuses what it cannot do", {
  for (bad in list(0, -0.1, 1.5, NA, "a")) expect_error(nt_dropout(bad), "`rate`")
  x <- matrix(rnorm(6), 3)
  expect_error(nt_kernel(nt_serial(nt_dropout(0.5), nt_dense()), x), "acts on the inputs")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_dropout(0.5), nt_relu(), nt_dense()), x), "not Gaussian")
  expect_error(nt_train(nt_serial(nt_dense(), nt_relu(), nt_dropout(0.5), nt_dense()), x, 1:3, width = 8),
               "has dropout")
  plan <- ntk:::compile_plan(nt_serial(nt_dense(), nt_relu(), nt_dropout(0.5), nt_dense()))
  for (bad in c(0, 1.5, -1)) {
    d <- plan$dbls
    d[1, 3] <- bad
    expect_error(.Call(ntk:::C_ntk_fc_kernel, x, NULL, plan$ints, d, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
                 "keep rate must be in \\(0, 1\\]")
  }
  fin <- ntk:::finite_setup(nt_serial(nt_dense(), nt_relu(), nt_dropout(0.5), nt_dense()), x, NULL)
  expect_error(.Call(ntk:::C_ntk_train, fin$data, c(1, 2, 3), NULL, fin$shape, fin$plan$ints, fin$plan$dbls,
                     fin$plan$geom, list(), 8L, 0.1, c(0L, 2L), FALSE, TRUE, FALSE), "\\(dropout\\)")
})
