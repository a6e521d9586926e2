# Small runs of every C path, cheap enough for valgrind (tools/valgrind.sh);
# each also checks a value.
test_that("each C path runs on small inputs", {
  set.seed(1)
  x <- matrix(rnorm(12), 4)
  table_net <- nt_fc(2, nt_activation(tanh, function(u) 1 - tanh(u)^2, nodes = 6, cells = 64))
  k <- nt_kernel(table_net, x, x[1:2, ], what = c("ntk", "nngp"))
  expect_equal(dim(k$ntk), c(4L, 2L))
  img <- array(rnorm(2 * 3 * 3 * 2), c(2, 3, 3, 2))
  band <- nt_kernel(nt_serial(nt_conv(2, 1, 0.1, stride = 2), nt_relu(), nt_local_avg_pool(1), nt_dense()), img)
  full <- nt_kernel(nt_serial(nt_conv(3, 1, padding = "circular"), nt_erf(), nt_avg_pool(2),
                              nt_global_avg_pool(), nt_dense()), img, flip = TRUE)
  expect_true(all(is.finite(band)) && all(is.finite(full)))
  p <- nt_predict(nt_kernel(nt_fc(1), x), x[, 1], nt_kernel(nt_fc(1), x[1:2, ], x), t = c(1, Inf))
  expect_equal(dim(p$test), c(2L, 2L))
  e <- nt_empirical(nt_serial(nt_conv(2, padding = "valid"), nt_relu(), nt_flatten(), nt_dense()),
                    img, width = 4, seed = 1)
  expect_equal(dim(e), c(2L, 2L))
  run <- nt_train(nt_fc(1), x, x[, 1], width = 4, steps = 2, record = 0:2, ntk = TRUE, seed = 1)
  expect_equal(dim(run$train), c(4L, 3L))
})
