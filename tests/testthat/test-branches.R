# Branching networks (fan-out, parallel, fan-in, residual blocks) against
# (1) the plain R transcription of helper-cnn-reference.R, which walks the
# network object itself (not the compiled plan), to 1e-10 relative: the two
# are the same arithmetic in a different order; and (2) Monte Carlo of wide
# finite networks with the same branches (nt_empirical, backpropagation
# through the actual random network). Monte Carlo tolerances as in
# test-empirical.R: relative Frobenius error about 3 / sqrt(width * samples)
# for the NTK, so 0.05 at width 1024 with 10 networks (2.5 standard errors)
# for fully connected networks and 0.08 at width 256 for convolutional ones.
rel_err <- function(a, b) sqrt(sum((a - b)^2) / sum(b^2))
as_pixels <- function(x) array(x, c(nrow(x), 1, 1, ncol(x)))   # n x 1 x 1 x d

branch_inputs <- function() {
  set.seed(7)
  x <- matrix(rnorm(5 * 4), 5)
  x[2, ] <- 0.6 * x[1, ] + 0.1 * rnorm(4)
  x
}

fc_branch_nets <- function() {
  block <- nt_serial(nt_relu(), nt_dense(2, 0.1))
  list(
    residual = nt_serial(nt_dense(1, 0.1), nt_residual(block), nt_residual(block), nt_relu(),
                         nt_dense(1, 0.05)),
    erf_frozen = nt_serial(nt_dense(1, 0.2, trainable = FALSE),
                           nt_residual(nt_serial(nt_erf(), nt_dense(1.5, 0.1))), nt_erf(),
                           nt_dense(1)),
    three_way = nt_serial(nt_dense(1), nt_fan_out(3),
                          nt_parallel(block, nt_serial(nt_erf(), nt_dense(1)), nt_serial()),
                          nt_fan_in_sum(), nt_relu(), nt_dense(2)),
    product = nt_serial(nt_dense(1, 0.1), nt_fan_out(2),
                        nt_parallel(block, nt_serial(nt_erf(), nt_dense(1, 0.2))),
                        nt_fan_in_prod(), nt_dense(1, 0.1), nt_relu(), nt_dense(1)),
    concat = nt_serial(nt_dense(1, 0.1), nt_fan_out(2),
                       nt_parallel(block, nt_serial(nt_erf(), nt_dense(1, 0.2))),
                       nt_fan_in_concat(), nt_dense(2), nt_relu(), nt_dense(1)),
    nested = nt_serial(nt_dense(1), nt_residual(nt_serial(nt_relu(), nt_dense(2),
                                                           nt_residual(block))),
                       nt_relu(), nt_dense(1)))
}

test_that("fully connected branching kernels match the plain transcription", {
  x <- branch_inputs()
  z <- x[c(1, 3), , drop = FALSE] + 0.3
  for (name in names(fc_branch_nets())) {
    net <- fc_branch_nets()[[name]]
    k <- nt_kernel(net, x, what = c("ntk", "nngp"))
    ref <- ref_cnn_kernel(net, as_pixels(x))
    expect_lt(rel_err(k$ntk, ref$ntk), 1e-10, label = paste(name, "NTK"))
    expect_lt(rel_err(k$nngp, ref$nngp), 1e-10, label = paste(name, "NNGP"))
    cross <- nt_kernel(net, x, z, what = c("ntk", "nngp"))
    ref_cross <- ref_cnn_kernel(net, as_pixels(x), as_pixels(z))
    expect_lt(rel_err(cross$ntk, ref_cross$ntk), 1e-10, label = paste(name, "cross NTK"))
    expect_true(isSymmetric(unclass(k$ntk)))
    expect_gt(min(eigen(k$ntk, symmetric = TRUE, only.values = TRUE)$values), -1e-10)
  }
})

test_that("fully connected residual networks match wide random networks", {
  x <- branch_inputs()
  for (name in names(fc_branch_nets())) {
    net <- fc_branch_nets()[[name]]
    # products have heavier tails: 40 networks (measured 0.032 / 0.033)
    samples <- if (name == "product") 40 else 10
    e <- nt_empirical(net, x, width = 1024, samples = samples, what = c("ntk", "nngp"), seed = 21)
    k <- nt_kernel(net, x, what = c("ntk", "nngp"))
    expect_lt(rel_err(e$ntk, k$ntk), 0.05, label = paste(name, "NTK"))
    expect_lt(rel_err(e$nngp, k$nngp), 0.05, label = paste(name, "NNGP"))
  }
})

conv_branch_nets <- function() {
  block <- nt_serial(nt_relu(), nt_conv(3, 2, 0.1))
  list(
    gap = nt_serial(nt_conv(3, 1), nt_residual(block), nt_residual(block), nt_relu(),
                    nt_global_avg_pool(), nt_dense(1)),
    flatten_projection = nt_serial(nt_conv(3, 1, 0.1),
                                   nt_residual(nt_serial(nt_relu(), nt_conv(3, 2, stride = 2)),
                                               shortcut = nt_conv(1, 1, stride = 2)),
                                   nt_relu(), nt_flatten(), nt_dense(1)),
    pooled_branches = nt_serial(nt_conv(2, 1, padding = "valid"), nt_fan_out(2),
                                nt_parallel(nt_serial(nt_erf(), nt_avg_pool(2, 1), nt_global_avg_pool(),
                                                      nt_dense(1)),
                                            nt_serial(nt_relu(), nt_flatten(), nt_dense(1, 0.1))),
                                nt_fan_in_sum(), nt_relu(), nt_dense(1)))
}

test_that("convolutional branching kernels match the plain transcription", {
  set.seed(4)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  for (name in names(conv_branch_nets())) {
    net <- conv_branch_nets()[[name]]
    k <- nt_kernel(net, img, what = c("ntk", "nngp"))
    ref <- ref_cnn_kernel(net, img)
    expect_lt(rel_err(k$ntk, ref$ntk), 1e-10, label = paste(name, "NTK"))
    expect_lt(rel_err(k$nngp, ref$nngp), 1e-10, label = paste(name, "NNGP"))
  }
})

test_that("convolutional residual networks match wide random networks", {
  set.seed(4)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  for (name in c("gap", "flatten_projection")) {
    net <- conv_branch_nets()[[name]]
    e <- nt_empirical(net, img, width = 256, samples = 10, what = c("ntk", "nngp"), seed = 5)
    k <- nt_kernel(net, img, what = c("ntk", "nngp"))
    expect_lt(rel_err(e$ntk, k$ntk), 0.08, label = paste(name, "NTK"))
    expect_lt(rel_err(e$nngp, k$nngp), 0.08, label = paste(name, "NNGP"))
  }
})

test_that("closed forms: a zero block is the identity, sums of equal branches add", {
  x <- branch_inputs()
  base <- nt_serial(nt_dense(1, 0.1), nt_relu(), nt_dense(2))
  with_zero <- nt_serial(nt_dense(1, 0.1), nt_residual(nt_dense(0, 0)), nt_relu(), nt_dense(2))
  expect_equal(nt_kernel(with_zero, x, what = c("ntk", "nngp")),
               nt_kernel(base, x, what = c("ntk", "nngp")), tolerance = 1e-14)
  # two independent dense branches on the same input: K = 2 (w K0 + b)
  twice <- nt_serial(nt_fan_out(2), nt_parallel(nt_dense(1.5, 0.2), nt_dense(1.5, 0.2)),
                     nt_fan_in_sum())
  k0 <- tcrossprod(x) / ncol(x)
  got <- nt_kernel(twice, x, what = c("ntk", "nngp"))
  expect_equal(unclass(got$nngp), 2 * (1.5 * k0 + 0.2), tolerance = 1e-14, ignore_attr = TRUE)
  expect_equal(unclass(got$ntk), 2 * (1.5 * k0 + 0.2), tolerance = 1e-14, ignore_attr = TRUE)
  # concatenating a branch with itself changes nothing
  same <- nt_serial(nt_dense(1, 0.1), nt_relu(), nt_fan_out(2), nt_parallel(nt_serial(), nt_serial()),
                    nt_fan_in_concat(), nt_dense(2))
  expect_equal(nt_kernel(same, x), nt_kernel(base, x), tolerance = 1e-14)
})

test_that("a wide residual network trains by gradient descent as its NTK's flow predicts", {
  # Linearised dynamics from the network's own start f0 (center = FALSE):
  # f_t - f0 = (I - exp(-eta Theta t)) (y - f0), i.e. nt_predict() on the
  # target y - f0. Tolerance 0.05 as in test-empirical.R (measured 0.04 at
  # the first recorded step, 0.01 later, width 1024; 0.01 at width 4096).
  x <- branch_inputs()
  net <- fc_branch_nets()$residual
  y <- sin(x[, 1]) + 0.5 * x[, 2]
  eta <- 0.02
  run <- nt_train(net, x, y, width = 1024, learning_rate = eta, steps = 100, ntk = TRUE,
                  center = FALSE, seed = 2)
  f0 <- run$train[, 1]
  k <- nt_kernel(net, x)
  flow <- nt_predict(k, y - f0, t = run$steps * eta)
  for (i in seq_along(run$steps)[-1])
    expect_lt(rel_err(run$train[, i] - f0, flow$train[, i]), 0.05)
  expect_lt(rel_err(run$ntk_start, k), 0.15)
  expect_lt(rel_err(run$ntk_end, run$ntk_start), 0.05)
})

test_that("branching networks that the rules do not cover are refused", {
  x <- branch_inputs()
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_fan_out(2),
                                   nt_parallel(nt_serial(), nt_relu()), nt_fan_in_sum()), x),
               "share their randomness")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_fan_out(2)), x), "ends with 2 branches")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_fan_out(2), nt_relu()), x), "meets 2 branches")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_fan_out(3), nt_parallel(nt_dense(), nt_dense())), x),
               "has 2 branches but meets 3")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_fan_in_sum()), x), "at least two branches")
  prod_then_relu <- nt_serial(nt_dense(), nt_fan_out(2), nt_parallel(nt_dense(), nt_dense()),
                              nt_fan_in_prod(), nt_relu(), nt_dense())
  expect_error(nt_kernel(prod_then_relu, x), "not Gaussian")
  concat_then_relu <- nt_serial(nt_dense(), nt_fan_out(2), nt_parallel(nt_dense(), nt_relu()),
                                nt_fan_in_concat(), nt_erf(), nt_dense())
  expect_error(nt_kernel(concat_then_relu, x), "not Gaussian")
  img <- array(rnorm(2 * 4 * 4), c(2, 4, 4, 1))
  expect_error(nt_kernel(nt_serial(nt_conv(3), nt_residual(nt_conv(3, stride = 2)), nt_flatten(),
                                   nt_dense()), img), "different shapes")
  expect_error(nt_parallel(nt_dense()), "at least two branches")
  expect_error(nt_fan_out(1), "`n`")
})

test_that("the C side validates the slots of a plan", {
  x <- branch_inputs()
  plan <- ntk:::compile_plan(fc_branch_nets()$residual)
  run <- function(ints) .Call(ntk:::C_ntk_fc_kernel, x, NULL, ints, plan$dbls, list(),
                              c(TRUE, TRUE), 1L, FALSE, TRUE)
  expect_equal(run(plan$ints)[[1]], unclass(nt_kernel(fc_branch_nets()$residual, x)),
               ignore_attr = TRUE)
  fan_in <- which(plan$ints["code", ] == ntk:::op_code("sum"))[1]
  empty <- plan$ints; empty["first", fan_in] <- 5L
  expect_error(run(empty), "slot 5 is empty")
  unmerged <- plan$ints; unmerged["code", fan_in] <- ntk:::op_code("dense")
  expect_error(run(unmerged), "names other slots")
  far <- plan$ints; far["slot", 1] <- 40L
  expect_error(run(far), "reads slot 40")
  wide <- plan$ints; wide["count", fan_in] <- 1e6L
  expect_error(run(wide), "outside")
  unused <- plan$ints; unused["count", fan_in] <- 0L
  expect_error(run(unused), "outside")
})

test_that("branching plans with one perturbed cell give an R error or finite kernels", {
  # every cell of the integer plan, replaced by values around and outside
  # the valid ranges of slots, counts and codes; the sanitizer stage of
  # `make test` runs this under ASan/UBSan
  set.seed(12)
  x <- branch_inputs()
  img <- aperm(array(rnorm(2 * 4 * 4 * 2), c(2, 4, 4, 2)), 4:1)
  fc <- ntk:::compile_plan(fc_branch_nets()$three_way)
  sp <- ntk:::compile_spatial_plan(conv_branch_nets()$gap, c(4L, 4L, 2L))
  fin <- ntk:::finite_setup(fc_branch_nets()$concat, x, NULL)
  calls <- list(
    fc = function(ints) .Call(ntk:::C_ntk_fc_kernel, x, NULL, ints, fc$dbls, list(),
                              c(TRUE, TRUE), 1L, FALSE, TRUE),
    conv = function(ints) .Call(ntk:::C_ntk_conv_kernel, img, NULL, ints, sp$dbls, sp$geom,
                                sp$band, sp$full, list(), c(TRUE, TRUE), 1L, FALSE),
    finite = function(ints) .Call(ntk:::C_ntk_empirical, fin$data, fin$shape, ints, fin$plan$dbls,
                                  fin$plan$geom, list(), 8L, 1L, FALSE))
  plans <- list(fc = fc$ints, conv = sp$ints, finite = fin$plan$ints)
  values <- c(-1L, 0L, 1L, 2L, 3L, 13L, 15L, 31L, 32L, 1000000L, NA)
  errors <- 0; total <- 0
  for (engine in names(calls)) {
    ints <- plans[[engine]]
    expect_true(all(is.finite(unlist(calls[[engine]](ints)))))
    for (cell in seq_along(ints)) for (v in values) {
      trial <- ints
      trial[cell] <- v
      out <- tryCatch(calls[[engine]](trial), error = function(e) e)
      total <- total + 1
      if (inherits(out, "error")) errors <- errors + 1
      else expect_true(all(is.finite(unlist(out))), label = sprintf("%s cell %d = %s", engine, cell, v))
    }
  }
  # many cells (trainable flags, table indices of plans without tables,
  # codes swapped for other valid codes) still make valid plans: measured 47 %
  expect_gt(errors / total, 0.3)
})

test_that("branches of shape-keeping stride-1 layers run in the band, equal to all pairs", {
  # the band engine (only the position pairs the readout reaches) against
  # the full one (all pairs), called on the same plan
  set.seed(11)
  img <- array(rnorm(3 * 6 * 6 * 2), c(3, 6, 6, 2))
  nets <- list(
    nt_serial(nt_conv(3, 1, 0.1), nt_residual(nt_serial(nt_relu(), nt_conv(3, 2))),
              nt_residual(nt_serial(nt_relu(), nt_conv(3, 1.5), nt_layer_norm(), nt_relu(), nt_conv(3, 2))),
              nt_relu(), nt_flatten(), nt_dense()),
    nt_serial(nt_conv(3, 1), nt_residual(nt_serial(nt_relu(), nt_conv(3, 2)), nt_conv(1)), nt_relu(),
              nt_local_avg_pool(2), nt_dense()),
    nt_serial(nt_conv(3, 1), nt_relu(), nt_flatten(), nt_dense(), nt_residual(nt_serial(nt_relu(), nt_dense(2))),
              nt_dense()))
  xc <- aperm(img, 4:1)
  for (net in nets) {
    plan <- ntk:::compile_spatial_plan(net, c(6L, 6L, 2L))
    expect_false(plan$full)
    band <- .Call(ntk:::C_ntk_conv_kernel, xc, NULL, plan$ints, plan$dbls, plan$geom, plan$band, FALSE, list(),
                  c(TRUE, TRUE), 1L, FALSE)
    full <- .Call(ntk:::C_ntk_conv_kernel, xc, NULL, plan$ints, plan$dbls, plan$geom, matrix(0L, 2, 1), TRUE,
                  list(), c(TRUE, TRUE), 1L, FALSE)
    for (k in 1:2) expect_equal(band[[k]], full[[k]], tolerance = 1e-14)
  }
  # a strided branch changes the shape: all pairs, and the band refused in C
  strided <- nt_serial(nt_conv(3, 1), nt_residual(nt_serial(nt_relu(), nt_conv(3, 2, stride = 2)),
                                                  nt_conv(1, stride = 2)), nt_relu(), nt_flatten(), nt_dense())
  plan <- ntk:::compile_spatial_plan(strided, c(6L, 6L, 2L))
  expect_true(plan$full)
  expect_error(.Call(ntk:::C_ntk_conv_kernel, xc, NULL, plan$ints, plan$dbls, plan$geom, matrix(0L, 2, 1), FALSE,
                     list(), c(TRUE, TRUE), 1L, FALSE), "needs all position pairs")
})
