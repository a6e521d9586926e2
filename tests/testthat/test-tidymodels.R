# The parsnip models nt_svm() and nt_krr(): fits against direct formulas and
# kernlab, in a workflow with a recipe, and tuned with tune_grid() over
# vfold_cv() against kernlab's RBF SVM and ranger on the same folds.

# suggested packages: installed by `make test`, so these run in CI
for (p in c("parsnip", "workflows", "recipes", "rsample", "tune", "yardstick", "dials", "mlbench", "ranger"))
  skip_if_not_installed(p)
suppressPackageStartupMessages({
  library(parsnip)
  library(workflows)
  library(recipes)
  library(rsample)
  library(tune)
  library(yardstick)
})

sonar <- function() {
  data("Sonar", package = "mlbench", envir = environment())
  Sonar
}

test_that("nt_krr() in a workflow is kernel ridge regression on the NTK of the recipe's output", {
  rec <- recipe(mpg ~ ., data = mtcars) |> step_normalize(all_numeric_predictors())
  wf <- workflow() |> add_recipe(rec) |>
    add_model(nt_krr(depth = 3, fixed = 1, diag_reg = 0.05) |> set_mode("regression") |>
                set_engine("ntk", standardize = FALSE))
  fitted <- fit(wf, mtcars[1:24, ])
  got <- predict(fitted, mtcars[25:32, ])$.pred
  prep_rec <- prep(rec, mtcars[1:24, ])
  baked <- bake(prep_rec, mtcars[1:24, ])
  x <- as.matrix(baked[, setdiff(names(baked), "mpg")])
  x_new <- as.matrix(bake(prep_rec, mtcars[25:32, ])[, colnames(x)])
  net <- nt_fc(3, fixed = 1)
  y <- mtcars$mpg[1:24]
  k <- nt_kernel(net, x)@.Data
  want <- nt_kernel(net, x_new, x)@.Data %*% solve(k + 0.05 * diag(24), y - mean(y)) + mean(y)
  expect_equal(got, drop(want), tolerance = 1e-8)
})

test_that("nt_svm() class probabilities are informative and rank like kernlab's RBF SVM", {
  data <- sonar()
  set.seed(11)
  train <- sample(nrow(data), 140)
  fit <- nt_svm(depth = 3, cost = 10) |> set_mode("classification") |> fit(Class ~ ., data = data[train, ])
  probs <- predict(fit, data[-train, ], type = "prob")
  expect_named(probs, c(".pred_M", ".pred_R"))
  expect_equal(rowSums(probs), rep(1, nrow(probs)), tolerance = 1e-12)
  truth <- data$Class[-train]
  auc <- roc_auc_vec(truth, probs$.pred_M)
  rbf <- kernlab::ksvm(Class ~ ., data = data[train, ], C = 10, prob.model = TRUE)
  auc_rbf <- roc_auc_vec(truth, kernlab::predict(rbf, data[-train, ], type = "probabilities")[, "M"])
  expect_gt(auc, 0.85)
  expect_gt(auc, auc_rbf - 0.05)
  # the log-loss beats the base rate's by a margin: the probabilities carry information
  base <- mn_log_loss_vec(truth, rep(mean(data$Class[train] == "M"), length(truth)))
  expect_lt(mn_log_loss_vec(truth, probs$.pred_M), 0.8 * base)
  classes <- predict(fit, data[-train, ], type = "class")$.pred_class
  expect_identical(as.character(classes), as.character(predict(
    nt_svm_model(data[train, -61], data$Class[train], depth = 3, cost = 10), data[-train, -61])))
})

test_that("tune_grid() over vfold_cv() tunes depth, fixed and cost and competes with RBF SVM and ranger", {
  data <- sonar()
  set.seed(12)
  folds <- vfold_cv(data, v = 3, strata = Class)
  rec <- recipe(Class ~ ., data = data) |> step_normalize(all_numeric_predictors())
  wf <- workflow() |> add_recipe(rec) |>
    add_model(nt_svm(depth = tune(), fixed = tune(), cost = tune()) |> set_mode("classification"))
  params <- extract_parameter_set_dials(wf)
  expect_setequal(params$id, c("depth", "fixed", "cost"))
  grid <- expand.grid(depth = c(1, 3), fixed = c(0, 1), cost = c(1, 10))
  res <- tune_grid(wf, resamples = folds, grid = grid, metrics = metric_set(accuracy, roc_auc))
  metrics <- collect_metrics(res)
  expect_equal(nrow(metrics), 2 * nrow(grid))
  expect_true(all(is.finite(metrics$mean)))
  best <- show_best(res, metric = "accuracy", n = 1)
  others <- list(
    rbf = svm_rbf(cost = 10) |> set_engine("kernlab") |> set_mode("classification"),
    ranger = rand_forest(trees = 300) |> set_engine("ranger") |> set_mode("classification"))
  reference <- c()
  for (name in names(others)) {
    ref <- fit_resamples(workflow() |> add_recipe(rec) |> add_model(others[[name]]), folds,
                         metrics = metric_set(accuracy))
    reference[name] <- collect_metrics(ref)$mean
    expect_gt(best$mean, reference[name] - 0.03, label = paste("NTK against", name))
  }
  # a regular grid from the dials parameters runs, the ridge and time on log scales
  krr <- nt_krr(depth = tune(), diag_reg = tune(), t = tune()) |> set_mode("classification")
  kgrid <- dials::grid_regular(extract_parameter_set_dials(krr), levels = 2)
  expect_equal(range(kgrid$diag_reg), c(1e-6, 1))
  expect_equal(range(kgrid$t), c(0.1, 1e4))
  kres <- tune_grid(workflow() |> add_recipe(rec) |> add_model(krr), folds, grid = kgrid,
                    metrics = metric_set(accuracy))
  krr_acc <- collect_metrics(kres)$mean
  expect_true(all(is.finite(krr_acc)))
  # the best kernel-regression candidate competes too (chance is about 0.53)
  expect_gt(max(krr_acc), min(reference) - 0.05)
})

test_that("the model fits read new columns by name and keep a probability column per class", {
  x <- iris[, 1:4]
  svm <- nt_svm_model(x, iris$Species, depth = 2, cost = 10)
  krr <- nt_krr_model(x, iris$Species, depth = 2, diag_reg = 0.01)
  for (m in list(svm, krr)) {
    expect_identical(predict(m, x[1:20, 4:1]), predict(m, x[1:20, ]))
    expect_error(predict(m, x[, 1:3]), "lacks the training column `Petal.Width`")
  }
  # a class missing from the training rows (as in a small fold) keeps its column, at 0
  seen <- iris$Species != "virginica"
  for (fit in list(nt_svm_model(x[seen, ], iris$Species[seen], cost = 10),
                   nt_krr_model(x[seen, ], iris$Species[seen], diag_reg = 0.01))) {
    p <- predict(fit, x[1:5, ], type = "prob")
    expect_named(p, levels(iris$Species))
    expect_equal(p$virginica, rep(0, 5))
    expect_equal(rowSums(p), rep(1, 5), tolerance = 1e-12)
    expect_identical(levels(predict(fit, x[1:5, ], type = "class")), levels(iris$Species))
  }
  # a user-supplied dual runs through the same fits (one kernel per candidate)
  erf <- function(u) 2 * pnorm(sqrt(2) * u) - 1
  erf_dual <- function(c11, c12, c22) 2 / pi * asin(2 * c12 / sqrt((1 + 2 * c11) * (1 + 2 * c22)))
  user <- nt_svm_model(x, iris$Species, depth = 2, cost = 10, activation = nt_activation(erf, dual = erf_dual))
  closed <- nt_svm_model(x, iris$Species, depth = 2, cost = 10, activation = nt_erf())
  expect_identical(predict(user, x), predict(closed, x))
})

test_that("parameters and engine arguments are checked", {
  expect_equal(nt_depth()$range, list(lower = 1L, upper = 5L))
  expect_equal(nt_fixed()$range, list(lower = 0L, upper = 4L))
  expect_error(nt_svm(mode = "clustering"), "`mode` must be one of")
  expect_error(fit(nt_svm(cost = -1) |> set_mode("classification"), Species ~ ., data = iris),
               "`cost` must be")
  expect_error(fit(nt_krr(depth = 2) |> set_mode("regression") |> set_engine("ntk", input_shape = 3),
                   mpg ~ ., data = mtcars), "`input_shape` must be")
  spec <- update(nt_svm(depth = 2), cost = 5)
  expect_equal(rlang::eval_tidy(spec$args$cost), 5)
  expect_equal(rlang::eval_tidy(spec$args$depth), 2)
})
