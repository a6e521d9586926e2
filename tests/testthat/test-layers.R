test_that("nt_fc is exactly the documented serial network", {
  net <- nt_fc(depth = 2, activation = "erf", w_var = 1.5, b_var = 0.1, fixed = 1)
  expected <- nt_serial(nt_dense(1, 0.1, trainable = FALSE),
                        nt_erf(), nt_dense(1.5, 0.1, trainable = TRUE),
                        nt_erf(), nt_dense(1.5, 0.1, trainable = TRUE))
  # the same layers, with nt_fc's parameter ties and build record on top
  untied <- lapply(net, function(l) { l$tie <- NULL; l })
  attributes(untied) <- attributes(expected)
  expect_identical(untied, expected)
  expect_equal(attr(net, "ntk_fc")$w_var, 1.5)
  expect_length(nt_fc(0), 1L)
  expect_s3_class(nt_fc(3), "nt_network")
})

test_that("nested networks are flattened and print one line per layer", {
  block <- nt_serial(nt_relu(), nt_dense(2))
  net <- nt_serial(nt_dense(), block, list(nt_leaky_relu(0.1), nt_dense(2, 0.5, FALSE)))
  expect_length(net, 5L)
  out <- capture.output(print(net))
  expect_equal(out[1], "<ntk network> 5 layers")
  expect_match(out[4], "Dense\\(w_var = 2, b_var = 0\\)")
  expect_match(out[5], "LeakyReLU\\(slope = 0.1\\)")
  expect_match(out[6], "Dense\\(w_var = 2, b_var = 0.5, frozen\\)")
  expect_match(capture.output(print(nt_activation(tanh)))[1], "Activation\\(tanh\\)")
  expect_length(net[2:3], 2L)
  expect_s3_class(c(net, nt_relu()), "nt_network")
})

test_that("a single layer works as a network", {
  x <- matrix(1:6, 3)
  expect_equal(unclass(nt_kernel(nt_dense(2, 1), x, what = "nngp"))[, ],
               2 * tcrossprod(x) / 2 + 1)
})

test_that("nt_threads gets and sets the default", {
  old <- nt_threads(1)
  on.exit(nt_threads(old))
  expect_equal(nt_threads(), 1L)
  expect_equal(nt_threads(2), 1L)
  expect_true(nt_threads() >= 1L)
  expect_error(nt_threads(0), "`n`")
})
