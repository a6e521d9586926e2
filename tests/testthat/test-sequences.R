# Sequences (n x L x C arrays) and 1-d convolutions: closed forms (a
# length-1 sequence is a dense layer; circular padding with global pooling
# is invariant to cyclic shifts), the same network on one-row images, and
# Monte Carlo of finite 1-d CNNs.

test_that("a 1-d convolution on a length-1 sequence is a dense layer", {
  set.seed(1)
  x <- matrix(rnorm(12), 4)
  seqs <- array(x, c(4, 1, 3))
  # "same" padding keeps the divisor q = 3 at the borders: one of three taps is inside
  conv <- nt_serial(nt_conv(3, 1.5, 0.1), nt_relu(), nt_conv(3, 2), nt_relu(), nt_flatten(), nt_dense())
  dense <- nt_serial(nt_dense(0.5, 0.1), nt_relu(), nt_dense(2 / 3), nt_relu(), nt_dense())
  for (what in c("ntk", "nngp"))
    expect_equal(unclass(nt_kernel(conv, seqs, what = what))[, ], unclass(nt_kernel(dense, x, what = what))[, ],
                 tolerance = 1e-13)
})

test_that("sequences are one-row images with 1 x q windows", {
  set.seed(2)
  seqs <- array(rnorm(3 * 9 * 2), c(3, 9, 2))
  rows <- array(seqs, c(3, 1, 9, 2))
  one_d <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_conv(5, 2, stride = 2), nt_erf(), nt_avg_pool(2),
                     nt_conv(3, 2, padding = "circular"), nt_relu(), nt_global_avg_pool(), nt_dense())
  two_d <- nt_serial(nt_conv(c(1, 3), 1, 0.1), nt_relu(), nt_conv(c(1, 5), 2, stride = c(1, 2)), nt_erf(),
                     nt_avg_pool(c(1, 2)), nt_conv(c(1, 3), 2, padding = "circular"), nt_relu(),
                     nt_global_avg_pool(), nt_dense())
  expect_equal(unclass(nt_kernel(one_d, seqs))[, ], unclass(nt_kernel(two_d, rows))[, ], tolerance = 1e-14)
  # the square filters of a 2-d reading of the same one-row images differ
  plain <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_conv(3, 2), nt_relu(), nt_flatten(), nt_dense())
  expect_gt(max(abs(unclass(nt_kernel(plain, rows))[, ] - unclass(nt_kernel(plain, seqs))[, ])), 1e-3)
  # circular padding and global pooling: a cyclic shift of a sequence changes nothing
  circ <- nt_serial(nt_conv(3, 1, padding = "circular"), nt_relu(), nt_conv(3, 2, padding = "circular"),
                    nt_relu(), nt_global_avg_pool(), nt_dense())
  shifted <- seqs
  shifted[1, , ] <- seqs[1, c(4:9, 1:3), ]
  expect_equal(unclass(nt_kernel(circ, shifted))[, ], unclass(nt_kernel(circ, seqs))[, ], tolerance = 1e-12)
  # fits keep the 1-d network: predictions on new sequences
  fit <- nt_fit(seqs, c(1, -1, 0.5), net = circ, diag_reg = 1e-3)
  expect_equal(unname(predict(fit, seqs)), unname(fitted(fit)), tolerance = 1e-8)
})

test_that("finite 1-d CNNs converge to their kernels", {
  # 512 channels, 10 draws: errors of 1-4 per cent were seen; 0.1 is several standard errors
  set.seed(3)
  seqs <- array(rnorm(3 * 8 * 2), c(3, 8, 2))
  for (readout in list(nt_global_avg_pool(), nt_flatten())) {
    net <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_conv(3, 2, stride = 2), nt_relu(), readout, nt_dense())
    expect_monte_carlo(net, seqs, width = 512, samples = 10, seed = 1,
                       tolerance = 0.1, label = format(readout))
  }
})

test_that("sequence layers take one size", {
  seqs <- array(rnorm(2 * 5 * 2), c(2, 5, 2))
  expect_error(nt_kernel(nt_serial(nt_conv(c(3, 1)), nt_relu(), nt_flatten(), nt_dense()), seqs),
               "take one size")
  expect_error(nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_avg_pool(c(2, 1)), nt_flatten(), nt_dense()), seqs),
               "window 2 x 1")
  expect_error(nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_flatten(), nt_dense()), seqs, array(0, c(2, 4, 2))),
               "`z` holds")
})
