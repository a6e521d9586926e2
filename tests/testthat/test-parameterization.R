# The standard parameterization against the recursion written out by hand,
# its relations to the NTK parameterization (same NNGP), Monte Carlo of
# finite networks of the declared widths, and a step of gradient descent
# (whose first-order change is the empirical NTK times the targets).

test_that("the standard NTK is the recursion written out by hand", {
  set.seed(1)
  x <- matrix(rnorm(15), 5)
  width <- 256
  net <- nt_serial(nt_dense(2, 0.1, parameterization = "standard", width = width), nt_relu(),
                   nt_dense(1.5, 0.2, parameterization = "standard"))
  got <- nt_kernel(net, x, what = c("ntk", "nngp"))
  g <- tcrossprod(x) / 3
  k1 <- 2 * g + 0.1
  t1 <- 3 * g + 1                                              # fan-in 3 input columns, + 1 for the bias
  r <- relu_duals(k1)
  expect_equal(unclass(got$nngp)[, ], 1.5 * r$k + 0.2, tolerance = 1e-13, ignore_attr = TRUE)
  expect_equal(unclass(got$ntk)[, ], 1.5 * t1 * r$kdot + width * r$k + 1, tolerance = 1e-13, ignore_attr = TRUE)
  # a frozen standard layer adds nothing of its own
  frozen <- nt_serial(nt_dense(2, 0.1, trainable = FALSE, parameterization = "standard", width = width),
                      nt_relu(), nt_dense(1.5, 0.2, parameterization = "standard"))
  expect_equal(unclass(nt_kernel(frozen, x))[, ], width * r$k + 1, tolerance = 1e-13, ignore_attr = TRUE)
})

test_that("the NNGP does not depend on the parameterization", {
  set.seed(2)
  x <- matrix(rnorm(12), 4)
  img <- array(rnorm(2 * 4 * 4 * 3), c(2, 4, 4, 3))
  fc <- function(p) nt_serial(nt_dense(2, 0.1, parameterization = p, width = 32), nt_erf(),
                              nt_dense(1, 0.3, parameterization = p))
  cnn <- function(p) nt_serial(nt_conv(3, 1, 0.1, parameterization = p, width = 16), nt_relu(),
                               nt_conv(3, 2, stride = 2, parameterization = p, width = 16), nt_relu(),
                               nt_flatten(), nt_dense(1, parameterization = p))
  expect_equal(unclass(nt_kernel(fc("standard"), x, what = "nngp"))[, ],
               unclass(nt_kernel(fc("ntk"), x, what = "nngp"))[, ], tolerance = 1e-14)
  expect_equal(unclass(nt_kernel(cnn("standard"), img, what = "nngp"))[, ],
               unclass(nt_kernel(cnn("ntk"), img, what = "nngp"))[, ], tolerance = 1e-14)
  # the NTKs differ, and the standard one grows with the widths
  wide <- nt_serial(nt_dense(2, 0.1, parameterization = "standard", width = 64), nt_erf(),
                    nt_dense(1, 0.3, parameterization = "standard"))
  expect_gt(min(diag(unclass(nt_kernel(wide, x))) - diag(unclass(nt_kernel(fc("standard"), x)))), 0)
})

test_that("finite networks of the declared widths converge to the standard NTK", {
  # the layers' own widths (256 and 64) override nt_empirical's `width`;
  # 40 and 30 draws: relative errors of 2-6 per cent were seen, 0.15 is
  # several standard errors
  set.seed(3)
  x <- matrix(rnorm(15), 5)
  net <- nt_serial(nt_dense(2, 0.1, parameterization = "standard", width = 256), nt_relu(),
                   nt_dense(1.5, 0.2, parameterization = "standard"))
  expect_monte_carlo(net, x, width = 3, samples = 40, seed = 1,
                     tolerance = 0.15)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  for (readout in list(nt_global_avg_pool(), nt_flatten())) {
    cnn <- nt_serial(nt_conv(3, 1, 0.1, parameterization = "standard", width = 64), nt_relu(),
                     nt_conv(3, 2, parameterization = "standard", width = 64), nt_relu(), readout,
                     nt_dense(1, parameterization = "standard"))
    expect_monte_carlo(cnn, img, width = 5, samples = 30, seed = 2,
                       tolerance = 0.15, label = format(readout))
  }
})

test_that("gradient descent in the standard parameterization follows its empirical NTK", {
  set.seed(4)
  x <- matrix(rnorm(15), 5)
  net <- nt_serial(nt_dense(2, 0.1, parameterization = "standard", width = 64), nt_relu(),
                   nt_dense(1.5, 0.2, parameterization = "standard"))
  expect_gradient_step(net, x, rnorm(5), width = 8)
})

test_that("the parameterization and widths are checked", {
  expect_error(nt_dense(parameterization = "mean-field"), "'arg' should be one of")
  expect_error(nt_dense(width = 0), "`width`")
  expect_error(nt_conv(width = 2.5), "`width`")
  x <- matrix(rnorm(6), 3)
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_relu(), nt_dense(parameterization = "standard")), x),
               "layer 3 .* give the dense or convolutional layer before it a `width`")
  plan <- ntk:::compile_plan(nt_serial(nt_dense(parameterization = "standard"), nt_relu(), nt_dense()), 2L)
  expect_equal(plan$dbls[3, 1], 2)                             # the fan-in: two input columns
  for (bad in c(-1, 2.5, 1e13)) {
    d <- plan$dbls
    d[3, 1] <- bad
    expect_error(.Call(ntk:::C_ntk_fc_kernel, x, NULL, plan$ints, d, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
                 "fan-in must be a whole number")
  }
  d <- plan$dbls
  d[4, 1] <- -3
  expect_error(.Call(ntk:::C_ntk_fc_kernel, x, NULL, plan$ints, d, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
               "width must be a whole number")
})
