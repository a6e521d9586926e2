# plot() methods: what they draw is computed by helpers whose values are
# checked here; the drawing itself runs on a null device.

test_that("the trajectory plot's training error is the flow's, falling in t", {
  fit <- nt_fit(mpg ~ wt + hp, data = mtcars, t = c(1, 10, Inf))
  at_fit <- ntk:::training_error(fit, fit$t)
  expect_equal(at_fit, unname(sqrt(colMeans(as.matrix(residuals(fit))^2))), tolerance = 1e-12)
  times <- 10^seq(-4, 4, length.out = 30)
  err <- ntk:::training_error(fit, times)
  expect_true(all(diff(err) <= 1e-12))   # gradient flow on squared loss never raises it
  # at t -> 0 the fit is the intercept alone: the response's mean
  expect_equal(ntk:::training_error(fit, 1e-12), sqrt(mean((mtcars$mpg - mean(mtcars$mpg))^2)),
               tolerance = 1e-6)
  cls <- nt_fit(Species ~ ., data = iris)
  expect_equal(ntk:::training_error(cls, cls$t), mean(predict(cls, type = "class") != iris$Species))
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_identical(plot(fit), fit)
  expect_identical(plot(cls, which = "trajectory"), cls)
  expect_error(plot(fit, which = "nothing"), "should be one of")
  expect_identical(plot(fit, ylim = c(0, 10), xlab = "t", main = "own labels"), fit)   # user's over ours
})

test_that("the kernel heatmap orders by class and checks its arguments", {
  x <- scale(as.matrix(iris[c(1:5, 51:55, 101:105), 1:4]))
  k <- nt_kernel(nt_fc(2), x)
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_identical(plot(k, iris$Species[c(1:5, 51:55, 101:105)], normalize = TRUE), k)
  expect_error(plot(k, 1:3), "`y` has 3 values but the kernel has 15 rows")
  expect_error(plot(nt_kernel(nt_fc(2), x, x[1:3, ]), normalize = TRUE), "needs a symmetric \\(training\\) kernel")
})
