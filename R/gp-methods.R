# Methods of nt_gp_fit objects: predictions with standard errors, the
# evidence as logLik (hence AIC and BIC), summaries.

#' Predictions of an evidence-fitted Gaussian process
#'
#' The posterior mean of `m + f(x)` at new inputs and, with `se.fit = TRUE`,
#' its posterior standard deviation (of the mean function, without the
#' noise; the noise's standard deviation is `residual.scale`, so that a
#' new observation has variance `se.fit^2 + residual.scale^2`), on the
#' response's own scale.
#'
#' @param object An [nt_gp_fit()] result.
#' @param newdata Inputs like the training ones (a data frame for a formula
#'   fit); `NULL` for the training inputs.
#' @param se.fit Also return standard errors.
#' @param ... Unused.
#' @return A vector of predictions, or with `se.fit = TRUE` a list with
#'   `fit`, `se.fit` and `residual.scale`.
#' @examples
#' fit <- nt_gp_fit(mpg ~ wt + hp, data = mtcars, starts = 2, seed = 1)
#' predict(fit, data.frame(wt = 3, hp = 120), se.fit = TRUE)
#' @export
predict.nt_gp_fit <- function(object, newdata = NULL, se.fit = FALSE, ...) {
  se.fit <- check_flag(se.fit, "se.fit")
  x_new <- if (is.null(newdata)) object$x else gp_new_inputs(object, newdata)
  k_star <- nt_kernel(object$net, x_new, object$x, what = object$kernel, threads = object$threads,
                      progress = FALSE)@.Data
  y <- object$y
  mean <- y$center + y$scale * drop(k_star %*% object$alpha)
  names(mean) <- rownames(x_new)
  if (!se.fit) return(mean)
  v <- backsolve(object$chol, t(k_star), transpose = TRUE)
  prior <- gp_prior_variances(object, x_new)
  se <- y$scale * sqrt(pmax(prior - colSums(v^2), 0))
  names(se) <- names(mean)
  list(fit = mean, se.fit = se, residual.scale = y$scale * sqrt(object$noise))
}

# The prior variances k(x, x) of the rows of x, in blocks.
gp_prior_variances <- function(object, x) {
  blocks <- split(seq_len(nrow(x)), (seq_len(nrow(x)) - 1L) %/% 256L)
  unlist(lapply(blocks, function(rows)
    diag(nt_kernel(object$net, x[rows, , drop = FALSE], what = object$kernel, threads = object$threads,
                   progress = FALSE)@.Data)), use.names = FALSE)
}

gp_new_inputs <- function(object, newdata) {
  if (!is.null(object$terms)) {
    frame <- stats::model.frame(stats::delete.response(object$terms), newdata, xlev = object$xlevels)
    x <- formula_design(object$terms, frame, object$xlevels)
  } else {
    x <- as_input_matrix(newdata, "newdata")
  }
  if (ncol(x) != ncol(object$x))
    stop(sprintf("`newdata` has %d columns but the model was fitted on %d", ncol(x), ncol(object$x)),
         call. = FALSE)
  if (!all(is.finite(x))) stop("`newdata` contains NA, NaN or Inf", call. = FALSE)
  if (!is.null(object$scaling)) x <- scale(x, object$scaling$center, object$scaling$scale)
  x
}

#' @export
fitted.nt_gp_fit <- function(object, ...) {
  y <- object$y
  y$center + y$scale * (y$scaled - object$noise * object$alpha)
}

#' @export
residuals.nt_gp_fit <- function(object, ...) object$y$values - fitted.nt_gp_fit(object)

#' @export
nobs.nt_gp_fit <- function(object, ...) length(object$y$values)

#' @export
logLik.nt_gp_fit <- function(object, ...) {
  structure(object$log_lik, df = object$df, nobs = nobs.nt_gp_fit(object), class = "logLik")
}

#' @export
print.nt_gp_fit <- function(x, ...) {
  cat(sprintf("Gaussian process with %s covariance, fitted by evidence (%d observations)\n",
              toupper(x$kernel), nobs.nt_gp_fit(x)))
  cat(sprintf("log marginal likelihood %.4g (%d parameters: %s)%s\n", x$log_lik, x$df,
              paste(x$optimise, collapse = ", "), if (!is.null(x$depth)) sprintf(", depth %d", x$depth) else ""))
  shown <- x$parameters[!startsWith(names(x$parameters), "relevance")]
  cat("variances:", paste(sprintf("%s = %.4g", names(shown), shown), collapse = ", "),
      sprintf("; noise = %.4g (of the response's variance)\n", x$noise))
  if (!is.null(x$relevance))
    cat("most relevant inputs:", paste(utils::head(names(sort(x$relevance, decreasing = TRUE)), 5),
                                       collapse = ", "), "\n")
  if (x$jitter > 0) cat(sprintf("Cholesky jitter: %.3g\n", x$jitter))
  invisible(x)
}

#' @export
summary.nt_gp_fit <- function(object, ...) {
  p <- object$parameters
  table <- data.frame(value = c(unname(p), object$noise), row.names = c(names(p), "noise"))
  rel <- object$relevance
  structure(list(fit = object, parameters = table,
                 relevance = if (!is.null(rel)) data.frame(relevance = sort(rel, decreasing = TRUE),
                                                           rank = seq_along(rel)),
                 log_lik = object$log_lik, aic = stats::AIC(object), bic = stats::BIC(object),
                 residual_sd = stats::sd(residuals.nt_gp_fit(object)), depths = object$depths,
                 starts = object$starts, jitter = object$jitter),
            class = "summary.nt_gp_fit")
}

#' @export
print.summary.nt_gp_fit <- function(x, ...) {
  print(x$fit)
  cat("\nFitted variances (standardised inputs and response):\n")
  print(x$parameters)
  if (!is.null(x$relevance)) {
    cat("\nRelevance of the inputs (first layer's weight variance per column):\n")
    print(x$relevance)
  }
  if (!is.null(x$depths)) {
    cat("\nEvidence by depth:\n")
    print(x$depths, row.names = FALSE)
  }
  cat(sprintf("\nlogLik %.4g, AIC %.4g, BIC %.4g; residual SD %.4g; %d of the starts converged\n",
              x$log_lik, x$aic, x$bic, x$residual_sd, sum(x$starts$convergence == 0L)))
  invisible(x)
}
