# ntk's SVM solver (src/svm.c) against libsvm itself, through e1071, on the
# kernels both can use (linear and Gaussian): the same dual, the same
# stopping rule and the same voting, so the same predictions up to points
# within the tolerance of the margin.

libsvm_predictions <- function(x, y, train, test, C, kernel, gamma = 1) {
  fit <- e1071::svm(x[train, , drop = FALSE], y[train], type = "C-classification", kernel = kernel,
                    gamma = gamma, cost = C, scale = FALSE, tolerance = 1e-3, shrinking = TRUE)
  as.character(stats::predict(fit, x[test, , drop = FALSE]))
}

smo_predictions <- function(k, y, train, test, C) {
  p <- .Call(ntk:::C_ntk_svm_ovo, k, as.integer(y), as.integer(train), as.integer(test), C, 1e-3)
  levels(y)[p]
}

test_that("the SVM solver predicts as libsvm does, on linear and Gaussian kernels", {
  skip_if_not_installed("e1071")
  skip_if_not_installed("mlbench")
  data("Sonar", "Glass", package = "mlbench", envir = environment())
  sets <- list(iris = list(x = scale(as.matrix(iris[, 1:4])), y = iris$Species),
               sonar = list(x = scale(as.matrix(Sonar[, 1:60])), y = Sonar$Class),
               glass = list(x = scale(as.matrix(Glass[, 1:9])), y = Glass$Type))
  agree <- total <- 0
  for (name in names(sets)) {
    s <- sets[[name]]
    set.seed(7)
    train <- sample(nrow(s$x), round(0.7 * nrow(s$x)))
    test <- setdiff(seq_len(nrow(s$x)), train)
    d2 <- as.matrix(stats::dist(s$x))^2
    for (C in c(0.1, 1, 100)) {
      lin <- smo_predictions(tcrossprod(s$x), s$y, train, test, C)
      agree <- agree + sum(lin == libsvm_predictions(s$x, s$y, train, test, C, "linear"))
      rbf <- smo_predictions(exp(-0.1 * d2), s$y, train, test, C)
      agree <- agree + sum(rbf == libsvm_predictions(s$x, s$y, train, test, C, "radial", 0.1))
      total <- total + 2 * length(test)
    }
  }
  # 1416 test predictions; a handful may sit within the tolerance of a margin
  expect_gt(agree / total, 0.995)
})

test_that("the SVM solver's accuracy equals kernlab's on the UCI grid of a dataset", {
  skip_if_not_installed("mlbench")
  data("Glass", package = "mlbench", envir = environment())
  x <- scale(as.matrix(Glass[, 1:9]))
  y <- Glass$Type
  fam <- nt_fc_family(x, max_depth = 2, arora = TRUE, progress = FALSE)
  set.seed(3)
  train <- sample(nrow(x), 150)
  test <- setdiff(seq_len(nrow(x)), train)
  diffs <- unlist(lapply(fam$ntk, function(k) vapply(10^(-1:3), function(C)
    ntk:::smo_accuracy(k@.Data, y, train, test, C) - ntk:::svm_accuracy(k@.Data, y, train, test, C),
    numeric(1))))
  # identical, or one test point apart where the two solvers stop differently
  expect_true(all(abs(diffs) <= 1 / length(test) + 1e-12))
  expect_gt(mean(abs(diffs) < 1e-12), 0.9)
})

test_that("the SVM solver handles one class, two classes and bad arguments", {
  k <- tcrossprod(matrix(rnorm(20), 10))
  y <- rep(1:2, 5)
  expect_identical(as.vector(.Call(ntk:::C_ntk_svm_ovo, k, rep(2L, 10), 1:6, 7:10, 1, 1e-3)), rep(2L, 4))
  separable <- rbind(matrix(rnorm(20, -3), 10), matrix(rnorm(20, 3), 10))
  lab <- rep(1:2, each = 10)
  p <- .Call(ntk:::C_ntk_svm_ovo, tcrossprod(separable), lab, c(1:7, 11:17), c(8:10, 18:20), 10, 1e-3)
  expect_identical(as.vector(p), rep(1:2, each = 3))
  expect_error(.Call(ntk:::C_ntk_svm_ovo, k, y, 0L, 1L, 1, 1e-3), "'train' must hold row numbers")
  expect_error(.Call(ntk:::C_ntk_svm_ovo, k, y, 1:5, 6L, -1, 1e-3), "'cost' must be a positive")
  expect_error(.Call(ntk:::C_ntk_svm_ovo, k[, 1:9], y, 1:5, 6L, 1, 1e-3), "square")
  expect_error(.Call(ntk:::C_ntk_svm_ovo, k, y[-1], 1:5, 6L, 1, 1e-3), "one code per row")
})
