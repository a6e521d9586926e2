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
    expect_monte_carlo(net, img, width = 256, samples = 10, seed = 1,
                       tolerance = 0.1, label = format(readout))
  }
})

test_that("gradient descent through unshared filters follows their empirical NTK", {
  set.seed(3)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  net <- nt_serial(nt_conv_local(3, 1, 0.1), nt_relu(), nt_conv_local(3, 2), nt_relu(), nt_flatten(), nt_dense())
  expect_gradient_step(net, img, c(1, -1, 0.5), width = 16)
  expect_match(format(nt_conv_local(3)), "^ConvLocal\\(3x3")
  expect_error(nt_conv_local(0), "`filter`")
})
