test_that("a factor response is fitted on centred one-hot targets and predicts classes", {
  set.seed(3)
  idx <- sample(150, 100)
  train <- iris[idx, ]; test <- iris[-idx, ]
  fit <- nt_fit(Species ~ ., data = train, net = nt_fc(2))
  expect_s3_class(fit, "nt_fit")
  pred <- predict(fit, test, type = "class")
  expect_s3_class(pred, "factor")
  expect_equal(levels(pred), levels(iris$Species))
  expect_gt(mean(pred == test$Species), 0.9)
  # t = Inf predictions are kernel regression on the centred one-hot targets
  x_train <- as.matrix(train[, 1:4]); x_test <- as.matrix(test[, 1:4])
  k <- nt_kernel(nt_fc(2), x_train); ks <- nt_kernel(nt_fc(2), x_test, x_train)
  targets <- outer(as.integer(train$Species), 1:3, "==") - 1 / 3
  scores <- predict(fit, test)
  expect_equal(unname(scores), unname(ks %*% solve(k, targets)), tolerance = 1e-6)
  expect_equal(colnames(scores), levels(iris$Species))
  probs <- predict(fit, test, type = "prob")
  expect_equal(unname(rowSums(probs)), rep(1, 50), tolerance = 1e-12)
  expect_true(all(probs >= 0))
  expect_equal(max.col(probs), as.integer(pred))
})

test_that("regression fits, several times, standard errors and methods", {
  fit <- nt_fit(mpg ~ wt + hp + factor(cyl), data = mtcars, standardize = TRUE,
                t = c(0.5, Inf), diag_reg = 1e-6)
  p <- predict(fit, mtcars[1:5, ])
  expect_equal(dim(p), c(5L, 2L))
  expect_true(all(is.finite(p)))
  one <- predict(fit, mtcars[1:5, ], t = Inf, se.fit = TRUE)
  expect_length(one$fit, 5)
  expect_length(one$se.fit, 5)
  expect_true(all(one$se.fit >= 0))
  expect_equal(unname(one$fit), unname(p[, 2]), tolerance = 1e-10)
  # training points: fitted values and residuals add up to the response
  expect_equal(unname(fitted(fit)[, 2] + residuals(fit)[, 2]), mtcars$mpg, tolerance = 1e-10)
  # the same values by the test-point route (Theta V g V'y); the kernel is ill-conditioned
  expect_equal(unname(predict(fit)[, 1]), unname(fitted(fit)[, 1]), tolerance = 1e-6)
  # se.fit of the GP (kernel = "nngp") vanishes on training points as diag_reg -> 0
  gp <- nt_fit(mtcars[, c("wt", "hp")], mtcars$mpg, kernel = "nngp", standardize = TRUE)
  se <- predict(gp, mtcars[, c("wt", "hp")], se.fit = TRUE)$se.fit
  expect_lt(max(se), 1e-3 * sd(mtcars$mpg))
  out <- capture.output(print(fit))
  expect_match(out[1], "NTK kernel")
  expect_match(paste(out, collapse = " "), "training RMSE")
  expect_match(paste(capture.output(summary(fit)), collapse = " "), "eigenvalues")
})

test_that("nt_fit refuses bad input with clear errors", {
  fit <- nt_fit(mpg ~ wt + hp, data = mtcars)
  expect_error(predict(fit, mtcars[, c("wt", "cyl")]), "`newdata` is missing variable used in the formula: hp")
  bad <- mtcars; bad$mpg[2] <- NA
  expect_error(nt_fit(mpg ~ wt, data = bad), "`y` contains NA")
  expect_error(nt_fit(matrix(1:6, 3), 1:2), "`y` has 2 rows")
  expect_error(nt_fit(mpg ~ wt, data = mtcars, t = -1), "`t` must be non-negative")
  expect_error(predict(fit, mtcars, type = "class"), "needs a factor response")
  expect_error(nt_fit(mpg ~ wt, data = mtcars, kernel = "rbf"), "'arg' should be one of")
})

test_that("matrix and image inputs work through the default method", {
  set.seed(4)
  img <- array(rnorm(12 * 4 * 4), c(12, 4, 4, 1))
  y <- factor(rep(c("a", "b"), 6))
  fit <- nt_fit(img, y, net = nt_cnn(2, readout = "flatten"))
  expect_equal(as.character(predict(fit, img[1:4, , , , drop = FALSE], type = "class")),
               c("a", "b", "a", "b"))
})
