test_that("caret trains the NTK SVM for classification and regression", {
  skip_if_not_installed("caret")
  set.seed(3)
  folds <- caret::trainControl(method = "cv", number = 3, classProbs = TRUE)
  fit <- suppressWarnings(caret::train(Species ~ ., data = iris, method = nt_caret_svm(),
                                       tuneLength = 2, preProcess = c("center", "scale"),
                                       trControl = folds))
  expect_equal(nrow(fit$results), 8L)          # depth 1:2, fixed {0, depth}, two C
  expect_gt(max(fit$results$Accuracy), 0.9)
  pred <- predict(fit, iris)
  expect_s3_class(pred, "factor")
  expect_length(pred, 150)
  probs <- predict(fit, iris[1:5, ], type = "prob")
  expect_equal(dim(probs), c(5L, 3L))
  expect_equal(unname(rowSums(probs)), rep(1, 5), tolerance = 1e-6)
  reg <- suppressWarnings(caret::train(mpg ~ ., data = mtcars, method = nt_caret_svm(),
                                       tuneLength = 2, preProcess = c("center", "scale"),
                                       trControl = caret::trainControl(method = "cv", number = 3)))
  expect_lt(min(reg$results$RMSE), sd(mtcars$mpg))
  expect_type(predict(reg, mtcars), "double")
})

test_that("caret trains gradient-flow kernel regression, sharing kernels across ridges", {
  skip_if_not_installed("caret")
  set.seed(4)
  model <- nt_caret_krr()
  grid <- model$grid(NULL, NULL, len = 2)
  expect_equal(nrow(grid), 8L)
  loop <- model$loop(grid)
  expect_equal(nrow(loop$loop), 4L)            # one fit per (depth, fixed)
  fit <- suppressWarnings(caret::train(Species ~ ., data = iris, method = model, tuneLength = 2,
                                       preProcess = c("center", "scale"),
                                       trControl = caret::trainControl(method = "cv", number = 3,
                                                                       classProbs = TRUE)))
  expect_gt(max(fit$results$Accuracy), 0.8)
  expect_equal(levels(predict(fit, iris)), levels(iris$Species))
  reg <- suppressWarnings(caret::train(mpg ~ ., data = mtcars, method = model, tuneLength = 2,
                                       preProcess = c("center", "scale"),
                                       trControl = caret::trainControl(method = "cv", number = 3)))
  expect_lt(min(reg$results$RMSE), sd(mtcars$mpg))
  # the full grid of Arora et al. for long tuneLength
  expect_equal(nrow(nt_caret_svm()$grid(NULL, NULL, len = 7)), 20L * 7L)
})

test_that("caret's ROC from nt_caret_svm probabilities is as good as svmRadial's", {
  skip_if_not_installed("caret")
  skip_if_not_installed("mlbench")
  skip_if_not_installed("pROC")
  data(Sonar, package = "mlbench", envir = environment())
  control <- caret::trainControl("cv", number = 3, classProbs = TRUE,
                                 summaryFunction = caret::twoClassSummary)
  set.seed(5)
  ours <- suppressWarnings(caret::train(Class ~ ., data = Sonar, method = nt_caret_svm(), metric = "ROC",
                                        trControl = control, tuneLength = 2,
                                        preProcess = c("center", "scale")))
  set.seed(5)
  rbf <- suppressWarnings(caret::train(Class ~ ., data = Sonar, method = "svmRadial", metric = "ROC",
                                       trControl = control, tuneLength = 2,
                                       preProcess = c("center", "scale")))
  # the ROC agrees with the hard predictions' sensitivity and specificity
  best <- ours$results[which.max(ours$results$ROC), ]
  expect_gt(best$ROC, (best$Sens + best$Spec) / 2)
  expect_gt(best$ROC, max(rbf$results$ROC) - 0.03)
  p <- predict(ours, Sonar, type = "prob")
  expect_gt(stats::sd(p$M), 0.2)
})
