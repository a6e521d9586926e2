test_that("a factor response is fitted on one-hot targets and predicts classes", {
  set.seed(3)
  idx <- sample(150, 100)
  train <- iris[idx, ]; test <- iris[-idx, ]
  fit <- nt_fit(Species ~ ., data = train)
  expect_s3_class(fit, "nt_fit")
  pred <- predict(fit, test, type = "class")
  expect_s3_class(pred, "factor")
  expect_equal(levels(pred), levels(iris$Species))
  expect_gt(mean(pred == test$Species), 0.9)
  # fixed ridge, raw inputs: kernel regression on the one-hot targets centred
  # on the class proportions, which are added back
  fit0 <- nt_fit(Species ~ ., data = train, net = nt_fc(2), diag_reg = 0.01, standardize = FALSE)
  x_train <- as.matrix(train[, 1:4]); x_test <- as.matrix(test[, 1:4])
  k <- nt_kernel(nt_fc(2), x_train); ks <- nt_kernel(nt_fc(2), x_test, x_train)
  onehot <- outer(as.integer(train$Species), 1:3, "==") + 0
  props <- colMeans(onehot)
  direct <- ks %*% solve(k + diag(0.01, 100), sweep(onehot, 2, props)) + rep(props, each = 50)
  scores <- predict(fit0, test)
  expect_equal(unname(scores), unname(direct), tolerance = 1e-8)
  expect_equal(colnames(scores), levels(iris$Species))
  expect_equal(unname(rowSums(scores)), rep(1, 50), tolerance = 1e-10)
  # without an intercept: Arora et al.'s centring on 1/k
  fit1 <- nt_fit(Species ~ ., data = train, net = nt_fc(2), diag_reg = 0.01, standardize = FALSE,
                 intercept = FALSE)
  expect_equal(unname(predict(fit1, test)),
               unname(ks %*% solve(k + diag(0.01, 100), onehot - 1 / 3) + 1 / 3), tolerance = 1e-8)
  probs <- predict(fit, test, type = "prob")
  expect_equal(unname(rowSums(probs)), rep(1, 50), tolerance = 1e-12)
  expect_true(all(probs >= 0))
  expect_equal(unname(max.col(probs)), as.integer(pred))
})

test_that("the intercept: predictions at the data centre are the mean response", {
  # with b_var = 0 the kernel vanishes at the origin (the centre of
  # standardised inputs), so the prediction there is the intercept exactly
  centre <- data.frame(wt = mean(mtcars$wt), hp = mean(mtcars$hp))
  fit0 <- nt_fit(mpg ~ wt + hp, data = mtcars, net = nt_fc(3))
  expect_equal(unname(predict(fit0, centre)), mean(mtcars$mpg), tolerance = 1e-10)
  # the default network (b_var = 0.1) is a non-linear regression: at the
  # centre it agrees with gausspr and loess (about 18: mpg is convex in wt
  # and hp, so the curve passes below the mean there) within 1 mpg, a sixth
  # of the response's standard deviation, and stays within half a standard
  # deviation of the mean
  fit <- nt_fit(mpg ~ wt + hp, data = mtcars)
  at_centre <- predict(fit, centre)
  expect_lt(abs(at_centre - predict(stats::loess(mpg ~ wt + hp, mtcars), centre)), 1)
  gp <- suppressMessages(kernlab::gausspr(mpg ~ wt + hp, data = mtcars))
  expect_lt(abs(at_centre - kernlab::predict(gp, centre)), 1)
  expect_lt(abs(at_centre - mean(mtcars$mpg)), 0.5 * sd(mtcars$mpg))
  # no intercept: the old behaviour, the kernel's zero at the centre
  expect_equal(unname(predict(nt_fit(mpg ~ wt + hp, data = mtcars, net = nt_fc(3), intercept = FALSE),
                              centre)), 0, tolerance = 1e-10)
})

test_that("with its defaults nt_fit cross-validates within 15 % of lm and gausspr", {
  skip_if_not_installed("mlbench")
  data("BostonHousing", package = "mlbench", envir = environment())
  cv_rmse <- function(formula, data) {
    set.seed(1)
    folds <- sample(rep(1:5, length.out = nrow(data)))
    y <- stats::model.response(stats::model.frame(formula, data))
    pred <- matrix(NA, nrow(data), 3, dimnames = list(NULL, c("lm", "gausspr", "nt_fit")))
    for (k in 1:5) {
      train <- data[folds != k, ]; test <- data[folds == k, ]
      pred[folds == k, "lm"] <- predict(lm(formula, train), test)
      gp <- suppressMessages(kernlab::gausspr(formula, data = train))
      pred[folds == k, "gausspr"] <- kernlab::predict(gp, test)   # its default: RBF, sigest
      pred[folds == k, "nt_fit"] <- predict(nt_fit(formula, data = train), test)
    }
    sqrt(colMeans((pred - y)^2))
  }
  for (case in list(list(mpg ~ ., mtcars), list(medv ~ ., BostonHousing),
                    list(Fertility ~ ., swiss), list(sr ~ ., LifeCycleSavings))) {
    rmse <- cv_rmse(case[[1]], case[[2]])
    expect_lt(rmse[["nt_fit"]], 1.15 * min(rmse[c("lm", "gausspr")]))
  }
})

test_that("regression fits, several times, standard errors and methods", {
  fit <- nt_fit(mpg ~ wt + hp + factor(cyl), data = mtcars, t = c(0.5, Inf), diag_reg = 1e-3)
  p <- predict(fit, mtcars[1:5, ])
  expect_equal(dim(p), c(5L, 2L))
  expect_equal(rownames(p), rownames(mtcars)[1:5])
  expect_true(all(is.finite(p)))
  expect_length(predict(fit, mtcars[1, ], t = Inf, se.fit = TRUE)$se.fit, 1)
  one <- predict(fit, mtcars[1:5, ], t = Inf, se.fit = TRUE)
  expect_length(one$fit, 5)
  expect_length(one$se.fit, 5)
  expect_true(all(one$se.fit >= 0))
  expect_equal(unname(one$fit), unname(p[, 2]), tolerance = 1e-10)
  # training points: fitted values and residuals add up to the response
  expect_equal(unname(fitted(fit)[, 2] + residuals(fit)[, 2]), mtcars$mpg, tolerance = 1e-10)
  expect_equal(predict(fit), fitted(fit), tolerance = 1e-12)
  # se.fit of the GP (kernel = "nngp") vanishes on training points as diag_reg -> 0
  gp <- suppressWarnings(nt_fit(mtcars[, c("wt", "hp")], mtcars$mpg, kernel = "nngp", diag_reg = 0))
  se <- predict(gp, mtcars[, c("wt", "hp")], se.fit = TRUE)$se.fit
  expect_lt(max(se), 1e-3 * sd(mtcars$mpg))
  out <- capture.output(print(fit))
  expect_match(out[1], "NTK kernel")
  expect_match(out[2], "^Call: nt_fit\\(formula = mpg ~ wt")
  expect_match(paste(out, collapse = " "), "training RMSE")
  expect_match(paste(capture.output(summary(fit)), collapse = " "), "eigenvalues")
  # names and shapes are the same for one row as for several
  expect_named(predict(gp, mtcars[1, c("wt", "hp")]), "Mazda RX4")
  expect_equal(dim(predict(fit, mtcars[1, ])), c(1L, 2L))
  expect_equal(rownames(predict(fit, mtcars[1, ])), "Mazda RX4")
})

test_that("identical rows with different responses never give garbage", {
  d <- transform(mtcars, cyl = factor(cyl), am = factor(am))
  for (ridge in list(0, "auto")) {
    if (identical(ridge, 0))
      expect_warning(fit <- nt_fit(mpg ~ cyl + wt + am, data = d, diag_reg = 0), "numerically singular")
    else fit <- nt_fit(mpg ~ cyl + wt + am, data = d)
    expect_equal(predict(fit, d), fitted(fit), tolerance = 1e-8)
    # and on copies of the rows in another order and data frame
    expect_equal(unname(predict(fit, d[32:1, ])), unname(fitted(fit)[32:1]), tolerance = 1e-8)
    expect_true(all(abs(fitted(fit) - mean(d$mpg)) < 3 * sd(d$mpg)))
  }
  # without a ridge, duplicated inputs are fitted by the mean of their responses
  fit <- suppressWarnings(nt_fit(mpg ~ cyl + wt + am, data = d, diag_reg = 0))
  groups <- interaction(d$cyl, d$wt, d$am, drop = TRUE)
  expect_equal(unname(fitted(fit)), unname(ave(d$mpg, groups)), tolerance = 1e-6)
  expect_match(paste(capture.output(summary(fit)), collapse = " "), "singular")
})

test_that("nt_fit follows lm's conventions: subset, na.action, weights, update", {
  a <- nt_fit(mpg ~ wt + hp, data = mtcars, subset = cyl > 4, diag_reg = 0.1)
  b <- nt_fit(mpg ~ wt + hp, data = mtcars[mtcars$cyl > 4, ], diag_reg = 0.1)
  expect_equal(nobs(a), 21L)
  expect_equal(predict(a, mtcars), predict(b, mtcars), tolerance = 1e-12)
  bad <- mtcars; bad$mpg[2] <- NA; bad$wt[5] <- NA
  expect_equal(nobs(nt_fit(mpg ~ wt, data = bad)), 30L)
  expect_error(nt_fit(mpg ~ wt, data = bad, na.action = na.fail), "missing values")
  expect_equal(nobs(nt_fit(mpg ~ hp, data = bad, na.action = na.omit)), 31L)
  # integer weights: the same fit as duplicated rows (fixed ridge)
  w <- rep(1, 32); w[c(3, 7)] <- c(2, 3)
  weighted <- nt_fit(mpg ~ wt + hp, data = mtcars, weights = w, diag_reg = 0.5, standardize = FALSE)
  copies <- mtcars[rep(1:32, w), ]
  repeated <- nt_fit(mpg ~ wt + hp, data = copies, diag_reg = 0.5, standardize = FALSE)
  expect_equal(unname(predict(weighted, mtcars)), unname(predict(repeated, mtcars)), tolerance = 1e-8)
  # a zero weight drops the observation
  w0 <- rep(1, 32); w0[5] <- 0
  dropped <- nt_fit(mpg ~ wt + hp, data = mtcars[-5, ], diag_reg = 0.5, standardize = FALSE)
  zero <- nt_fit(mpg ~ wt + hp, data = mtcars, weights = w0, diag_reg = 0.5, standardize = FALSE)
  expect_equal(unname(predict(zero, mtcars)), unname(predict(dropped, mtcars)), tolerance = 1e-8)
  expect_equal(nobs(zero), 31L)
  expect_error(nt_fit(mpg ~ wt, data = mtcars, weights = rep(-1, 32)), "`weights` must be non-negative")
  expect_error(nt_fit(mpg ~ wt, data = mtcars, bogus_arg = 3), "unknown argument to nt_fit\\(\\): `bogus_arg`")
  expect_error(nt_fit(as.matrix(mtcars[, 2:3]), mtcars$mpg, bogus = 1), "`bogus`")
  # update() with a new formula refits as a direct call would
  fit <- nt_fit(mpg ~ wt + hp, data = mtcars)
  up <- update(fit, . ~ . + qsec)
  direct <- nt_fit(mpg ~ wt + hp + qsec, data = mtcars)
  expect_equal(predict(up, mtcars), predict(direct, mtcars), tolerance = 1e-12)
  expect_equal(formula(up), mpg ~ wt + hp + qsec, ignore_attr = TRUE)
  expect_equal(nt_fit(formula = mpg ~ wt, data = mtcars)$diag_reg, nt_fit(mpg ~ wt, mtcars)$diag_reg)
})

test_that("the ridge chosen by leave-one-out matches brute-force leave-one-out", {
  x <- scale(as.matrix(mtcars[, c("wt", "hp", "qsec")]))
  y <- mtcars$mpg - mean(mtcars$mpg)
  fit <- nt_fit(x, y, standardize = FALSE, intercept = FALSE)
  picks <- c(5, 13, 21)
  brute <- vapply(fit$loo$ridges[picks], function(r) {
    mean(vapply(seq_len(32), function(i) {
      held <- nt_fit(x[-i, ], y[-i], diag_reg = r, standardize = FALSE, intercept = FALSE)
      (predict(held, x[i, , drop = FALSE]) - y[i])^2
    }, 1))
  }, 1)
  expect_equal(fit$loo$score[picks], brute, tolerance = 1e-8)
  expect_equal(fit$diag_reg, fit$loo$ridges[which.min(fit$loo$score)])
})

test_that("coef, logLik, nobs and plot", {
  fit <- nt_fit(mpg ~ wt + hp, data = mtcars, kernel = "nngp", diag_reg = 0.3, standardize = FALSE)
  x <- as.matrix(mtcars[, c("wt", "hp")])
  k <- nt_kernel(fit$net, x, what = "nngp")@.Data
  alpha <- coef(fit)
  expect_length(alpha, 32)
  new <- as.matrix(data.frame(wt = c(2, 3), hp = c(100, 200)))
  expect_equal(unname(drop(nt_kernel(fit$net, new, x, what = "nngp") %*% alpha) + attr(alpha, "intercept")),
               unname(predict(fit, data.frame(new))), tolerance = 1e-8)
  # the GP evidence, by determinant() and solve()
  y <- mtcars$mpg - mean(mtcars$mpg)
  c_y <- k + diag(0.3, 32)
  direct <- -0.5 * sum(y * solve(c_y, y)) - 0.5 * determinant(c_y)$modulus - 16 * log(2 * pi)
  expect_equal(as.numeric(logLik(fit)), as.numeric(direct), tolerance = 1e-8)
  expect_equal(attr(logLik(fit), "df"), 1)
  expect_equal(nobs(fit), 32L)
  expect_equal(AIC(fit), -2 * as.numeric(direct) + 2, tolerance = 1e-8)
  expect_warning(ll <- logLik(suppressWarnings(nt_fit(mpg ~ factor(cyl), data = mtcars, diag_reg = 0))),
                 "undefined")
  expect_true(is.na(ll))
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_identical(plot(fit), fit)
  classes <- nt_fit(Species ~ ., iris)
  expect_identical(plot(classes), classes)
  # predict() matches training rows without touching the random stream
  set.seed(9); before <- stats::runif(1)
  set.seed(9); invisible(predict(fit, mtcars[1:3, ])); expect_identical(stats::runif(1), before)
})

test_that("nt_fit refuses bad input with clear errors", {
  fit <- nt_fit(mpg ~ wt + hp, data = mtcars)
  expect_error(predict(fit, mtcars[, c("wt", "cyl")]), "`newdata` is missing variable used in the formula: hp")
  bad_new <- mtcars; bad_new$hp[3] <- NA
  expect_error(predict(fit, bad_new), "`newdata` contains NA \\(row 3, in hp\\)")
  expect_error(nt_fit(matrix(1:6, 3), 1:2), "`y` has 2 rows")
  expect_error(nt_fit(mpg ~ wt, data = mtcars, t = -1), "`t` must be non-negative")
  expect_error(predict(fit, mtcars, type = "class"), "needs a factor response")
  expect_error(nt_fit(mpg ~ wt, data = mtcars, kernel = "rbf"), "'arg' should be one of")
  expect_error(nt_fit(mpg ~ wt, data = mtcars, diag_reg = "loo"), "`diag_reg`")
})

test_that("matrix and image inputs work through the default method", {
  set.seed(4)
  img <- array(rnorm(12 * 4 * 4), c(12, 4, 4, 1))
  y <- factor(rep(c("a", "b"), 6))
  fit <- nt_fit(img, y, net = nt_cnn(2, readout = "flatten"), diag_reg = 0)
  expect_equal(as.character(predict(fit, img[1:4, , , , drop = FALSE], type = "class")),
               c("a", "b", "a", "b"))
  expect_equal(predict(fit, img), fitted(fit), tolerance = 1e-8)
})

test_that("standardisation is exact for any column scale, and more lm conventions", {
  base <- nt_fit(mpg ~ wt + hp, data = mtcars)
  for (scale in c(1e200, 1e-200)) {
    d <- transform(mtcars, wt = wt * scale)
    expect_equal(unname(fitted(nt_fit(mpg ~ wt + hp, data = d))), unname(fitted(base)), tolerance = 1e-8)
  }
  # the x / y interface prints as nt_fit() too
  m <- nt_fit(as.matrix(mtcars[, c("wt", "hp")]), mtcars$mpg)
  expect_match(capture.output(print(m))[2], "^Call: nt_fit\\(x = ")
  expect_error(predict(base, mtcars, interval = "confidence"), "unknown argument to predict.nt_fit\\(\\): `interval`")
  expect_error(residuals(base, type = "pearson"), "response residuals only")
  # a logical response is numeric, as in lm
  logical_fit <- nt_fit(am == 1 ~ wt + hp, data = mtcars)
  expect_equal(unname(fitted(logical_fit)),
               unname(fitted(nt_fit(as.numeric(am == 1) ~ wt + hp, data = mtcars))), tolerance = 1e-12)
  expect_error(nt_fit(mpg ~ wt, data = mtcars[1, ]), "at least 2 observations")
  # newdata of the wrong type, or with NA, names the variable
  expect_error(predict(base, data.frame(wt = NA, hp = 100)), "`newdata` contains NA \\(row 1, in wt\\)")
  expect_error(predict(base, data.frame(wt = "a", hp = 100)), "wt")
})

test_that("class probabilities are calibrated on left-out scores", {
  skip_if_not_installed("mlbench")
  data(Vehicle, package = "mlbench", envir = environment())
  data(Sonar, package = "mlbench", envir = environment())
  log_loss <- function(p, y) -mean(log(pmax(p[cbind(seq_along(y), as.integer(y))], 1e-15)))
  for (case in list(list(Class ~ ., Vehicle), list(Class ~ ., Sonar), list(Species ~ ., iris))) {
    d <- case[[2]]
    set.seed(1)
    train <- sample(nrow(d), round(0.7 * nrow(d)))
    y <- d$Class %||% d$Species
    fit <- nt_fit(case[[1]], data = d[train, ])
    p <- predict(fit, d[-train, ], type = "prob")
    expect_equal(unname(rowSums(p)), rep(1, nrow(p)), tolerance = 1e-12)
    expect_equal(unname(max.col(p)), as.integer(predict(fit, d[-train, ], type = "class")))
    svm <- kernlab::ksvm(case[[1]], data = d[train, ], prob.model = TRUE)
    p_svm <- kernlab::predict(svm, d[-train, ], type = "probabilities")
    # no worse than the Gaussian SVM's Platt probabilities by more than 0.1
    expect_lt(log_loss(p, y[-train]), log_loss(p_svm, y[-train]) + 0.1)
    # calibration: the mean confidence of the predicted class is its accuracy,
    # within 2.5 standard errors of that accuracy plus 0.02
    hit <- max.col(p) == as.integer(y[-train])
    se <- sqrt(mean(hit) * (1 - mean(hit)) / length(hit))
    expect_lt(abs(mean(apply(p, 1, max)) - mean(hit)), 2.5 * se + 0.02)
  }
})
