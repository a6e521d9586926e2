# nt_fit(): kernel regression by gradient flow as a model object (fitting).
# The methods for fitted models are in fit-methods.R.

#' Fit a wide network by gradient flow (kernel regression)
#'
#' Fits the infinite-width limit of a network trained by gradient flow on the
#' squared loss: predictions at training time `t` under the NTK (or, with
#' `kernel = "nngp"`, the network whose last layer alone is trained, which at
#' `t = Inf` is the NNGP posterior mean). Use it as you would [lm()]:
#' `predict`, `fitted`, `residuals`, `coef`, `print`, `summary`, `plot`,
#' `nobs`, `logLik` and `update` methods exist.
#'
#' **Intercept.** The kernels of networks without biases vanish at the origin,
#' so by default (`intercept = TRUE`) the model is fitted to the response
#' minus its (weighted) training mean, which is added back to every
#' prediction; `intercept = FALSE` fits the raw response. A factor response
#' is fitted on its one-hot indicator columns in the same way (centred on the
#' class proportions; without an intercept centred on `1/k` as in Arora et
#' al. 2020), and predicts classes.
#'
#' **Regularisation.** `diag_reg = "auto"` (the default) chooses the ridge
#' added to the training kernel by exact leave-one-out cross-validation of
#' the `t = Inf` model (kernel ridge regression), over 29 values from `1e-6`
#' to 10 times the kernel's mean diagonal, all from one eigendecomposition.
#' A number fixes it (`0`: interpolation at `t = Inf`). Together with
#' `standardize = TRUE` (the default for matrix inputs) and the default
#' network `nt_fc(1, b_var = 0.1)`, this makes `nt_fit(y ~ ., data)` a sensible regression
#' or classification model out of the box.
#'
#' **Weights.** With `weights` `w`, the loss is `1/2 sum_i w_i (f(x_i) - y_i)^2`
#' and the ridge enters as `diag_reg / w_i` (observation `i` has noise
#' variance proportional to `1 / w_i`), as in weighted least squares.
#'
#' **Numerics.** The training kernel is decomposed once (see [nt_predict()]);
#' an ill-conditioned kernel never yields garbage: directions below the
#' rounding level are left out at every `t` with a warning, `predict()` on the
#' training rows equals `fitted()`, and predictions are never `NaN`.
#'
#' @param x A formula (`y ~ .`), or a numeric matrix, data frame of numeric
#'   columns or image array of inputs.
#' @param ... For the formula method, the arguments of the default method;
#'   anything else is an error.
#' @param y The response: numeric vector or matrix, or a factor.
#' @param data A data frame for the formula (as in [lm()], the formula's
#'   environment when missing).
#' @param subset,na.action As in [lm()]: rows to use, and what to do with
#'   missing values (`getOption("na.action")`, usually [na.omit()], by
#'   default; [na.fail()] makes them an error).
#' @param weights Non-negative observation weights, or `NULL`.
#' @param net The network: by default `nt_fc(1, b_var = 0.1)`, one hidden ReLU
#'   layer whose small bias variance makes the kernel of standardised inputs
#'   depend on their norms, not only on their angles (as it does with
#'   `b_var = 0`). On tabular regression data deeper networks gained little in
#'   cross-validation and lost on nearly linear relations.
#' @param kernel `"ntk"` (gradient flow of all layers) or `"nngp"`.
#' @param t Training time(s), non-negative (`Inf`: converged).
#' @param learning_rate The learning rate of the flow.
#' @param diag_reg Ridge added to the diagonal of the training kernel: a
#'   non-negative number, or `"auto"` (leave-one-out choice, see Details).
#' @param standardize Centre and scale the input columns with the training
#'   mean and standard deviation (`TRUE` by default for matrix inputs, not
#'   available for images; the NTK is not shift-invariant, so this changes
#'   the model).
#' @param intercept Fit the response's deviations from its training mean.
#' @param threads Threads for the kernel computation.
#' @return An object of class `nt_fit`: among its elements `diag_reg` (the
#'   ridge used), `offset` (the intercept: one value per output column), `t`
#'   and `net`.
#' @seealso [predict.nt_fit()], [nt_predict()] for the same on kernel matrices.
#' @examples
#' fit <- nt_fit(Species ~ ., data = iris)
#' fit
#' table(predict(fit, iris, type = "class"), iris$Species)
#' reg <- nt_fit(mpg ~ wt + hp, data = mtcars, t = c(1, Inf))
#' predict(reg, mtcars[1:3, ], se.fit = TRUE)
#' predict(reg, data.frame(wt = mean(mtcars$wt), hp = mean(mtcars$hp)), t = Inf)
#' summary(update(reg, . ~ . + qsec, t = Inf))
#' @export
nt_fit <- function(x, ...) {
  if (missing(x)) {
    call <- match.call()
    if (!"formula" %in% names(call))
      stop("`x` is missing: give a formula (with `data`) or a matrix of inputs", call. = FALSE)
    names(call)[names(call) == "formula"] <- "x"
    return(eval(call, parent.frame()))
  }
  UseMethod("nt_fit")
}

#' @rdname nt_fit
#' @export
nt_fit.formula <- function(x, data = NULL, subset, weights, na.action, ...) {
  m <- formula_model(match.call(expand.dots = FALSE), c("data", "subset", "weights", "na.action"),
                     parent.frame())
  fit <- nt_fit.default(m$design, m$y, weights = stats::model.weights(m$frame), ...)
  formula_fit(fit, m, match.call(), quote(nt_fit))
}

# The model frame of a formula method's call (its formula in `x`, the
# arguments `args` of lm's kind), the response and the design matrix.
formula_model <- function(call, args, env) {
  frame_call <- call[c(1L, match(c("x", args), names(call), 0L))]
  names(frame_call)[names(frame_call) == "x"] <- "formula"
  frame_call$drop.unused.levels <- TRUE
  frame_call[[1L]] <- quote(stats::model.frame)
  frame <- eval(frame_call, env)
  y <- stats::model.response(frame)
  if (is.null(y)) stop("the formula must have a response", call. = FALSE)
  terms <- stats::terms(frame)
  design <- formula_design(terms, frame)
  if (anyNA(design))
    stop("the predictors contain NA: use na.action = na.omit, or remove them", call. = FALSE)
  list(frame = frame, y = y, terms = terms, design = design)
}

# A fit of the design matrix, given the formula's terms, levels and call.
formula_fit <- function(fit, m, call, fun) {
  fit$terms <- m$terms
  fit$xlevels <- stats::.getXlevels(m$terms, m$frame)
  fit$na.action <- attr(m$frame, "na.action")
  names(call)[2L] <- "formula"
  call[[1L]] <- fun
  fit$call <- call
  fit
}

fit_call <- function(call) {
  call[[1L]] <- quote(nt_fit)
  call
}

formula_design <- function(terms, frame, xlevels = NULL) {
  design <- stats::model.matrix(stats::delete.response(terms), frame, xlev = xlevels)
  design[, colnames(design) != "(Intercept)", drop = FALSE]
}

#' @rdname nt_fit
#' @export
nt_fit.default <- function(x, y, net = nt_fc(1, b_var = 0.1), kernel = c("ntk", "nngp"), t = Inf,
                           learning_rate = 1, diag_reg = "auto",
                           standardize = !is_image_input(x), intercept = TRUE,
                           weights = NULL, threads = nt_threads(), ...) {
  reject_unknown_arguments(...)
  standardize <- check_flag(standardize, "standardize")
  kernel <- match.arg(kernel)
  net <- as_network(net)
  t <- check_times(t)
  learning_rate <- check_learning_rate(learning_rate)
  auto_ridge <- identical(diag_reg, "auto")
  if (!auto_ridge) diag_reg <- check_number(diag_reg, "diag_reg", lower = 0)
  intercept <- check_flag(intercept, "intercept")
  images <- is_image_input(x)
  if (images) net <- network_for(net, x)   # the fit keeps the network it ran
  x <- if (images) as_image_array(x, "x") else as_input_matrix(x, "x")
  n <- dim(x)[1]
  response <- encode_response(y, n)
  weights <- check_weights(weights, n)
  scaling <- NULL
  if (n < 2L) stop("nt_fit needs at least 2 observations", call. = FALSE)
  if (standardize) {
    if (images) stop("`standardize` applies to matrix inputs only", call. = FALSE)
    scaling <- column_scaling(x)
    x <- scale(x, scaling$center, scaling$scale)
  }
  offset <- response_offset(response, weights, intercept)
  root_w <- sqrt(weights)
  targets_w <- root_w * sweep(response$targets, 2, offset)
  unit <- all(root_w == 1)   # then the kernel itself is decomposed, without a weighted copy
  check_fit_memory(n, ncol(response$targets), weighted = !unit)
  k <- kernel_values(net, x, NULL, c(ntk = TRUE, nngp = TRUE), threads, FALSE)
  dec <- flow_decompose(if (unit) k[[kernel]] else root_w * k[[kernel]] * rep(root_w, each = n),
                        "the training kernel")
  loo <- if (auto_ridge) loo_ridge(dec, targets_w, sum(weights)) else NULL
  if (auto_ridge) diag_reg <- loo$ridge
  flow <- flow_ridge(dec, diag_reg, learning_rate)
  warn_if_singular(flow, t, "the training kernel")
  fit <- structure(list(net = net, kernel = kernel, t = t, learning_rate = learning_rate,
                        diag_reg = diag_reg, auto_ridge = auto_ridge, loo = loo, x = x,
                        scaling = scaling, intercept = intercept, offset = offset,
                        response = response, weights = weights, root_w = root_w,
                        targets_w = targets_w, k_train = k, decomposition = dec, flow = flow,
                        threads = threads, call = fit_call(match.call())),
                   class = "nt_fit")
  fit$fitted_scores <- fitted_scores(fit, t)
  if (!is.null(response$levels)) fit$response$temperature <- probability_temperature(fit)
  fit
}

# Unknown arguments are an error, not silently ignored.
reject_unknown_arguments <- function(..., caller = "nt_fit()") {
  if (!...length()) return(invisible())
  names <- ...names()
  named <- names[!is.na(names) & nzchar(names)]
  stop(if (length(named)) sprintf("unknown argument%s to %s: %s", if (length(named) > 1) "s" else "",
                                  caller, paste0("`", named, "`", collapse = ", "))
       else sprintf("%s got an unnamed argument it does not use", caller), call. = FALSE)
}

# Column means and standard deviations, computed on each column divided by
# its largest magnitude so that neither overflows nor underflows (columns
# near 1e200 or 1e-200 are standardised like any other); constant columns
# keep scale 1.
column_scaling <- function(x) {
  size <- apply(abs(x), 2, max)
  size[!(size > 0)] <- 1
  u <- sweep(x, 2, size, `/`)
  spread <- apply(u, 2, stats::sd)
  spread[!(spread > 0)] <- NA
  list(center = colMeans(u) * size, scale = ifelse(is.na(spread), 1, spread * size))
}

check_weights <- function(weights, n) {
  if (is.null(weights)) return(rep(1, n))
  if (!is.numeric(weights) || length(weights) != n || !all(is.finite(weights)))
    stop(sprintf("`weights` must be %d finite numbers, one per observation", n), call. = FALSE)
  if (any(weights < 0)) stop("`weights` must be non-negative", call. = FALSE)
  if (!any(weights > 0)) stop("`weights` are all zero", call. = FALSE)
  as.double(weights)
}

# Targets for the flow: a numeric response as given; a factor as one-hot
# indicator columns.
encode_response <- function(y, n) {
  if (is.character(y)) y <- factor(y)
  if (is.logical(y) && is.null(dim(y))) y <- as.numeric(y)   # as lm() does
  if (is.factor(y)) {
    if (length(y) != n) stop(sprintf("`y` has %d values but `x` has %d rows", length(y), n), call. = FALSE)
    if (anyNA(y)) stop("`y` contains NA", call. = FALSE)
    y <- droplevels(y)
    k <- nlevels(y)
    if (k < 2L) stop("a factor `y` needs at least two classes", call. = FALSE)
    targets <- matrix(0, n, k, dimnames = list(NULL, levels(y)))
    targets[cbind(seq_len(n), as.integer(y))] <- 1
    return(list(y = y, targets = targets, levels = levels(y), vector = FALSE))
  }
  targets <- as_targets(y, n)
  if (!is.null(dim(y))) colnames(targets) <- colnames(y)
  list(y = y, targets = targets, levels = NULL, vector = is.null(dim(y)))
}

# The intercept: the weighted training mean of each target column, or with
# intercept = FALSE 0 for a numeric response and 1/k for k classes.
response_offset <- function(response, weights, intercept) {
  k <- ncol(response$targets)
  if (intercept) return(colSums(weights * response$targets) / sum(weights))
  rep(if (is.null(response$levels)) 0 else 1 / k, k)
}

# Leave-one-out cross-validation of kernel ridge regression for every ridge
# of a grid, exact from one decomposition: with h_j = l_j / (l_j + r) the
# smoother's diagonal is S_ii = sum_j V_ij^2 h_j and the left-out residual
# e_i / (1 - S_ii). Weighted rows enter scaled by sqrt(w), which makes this
# the weighted left-out squared error.
loo_ridge <- function(dec, targets_w, total_weight) {
  ridges <- mean(dec$values) * 10^seq(-6, 1, by = 0.25) * dec$scale
  parts <- loo_parts(dec, targets_w)
  leverage <- loo_leverages(parts$vectors, vapply(ridges, function(r) loo_shrinkage(parts, r),
                                                 numeric(length(parts$values))))
  score <- vapply(seq_along(ridges), function(i)
    sum(loo_residuals(parts, ridges[i], leverage[, i])^2), numeric(1))
  best <- which.min(score)
  list(ridge = ridges[best], ridges = ridges, score = score / total_weight)
}

# What every ridge's left-out residuals share: computed once per fit.
loo_parts <- function(dec, targets_w) {
  list(values = dec$values, scale = dec$scale, vectors = dec$vectors,
       vty = crossprod(dec$vectors, targets_w), targets_w = targets_w)
}

# The smoother's diagonal sum_j V_ij^2 h_j for each column of h (one per
# ridge), over blocks of eigenvectors: no n x n matrix of squares.
loo_leverages <- function(vectors, h) {
  n <- nrow(vectors)
  out <- matrix(0, n, ncol(h))
  for (first in seq(1L, ncol(vectors), by = 256L)) {
    cols <- first:min(first + 255L, ncol(vectors))
    out <- out + vectors[, cols, drop = FALSE]^2 %*% h[cols, , drop = FALSE]
  }
  out
}

# Ridge r's shrinkage h_j = l_j / (l_j + r) of each eigen-direction.
loo_shrinkage <- function(parts, ridge) {
  l <- parts$values
  ifelse(l > 0, l / (l + ridge / parts$scale), 0)
}

# Left-out residuals (on the sqrt(w) scale) of kernel ridge regression with
# ridge r, from the decomposition of the unregularised kernel; `leverage`
# (the smoother's diagonal) when computed for several ridges at once.
loo_residuals <- function(parts, ridge, leverage = NULL) {
  h <- loo_shrinkage(parts, ridge)
  if (is.null(leverage)) leverage <- drop(loo_leverages(parts$vectors, matrix(h)))
  resid <- parts$targets_w - parts$vectors %*% (h * parts$vty)
  resid / (1 - pmin(leverage, 1 - 1e-12))
}

# A softmax temperature a for class probabilities, p ~ exp(a * score),
# fitted by maximum likelihood on the left-out scores of the t = Inf model:
# probabilities calibrated on data the model did not see, in the order of
# the scores.
probability_temperature <- function(fit) {
  w <- fit$weights
  resid <- loo_residuals(loo_parts(fit$decomposition, fit$targets_w), fit$diag_reg) /
    ifelse(w > 0, sqrt(w), Inf)
  scores <- fit$response$targets - resid
  y <- cbind(seq_along(w), as.integer(fit$response$y))
  loss <- function(log_a) {
    z <- exp(log_a) * scores
    z <- z - apply(z, 1, max)
    -sum(w * (z[y] - log(rowSums(exp(z)))))
  }
  exp(stats::optimize(loss, c(-4, 8))$minimum)
}

# Fitted scores on the training rows without an n x n x n product: the
# training kernel (on the sqrt(w) scale, over s) times its kept eigenvectors
# is V diag(lambda). Zero weights leave rows that V does not describe.
fitted_scores <- function(fit, t) {
  flow <- fit$flow
  if (any(fit$root_w == 0)) return(fit_scores(fit, fit$k_train[[fit$kernel]], t))
  targets <- fit$targets_w
  y_scale <- max(abs(targets))
  if (!(y_scale > 0)) y_scale <- 1
  vty <- crossprod(flow$vectors, targets / y_scale)
  scores <- array(0, c(flow$n, ncol(targets), length(t)),
                  dimnames = list(NULL, NULL, paste0("t=", format(t))))
  for (i in seq_along(t)) {
    g <- flow_factors(flow, t[i])
    scores[, , i] <- y_scale * (flow$vectors %*% (flow$lambda * g$test * vty)) / fit$root_w
  }
  if (!all(is.finite(scores)))
    stop("the predictions overflowed the range of doubles; rescale `y` or the kernels", call. = FALSE)
  scores + rep(fit$offset, each = flow$n)
}

# nt_fit's peak memory, checked before the kernel is computed: the two
# kernels and the decomposition (LAPACK's copy of its input and the vectors,
# then the vectors as R's), a weighted fit also the weighted kernel; small
# terms for the n x k targets and the 29 ridges' leverages.
check_fit_memory <- function(n, k, weighted) {
  check_memory(8 * ((4 + weighted) * as.double(n)^2 + (64 + 8 * k) * n),
               sprintf("nt_fit on %d observations", n))
}

# Scores (predicted targets, offset added) at the rows of `k_rows`, an
# m x n kernel against the training points: the one formula behind fitted
# values and predictions.
fit_scores <- function(fit, k_rows, t, nngp = NULL) {
  kw <- k_rows * rep(fit$root_w, each = nrow(k_rows))
  out <- flow_predict(fit$flow, fit$targets_w, kw, t, nngp, vector_y = FALSE)
  scores <- out$test + rep(fit$offset, each = nrow(k_rows))
  if (is.null(nngp)) scores else list(scores = scores, cov = out$cov)
}
