# nt_fit(): kernel regression by gradient flow as a model object.

#' Fit a wide network by gradient flow (kernel regression)
#'
#' Fits the infinite-width limit of a network trained by gradient flow on the
#' squared loss: predictions at training time `t` under the NTK (or, with
#' `kernel = "nngp"`, the network whose last layer alone is trained, which at
#' `t = Inf` is the NNGP posterior mean). A factor response is fitted on
#' one-hot targets centred as in Arora et al. (`1 - 1/k` for the class,
#' `-1/k` elsewhere) and predicts classes. Use it as you would [lm()]:
#' `predict`, `fitted`, `residuals`, `print` and `summary` methods exist.
#'
#' @param x A formula (`y ~ .`), or a numeric matrix, data frame of numeric
#'   columns or image array of inputs.
#' @param ... Passed to the method: for a formula, `data` and the arguments
#'   below; for inputs, `y` and the arguments below.
#' @param y The response: numeric vector or matrix, or a factor.
#' @param data A data frame for the formula.
#' @param net The network, [nt_fc()] by default.
#' @param kernel `"ntk"` (gradient flow of all layers) or `"nngp"`.
#' @param t Training time(s), non-negative (`Inf`: converged).
#' @param learning_rate The learning rate of the flow.
#' @param diag_reg Ridge added to the diagonal of the training kernel.
#' @param standardize Centre and scale the input columns with the training
#'   mean and standard deviation (off by default: the NTK is not
#'   shift-invariant, so this changes the model).
#' @param threads Threads for the kernel computation.
#' @return An object of class `nt_fit`.
#' @examples
#' fit <- nt_fit(Species ~ ., data = iris, net = nt_fc(2))
#' fit
#' table(predict(fit, iris, type = "class"), iris$Species)
#' reg <- nt_fit(mpg ~ wt + hp, data = mtcars, standardize = TRUE, t = c(1, Inf))
#' predict(reg, mtcars[1:3, ], se.fit = TRUE)
#' @export
nt_fit <- function(x, ...) UseMethod("nt_fit")

#' @rdname nt_fit
#' @export
nt_fit.formula <- function(x, data, ...) {
  formula <- x
  if (missing(data)) stop("`data` is missing", call. = FALSE)
  frame <- stats::model.frame(formula, data, na.action = stats::na.pass)
  y <- stats::model.response(frame)
  if (is.null(y)) stop("the formula must have a response", call. = FALSE)
  terms <- stats::terms(frame)
  design <- formula_design(terms, frame)
  if (anyNA(design)) stop("the predictors in `data` contain NA", call. = FALSE)
  fit <- nt_fit.default(design, y, ...)
  fit$terms <- terms
  fit$xlevels <- stats::.getXlevels(terms, frame)
  fit$call <- as.call(c(quote(nt_fit), as.list(match.call())[-1]))
  fit
}

formula_design <- function(terms, frame, xlevels = NULL) {
  design <- stats::model.matrix(stats::delete.response(terms), frame, xlev = xlevels)
  design[, colnames(design) != "(Intercept)", drop = FALSE]
}

#' @rdname nt_fit
#' @export
nt_fit.default <- function(x, y, net = nt_fc(), kernel = c("ntk", "nngp"), t = Inf,
                           learning_rate = 1, diag_reg = 0, standardize = FALSE,
                           threads = nt_threads(), ...) {
  kernel <- match.arg(kernel)
  net <- as_network(net)
  t <- check_times(t)
  learning_rate <- check_number(learning_rate, "learning_rate", lower = 0)
  if (learning_rate == 0) stop("`learning_rate` must be positive", call. = FALSE)
  diag_reg <- check_number(diag_reg, "diag_reg", lower = 0)
  standardize <- check_flag(standardize, "standardize")
  images <- is_image_input(x)
  x <- if (images) as_image_array(x, "x") else as_input_matrix(x, "x")
  n <- dim(x)[1]
  response <- encode_response(y, n)
  scaling <- NULL
  if (standardize) {
    if (images) stop("`standardize` applies to matrix inputs only", call. = FALSE)
    scaling <- list(center = colMeans(x), scale = apply(x, 2, stats::sd))
    scaling$scale[!(scaling$scale > 0)] <- 1
    x <- scale(x, scaling$center, scaling$scale)
  }
  k <- nt_kernel(net, x, what = c("ntk", "nngp"), threads = threads, progress = FALSE)
  k <- lapply(k, function(m) unname(m@.Data))
  flow <- flow_prepare(k[[kernel]] + diag(diag_reg, n), learning_rate, all(is.infinite(t)))
  fitted <- flow_predict(flow, response$targets, NULL, t, NULL, vector_y = FALSE)$train
  structure(list(net = net, kernel = kernel, t = t, learning_rate = learning_rate,
                 diag_reg = diag_reg, x = x, scaling = scaling, response = response,
                 k_train = k, flow = flow, fitted_scores = fitted, threads = threads,
                 call = as.call(c(quote(nt_fit), as.list(match.call())[-1]))),
            class = "nt_fit")
}

# Targets for the flow: numeric as given; a factor as centred one-hot rows.
encode_response <- function(y, n) {
  if (is.character(y)) y <- factor(y)
  if (is.factor(y)) {
    if (length(y) != n) stop(sprintf("`y` has %d values but `x` has %d rows", length(y), n), call. = FALSE)
    if (anyNA(y)) stop("`y` contains NA", call. = FALSE)
    y <- droplevels(y)
    k <- nlevels(y)
    if (k < 2L) stop("a factor `y` needs at least two classes", call. = FALSE)
    targets <- matrix(-1 / k, n, k, dimnames = list(NULL, levels(y)))
    targets[cbind(seq_len(n), as.integer(y))] <- 1 - 1 / k
    return(list(y = y, targets = targets, levels = levels(y), vector = FALSE))
  }
  targets <- as_targets(y, n)
  if (!is.null(dim(y))) colnames(targets) <- colnames(y)
  list(y = y, targets = targets, levels = NULL, vector = is.null(dim(y)))
}

#' Predictions from an nt_fit model
#'
#' @param object An `nt_fit` model.
#' @param newdata New inputs (a data frame for formula fits), or `NULL` for
#'   the training points.
#' @param t Training time(s); the fit's by default.
#' @param type `"response"` (numeric predictions, or class scores: the
#'   predicted centred one-hot targets), `"class"` (the class with the largest
#'   score) or `"prob"` (scores shifted back by `1/k`, clipped at 0 and
#'   normalised to sum to 1: a ranking on the simplex, not calibrated
#'   probabilities).
#' @param se.fit Also return standard errors: for `kernel = "ntk"` those of an
#'   infinite ensemble of networks with random initialisation (from the NNGP,
#'   Lee et al. 2019), for `"nngp"` the GP posterior's (at `t = Inf`) or the
#'   last-layer ensemble's.
#' @param ... Unused.
#' @return For one `t`: a vector (regression), a matrix of scores, or a
#'   factor (`type = "class"`); for several `t` an extra last dimension over
#'   `t` (a data frame of factors for classes). With `se.fit = TRUE` a list
#'   with `fit` and `se.fit`.
#' @export
predict.nt_fit <- function(object, newdata = NULL, t = NULL, type = c("response", "class", "prob"),
                           se.fit = FALSE, ...) {
  type <- match.arg(type)
  se.fit <- check_flag(se.fit, "se.fit")
  t <- if (is.null(t)) object$t else check_times(t)
  if (type != "response" && is.null(object$response$levels))
    stop(sprintf("type = \"%s\" needs a factor response", type), call. = FALSE)
  x_new <- if (is.null(newdata)) object$x else new_inputs(object, newdata)
  what <- if (se.fit) c("ntk", "nngp") else object$kernel
  k_test <- nt_kernel(object$net, x_new, object$x, what = what, threads = object$threads,
                      progress = FALSE)
  if (!se.fit) k_test <- stats::setNames(list(k_test), object$kernel)
  k_test <- lapply(k_test, function(m) unname(m@.Data))
  nngp <- NULL
  if (se.fit) {
    nngp <- list(train = object$k_train$nngp, test = k_test$nngp,
                 test_test = unname(nt_kernel(object$net, x_new, what = "nngp",
                                              threads = object$threads, progress = FALSE)@.Data))
  }
  flow <- object$flow
  if (flow$kind == "chol" && any(is.finite(t)))
    flow <- flow_prepare(object$k_train[[object$kernel]] + diag(object$diag_reg, nrow(object$k_train$ntk)),
                         object$learning_rate, FALSE)
  out <- flow_predict(flow, object$response$targets, k_test[[object$kernel]], t, nngp, vector_y = FALSE)
  fit <- format_scores(name_outputs(out$test, object$response), object$response, type, t)
  if (!se.fit) return(fit)
  se <- sqrt(pmax(apply(out$cov, 3, diag), 0))
  se <- matrix(se, nrow = dim(out$test)[1], dimnames = list(NULL, dimnames(out$cov)[[3]]))
  list(fit = fit, se.fit = if (length(t) == 1L) se[, 1] else se)
}

new_inputs <- function(object, newdata) {
  if (!is.null(object$terms)) {
    if (!is.data.frame(newdata)) newdata <- as.data.frame(newdata)
    needed <- all.vars(stats::delete.response(object$terms))
    missing_vars <- setdiff(needed, names(newdata))
    if ("." %in% needed) missing_vars <- character(0)
    if (length(missing_vars))
      stop(sprintf("`newdata` is missing variable%s used in the formula: %s",
                   if (length(missing_vars) > 1) "s" else "", paste(missing_vars, collapse = ", ")),
           call. = FALSE)
    frame <- stats::model.frame(stats::delete.response(object$terms), newdata,
                                na.action = stats::na.pass, xlev = object$xlevels)
    x <- formula_design(object$terms, frame, object$xlevels)
  } else {
    x <- if (is_image_input(newdata)) as_image_array(newdata, "newdata")
         else as_input_matrix(newdata, "newdata")
  }
  if (!is.null(object$scaling)) x <- scale(x, object$scaling$center, object$scaling$scale)
  x
}

format_scores <- function(scores, response, type, t) {
  one_t <- length(t) == 1L
  if (type == "response") {
    if (response$vector) scores <- scores[, 1, , drop = TRUE]
    if (one_t) return(if (is.null(dim(scores))) scores else if (length(dim(scores)) == 3L) scores[, , 1] else scores[, 1])
    return(scores)
  }
  k <- length(response$levels)
  if (type == "class") {
    classes <- lapply(seq_along(t), function(i)
      factor(response$levels[max.col(matrix(scores[, , i], ncol = k), ties.method = "first")],
             levels = response$levels))
    if (one_t) return(classes[[1]])
    return(stats::setNames(as.data.frame(classes), dimnames(scores)[[3]]))
  }
  probs <- pmax(scores + 1 / k, 0)
  for (i in seq_along(t)) {
    p <- matrix(probs[, , i], ncol = k)
    total <- rowSums(p)
    p[total == 0, ] <- 1 / k
    probs[, , i] <- p / pmax(total, .Machine$double.xmin) * (total > 0) + (total == 0) / k
  }
  if (one_t) probs[, , 1] else probs
}

#' @export
fitted.nt_fit <- function(object, ...) {
  format_scores(name_outputs(object$fitted_scores, object$response), object$response,
                "response", object$t)
}

# n x k x length(t) arrays get the response's column names.
name_outputs <- function(a, response) {
  names <- colnames(response$targets)
  if (!is.null(names)) dimnames(a) <- list(NULL, names, dimnames(a)[[3]])
  a
}

#' @export
residuals.nt_fit <- function(object, ...) {
  targets <- object$response$targets
  fits <- object$fitted_scores
  res <- array(targets, dim(fits)) - fits
  dimnames(res) <- dimnames(fits)
  format_scores(name_outputs(res, object$response), object$response, "response", object$t)
}

#' @export
print.nt_fit <- function(x, ...) {
  cat("Wide-network regression by gradient flow (", toupper(x$kernel), " kernel)\n", sep = "")
  if (!is.null(x$call)) cat("Call: ", paste(deparse(x$call), collapse = " "), "\n", sep = "")
  cat(sprintf("%d training points; network of %d layers; t = %s; learning rate %g; diag_reg %g\n",
              dim(x$x)[1], length(x$net), paste(format(x$t), collapse = ", "),
              x$learning_rate, x$diag_reg))
  print_fit_quality(x)
  invisible(x)
}

print_fit_quality <- function(x) {
  if (!is.null(x$response$levels)) {
    acc <- vapply(seq_along(x$t), function(i)
      mean(max.col(matrix(x$fitted_scores[, , i], ncol = length(x$response$levels)),
                   ties.method = "first") == as.integer(x$response$y)), 1)
    cat(sprintf("Response: factor with %d classes; training accuracy %s\n",
                length(x$response$levels), paste(format(acc, digits = 4), collapse = ", ")))
  } else {
    rmse <- vapply(seq_along(x$t), function(i)
      sqrt(mean((x$response$targets - x$fitted_scores[, , i])^2)), 1)
    cat(sprintf("Response: numeric; training RMSE %s\n", paste(format(rmse, digits = 4), collapse = ", ")))
  }
}

#' @export
summary.nt_fit <- function(object, ...) {
  ev <- if (object$flow$kind == "eigen") object$flow$values
        else eigen(object$k_train[[object$kernel]], symmetric = TRUE, only.values = TRUE)$values
  structure(list(fit = object, eigen_range = range(ev),
                 residuals = stats::residuals(object)), class = "summary.nt_fit")
}

#' @export
print.summary.nt_fit <- function(x, ...) {
  print(x$fit)
  cat("\nNetwork:\n")
  print(x$fit$net)
  cat(sprintf("\nTraining kernel eigenvalues: %.4g to %.4g (condition %.3g)\n",
              x$eigen_range[1], x$eigen_range[2],
              x$eigen_range[2] / max(x$eigen_range[1], .Machine$double.xmin)))
  res <- x$residuals
  cat("Residuals:\n")
  print(summary(as.vector(res)))
  invisible(x)
}
