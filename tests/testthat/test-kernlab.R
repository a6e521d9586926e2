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

# Area under the ROC curve by the rank-sum formula.
auc <- function(score, positive) {
  r <- rank(score)
  (sum(r[positive]) - sum(positive) * (sum(positive) + 1) / 2) / (sum(positive) * sum(!positive))
}

test_that("Platt's sigmoid is the logistic fit of the decision values", {
  set.seed(11)
  f <- rnorm(3000)
  positive <- stats::runif(3000) < plogis(2 * f - 0.5)   # P(+) = 1 / (1 + exp(-2 f + 0.5))
  s <- platt_sigmoid(f, positive)
  ref <- stats::coef(stats::glm(positive ~ f, family = stats::binomial()))
  # Platt's targets are smoothed by 1 / (n + 2): a shift of order 1e-3 here
  expect_equal(c(s$A, s$B), -unname(ref[c(2, 1)]), tolerance = 0.01)
  # separable data: the fit stays finite
  sep <- platt_sigmoid(c(-3, -2, -1, 1, 2, 3), c(FALSE, FALSE, FALSE, TRUE, TRUE, TRUE))
  expect_true(all(is.finite(unlist(sep))) && sep$A < 0)
})

test_that("class probabilities on kernel matrices are calibrated and rank as the decisions", {
  skip_if_not_installed("mlbench")
  data(Sonar, package = "mlbench", envir = environment())
  data(Ionosphere, package = "mlbench", envir = environment())
  iono <- Ionosphere[, -2]
  iono$V1 <- as.numeric(iono$V1)
  log_loss <- function(p, y) -mean(log(pmax(p[cbind(seq_along(y), as.integer(y))], 1e-15)))
  for (case in list(list(Sonar[, 1:60], Sonar$Class), list(iono[, 1:33], iono$Class),
                    list(iris[, 1:4], iris$Species))) {
    x <- scale(as.matrix(case[[1]])); y <- case[[2]]
    set.seed(3)
    train <- sample(nrow(x), round(0.7 * nrow(x)))
    k <- nt_kernel(nt_fc(2), x[train, ]); k_test <- nt_kernel(nt_fc(2), x[-train, ], x[train, ])
    model <- kernlab::ksvm(k, y[train], kernel = "matrix", C = 1, prob.model = TRUE)
    p <- nt_predict_ksvm(model, k_test, type = "probabilities")
    expect_equal(unname(rowSums(p)), rep(1, nrow(p)), tolerance = 1e-8)
    expect_gt(stats::sd(p[, 1]), 0.2)                 # not 1/2 everywhere
    rbf <- kernlab::ksvm(x[train, ], y[train], kernel = "rbfdot", C = 1, prob.model = TRUE,
                         scaled = FALSE)
    p_rbf <- kernlab::predict(rbf, x[-train, ], type = "probabilities")
    # log-loss no worse than the Gaussian SVM's Platt model by more than 0.1
    expect_lt(log_loss(p, y[-train]), log_loss(p_rbf, y[-train]) + 0.1)
    if (nlevels(y) == 2L) {
      positive <- y[-train] == levels(y)[1]
      decision <- nt_predict_ksvm(model, k_test, type = "decision")[, 1]
      # a monotone map of the decision values: the same ROC curve
      expect_equal(auc(p[, 1], positive), max(auc(decision, positive), auc(-decision, positive)),
                   tolerance = 1e-12)
      expect_gt(auc(p[, 1], positive), auc(p_rbf[, 1], positive) - 0.05)
    } else {
      expect_gt(mean(max.col(p) == as.integer(y[-train])), 0.85)
    }
  }
})

test_that("cross-validation and probability refits keep shrinking off", {
  skip_if_not_installed("mlbench")
  data(Sonar, package = "mlbench", envir = environment())
  x <- scale(as.matrix(Sonar[, 1:60])); y <- Sonar$Class
  k <- nt_kernel(nt_fc(0), x) * 60                # the linear Gram matrix, x x'
  for (seed in 1:3) {
    set.seed(seed)
    model <- kernlab::ksvm(k, y, kernel = "matrix", C = 10, cross = 5)
    # the same folds, refitted by hand with shrinking off
    set.seed(seed)
    fold <- svm_folds(y, 5)
    manual <- mean(vapply(1:5, function(f) {
      tr <- which(fold != f); te <- which(fold == f)
      m <- kernlab::ksvm(kernlab::as.kernelMatrix(k[tr, tr]), y[tr], kernel = "matrix", C = 10,
                         shrinking = FALSE)
      sv <- kernlab::SVindex(m)
      mean(kernlab::predict(m, kernlab::as.kernelMatrix(k[te, tr[sv], drop = FALSE])) != y[te])
    }, 1))
    expect_equal(kernlab::cross(model), manual, tolerance = 1e-12)
    expect_lt(kernlab::cross(model), 0.31)
  }
  # kernel objects switch shrinking off in the ksvm frame that asks for
  # their matrix (kernlab's internal refits too), and only there
  kern <- ntkdot(nt_fc(0))
  frame <- list2env(list(shrinking = TRUE, ktype = 4, kernel = kern))
  adjust_ksvm_frame(frame, kern)
  expect_false(frame$shrinking)
  other <- list2env(list(shrinking = TRUE, ktype = 4, kernel = ntkdot(nt_fc(1))))
  adjust_ksvm_frame(other, kern)
  expect_true(other$shrinking)
  set.seed(1)
  by_kernel <- kernlab::ksvm(x, y, kernel = ntkdot(nt_fc(0)), C = 600, scaled = FALSE, cross = 3)
  fixed <- kernlab::ksvm(x, y, kernel = ntkdot(nt_fc(0)), C = 600, scaled = FALSE, shrinking = FALSE)
  expect_equal(kernlab::obj(by_kernel), kernlab::obj(fixed), tolerance = 1e-8)
  expect_lt(kernlab::cross(by_kernel), 0.35)
})

test_that("kernlab functions without a kernel-matrix interface refuse ntKernelMatrix", {
  k <- nt_kernel(nt_fc(2), scale(as.matrix(iris[1:20, 1:4])))
  expect_error(kernlab::gausspr(k, iris$Species[1:20]), "gausspr\\(\\) has no kernel-matrix interface.*nt_gp")
  expect_error(kernlab::kha(k), "kha\\(\\) has no kernel-matrix interface")
  expect_error(kernlab::kfa(k), "kfa\\(\\) has no kernel-matrix interface")
  expect_error(kernlab::kcca(k, k), "kcca\\(\\) has no kernel-matrix interface")
  expect_error(kernlab::sigest(k), "sigest\\(\\) has no kernel-matrix interface")
})

test_that("saved ksvm models with ntkdot carry no row pool and predict after reloading", {
  set.seed(6)
  x <- matrix(rnorm(600 * 10), 600)
  y <- factor(ifelse(x[, 1] * x[, 2] > 0, "a", "b"))
  ours <- kernlab::ksvm(x, y, kernel = ntkdot(depth = 2), C = 1, scaled = FALSE)
  rbf <- kernlab::ksvm(x, y, kernel = "rbfdot", kpar = list(sigma = 0.1), C = 1, scaled = FALSE)
  size <- function(m) { f <- tempfile(); saveRDS(m, f); on.exit(unlink(f)); file.size(f) }
  # both store their support vectors; the pool (600 x 600 doubles, 2.9 MB) is not saved
  per_sv <- function(m) size(m) / kernlab::nSV(m)
  expect_lt(per_sv(ours), 2 * per_sv(rbf) + 200)
  expect_lt(size(ours), 1e6)
  before <- kernlab::predict(ours, x[1:50, ])
  f <- tempfile(); saveRDS(ours, f)
  rm(list = ls(.pools$registry), envir = .pools$registry)    # as in a new session
  again <- readRDS(f)
  expect_identical(kernlab::predict(again, x[1:50, ]), before)
  # the pool gives the directly computed kernel, for subsets in any order
  kern <- ntkdot(depth = 2)
  invisible(kernlab::kernelMatrix(kern, x[1:300, ]))
  sub <- x[c(250:200, 1:10), ]
  expect_equal(kernlab::kernelMatrix(kern, sub)@.Data, nt_kernel(nt_fc(2), sub)@.Data,
               ignore_attr = TRUE, tolerance = 1e-14)
})
