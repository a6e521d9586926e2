# Pooling with "same" padding and normalize_edges: the pooled Gram matrix
# written out by hand, "same" equal to "valid" when the windows fit, and
# Monte Carlo of finite networks.

test_that("same-padded pooling is the pooled Gram matrix, by hand", {
  set.seed(1)
  x <- array(rnorm(2 * 3 * 3), c(2, 3, 3, 1))
  # 3 positions, window 2, stride 2: 2 windows per axis, rows {1, 2} and {3}
  # (TensorFlow puts the one padding row after)
  spans <- list(1:2, 3)
  pool <- function(m, edges) {
    out <- matrix(0, 2, 2)
    for (i in 1:2) for (j in 1:2)
      out[i, j] <- sum(m[spans[[i]], spans[[j]]]) / if (edges) length(spans[[i]]) * length(spans[[j]]) else 4
    out
  }
  for (edges in c(FALSE, TRUE)) {
    net <- nt_serial(nt_avg_pool(2, padding = "same", normalize_edges = edges), nt_flatten(), nt_dense())
    got <- unclass(nt_kernel(net, x, what = "nngp"))[, ]
    pooled <- lapply(1:2, function(i) pool(x[i, , , 1], edges))
    want <- outer(1:2, 1:2, Vectorize(function(i, j) sum(pooled[[i]] * pooled[[j]]) / 4))
    expect_equal(got, want, tolerance = 1e-14)
  }
  # sum pooling with "same" padding: the window sums, no division
  net <- nt_serial(nt_sum_pool(2, padding = "same"), nt_flatten(), nt_dense())
  sums <- lapply(1:2, function(i) pool(x[i, , , 1], FALSE) * 4)
  expect_equal(unclass(nt_kernel(net, x, what = "nngp"))[1, 2], sum(sums[[1]] * sums[[2]]) / 4, tolerance = 1e-14)
})

test_that("same padding is valid padding when the windows fit", {
  set.seed(2)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  net <- function(pool) nt_serial(nt_conv(3), nt_relu(), pool, nt_conv(3, 2), nt_relu(), nt_global_avg_pool(), nt_dense())
  valid <- unclass(nt_kernel(net(nt_avg_pool(2)), img))[, ]
  for (edges in c(FALSE, TRUE))
    expect_equal(unclass(nt_kernel(net(nt_avg_pool(2, padding = "same", normalize_edges = edges)), img))[, ],
                 valid, tolerance = 1e-14)
})

test_that("finite networks with same-padded pooling converge to their kernels", {
  # 512 channels, 10 draws: relative errors of 4-7 per cent were seen; 0.15 is several standard errors
  set.seed(3)
  img <- array(rnorm(3 * 5 * 5 * 2), c(3, 5, 5, 2))
  for (edges in c(FALSE, TRUE)) {
    net <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_avg_pool(2, padding = "same", normalize_edges = edges),
                     nt_conv(3, 2), nt_relu(), nt_global_avg_pool(), nt_dense())
    expect_monte_carlo(net, img, width = 512, samples = 10, seed = 1,
                       tolerance = 0.15, label = edges)
  }
})

test_that("pooling arguments are checked in R and C", {
  expect_error(nt_avg_pool(2, padding = "full"), "'arg' should be one of")
  expect_error(nt_avg_pool(2, normalize_edges = NA), "`normalize_edges`")
  expect_match(format(nt_avg_pool(2, padding = "same", normalize_edges = TRUE)), "same, normalize_edges")
  img <- array(rnorm(2 * 3 * 3), c(2, 3, 3, 1))
  plan <- ntk:::compile_spatial_plan(nt_serial(nt_avg_pool(2, padding = "same"), nt_flatten(), nt_dense()),
                                     c(3L, 3L, 1L))
  conv <- function(dbls = plan$dbls, geom = plan$geom)
    .Call(ntk:::C_ntk_conv_kernel, aperm(img, 4:1), NULL, plan$ints, dbls, geom, plan$band, plan$full, list(),
          c(TRUE, TRUE), 1L, FALSE)
  expect_length(conv(), 2)
  d <- plan$dbls
  d[2, 1] <- 0.5
  expect_error(conv(d), "edge flag")
  g <- plan$geom
  g["pt", 1] <- 2L                                             # a whole window of padding
  expect_error(conv(geom = g), "pooling windows leave the image")
})
