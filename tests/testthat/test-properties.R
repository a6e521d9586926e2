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

test_that("the native and BLAS Gram matrices give the same kernels", {
  set.seed(11)
  x <- matrix(rnorm(37 * 13), 37)     # 37 rows: blocks of 8 and a remainder
  z <- matrix(rnorm(11 * 13), 11)     # 11 columns: blocks of 4 and a remainder
  net <- nt_fc(2, w_var = 2, b_var = 0.1)
  kernels <- function(mode) {
    old <- options(ntk.gram = mode)
    on.exit(options(old))
    list(full = nt_kernel(net, x, what = c("ntk", "nngp")), cross = nt_kernel(net, x, z),
         family = nt_fc_family(x, max_depth = 2, arora = TRUE)$ntk[[3]])
  }
  native <- kernels("native")
  blas <- kernels("blas")
  expect_equal(native, blas, tolerance = 1e-13)
  # against the kernel written out in R: depth 0 is the linear kernel x z' / d
  old <- options(ntk.gram = "native")
  on.exit(options(old))
  expect_equal(unclass(nt_kernel(nt_fc(0), x, z)), tcrossprod(x, z) / 13, ignore_attr = TRUE,
               tolerance = 1e-14)
  options(ntk.gram = "fast")
  expect_error(nt_kernel(net, x), "ntk.gram")
  expect_true(ntk:::is_reference_blas("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0"))
  expect_true(ntk:::is_reference_blas("/usr/lib/R/lib/libRblas.so"))
  expect_false(ntk:::is_reference_blas("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"))
  expect_false(ntk:::is_reference_blas("/opt/intel/mkl/lib/libmkl_rt.so"))
})
