test_that("ntkdot and nngpdot give nt_kernel's matrices and per-pair values", {
  x <- scale(as.matrix(iris[1:30, 1:4]))
  expect_equal(kernlab::kernelMatrix(ntkdot(depth = 3), x)@.Data,
               nt_kernel(nt_fc(depth = 3), x)@.Data)
  expect_equal(kernlab::kernelMatrix(nngpdot(depth = 2, activation = "erf"), x, x[1:5, ])@.Data,
               nt_kernel(nt_fc(2, "erf"), x, x[1:5, ], what = "nngp")@.Data)
  k <- ntkdot(nt_fc(2, b_var = 0.1))
  expect_equal(k(x[1, ], x[2, ]), nt_kernel(nt_fc(2, b_var = 0.1), x[1:2, ])[1, 2])
  expect_equal(kernlab::kernelMult(k, x, NULL, rep(1, 30)),
               nt_kernel(nt_fc(2, b_var = 0.1), x)@.Data %*% rep(1, 30))
  z <- runif(30)
  expect_equal(kernlab::kernelPol(k, x, NULL, z), nt_kernel(nt_fc(2, b_var = 0.1), x)@.Data * outer(z, z))
  expect_s4_class(k, "kernel")
  expect_identical(kernlab::kpar(k)$net, nt_fc(2, b_var = 0.1))
  expect_match(paste(capture.output(show(k)), collapse = " "), "Neural tangent kernel")
  expect_error(ntkdot(nt_fc(2), depth = 3), "`...` is used only when `net` is NULL")
})

test_that("ksvm with ntkdot matches the precomputed path, for two and three classes", {
  x <- scale(as.matrix(iris[, 1:4]))
  set.seed(1)
  train <- sample(150, 100)
  for (classes in list(c("versicolor", "virginica"), levels(iris$Species))) {
    keep <- train[iris$Species[train] %in% classes]
    test <- setdiff(seq_len(150), train)
    test <- test[iris$Species[test] %in% classes]
    y <- droplevels(iris$Species[keep])
    by_kernel <- kernlab::ksvm(x[keep, ], y, kernel = ntkdot(depth = 2), C = 5, scaled = FALSE,
                               shrinking = FALSE, prob.model = TRUE)
    k <- nt_kernel(nt_fc(2), x[keep, ])
    precomputed <- kernlab::ksvm(k, y, kernel = "matrix", C = 5, prob.model = TRUE)
    k_test <- nt_kernel(nt_fc(2), x[test, ], x[keep, ])
    p1 <- kernlab::predict(by_kernel, x[test, ])
    p2 <- nt_predict_ksvm(precomputed, k_test)
    expect_identical(as.character(p1), as.character(p2))
    expect_gt(mean(as.character(p1) == as.character(iris$Species[test])), 0.85)
    probs <- kernlab::predict(by_kernel, x[test, ], type = "probabilities")
    expect_equal(unname(rowSums(probs)), rep(1, length(test)), tolerance = 1e-6)
  }
  expect_error(nt_predict_ksvm(precomputed, k_test[, -1]), "one column per training point")
})

test_that("kernlab's shrinking bug is avoided by our paths", {
  skip_if_not_installed("mlbench")
  data(Sonar, package = "mlbench", envir = environment())
  x <- scale(as.matrix(Sonar[, 1:60]))
  set.seed(1)
  train <- sample(nrow(x), nrow(x) %/% 2)
  y <- Sonar$Class[train]
  gram <- tcrossprod(x[train, ])                   # separable: 104 points, 60 features
  kernlab_default <- kernlab::ksvm(kernlab::as.kernelMatrix(gram), y, kernel = "matrix", C = 10)
  ours <- kernlab::ksvm(nt_kernel(nt_fc(0), x[train, ]) * 60, y, kernel = "matrix", C = 10)
  fixed <- kernlab::ksvm(kernlab::as.kernelMatrix(gram), y, kernel = "matrix", C = 10,
                         shrinking = FALSE)
  # kernlab 0.9-32 and 0.9-33 return a wrong solution here (training error
  # about 0.22); our kernel matrices default to shrinking = FALSE.
  expect_equal(kernlab::error(ours), 0)
  expect_equal(kernlab::obj(ours), kernlab::obj(fixed), tolerance = 1e-6)
  expect_gte(kernlab::error(kernlab_default), kernlab::error(ours))
  # the kernel x.x'/60 with C = 600 is the same problem as x.x' with C = 10
  by_kernel <- kernlab::ksvm(x[train, ], y, kernel = ntkdot(nt_fc(0)), C = 600,
                             scaled = FALSE, shrinking = FALSE)
  expect_equal(kernlab::error(by_kernel), 0)
})

test_that("gausspr, kpca, rvm, kqr and kkmeans run on the new kernels with sensible results", {
  x <- scale(as.matrix(iris[, 1:4]))
  set.seed(2)
  gp <- kernlab::gausspr(x, iris$Species, kernel = ntkdot(depth = 2), scaled = FALSE)
  expect_gt(mean(kernlab::predict(gp, x) == iris$Species), 0.85)
  pc <- kernlab::kpca(x, kernel = nngpdot(depth = 2), features = 2)
  expect_equal(dim(kernlab::rotated(pc)), c(150L, 2L))
  sep <- abs(tapply(kernlab::rotated(pc)[, 1], iris$Species, mean))
  expect_gt(max(sep), 2 * min(sep))                # the first component separates classes
  xr <- matrix(seq(-2, 2, length.out = 60))
  yr <- sin(2 * xr[, 1]) + rnorm(60, sd = 0.05)
  rv <- kernlab::rvm(xr, yr, kernel = ntkdot(depth = 2, b_var = 0.5))
  expect_lt(sqrt(mean((kernlab::predict(rv, xr) - yr)^2)), 0.3)
  qr <- kernlab::kqr(xr, yr, tau = 0.5, kernel = ntkdot(depth = 2, b_var = 0.5), kpar = list(), C = 10)
  expect_lt(mean(abs(kernlab::predict(qr, xr) - yr)), 0.3)
  km <- kernlab::kkmeans(x, centers = 3, kernel = nngpdot(depth = 1))
  tab <- table(km@.Data, iris$Species)
  expect_gt(sum(apply(tab, 2, max)) / 150, 0.6)
})
