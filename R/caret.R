# caret custom models: an SVM on the NTK, and gradient-flow kernel regression.

#' caret models with neural tangent kernels
#'
#' Lists in caret's custom-model format, for
#' `caret::train(x, y, method = nt_caret_svm())`.
#'
#' `nt_caret_svm()`: kernlab's `ksvm()` on the NTK of `nt_fc(depth, fixed)`
#' (classification and regression; class probabilities by Platt scaling on
#' cross-validated decision values, see [ntKernelMatrix-class]), always with `shrinking = FALSE` (see [ntkdot()]). It tunes
#' `depth`, `fixed` and `C`. The default grid follows Arora et al. (2020):
#' for `tuneLength >= 7`, depth 1 to 5, every `fixed` from 0 to depth, and
#' `C` in `10^(-2:4)`; shorter lengths keep `depth` in `1:tuneLength`,
#' `fixed` in `{0, depth}` and `tuneLength` values of `C` from 0.1 to 1000.
#'
#' `nt_caret_krr()`: kernel regression by gradient flow ([nt_fit()], `t = Inf`)
#' on the NTK, for regression and classification (one-hot targets), with an
#' intercept (the training mean, or the class proportions),
#' tuning `depth`, `fixed` and the ridge `diag_reg`. Its `loop` element fits
#' each (`depth`, `fixed`) once and predicts every `diag_reg` from the same
#' kernels and one eigendecomposition.
#'
#' Kernels are computed once per training fold: the first candidate computes
#' every `K[depth][fixed]` up to depth 5 in one pass ([nt_fc_family()]) and
#' the models keep the last two families. caret's `loop` cannot share one SVM
#' fit across `C` values (each `C` is a new optimisation), so for the SVM this
#' cache is what saves the work.
#'
#' With `input_shape` (`c(H, W, C)` images, `c(L, C)` sequences or
#' `c(D, H, W, C)` volumes) each row
#' of `x` is one flattened input (R's order, as `matrix(a, n)` flattens an
#' `n x H x W x C` array `a`) and the models use the convolutional network
#' `nt_cnn(depth)` instead, tuning `depth` (with `fixed = 0`) and the third
#' parameter; the kernel of each depth is computed once per training fold.
#'
#' @param activation,w_var,b_var Passed to [nt_fc()] (or `w_var`, `b_var` to
#'   [nt_cnn()]).
#' @param input_shape `NULL` for tabular rows, or the shape of the inputs
#'   that the rows hold flattened.
#' @return A list for caret's `method` argument.
#' @examples
#' \donttest{
#' if (requireNamespace("caret", quietly = TRUE)) {
#'   fit <- caret::train(Species ~ ., data = iris, method = nt_caret_svm(),
#'                       tuneLength = 2, preProcess = c("center", "scale"),
#'                       trControl = caret::trainControl(method = "cv", number = 3))
#'   fit$bestTune
#' }
#' }
#' @name caret_models
NULL

#' @rdname caret_models
#' @export
nt_caret_svm <- function(activation = "relu", w_var = 2, b_var = 0, input_shape = NULL) {
  settings <- model_settings(activation, w_var, b_var, input_shape)
  list(
    label = "SVM with the neural tangent kernel (ntk)",
    library = c("ntk", "kernlab"),
    type = c("Classification", "Regression"),
    parameters = data.frame(parameter = c("depth", "fixed", "C"),
                            class = rep("numeric", 3),
                            label = c("Hidden layers", "Frozen layers", "Cost")),
    grid = function(x, y, len = NULL, search = "grid") {
      caret_grid(len, search, function(len) {
        if (len >= 7) 10^(-2:4) else 10^seq(-1, 3, length.out = max(len, 2))
      }, "C", is.null(settings$input_shape))
    },
    loop = NULL,
    fit = function(x, y, wts, param, lev, last, weights, classProbs, ...) {
      x <- as_input_matrix(x, "x")
      net <- model_network(settings, param$depth, param$fixed)
      k <- model_train_kernel(x, settings, param$depth, param$fixed)
      classification <- is.factor(y)
      # the ntKernelMatrix method: shrinking off, Platt scaling of its own
      model <- kernlab::ksvm(as_nt_kernel_matrix(k), y, kernel = "matrix",
                             type = if (classification) "C-svc" else "eps-svr",
                             C = param$C, shrinking = FALSE,
                             prob.model = classification && isTRUE(classProbs), ...)
      list(model = model, x = x, net = net, lev = lev)
    },
    predict = function(modelFit, newdata, submodels = NULL) {
      k_test <- model_test_kernel(modelFit$net, settings, newdata, modelFit$x)
      pred <- nt_predict_ksvm(modelFit$model, k_test)
      if (is.matrix(pred)) pred <- pred[, 1]
      if (is.factor(pred)) as.character(pred) else pred
    },
    prob = function(modelFit, newdata, submodels = NULL) {
      k_test <- model_test_kernel(modelFit$net, settings, newdata, modelFit$x)
      as.data.frame(nt_predict_ksvm(modelFit$model, k_test, type = "probabilities"))
    },
    sort = function(x) x[order(x$depth, x$fixed, x$C), , drop = FALSE],
    levels = function(x) x$lev
  )
}

#' @rdname caret_models
#' @export
nt_caret_krr <- function(activation = "relu", w_var = 2, b_var = 0, input_shape = NULL) {
  settings <- model_settings(activation, w_var, b_var, input_shape)
  list(
    label = "Gradient-flow kernel regression with the neural tangent kernel (ntk)",
    library = "ntk",
    type = c("Classification", "Regression"),
    parameters = data.frame(parameter = c("depth", "fixed", "diag_reg"),
                            class = rep("numeric", 3),
                            label = c("Hidden layers", "Frozen layers", "Ridge")),
    grid = function(x, y, len = NULL, search = "grid") {
      caret_grid(len, search, function(len) {
        if (len >= 7) 10^(-6:0) else 10^seq(-4, 0, length.out = max(len, 2))
      }, "diag_reg", is.null(settings$input_shape))
    },
    # One fit per (depth, fixed): the other ridges are submodels.
    loop = function(grid) {
      keys <- unique(grid[, c("depth", "fixed")])
      loop <- keys
      loop$diag_reg <- NA_real_
      submodels <- vector("list", nrow(keys))
      for (i in seq_len(nrow(keys))) {
        ridges <- sort(grid$diag_reg[grid$depth == keys$depth[i] & grid$fixed == keys$fixed[i]])
        loop$diag_reg[i] <- ridges[1]
        submodels[[i]] <- data.frame(diag_reg = ridges[-1])
      }
      list(loop = loop, submodels = submodels)
    },
    fit = function(x, y, wts, param, lev, last, weights, classProbs, ...) {
      x <- as_input_matrix(x, "x")
      net <- model_network(settings, param$depth, param$fixed)
      k <- model_train_kernel(x, settings, param$depth, param$fixed)
      targets <- encode_response(y, nrow(x))
      offset <- colMeans(targets$targets)               # the intercept, as in nt_fit()
      targets$targets <- sweep(targets$targets, 2, offset)
      eig <- eigen(k, symmetric = TRUE)
      list(x = x, net = net, settings = settings, eig = eig, targets = targets, offset = offset,
           diag_reg = param$diag_reg, lev = lev)
    },
    predict = function(modelFit, newdata, submodels = NULL) {
      scores <- krr_scores(modelFit, newdata, submodels)
      out <- lapply(scores, function(s) {
        if (is.null(modelFit$targets$levels)) s[, 1]
        else modelFit$targets$levels[max.col(s, ties.method = "first")]
      })
      if (is.null(submodels)) out[[1]] else out
    },
    prob = function(modelFit, newdata, submodels = NULL) {
      scores <- krr_scores(modelFit, newdata, submodels)
      out <- lapply(scores, function(s) {
        as.data.frame(score_probabilities(s), col.names = modelFit$targets$levels)
      })
      if (is.null(submodels)) out[[1]] else out
    },
    sort = function(x) x[order(x$depth, x$fixed, -x$diag_reg), , drop = FALSE],
    levels = function(x) x$lev
  )
}

# Kernel-regression scores for the fit's ridge and each submodel's, from one
# test kernel and the training kernel's eigendecomposition.
krr_scores <- function(fit, newdata, submodels) {
  k_test <- model_test_kernel(fit$net, fit$settings, newdata, fit$x)@.Data
  ridges <- c(fit$diag_reg, if (!is.null(submodels)) submodels$diag_reg)
  v <- fit$eig$vectors
  proj <- crossprod(v, fit$targets$targets)
  kv <- k_test %*% v
  lapply(ridges, function(r) {
    s <- kv %*% (proj / pmax(fit$eig$values + r, .Machine$double.eps * max(fit$eig$values)))
    s <- sweep(s, 2, fit$offset, `+`)
    colnames(s) <- colnames(fit$targets$targets)
    s
  })
}

# fixed_free: FALSE for convolutional models, whose `fixed` is 0.
caret_grid <- function(len, search, third_values, third_name, fixed_free = TRUE) {
  len <- if (is.null(len)) 3L else max(1L, as.integer(len))
  fixed_of <- function(d) if (fixed_free) 0:d else 0L
  full <- do.call(rbind, lapply(1:5, function(d)
    expand.grid(depth = d, fixed = fixed_of(d), third = third_values(7L))))
  if (search == "random") {
    grid <- full[sample(nrow(full), min(len, nrow(full))), , drop = FALSE]
  } else if (len >= 7) {
    grid <- full
  } else {
    grid <- do.call(rbind, lapply(seq_len(min(len, 5L)), function(d)
      expand.grid(depth = d, fixed = unique(c(0L, if (fixed_free) d)), third = third_values(len))))
  }
  names(grid)[3] <- third_name
  rownames(grid) <- NULL
  grid
}

# The kernel families of the last few training sets: every (depth, fixed)
# of nt_fc up to depth 5 comes from one pass (nt_fc_family), so the whole
# grid costs one kernel computation per fold.
.kernel_cache <- new.env(parent = emptyenv())

cached_family_kernel <- function(x, depth, fixed, activation, w_var, b_var) {
  key <- list(activation = activation, w_var = w_var, b_var = b_var)
  entries <- .kernel_cache$entries %||% list()
  for (e in entries)
    if (identical(e$key, key) && e$depth >= depth && identical(e$x, x))
      return(nt_family_kernel(e$family, depth, fixed)@.Data)
  top <- max(5L, depth)
  family <- nt_fc_family(x, max_depth = top, activation = activation, w_var = w_var,
                         b_var = b_var, progress = FALSE)
  .kernel_cache$entries <- c(list(list(key = key, x = x, depth = top, family = family)),
                             utils::head(entries, 1L))
  nt_family_kernel(family, depth, fixed)@.Data
}
