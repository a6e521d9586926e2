test_that("kernels are exactly symmetric and positive semi-definite", {
  set.seed(8)
  x <- matrix(rnorm(40 * 6), 40)
  for (net in list(nt_fc(3), nt_fc(2, "erf", b_var = 0.5, fixed = 1), nt_fc(4, "gelu"),
                   nt_fc(2, nt_activation(tanh)))) {
    k <- nt_kernel(net, x, what = c("ntk", "nngp"))
    for (m in k) {
      expect_identical(unclass(m)[, ], t(unclass(m)[, ]))
      ev <- eigen(m, symmetric = TRUE, only.values = TRUE)$values
      expect_gt(min(ev), -1e-12 * max(ev))
    }
  }
})

test_that("cross kernels equal the matching block of the full kernel", {
  set.seed(9)
  x <- matrix(rnorm(12 * 3), 12)
  z <- matrix(rnorm(5 * 3), 5)
  net <- nt_fc(3, "relu", b_var = 0.2, fixed = 1)
  full <- nt_kernel(net, rbind(x, z), what = c("ntk", "nngp"))
  cross <- nt_kernel(net, x, z, what = c("ntk", "nngp"))
  expect_equal(unclass(cross$ntk)[, ], unclass(full$ntk)[1:12, 13:17], tolerance = 1e-13)
  expect_equal(unclass(cross$nngp)[, ], unclass(full$nngp)[1:12, 13:17], tolerance = 1e-13)
})

test_that("one pass for both kernels equals two single passes", {
  set.seed(10)
  x <- matrix(rnorm(30), 10)
  net <- nt_fc(2, "erf")
  both <- nt_kernel(net, x, what = c("ntk", "nngp"))
  expect_identical(both$ntk, nt_kernel(net, x, what = "ntk"))
  expect_identical(both$nngp, nt_kernel(net, x, what = "nngp"))
  expect_named(nt_kernel(net, x, what = c("nngp", "ntk")), c("ntk", "nngp"))
})

test_that("results are kernlab kernel matrices with the inputs' row names", {
  x <- as.matrix(iris[1:6, 1:4])
  rownames(x) <- letters[1:6]
  k <- nt_kernel(nt_fc(2), x)
  expect_s4_class(k, "kernelMatrix")
  expect_equal(dim(k), c(6L, 6L))
  expect_equal(rownames(k), letters[1:6])
  expect_equal(unname(nt_kernel(nt_fc(2), iris[1:6, 1:4])@.Data), unname(k@.Data))
})

test_that("threads do not change the result", {
  set.seed(12)
  x <- matrix(rnorm(300 * 4), 300)
  z <- matrix(rnorm(70 * 4), 70)
  net <- nt_fc(3, "relu", b_var = 0.1)
  expect_identical(nt_kernel(net, x, threads = 1), nt_kernel(net, x, threads = 2))
  expect_identical(nt_kernel(net, x, z, threads = 1), nt_kernel(net, x, z, threads = 2))
})

test_that("extreme scales, zero and repeated inputs stay finite and homogeneous", {
  set.seed(13)
  x <- matrix(rnorm(20), 5)
  x[5, ] <- 0
  x[4, ] <- x[3, ]
  for (act in c("relu", "erf", "gelu", "abs")) {
    for (scale in c(1e-150, 1e-8, 1e8, 1e100)) {
      k <- nt_kernel(nt_fc(6, act, b_var = 0.1), x * scale, what = c("ntk", "nngp"))
      expect_true(all(is.finite(k$ntk)) && all(is.finite(k$nngp)))
      expect_equal(k$ntk[3, ], k$ntk[4, ])
    }
  }
  # Without bias ReLU nets are positively homogeneous of degree 2.
  base <- nt_kernel(nt_fc(6), x)
  for (scale in c(1e-150, 1e150)) {
    expect_equal(unclass(nt_kernel(nt_fc(6), x * scale))[, ] / scale^2, unclass(base)[, ],
                 tolerance = 1e-12)
  }
})

test_that("large variances that overflow are an error, not Inf", {
  expect_error(nt_kernel(nt_fc(500, "relu", w_var = 10), matrix(1, 1, 2)), "overflow")
})
