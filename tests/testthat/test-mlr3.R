# The mlr3 learners classif.ntk and regr.ntk: mlr3's own learner autotest,
# resample() and benchmark() beside ranger and e1071's SVM, and their
# predictions against the package's direct fits.

# suggested packages: installed by `make test`, so these run in CI
for (p in c("mlr3", "mlr3learners", "mlr3misc", "paradox", "R6", "checkmate", "data.table", "ranger", "e1071"))
  skip_if_not_installed(p)
suppressPackageStartupMessages({
  library(mlr3)
  library(mlr3learners)
})

test_that("the learners pass mlr3's autotest", {
  # mlr3 ships its autotest as test helpers; they need these attached
  suppressPackageStartupMessages({
    library(checkmate)
    library(data.table)
    library(mlr3misc)
  })
  helpers <- list.files(system.file("testthat", package = "mlr3"), pattern = "^helper", full.names = TRUE)
  expect_gt(length(helpers), 0)
  env <- new.env(parent = globalenv())
  for (f in helpers) sys.source(f, envir = env)
  for (key in c("classif.ntk", "regr.ntk")) {
    result <- env$run_autotest(lrn(key))
    expect_true(isTRUE(result), label = paste(key, "autotest:", paste(format(result), collapse = " ")))
  }
  krr <- env$run_autotest(lrn("classif.ntk", method = "krr", diag_reg = 0.01))
  expect_true(isTRUE(krr), label = paste("krr autotest:", paste(format(krr), collapse = " ")))
})

test_that("benchmark() puts classif.ntk beside classif.ranger and classif.svm", {
  set.seed(21)
  design <- benchmark_grid(
    tsk("sonar"),
    list(lrn("classif.ntk", predict_type = "prob", cost = 10),
         lrn("classif.ntk", id = "classif.ntk.krr", method = "krr", predict_type = "prob"),
         lrn("classif.ranger", predict_type = "prob"),
         lrn("classif.svm", predict_type = "prob")),
    rsmp("cv", folds = 3))
  scores <- benchmark(design)$aggregate(msrs(c("classif.acc", "classif.auc")))
  acc <- stats::setNames(scores$classif.acc, scores$learner_id)
  auc <- stats::setNames(scores$classif.auc, scores$learner_id)
  for (ntk_id in c("classif.ntk", "classif.ntk.krr")) {
    expect_gt(acc[[ntk_id]], max(acc[["classif.ranger"]], acc[["classif.svm"]]) - 0.05)
    expect_gt(auc[[ntk_id]], 0.85)
  }
})

test_that("learner predictions are the package's fits, probabilities included", {
  task <- tsk("iris")
  train <- seq(1, 150, 2)
  learner <- lrn("classif.ntk", method = "krr", depth = 2, diag_reg = 0.01, predict_type = "prob")
  learner$train(task, row_ids = train)
  pred <- learner$predict(task, row_ids = setdiff(1:150, train))
  x <- as.matrix(iris[, 1:4])
  direct <- nt_krr_model(x[train, ], iris$Species[train], depth = 2, diag_reg = 0.01)
  expect_equal(unname(pred$prob), unname(as.matrix(predict(direct, x[-train, ], type = "prob"))),
               tolerance = 1e-12)
  expect_gt(pred$score(msr("classif.acc")), 0.8)   # chance: 1 / 3
  rr <- resample(tsk("mtcars"), lrn("regr.ntk", method = "krr", depth = 3), rsmp("cv", folds = 4))
  # against predicting the training mean: the fit explains most of the variance
  expect_lt(rr$aggregate(msr("regr.rmse")), 0.6 * stats::sd(mtcars$mpg))
  expect_error(lrn("classif.ntk", method = "krr", cost = 1)$train(task), "`cost` applies to method = \"svm\" only")
})
