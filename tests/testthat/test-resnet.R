# The residual builders: the residual MLP against its recursion written out
# by hand (a residual block adds an independent branch: kernels add), both
# against Monte Carlo of their finite networks (of the declared widths),
# and the WRN's layout.

test_that("a residual MLP is its recursion written out", {
  set.seed(1)
  x <- matrix(rnorm(15), 5)
  got <- nt_kernel(nt_mlp_residual(1, "relu", w_var = 1.5, b_var = 0.1), x, what = c("ntk", "nngp"))
  k0 <- 1.5 * tcrossprod(x) / 3 + 0.1
  t0 <- k0
  r <- relu_duals(k0)
  kb <- 1.5 * r$k + 0.1                                       # the block: relu, dense
  tb <- 1.5 * t0 * r$kdot + kb
  k1 <- k0 + kb                                               # beside the identity, summed
  t1 <- t0 + tb
  r <- relu_duals(k1)
  want_nngp <- 1.5 * r$k + 0.1
  expect_equal(unclass(got$nngp)[, ], want_nngp, tolerance = 1e-13, ignore_attr = TRUE)
  expect_equal(unclass(got$ntk)[, ], 1.5 * t1 * r$kdot + want_nngp, tolerance = 1e-13, ignore_attr = TRUE)
})

test_that("finite residual networks converge to the builders' kernels", {
  # residual MLP, width 1024, 10 draws; WRN-10 with k = 4 (64 to 256
  # channels) on 4 x 4 images, 30 draws: errors of 2-6 per cent were seen,
  # 0.15 is several standard errors
  set.seed(2)
  x <- matrix(rnorm(15), 5)
  mlp <- nt_mlp_residual(2, "erf", 1.5, 0.1, width = 1024)
  expect_monte_carlo(mlp, x, width = 2, samples = 10, seed = 1,
                     tolerance = 0.15)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  wrn <- nt_wide_resnet(10, 4)
  want <- nt_kernel(wrn, img, what = c("ntk", "nngp"))
  got <- nt_empirical(wrn, img, samples = 30, what = c("ntk", "nngp"), seed = 1)
  for (k in c("ntk", "nngp")) expect_lt(max(abs(got[[k]] - want[[k]])) / max(abs(want[[k]])), 0.15, label = k)
})

test_that("the wide resnet has neural-tangents' layout", {
  net <- nt_wide_resnet(16, 2)
  walk <- function(l) if (inherits(l, "nt_conv")) l$width else if (is.list(l)) unlist(lapply(l, walk))
  convs <- walk(unclass(net))
  # 1 stem + 3 groups x 2 blocks x 2 convolutions + 3 strided shortcuts
  expect_equal(length(convs), 1 + 3 * 2 * 2 + 3)
  expect_equal(sort(unique(convs)), c(16, 32, 64, 128))
  img <- array(rnorm(2 * 8 * 8 * 3), c(2, 8, 8, 3))
  k <- unclass(nt_kernel(net, img))[, ]
  expect_true(isSymmetric(k))
  expect_gt(min(eigen(k, symmetric = TRUE, only.values = TRUE)$values), 0)
  # the standard parameterization's NTK exceeds the NTK parameterization's here (fan-ins of hundreds)
  expect_gt(min(diag(unclass(nt_kernel(nt_wide_resnet(10, 1, parameterization = "standard"), img))) -
                diag(unclass(nt_kernel(nt_wide_resnet(10, 1), img)))), 0)
  expect_error(nt_wide_resnet(12), "6 n \\+ 4")
  expect_error(nt_wide_resnet(4), "`depth`")
  expect_error(nt_wide_resnet(10, 0), "`width_factor` must be positive")
  expect_error(nt_mlp_residual(0), "`depth`")
  expect_error(nt_mlp_residual(2, "tanh"), "'arg' should be one of")
})
