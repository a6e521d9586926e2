# Graph aggregation against the graph NTK recursion written out by hand
# (A_x K A_z' over node pairs), its limits (the identity adjacency changes
# nothing; isolated padding nodes add nothing), and Monte Carlo of finite
# graph networks.

graphs <- function(n, nodes, seed) {
  set.seed(seed)
  x <- array(rnorm(n * nodes * 2), c(n, nodes, 2))
  adj <- array(rbinom(n * nodes^2, 1, 0.5), c(n, nodes, nodes))
  for (g in seq_len(n)) adj[g, , ] <- pmax(adj[g, , ], t(adj[g, , ])) + diag(nodes)
  list(x = x, adj = adj)
}

test_that("the graph kernel is A_x K A_z' through the layers, as written out by hand", {
  d <- graphs(3, 4, 1)
  x <- d$x; adj <- d$adj
  net <- nt_serial(nt_aggregate(adj), nt_dense(1, 0.1), nt_relu(), nt_dense(2), nt_aggregate(adj), nt_relu(),
                   nt_global_sum_pool(), nt_dense())
  got <- nt_kernel(net, x, what = "nngp")
  relu <- function(k, sa, sb) {
    p <- sqrt(outer(sa, sb))
    r <- pmin(pmax(k / p, -1), 1)
    theta <- acos(r)
    p * (sin(theta) + (pi - theta) * r) / (2 * pi)
  }
  layers <- function(a, b) {
    k1 <- adj[a, , ] %*% (x[a, , ] %*% t(x[b, , ]) / 2) %*% t(adj[b, , ]) + 0.1
    list(k1 = k1)
  }
  self <- function(a) {
    k1 <- layers(a, a)$k1
    k3 <- adj[a, , ] %*% (2 * relu(k1, diag(k1), diag(k1))) %*% t(adj[a, , ])
    list(s1 = diag(k1), s3 = diag(k3))
  }
  want <- matrix(0, 3, 3)
  for (a in 1:3) for (b in 1:3) {
    sa <- self(a); sb <- self(b)
    k3 <- adj[a, , ] %*% (2 * relu(layers(a, b)$k1, sa$s1, sb$s1)) %*% t(adj[b, , ])
    want[a, b] <- sum(relu(k3, sa$s3, sb$s3))
  }
  expect_equal(unclass(got)[, ], want, tolerance = 1e-12)
})

test_that("identity adjacency and isolated padding nodes change nothing", {
  d <- graphs(3, 4, 2)
  plain <- nt_serial(nt_dense(1, 0.1), nt_relu(), nt_dense(2), nt_relu(), nt_global_sum_pool(), nt_dense())
  with_id <- nt_serial(nt_aggregate(diag(4)), nt_dense(1, 0.1), nt_relu(), nt_dense(2), nt_aggregate(diag(4)),
                       nt_relu(), nt_global_sum_pool(), nt_dense())
  expect_equal(unclass(nt_kernel(with_id, d$x))[, ], unclass(nt_kernel(plain, d$x))[, ], tolerance = 1e-13)
  # the same graphs padded with two isolated, all-zero nodes (no bias: zeros stay zero)
  net <- function(adj) nt_serial(nt_aggregate(adj), nt_dense(1), nt_relu(), nt_dense(2), nt_aggregate(adj),
                                 nt_relu(), nt_global_sum_pool(), nt_dense())
  padded_x <- array(0, c(3, 6, 2))
  padded_x[, 1:4, ] <- d$x
  padded_adj <- array(0, c(3, 6, 6))
  padded_adj[, 1:4, 1:4] <- d$adj
  for (what in c("ntk", "nngp"))
    expect_equal(unclass(nt_kernel(net(padded_adj), padded_x, what = what))[, ],
                 unclass(nt_kernel(net(d$adj), d$x, what = what))[, ], tolerance = 1e-12)
  # a cross kernel takes x's graphs, then z's
  joint <- unclass(nt_kernel(net(d$adj), d$x))[, ]
  expect_equal(unclass(nt_kernel(net(d$adj), d$x[1:2, , , drop = FALSE], d$x[3, , , drop = FALSE]))[, ],
               joint[1:2, 3], tolerance = 1e-13)
})

test_that("finite graph networks converge to the graph NTK", {
  # width 1024, 10 draws: relative errors of 1-4 per cent were seen; 0.1 is several standard errors
  d <- graphs(3, 4, 3)
  net <- nt_serial(nt_aggregate(d$adj), nt_dense(1, 0.1), nt_relu(), nt_dense(2), nt_aggregate(d$adj), nt_relu(),
                   nt_global_sum_pool(), nt_dense())
  expect_monte_carlo(net, d$x, width = 1024, samples = 10, seed = 1,
                     tolerance = 0.1)
})

test_that("adjacencies of the wrong size or count are refused", {
  d <- graphs(3, 4, 4)
  expect_error(nt_aggregate(matrix(1, 3, 4)), "`adjacency` must be an N x N matrix")
  expect_error(nt_aggregate(array(1, c(2, 3, 4))), "`adjacency`")
  expect_error(nt_aggregate(matrix(c(1, NA, 0, 1), 2)), "NA, NaN or Inf")
  expect_error(nt_aggregate("a"), "`adjacency`")
  dense_tail <- list(nt_dense(), nt_relu(), nt_global_sum_pool(), nt_dense())
  expect_error(nt_kernel(nt_serial(nt_aggregate(diag(5)), dense_tail), d$x), "5 x 5 adjacency, but its inputs have 4 nodes")
  expect_error(nt_kernel(nt_serial(nt_aggregate(d$adj), dense_tail), d$x, d$x[1:2, , ]),
               "adjacency of 3 graphs, but the inputs are 5 graphs")
  expect_error(nt_empirical(nt_serial(nt_aggregate(d$adj[1:2, , ]), dense_tail), d$x, width = 8),
               "adjacency of 2 graphs, but the inputs are 3")
  expect_error(nt_kernel(nt_serial(nt_aggregate(diag(4)), nt_dense()), matrix(1, 2, 2)), "needs image inputs")
  # the C side: a per-graph flag, the matrix size and the count are checked
  plan <- ntk:::compile_spatial_plan(nt_serial(nt_aggregate(d$adj), dense_tail), c(1L, 4L, 2L))
  img <- aperm(array(d$x, c(3, 1, 4, 2)), 4:1)
  conv <- function(dbls = plan$dbls, tables = plan$tables)
    .Call(ntk:::C_ntk_conv_kernel, img, NULL, plan$ints, dbls, plan$geom, plan$band, plan$full, tables,
          c(TRUE, TRUE), 1L, FALSE)
  expect_equal(conv()[[2]], unclass(nt_kernel(nt_serial(nt_aggregate(d$adj), dense_tail), d$x, what = "nngp"))[, ],
               ignore_attr = TRUE)
  dbls <- plan$dbls
  dbls[1, 1] <- 0.5
  expect_error(conv(dbls), "per-graph flag")
  expect_error(conv(tables = list(rnorm(15))), "does not match the 4 positions")
  expect_error(conv(tables = list(rnorm(32))), "adjacency of 2 graphs, but the inputs are 3")
  expect_error(conv(tables = list()), "names no data vector")
})
