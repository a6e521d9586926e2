# Layer normalisation against three references: the recursion written out
# by hand for a small fully connected network, invariances that only a
# normalisation has (rescaled inputs give the same kernel), and Monte Carlo
# kernels of wide finite networks (fully connected and convolutional, both
# axes).

test_that("a fully connected layer norm is the recursion written out", {
  set.seed(1)
  x <- matrix(rnorm(15), 5)
  eps <- 1e-3                                                  # large enough to matter
  net <- nt_serial(nt_dense(2, 0.1), nt_layer_norm(eps = eps), nt_relu(), nt_dense(1.5, 0.2))
  got <- nt_kernel(net, x, what = c("ntk", "nngp"))
  k1 <- 2 * tcrossprod(x) / 3 + 0.1                            # NNGP = NTK after the first dense layer
  s <- diag(k1) + eps
  k2 <- k1 / sqrt(outer(s, s))
  r <- relu_duals(k2)
  want_nngp <- 1.5 * r$k + 0.2
  want_ntk <- 1.5 * k2 * r$kdot + want_nngp
  expect_equal(unclass(got$nngp)[, ], want_nngp, tolerance = 1e-12, ignore_attr = TRUE)
  expect_equal(unclass(got$ntk)[, ], want_ntk, tolerance = 1e-12, ignore_attr = TRUE)
})

test_that("normalised kernels do not see the inputs' scale", {
  set.seed(2)
  x <- matrix(rnorm(12), 4)
  net <- nt_serial(nt_dense(2), nt_layer_norm(), nt_erf(), nt_dense(1, 0.1))
  scaled <- x * c(3, 0.1, 1, 50)                               # each row its own scale
  for (what in c("ntk", "nngp"))                                # (eps = 1e-12 moves it by 1e-10)
    expect_equal(unclass(nt_kernel(net, scaled, what = what))[, ], unclass(nt_kernel(net, x, what = what))[, ],
                 tolerance = 1e-8)
  # on images: over channels each position's scale, over all only each image's, drops out
  img <- array(rnorm(2 * 3 * 3 * 2), c(2, 3, 3, 2))
  by_position <- img
  by_position[1, 2, 3, ] <- 7 * img[1, 2, 3, ]
  by_image <- img
  by_image[2, , , ] <- 0.2 * img[2, , , ]
  on_input <- function(axis) nt_serial(nt_layer_norm(axis), nt_conv(3), nt_relu(), nt_global_avg_pool(), nt_dense())
  after_conv <- function(axis) nt_serial(nt_conv(3), nt_layer_norm(axis), nt_relu(), nt_global_avg_pool(), nt_dense())
  kern <- function(net, a) unclass(nt_kernel(net, a))[, ]
  expect_equal(kern(on_input("channels"), by_position), kern(on_input("channels"), img), tolerance = 1e-10)
  expect_gt(max(abs(kern(on_input("all"), by_position) - kern(on_input("all"), img))), 1e-3)
  for (axis in c("channels", "all"))
    expect_equal(kern(after_conv(axis), by_image), kern(after_conv(axis), img), tolerance = 1e-10)
  # 1 x 1 images: both axes are the fully connected layer norm
  one <- array(rnorm(3 * 2), c(3, 1, 1, 2))
  fc <- unclass(nt_kernel(nt_serial(nt_dense(), nt_layer_norm(), nt_relu(), nt_dense()), matrix(one, 3)))[, ]
  for (axis in c("channels", "all"))
    expect_equal(unclass(nt_kernel(nt_serial(nt_conv(1), nt_layer_norm(axis), nt_relu(), nt_flatten(),
                                             nt_dense()), one))[, ], fc, tolerance = 1e-12)
})

test_that("finite networks with layer norms converge to their kernels", {
  # width 2048 (fully connected) and 512 channels (convolutional), 8 draws:
  # relative Monte Carlo errors of 1-4 per cent were seen; 0.1 is several
  # standard errors
  set.seed(3)
  x <- matrix(rnorm(15), 5)
  net <- nt_serial(nt_dense(2, 0.1), nt_layer_norm(), nt_relu(), nt_dense(1.5, 0.2), nt_layer_norm(),
                   nt_erf(), nt_dense())
  expect_monte_carlo(net, x, width = 2048, samples = 8, seed = 1,
                     tolerance = 0.1)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  for (axis in c("channels", "all")) {
    for (readout in list(nt_global_avg_pool(), nt_flatten())) {
      cnn <- nt_serial(nt_layer_norm(axis), nt_conv(3, 1, 0.1), nt_layer_norm(axis), nt_relu(), nt_conv(3, 2),
                       nt_layer_norm(axis), nt_erf(), readout, nt_dense())
      expect_monte_carlo(cnn, img, width = 512, samples = 8, seed = 2,
                         tolerance = 0.1, label = paste(axis, format(readout)))
    }
  }
})

test_that("layer norms refuse what they cannot normalise", {
  expect_error(nt_layer_norm(eps = 0), "`eps` must be positive")
  expect_error(nt_layer_norm(eps = -1), "`eps`")
  expect_error(nt_layer_norm("rows"), "'arg' should be one of")
  x <- matrix(rnorm(6), 3)
  expect_error(nt_kernel(nt_serial(nt_layer_norm(), nt_dense()), x[, 1, drop = FALSE]),
               "normalises the inputs over an axis of width 1")
  expect_error(nt_empirical(nt_serial(nt_layer_norm(), nt_dense()), x[, 1, drop = FALSE], width = 8),
               "axis of width 1")
  img1 <- array(rnorm(2 * 9), c(2, 3, 3, 1))
  expect_error(nt_kernel(nt_serial(nt_layer_norm(), nt_conv(3), nt_relu(), nt_flatten(), nt_dense()), img1),
               "axis of width 1")
  expect_gt(unclass(nt_kernel(nt_serial(nt_layer_norm("all"), nt_conv(3), nt_relu(), nt_flatten(), nt_dense()),
                              img1))[1, 1], 0)                   # 9 values per image: fine
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_relu(), nt_layer_norm(), nt_dense()), x), "follows an activation")
  # the C side: eps checked, and a finite group of one unit refused
  plan <- ntk:::compile_plan(nt_serial(nt_dense(), nt_layer_norm(), nt_dense()))
  d <- plan$dbls
  d[1, 2] <- 0
  expect_error(.Call(ntk:::C_ntk_fc_kernel, x, NULL, plan$ints, d, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
               "eps must be positive")
  fin <- ntk:::finite_setup(nt_serial(nt_layer_norm(), nt_dense()), x, NULL)
  expect_error(.Call(ntk:::C_ntk_empirical, fin$data[1, , drop = FALSE], c(1L, 1L, 1L), fin$plan$ints,
                     fin$plan$dbls, fin$plan$geom, list(), 8L, 1L, FALSE), "axis of width 1")
})
