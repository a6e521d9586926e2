# Methods for nt_fit models: predictions, fitted values, residuals, dual
# weights, likelihood, printing and plotting.

#' Predictions from an nt_fit model
#'
#' @param object An `nt_fit` model.
#' @param newdata New inputs (a data frame for formula fits), or `NULL` for
#'   the training points.
#' @param t Training time(s); the fit's by default.
#' @param type `"response"` (numeric predictions; for a factor response the
#'   predicted indicator columns, which sum to 1 over the classes),
#'   `"class"` (the class with the largest score) or `"prob"` (class
#'   probabilities: a softmax of the scores, `p ~ exp(a * score)`, whose
#'   temperature `a` was fitted by maximum likelihood on the exact
#'   leave-one-out scores of the `t = Inf` model, so that they are calibrated
#'   on points the model did not see; the largest probability is the
#'   predicted class).
#' @param se.fit Also return standard errors: for `kernel = "ntk"` those of an
#'   infinite ensemble of networks with random initialisation (from the NNGP,
#'   Lee et al. 2019), for `"nngp"` the GP posterior's (at `t = Inf`) or the
#'   last-layer ensemble's.
#' @param ... Nothing else: unknown arguments (such as lm's `interval`) are an
#'   error; `se.fit = TRUE` gives the standard errors.
#' @return For one `t`: a named vector (one numeric response), a matrix with
#'   one row per point, or a factor (`type = "class"`); for several `t` an
#'   extra last dimension over `t` (a data frame of factors for classes). The
#'   shape is the same for one row as for many. With `se.fit = TRUE` a list
#'   with `fit` and `se.fit`.
#' @examples
#' fit <- nt_fit(mpg ~ wt + hp, data = mtcars, t = c(1, Inf))
#' predict(fit, mtcars[1:3, ])
#' predict(fit, mtcars[1, ], t = Inf, se.fit = TRUE)
#' all.equal(predict(fit, mtcars), fitted(fit))
#' @export
predict.nt_fit <- function(object, newdata = NULL, t = NULL, type = c("response", "class", "prob"),
                           se.fit = FALSE, ...) {
  reject_unknown_arguments(..., caller = "predict.nt_fit()")
  type <- match.arg(type)
  se.fit <- check_flag(se.fit, "se.fit")
  t <- if (is.null(t)) object$t else check_times(t)
  if (type != "response" && is.null(object$response$levels))
    stop(sprintf("type = \"%s\" needs a factor response", type), call. = FALSE)
  x_new <- if (is.null(newdata)) object$x else new_inputs(object, newdata)
  rows <- if (is.null(newdata)) training_row_names(object) else dimnames(x_new)[[1]]
  k_test <- test_kernels(object, x_new, if (se.fit) c("ntk", "nngp") else object$kernel)
  if (!se.fit) {
    scores <- fit_scores(object, k_test[[object$kernel]], t)
    return(format_scores(scores, object$response, type, t, rows))
  }
  root_w <- object$root_w
  nngp <- list(train = root_w * object$k_train$nngp * rep(root_w, each = length(root_w)),
               test = k_test$nngp * rep(root_w, each = nrow(k_test$nngp)),
               test_test = unname(nt_kernel(object$net, x_new, what = "nngp",
                                            threads = object$threads, progress = FALSE)@.Data))
  out <- fit_scores(object, k_test[[object$kernel]], t, nngp)
  se <- sqrt(pmax(apply(out$cov, 3, diag), 0))
  se <- matrix(se, nrow = dim(out$scores)[1], dimnames = list(rows, dimnames(out$cov)[[3]]))
  list(fit = format_scores(out$scores, object$response, type, t, rows),
       se.fit = if (length(t) == 1L) se[, 1] else se)
}

# Kernels between new inputs and the training points. Rows identical to a
# training row take the training kernel's row, so that predictions there
# equal the fitted values exactly (the cross kernel may differ from it in
# the last bit, which an ill-conditioned fit would amplify).
test_kernels <- function(object, x_new, what) {
  k <- nt_kernel(object$net, x_new, object$x, what = what, threads = object$threads,
                 progress = FALSE)
  if (length(what) == 1L) k <- stats::setNames(list(k), what)
  k <- lapply(k, function(m) unname(m@.Data))
  same <- match_rows(x_new, object$x)
  hit <- which(!is.na(same))
  for (w in what) if (length(hit)) k[[w]][hit, ] <- object$k_train[[w]][same[hit], ]
  k
}

# For each row of `a` (first index of a matrix or image array), the index of
# an identical row of `b`, or NA.
match_rows <- function(a, b) {
  a <- matrix(a, dim(a)[1]); b <- matrix(b, dim(b)[1])
  if (ncol(a) != ncol(b)) return(rep(NA_integer_, nrow(a)))
  candidate <- match(row_keys(a), row_keys(b))        # no draw from the user's RNG
  for (i in which(!is.na(candidate)))
    if (!identical(a[i, ], b[candidate[i], ])) candidate[i] <- NA_integer_
  candidate
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
    predictors <- stats::delete.response(object$terms)
    frame <- stats::model.frame(predictors, newdata, na.action = stats::na.pass, xlev = object$xlevels)
    missing_cells <- vapply(frame, function(col) anyNA(col), NA)
    if (any(missing_cells)) {
      var <- names(frame)[missing_cells][1]
      stop(sprintf("`newdata` contains NA (row %d, in %s)", which(is.na(frame[[var]]))[1], var),
           call. = FALSE)
    }
    classes <- attr(predictors, "dataClasses")
    if (!is.null(classes)) stats::.checkMFClasses(classes, frame)
    x <- formula_design(object$terms, frame, object$xlevels)
    x <- as_input_matrix(x, "newdata")
  } else {
    x <- if (is_image_input(newdata)) as_image_array(newdata, "newdata")
         else as_input_matrix(newdata, "newdata")
  }
  if (!is.null(object$scaling)) {
    if (ncol(x) != length(object$scaling$center))
      stop(sprintf("`newdata` has %d columns but the model was fitted on %d", ncol(x),
                   length(object$scaling$center)), call. = FALSE)
    x <- scale(x, object$scaling$center, object$scaling$scale)
  }
  x
}

training_row_names <- function(object) dimnames(object$x)[[1]]

# Shapes the n x k x length(t) scores as the documented return values,
# identically for one row and for many.
format_scores <- function(scores, response, type, t, rows) {
  n <- dim(scores)[1]; k <- dim(scores)[2]
  one_t <- length(t) == 1L
  labels <- paste0("t=", format(t))
  columns <- colnames(response$targets)
  if (type == "response") {
    if (response$vector) {
      if (one_t) return(stats::setNames(scores[, 1, 1], rows))
      return(matrix(scores[, 1, ], n, length(t), dimnames = list(rows, labels)))
    }
    if (one_t) return(matrix(scores[, , 1], n, k, dimnames = list(rows, columns)))
    dimnames(scores) <- list(rows, columns, labels)
    return(scores)
  }
  if (type == "class") {
    classes <- lapply(seq_len(length(t)), function(i) {
      f <- factor(response$levels[max.col(matrix(scores[, , i], n, k), ties.method = "first")],
                  levels = response$levels)
      names(f) <- rows
      f
    })
    if (one_t) return(classes[[1]])
    out <- stats::setNames(as.data.frame(classes), labels)
    if (!is.null(rows)) rownames(out) <- rows
    return(out)
  }
  probs <- scores
  for (i in seq_along(t)) probs[, , i] <- score_probabilities(matrix(scores[, , i], n, k),
                                                              response$temperature)
  if (one_t) return(matrix(probs[, , 1], n, k, dimnames = list(rows, response$levels)))
  dimnames(probs) <- list(rows, response$levels, labels)
  probs
}

# Class probabilities from scores: a softmax at the fitted temperature, or
# without one the scores clipped at 0 and normalised.
score_probabilities <- function(scores, temperature = NULL) {
  if (!is.null(temperature)) {
    z <- temperature * scores
    z <- exp(z - apply(z, 1, max))
    return(z / rowSums(z))
  }
  p <- pmax(scores, 0)
  total <- rowSums(p)
  p[total > 0, ] <- p[total > 0, , drop = FALSE] / total[total > 0]
  p[!(total > 0), ] <- 1 / ncol(p)
  p
}

#' @export
fitted.nt_fit <- function(object, ...) {
  out <- format_scores(object$fitted_scores, object$response, "response", object$t,
                       training_row_names(object))
  stats::napredict(object$na.action, out)
}

#' @export
residuals.nt_fit <- function(object, ...) {
  reject_unknown_arguments(..., caller = "residuals.nt_fit() (response residuals only)")
  targets <- object$response$targets
  fits <- object$fitted_scores
  res <- array(targets, dim(fits)) - fits
  out <- format_scores(res, object$response, "response", object$t, training_row_names(object))
  stats::naresid(object$na.action, out)
}

#' @export
nobs.nt_fit <- function(object, ...) sum(object$weights > 0)

#' @export
formula.nt_fit <- function(x, ...) {
  if (is.null(x$terms)) stop("this nt_fit was not fitted with a formula", call. = FALSE)
  stats::formula(x$terms)
}

#' Dual weights and log-likelihood of an nt_fit model
#'
#' `coef()` returns the dual weights `alpha` of the fitted function
#' `f(x) = offset + sum_i alpha_i k(x, x_i)` over the training points (for
#' the NTK flow at time `t`: `alpha = Theta^-1 (I - exp(-eta Theta t)) y`
#' with `Theta` the regularised training kernel), with the offset as
#' attribute `"intercept"`.
#'
#' `logLik()` is the log marginal likelihood (evidence) of the Gaussian
#' process whose covariance is the fitted kernel plus noise of variance
#' `diag_reg / w_i`, for the centred response (one independent GP per output
#' column, summed over the columns). For `kernel = "nngp"` this is the
#' Bayesian model of an infinitely wide network with Gaussian noise. For the
#' NTK it is the GP with the NTK as covariance: its posterior mean is the
#' `t = Inf` gradient-flow predictor, while the flow itself is not a
#' Bayesian model, so the figure is a measure of fit of that GP, not a
#' likelihood of the flow at finite `t`. It is `NA` (with a warning) when
#' undefined: a singular kernel without `diag_reg`, or zero weights. The
#' `df` attribute counts the intercepts and an automatically chosen ridge.
#'
#' @param object An `nt_fit` model.
#' @param ... Unused.
#' @return `coef()`: a vector (one numeric response, one `t`), else a matrix
#'   with one row per training point (an array over several `t`).
#'   `logLik()`: a `logLik` object.
#' @examples
#' fit <- nt_fit(mpg ~ wt + hp, data = mtcars, kernel = "nngp")
#' head(coef(fit))
#' logLik(fit)
#' AIC(fit)
#' @name nt_fit-coef
NULL

#' @rdname nt_fit-coef
#' @export
coef.nt_fit <- function(object, ...) {
  flow <- object$flow
  vty <- crossprod(flow$vectors, object$targets_w)
  alpha <- array(0, c(length(object$root_w), ncol(vty), length(object$t)))
  for (i in seq_along(object$t)) {
    g <- flow_factors(flow, object$t[i])
    alpha[, , i] <- object$root_w * (flow$vectors %*% (g$test * vty)) / flow$scale
  }
  rows <- training_row_names(object)
  out <- if (length(object$t) == 1L) {
    if (object$response$vector) stats::setNames(alpha[, 1, 1], rows)
    else matrix(alpha[, , 1], dim(alpha)[1], dim(alpha)[2],
                dimnames = list(rows, colnames(object$response$targets)))
  } else {
    if (object$response$vector) matrix(alpha[, 1, ], dim(alpha)[1], length(object$t),
                                       dimnames = list(rows, paste0("t=", format(object$t))))
    else { dimnames(alpha) <- list(rows, colnames(object$response$targets),
                                   paste0("t=", format(object$t))); alpha }
  }
  attr(out, "intercept") <- object$offset
  out
}

#' @rdname nt_fit-coef
#' @export
logLik.nt_fit <- function(object, ...) {
  dec <- object$decomposition
  w <- object$weights
  n <- length(w)
  df <- (if (object$intercept) length(object$offset) else 0) + object$auto_ridge
  undefined <- function(why) {
    warning(sprintf("logLik is undefined: %s", why), call. = FALSE)
    structure(NA_real_, df = df, nobs = nobs.nt_fit(object), class = "logLik")
  }
  if (any(w == 0)) return(undefined("some weights are zero"))
  l <- dec$values * dec$scale + object$diag_reg
  if (!(min(l) > max(l) * n * .Machine$double.eps))
    return(undefined("the training kernel is singular and diag_reg is 0"))
  vty <- crossprod(dec$vectors, object$targets_w)
  k <- ncol(vty)
  value <- -0.5 * sum(vty^2 / l) - 0.5 * k * (sum(log(l)) - sum(log(w))) - 0.5 * k * n * log(2 * pi)
  structure(value, df = df, nobs = nobs.nt_fit(object), class = "logLik")
}

#' @export
print.nt_fit <- function(x, ...) {
  cat("Wide-network regression by gradient flow (", toupper(x$kernel), " kernel)\n", sep = "")
  if (!is.null(x$call)) cat("Call: ", paste(deparse(x$call, width.cutoff = 500L), collapse = " "), "\n", sep = "")
  cat(sprintf("%d training points; network of %d layers; t = %s; learning rate %g\n",
              nobs.nt_fit(x), length(x$net), paste(format(x$t), collapse = ", "), x$learning_rate))
  cat(sprintf("diag_reg %.4g%s; intercept %s; inputs %s\n", x$diag_reg,
              if (x$auto_ridge) " (chosen by leave-one-out)" else "",
              if (x$intercept) "fitted" else "none",
              if (is.null(x$scaling)) "as given" else "standardised"))
  print_fit_quality(x)
  invisible(x)
}

print_fit_quality <- function(x) {
  w <- x$weights
  if (!is.null(x$response$levels)) {
    acc <- vapply(seq_along(x$t), function(i)
      stats::weighted.mean(max.col(matrix(x$fitted_scores[, , i], ncol = length(x$response$levels)),
                                   ties.method = "first") == as.integer(x$response$y), w), 1)
    cat(sprintf("Response: factor with %d classes; training accuracy %s\n",
                length(x$response$levels), paste(format(acc, digits = 4), collapse = ", ")))
  } else {
    rmse <- vapply(seq_along(x$t), function(i)
      sqrt(sum(w * (x$response$targets - x$fitted_scores[, , i])^2) / sum(w) /
             ncol(x$response$targets)), 1)
    cat(sprintf("Response: numeric; training RMSE %s\n", paste(format(rmse, digits = 4), collapse = ", ")))
  }
  if (x$auto_ridge) {
    best <- min(x$loo$score) / ncol(x$response$targets)
    cat(sprintf("Leave-one-out %s %.4g (t = Inf)\n",
                if (is.null(x$response$levels)) "RMSE" else "Brier score / k",
                if (is.null(x$response$levels)) sqrt(best) else best))
  }
}

#' @export
summary.nt_fit <- function(object, ...) {
  flow <- object$flow
  structure(list(fit = object, eigen_range = range(flow$values) * flow$scale,
                 dropped = flow$dropped, residuals = stats::residuals(object)),
            class = "summary.nt_fit")
}

#' @export
print.summary.nt_fit <- function(x, ...) {
  print(x$fit)
  cat("\nNetwork:\n")
  print(x$fit$net)
  cat(sprintf("\nRegularised training kernel eigenvalues: %.4g to %.4g (condition %.3g)%s\n",
              x$eigen_range[1], x$eigen_range[2], x$eigen_range[2] / x$eigen_range[1],
              if (x$dropped) sprintf("; singular: %d more at rounding level, left out", x$dropped)
              else ""))
  cat("Residuals:\n")
  print(summary(as.vector(x$residuals)))
  invisible(x)
}

#' Plot an nt_fit model
#'
#' `which = "fit"`: for a numeric response, observed against fitted values at
#' the fit's last time, with the identity line; for a factor, the fitted
#' probability of each point's observed class, by class. `which =
#' "trajectory"`: the training error along the gradient flow, over a
#' logarithmic grid of times spanning the kernel's time scales (from a
#' hundredth of the fastest mode's, `1 / (eta lambda_max)`, to a hundred
#' times the slowest's): the root mean squared error for a numeric
#' response, the misclassification rate for a factor; dotted vertical lines
#' mark the fit's finite times, a dashed horizontal line the limit
#' `t = Inf`. Both by default, side by side.
#'
#' @param x An `nt_fit` model.
#' @param which `"fit"`, `"trajectory"` or both.
#' @param ... Passed to [graphics::plot()] or [graphics::boxplot()].
#' @return `x`, invisibly.
#' @examples
#' fit <- nt_fit(mpg ~ wt + hp, data = mtcars, t = c(1, 10, Inf))
#' plot(fit)
#' plot(nt_fit(Species ~ ., data = iris), which = "trajectory")
#' @export
plot.nt_fit <- function(x, which = c("fit", "trajectory"), ...) {
  which <- match.arg(which, several.ok = TRUE)
  if (length(which) == 2L) {
    old <- graphics::par(mfrow = c(1, 2))
    on.exit(graphics::par(old))
  }
  if ("fit" %in% which) plot_fitted(x, ...)
  if ("trajectory" %in% which) plot_trajectory(x, ...)
  invisible(x)
}

plot_fitted <- function(x, ...) {
  last <- length(x$t)
  if (is.null(x$response$levels)) {
    fitted <- x$fitted_scores[, 1, last]
    observed <- x$response$targets[, 1]
    draw(graphics::plot, list(fitted, observed, xlab = sprintf("Fitted (t = %s)", format(x$t[last])),
                              ylab = "Observed"), ...)
    graphics::abline(0, 1, lty = 2)
  } else {
    probs <- format_scores(x$fitted_scores[, , last, drop = FALSE], x$response, "prob",
                           x$t[last], NULL)
    own <- probs[cbind(seq_len(nrow(probs)), as.integer(x$response$y))]
    draw(graphics::boxplot, list(own ~ x$response$y, xlab = "Observed class",
                                 ylab = "Fitted probability of the observed class"), ...)
  }
}

plot_trajectory <- function(x, ...) {
  rates <- x$flow$eta * x$flow$scale * x$flow$values
  span <- c(0.01 / max(rates), 100 / max(min(rates), max(rates) * 1e-10))
  times <- 10^seq(log10(span[1]), log10(span[2]), length.out = 80)
  err <- training_error(x, c(times, Inf))
  classes <- !is.null(x$response$levels)
  label <- if (classes) "Training misclassification rate" else "Training RMSE"
  draw(graphics::plot, list(times, err[seq_along(times)], type = "l", log = "x",
                            xlab = "Gradient-flow time t", ylab = label, ylim = range(0, err)), ...)
  graphics::abline(h = err[length(err)], lty = 2)
  finite <- x$t[is.finite(x$t)]
  if (length(finite)) graphics::abline(v = finite[finite > 0], lty = 3)
}

# A plotting call with our defaults, the user's `...` taking precedence.
draw <- function(f, defaults, ...) do.call(f, utils::modifyList(defaults, list(...)))

# Training error of the flow at each time: RMSE of the scores, or the
# misclassification rate of their largest entry.
training_error <- function(x, times) {
  scores <- fitted_scores(x, times)
  targets <- x$response$targets
  vapply(seq_along(times), function(i) {
    s <- scores[, , i, drop = FALSE]
    dim(s) <- dim(s)[1:2]
    if (is.null(x$response$levels)) sqrt(mean((targets - s)^2))
    else mean(max.col(s, ties.method = "first") != max.col(targets, ties.method = "first"))
  }, numeric(1))
}
