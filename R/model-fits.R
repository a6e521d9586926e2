# Model fits by hyper-parameter values, on matrices: what the parsnip
# engines and mlr3 learners call, one candidate at a time.

#' NTK models by their hyper-parameters
#'
#' The fits behind the tidymodels model specifications ([nt_svm()],
#' [nt_krr()]) and the mlr3 learners ([LearnerClassifNTK]), usable directly:
#' `nt_svm_model()` is kernlab's `ksvm()` on the NTK of `nt_fc(depth, fixed)`
#' (classification with Platt-scaled class probabilities, or
#' epsilon-regression), `nt_krr_model()` kernel regression by gradient flow
#' ([nt_fit()]) to time `t` with ridge `diag_reg` on the same kernel. With
#' `input_shape` the rows of `x` are flattened images (`c(H, W, C)`) or
#' sequences (`c(L, C)`) or volumes (`c(D, H, W, C)`), in R's order, and the network is `nt_cnn(depth)`
#' (then `fixed` must be 0). A `fixed` above `depth` is taken as `depth` (all
#' hidden layers frozen: the NTK is then the NNGP), so that independent
#' tuning grids over both stay valid.
#'
#' Columns are standardised with the training means and standard deviations
#' when `standardize = TRUE` (matrix rows only), as `ksvm(scaled = TRUE)`
#' and [nt_fit()] do.
#'
#' @param x A numeric matrix or data frame of predictors.
#' @param y A factor (classification) or numeric vector (regression).
#' @param depth Hidden layers.
#' @param fixed Frozen dense layers (fully connected networks).
#' @param cost The SVM's cost `C`.
#' @param diag_reg The ridge added to the kernel's diagonal, or `"auto"`
#'   (leave-one-out, see [nt_fit()]).
#' @param t Gradient-flow time (`Inf`: the kernel regression limit).
#' @param activation,w_var,b_var The network's activation and variances.
#' @param input_shape `NULL`, or the shape of the inputs flattened in the rows.
#' @param standardize Standardise the columns (matrix rows only).
#' @param object A fitted model.
#' @param newdata New predictors, with the training columns.
#' @param type `"class"`, `"prob"` (classification) or `"numeric"`
#'   (regression).
#' @param ... Unused.
#' @return `nt_svm_model()`, `nt_krr_model()`: a model of class
#'   `nt_svm_model` or `nt_krr_model`; `predict()`: a factor, a data frame of
#'   class probabilities, or a numeric vector.
#' @examples
#' svm <- nt_svm_model(iris[, 1:4], iris$Species, depth = 2, cost = 10)
#' head(predict(svm, iris[, 1:4], type = "prob"))
#' krr <- nt_krr_model(mtcars[, -1], mtcars$mpg, depth = 3, diag_reg = 0.01)
#' head(predict(krr, mtcars[, -1]))
#' @export
nt_svm_model <- function(x, y, depth = 2, fixed = 0, cost = 1, activation = "relu", w_var = 2,
                         b_var = 0, input_shape = NULL, standardize = is.null(input_shape)) {
  cost <- check_number(cost, "cost", lower = 0)
  if (!(cost > 0)) stop("`cost` must be positive", call. = FALSE)
  setup <- model_setup(x, y, depth, fixed, activation, w_var, b_var, input_shape, standardize)
  k <- model_train_kernel(setup$x, setup$settings, setup$depth, setup$fixed)
  classification <- is.factor(setup$y)
  fit <- kernlab::ksvm(as_nt_kernel_matrix(k), setup$y, kernel = "matrix",
                       type = if (classification) "C-svc" else "eps-svr", C = cost,
                       shrinking = FALSE, prob.model = classification)
  structure(c(setup, list(fit = fit)), class = "nt_svm_model")
}

#' @rdname nt_svm_model
#' @export
nt_krr_model <- function(x, y, depth = 2, fixed = 0, diag_reg = "auto", t = Inf, activation = "relu",
                         w_var = 2, b_var = 0, input_shape = NULL, standardize = is.null(input_shape)) {
  setup <- model_setup(x, y, depth, fixed, activation, w_var, b_var, input_shape, standardize)
  net <- model_network(setup$settings, setup$depth, setup$fixed)
  fit <- nt_fit(shaped_inputs(setup$x, setup$settings$input_shape), setup$y, net = net, t = t,
                diag_reg = diag_reg, standardize = FALSE)
  structure(c(setup, list(fit = fit)), class = "nt_krr_model")
}

# Checked inputs and settings, with the training scaling applied.
model_setup <- function(x, y, depth, fixed, activation, w_var, b_var, input_shape, standardize) {
  x <- as_input_matrix(x, "x")
  if (!(is.factor(y) || is.numeric(y)) || length(y) != nrow(x))
    stop(sprintf("`y` must be a factor or a numeric vector with one value per row of `x` (%d)", nrow(x)),
         call. = FALSE)
  if (anyNA(y)) stop("`y` contains missing values", call. = FALSE)
  all_levels <- levels(y)   # a class absent from a training fold keeps its (zero) probability column
  if (is.factor(y)) y <- droplevels(y)
  depth <- check_count(depth, "depth", 0L)
  fixed <- min(check_count(fixed, "fixed", 0L), depth)
  settings <- model_settings(activation, w_var, b_var, input_shape)
  standardize <- check_flag(standardize, "standardize")
  if (standardize && !is.null(settings$input_shape))
    stop("`standardize` applies to tabular rows, not to flattened images", call. = FALSE)
  scaling <- if (standardize) column_scaling(x)
  if (standardize) x <- scale(x, scaling$center, scaling$scale)
  list(x = x, y = y, depth = depth, fixed = fixed, settings = settings, scaling = scaling,
       columns = colnames(x), levels = all_levels)
}

model_newdata <- function(object, newdata) {
  x <- as_input_matrix(newdata, "newdata")
  if (!is.null(object$columns) && !is.null(colnames(x))) {   # by name, in the training order
    missing <- setdiff(object$columns, colnames(x))
    if (length(missing))
      stop(sprintf("`newdata` lacks the training column%s %s", if (length(missing) > 1L) "s" else "",
                   paste0("`", utils::head(missing, 5L), "`", collapse = ", ")), call. = FALSE)
    x <- x[, object$columns, drop = FALSE]
  }
  if (ncol(x) != ncol(object$x))
    stop(sprintf("`newdata` has %d columns but the model was trained on %d", ncol(x), ncol(object$x)),
         call. = FALSE)
  if (!is.null(object$scaling)) x <- scale(x, object$scaling$center, object$scaling$scale)
  x
}

model_type <- function(object, type) {
  type <- type %||% if (is.null(object$levels)) "numeric" else "class"
  type <- match.arg(type, c("class", "prob", "numeric"))
  if ((type == "numeric") != is.null(object$levels))
    stop(sprintf("type = \"%s\" does not apply to a %s model", type,
                 if (is.null(object$levels)) "regression" else "classification"), call. = FALSE)
  type
}

#' @rdname nt_svm_model
#' @export
predict.nt_svm_model <- function(object, newdata, type = NULL, ...) {
  type <- model_type(object, type)
  x <- model_newdata(object, newdata)
  net <- model_network(object$settings, object$depth, object$fixed)
  k_test <- model_test_kernel(net, object$settings, x, object$x)
  if (type == "prob") return(all_classes(nt_predict_ksvm(object$fit, k_test, type = "probabilities"),
                                         object$levels))
  pred <- nt_predict_ksvm(object$fit, k_test)
  if (type == "class") factor(as.character(pred), levels = object$levels) else as.vector(pred)
}

#' @rdname nt_svm_model
#' @export
predict.nt_krr_model <- function(object, newdata, type = NULL, ...) {
  type <- model_type(object, type)
  x <- shaped_inputs(model_newdata(object, newdata), object$settings$input_shape, "newdata")
  out <- predict(object$fit, x, type = if (type == "numeric") "response" else type)
  if (type == "prob") all_classes(out, object$levels)
  else if (type == "class") factor(as.character(out), levels = object$levels)
  else as.vector(out)
}

# Class probabilities as a data frame with a column per level of the
# training response, in level order: 0 for classes the fit never saw.
all_classes <- function(p, levels) {
  out <- matrix(0, nrow(p), length(levels), dimnames = list(NULL, levels))
  out[, colnames(p)] <- p
  as.data.frame(out, check.names = FALSE)
}

#' @export
print.nt_svm_model <- function(x, ...) {
  cat(sprintf("NTK SVM (%s), depth %d, fixed %d, C = %g; %d support vectors of %d rows\n",
              if (is.null(x$levels)) "regression" else "classification", x$depth, x$fixed,
              kernlab::param(x$fit)$C, kernlab::nSV(x$fit), nrow(x$x)))
  invisible(x)
}

#' @export
print.nt_krr_model <- function(x, ...) {
  cat(sprintf("NTK kernel regression (%s), depth %d, fixed %d, t = %s, diag_reg = %.3g; %d rows\n",
              if (is.null(x$levels)) "regression" else "classification", x$depth, x$fixed,
              format(x$fit$t), x$fit$diag_reg, nrow(x$x)))
  invisible(x)
}
