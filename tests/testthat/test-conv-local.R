# Locally connected layers (unshared convolutions) against independent
# facts: without pooling their kernels equal the CNN's (Novak et al. 2019:
# the readout of the spatial diagonal cannot tell shared from unshared
# filters); straight into global pooling they leave only the diagonal
# (GAP = Flatten / P); Monte Carlo of finite locally connected networks;
# and one gradient step against their empirical NTK.

test_that("without pooling the locally connected kernels are the CNN's", {
  set.seed(1)
  img <- array(rnorm(3 * 5 * 5 * 2), c(3, 5, 5, 2))
  net <- function(conv) nt_serial(conv(3, 1, 0.1), nt_relu(), conv(3, 2, stride = 2), nt_erf(), nt_flatten(), nt_dense())
  for (what in c("ntk", "nngp"))
    expect_equal(unclass(nt_kernel(net(nt_conv_local), img, what = what))[, ],
                 unclass(nt_kernel(net(nt_conv), img, what = what))[, ], tolerance = 1e-13)
  # into global pooling: only each position with itself remains, so GAP is Flatten / P
  last <- function(readout) nt_serial(nt_conv(3), nt_relu(), nt_conv_local(3, 2), readout, nt_dense())
  for (what in c("ntk", "nngp"))
    expect_equal(unclass(nt_kernel(last(nt_global_avg_pool()), img, what = what))[, ],
                 unclass(nt_kernel(last(nt_flatten()), img, what = what))[, ] / 25, tolerance = 1e-13)
  # whereas a CNN's GAP kernel keeps the pairs of different positions
  cnn <- nt_serial(nt_conv(3), nt_relu(), nt_conv(3, 2), nt_global_avg_pool(), nt_dense())
  expect_gt(max(abs(unclass(nt_kernel(cnn, img))[, ] - unclass(nt_kernel(last(nt_global_avg_pool()), img))[, ])), 1e-3)
})

test_that("finite locally connected networks converge to their kernels", {
  # 256 channels, 10 draws: errors of 1-3 per cent were seen; 0.1 is several standard errors
  set.seed(2)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  for (readout in list(nt_global_avg_pool(), nt_flatten())) {
    net <- nt_serial(nt_conv_local(3, 1, 0.1), nt_relu(), nt_conv_local(3, 2), nt_relu(), readout, nt_dense())
    want <- nt_kernel(net, img, what = c("ntk", "nngp"))
    got <- nt_empirical(net, img, width = 256, samples = 10, what = c("ntk", "nngp"), seed = 1)
    for (k in c("ntk", "nngp"))
      expect_lt(max(abs(got[[k]] - want[[k]])) / max(abs(want[[k]])), 0.1, label = paste(format(readout), k))
  }
})

test_that("gradient descent through unshared filters follows their empirical NTK", {
  # first order: one step of lr = 1e-5 moves f by lr Theta y
  set.seed(3)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  y <- c(1, -1, 0.5)
  net <- nt_serial(nt_conv_local(3, 1, 0.1), nt_relu(), nt_conv_local(3, 2), nt_relu(), nt_flatten(), nt_dense())
  fit <- nt_train(net, img, y, width = 16, learning_rate = 1e-5, steps = 1, record = c(0, 1), ntk = TRUE, seed = 3)
  expect_equal(fit$train[, 2] - fit$train[, 1], drop(1e-5 * fit$ntk_start %*% y), tolerance = 1e-4)
  expect_match(format(nt_conv_local(3)), "^ConvLocal\\(3x3")
  expect_error(nt_conv_local(0), "`filter`")
})
