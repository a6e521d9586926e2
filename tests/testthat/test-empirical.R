# Finite networks in C: their Monte Carlo kernels converge to the analytic
# ones. Tolerances: at width W averaged over S networks the relative
# Frobenius error of the NTK is about c / sqrt(W S) with c near 3 for these
# depths (measured: 0.021 at W = 2048, S = 20, depth 3), so 0.05 at
# W = 1024, S = 10 is about 2.5 standard errors; the convolutional kernels
# (W = 256) get 0.08, as the issue states.
rel_err <- function(a, b) sqrt(sum((a - b)^2) / sum(b^2))

test_that("empirical kernels of wide fully connected networks match nt_kernel", {
  set.seed(3)
  x <- matrix(rnorm(6 * 5), 6)
  x[2, ] <- 0.5 * x[1, ] + 0.1 * rnorm(5)
  for (act in c("relu", "erf", "gelu", "abs", "leaky_relu")) {
    net <- nt_fc(3, act, w_var = if (act == "erf") 1.5 else 2, b_var = 0.1, fixed = 1)
    e <- nt_empirical(net, x, width = 1024, samples = 10, what = c("ntk", "nngp"), seed = 11)
    k <- nt_kernel(net, x, what = c("ntk", "nngp"))
    expect_lt(rel_err(e$ntk, k$ntk), 0.05, label = paste(act, "NTK"))
    expect_lt(rel_err(e$nngp, k$nngp), 0.05, label = paste(act, "NNGP"))
  }
  z <- matrix(rnorm(2 * 5), 2)
  cross <- nt_empirical(nt_fc(2), x, z, width = 1024, samples = 10, seed = 5)
  expect_equal(dim(cross), c(6L, 2L))
  expect_lt(rel_err(cross, nt_kernel(nt_fc(2), x, z)), 0.05)
})

test_that("empirical kernels of wide CNNs match nt_kernel (Flatten, GAP, strides, padding)", {
  set.seed(2)
  img <- array(rnorm(4 * 4 * 4 * 2), c(4, 4, 4, 2))
  nets <- list(nt_cnn(2, readout = "flatten", b_var = 0.1), nt_cnn(2, readout = "gap"),
               nt_serial(nt_conv(3, 1, 0.1, "circular", stride = 2), nt_erf(),
                         nt_conv(2, 1.5, padding = "valid"), nt_gelu(), nt_flatten(), nt_dense(2, 0.1)),
               nt_serial(nt_conv(3, 1), nt_relu(), nt_avg_pool(2), nt_dense(2), nt_relu(),
                         nt_global_avg_pool(), nt_dense(2)))
  for (net in nets) {
    e <- nt_empirical(net, img, width = 256, samples = 10, what = c("ntk", "nngp"), seed = 3)
    k <- nt_kernel(net, img, what = c("ntk", "nngp"))
    expect_lt(rel_err(e$ntk, k$ntk), 0.08)
    expect_lt(rel_err(e$nngp, k$nngp), 0.08)
  }
})

test_that("the Monte Carlo error shrinks like 1 / sqrt(width)", {
  set.seed(4)
  x <- matrix(rnorm(5 * 4), 5)
  k <- nt_kernel(nt_fc(2), x)
  # average the error over independent repetitions to see the trend, not the noise
  err <- function(width) mean(sapply(1:6, function(s)
    rel_err(nt_empirical(nt_fc(2), x, width = width, samples = 2, seed = s), k)))
  ratio <- err(128) / err(2048)                      # 16 x the width: expect about 4
  expect_gt(ratio, 2.5)
  expect_lt(ratio, 6.5)
})

test_that("seeds make draws reproducible and leave the global stream alone", {
  x <- matrix(rnorm(6), 3)
  set.seed(9)
  before <- runif(1)
  set.seed(9)
  a <- nt_empirical(nt_fc(1), x, width = 64, seed = 1)
  expect_equal(runif(1), before)
  expect_identical(a, nt_empirical(nt_fc(1), x, width = 64, seed = 1))
  set.seed(2); b <- nt_empirical(nt_fc(1), x, width = 64)
  set.seed(2); c <- nt_empirical(nt_fc(1), x, width = 64)
  expect_identical(b, c)
})

test_that("gradient descent of a wide network follows gradient flow", {
  set.seed(3)
  x <- matrix(rnorm(8 * 3), 8)
  y <- sin(x[, 1]) + 0.5 * x[, 2]
  eta <- 0.02
  run <- nt_train(nt_fc(2), x, y, width = 1024, learning_rate = eta, steps = 150, ntk = TRUE, seed = 1)
  expect_equal(run$steps, unique(round(seq(0, 150, length.out = 11))))
  expect_equal(unname(run$train[, 1]), rep(0, 8))    # centred output starts at 0
  flow <- nt_predict(nt_kernel(nt_fc(2), x), y, t = run$steps * eta)
  for (i in seq_along(run$steps)[-1])
    expect_lt(rel_err(run$train[, i], flow$train[, i]), 0.05)
  expect_lt(rel_err(run$ntk_start, nt_kernel(nt_fc(2), x)), 0.15)
  expect_lt(rel_err(run$ntk_end, run$ntk_start), 0.05)   # lazy training: the kernel barely moves
  narrow <- nt_train(nt_fc(2), x, y, width = 128, learning_rate = eta, steps = 150, seed = 1)
  expect_gt(narrow$weight_change[11], 2 * run$weight_change[11])
  expect_equal(unname(run$weight_change[1]), 0)
  with_test <- nt_train(nt_cnn(1, readout = "gap"), array(rnorm(4 * 9), c(4, 3, 3, 1)), 1:4,
                        width = 64, learning_rate = 0.01, steps = 5, record = c(0, 5),
                        x_test = array(rnorm(9), c(1, 3, 3, 1)), seed = 1)
  expect_equal(dim(with_test$test), c(1L, 2L))
  expect_lt(sum((with_test$train[, 2] - 1:4)^2), sum((1:4)^2))   # the loss went down
})

test_that("nt_train's NTK covers x_test, starts at nt_empirical's network and moves with training", {
  set.seed(5)
  x <- matrix(rnorm(5 * 2), 5)
  xt <- matrix(rnorm(3 * 2), 3)
  net <- nt_fc(2, w_var = 1, b_var = 0.1)
  run <- nt_train(net, x, x[, 1], width = 32, learning_rate = 0.1, steps = 20, x_test = xt,
                  ntk = TRUE, seed = 7)
  expect_equal(dim(run$ntk_start), c(8L, 8L))
  # same seed, same draw: the starting NTK is nt_empirical's on rbind(x, xt)
  expect_equal(run$ntk_start, unclass(nt_empirical(net, rbind(x, xt), width = 32, seed = 7)),
               ignore_attr = TRUE, tolerance = 1e-12)
  alone <- nt_train(net, x, x[, 1], width = 32, learning_rate = 0.1, steps = 20, ntk = TRUE, seed = 7)
  expect_equal(run$ntk_end[1:5, 1:5], alone$ntk_end, tolerance = 1e-12)
  expect_equal(run$ntk_end, t(run$ntk_end), tolerance = 1e-12)
  expect_gt(max(abs(run$ntk_end - run$ntk_start)), 1e-6)   # width 32: the kernel moves
})

test_that("finite networks refuse what they cannot build", {
  x <- matrix(rnorm(6), 3)
  expect_error(nt_empirical(nt_serial(nt_dense(), nt_relu()), x), "must end with nt_dense")
  img <- array(rnorm(2 * 16), c(2, 4, 4, 1))
  expect_error(nt_empirical(nt_serial(nt_conv(3), nt_relu(), nt_local_avg_pool(1), nt_dense()), img),
               "no finite-network counterpart")
  expect_error(nt_train(nt_fc(1), x, 1:2), "`y` has 2 values")
  expect_error(nt_train(nt_fc(1), x, 1:3, learning_rate = 0), "`learning_rate` must be positive")
  expect_error(nt_train(nt_fc(1), x, 1:3, steps = 5, record = c(3, 1)), "`record`")
  expect_error(nt_empirical(nt_fc(1), x, width = 0), "`width`")
})

test_that("finite networks fail loudly on overflow and divergence", {
  set.seed(1)
  x <- matrix(rnorm(20), 10)
  y <- rnorm(10)
  expect_error(nt_empirical(nt_fc(2), x * 1e200, width = 8), "overflowed.*rescale `x`")
  expect_error(nt_train(nt_fc(2), x, y, width = 64, learning_rate = 1e3, steps = 100),
               "training diverged: the predictions overflowed by step")
  # a loss that grows a millionfold without overflowing is a warning naming
  # the step (finite networks above 2 / lambda_max often recover instead:
  # the catapult phase, so the check is on the recorded trajectory)
  growing <- list(train = cbind(0, y + 1, y + 1e4, y + 1e5))
  expect_warning(check_training(growing, y, c(0L, 5L, 10L, 15L), 3),
                 "training diverged at step 10: the training loss reached 1e\\+08")
  expect_silent(check_training(list(train = cbind(0, y / 2, y)), y, 0:2, 0.1))
  lambda <- max(eigen(nt_kernel(nt_fc(2), x), only.values = TRUE)$values)
  ok <- nt_train(nt_fc(2), x, y, width = 256, learning_rate = 0.5 / lambda, steps = 50, seed = 2)
  expect_true(all(is.finite(ok$train)))
})
