# nt_gp_fit(): Gaussian-process regression with an NNGP or NTK covariance
# whose variances, noise and input relevances are chosen by maximising the
# log marginal likelihood (the evidence), with the exact gradient of
# nt_kernel(gradient = TRUE).

#' Gaussian processes with NNGP or NTK covariance, fitted by evidence
#'
#' The model is `y_i = m + f(x_i) + e_i` with `f` a Gaussian process of mean
#' zero whose covariance is the network's NNGP kernel (`kernel = "nngp"`: the
#' prior of the infinitely wide network's outputs) or its neural tangent
#' kernel (`kernel = "ntk"`: a Gaussian process that merely uses the NTK as
#' its covariance; it is not the distribution of trained networks, whose
#' mean is the NTK's kernel regression but whose covariance is another, see
#' [nt_predict()]), and independent noise `e_i ~ N(0, noise)`. The response
#' is centred on its mean `m` and scaled to unit variance before fitting;
#' the inputs are standardised as in [nt_fit()].
#'
#' The chosen variances maximise the log marginal likelihood
#' `-1/2 y' A^-1 y - 1/2 log det A - n/2 log(2 pi)`, `A = K + noise I`, whose
#' gradient `1/2 tr((A^-1 y y' A^-1 - A^-1) dA)` uses the kernel's exact
#' derivatives ([nt_kernel()] with `gradient = TRUE`). The search is L-BFGS-B
#' on the logarithms of the variances within box bounds, from `starts`
#' points (the network's own values and random points in the box); the best
#' optimum wins. With `depth` a range, [nt_fc()] networks of each depth are
#' fitted and the depth of largest evidence is kept. The Cholesky
#' factorisation of `A` gets a diagonal jitter only when it fails (starting
#' at `1e-10` of the mean variance, ten times more each time); the jitter of
#' the final fit is reported.
#'
#' `optimise` names what is fitted: `"w_var"` (every weight variance of
#' the network: the tied hidden `w_var` of [nt_fc()] and its first layer's
#' `w_var[1]`, the inputs' overall scale), `"b_var"` (every bias variance),
#' `"noise"`, and `"relevance"`: one weight variance per input column in
#' the first layer (automatic relevance determination; it replaces
#' `w_var[1]`), so that columns the evidence finds useless get variance near
#' 0. Parameters not named keep the network's values (`noise` its
#' starting value).
#'
#' @param x A formula with `data`, or a numeric matrix or data frame.
#' @param data,subset,na.action As for [stats::lm()].
#' @param y The numeric response (matrix method).
#' @param net A fully connected network (dense layers, ReLU-type, erf or
#'   identity activations).
#' @param kernel `"nngp"` or `"ntk"`: the covariance.
#' @param optimise Which variances to fit: any of `"w_var"`, `"b_var"`,
#'   `"noise"`, `"relevance"`.
#' @param depth `NULL` (the network as given), or depths (numbers of hidden
#'   layers) of the [nt_fc()] network `net`, of which the one of largest
#'   evidence is chosen.
#' @param noise The noise variance to start from (on the unit-variance
#'   response), or to keep when `"noise"` is not fitted.
#' @param starts Number of starting points.
#' @param bounds A named list of `c(lower, upper)` for `w_var`, `b_var`,
#'   `noise` and `relevance` (defaults `c(1e-3, 1e2)`, `c(1e-6, 1e2)`,
#'   `c(1e-6, 10)`, `c(1e-5, 1e3)`), on the standardised scales.
#' @param seed Seed of the random starting points (`NULL`: the session's
#'   random state).
#' @param standardize Standardise the input columns.
#' @param threads Threads for the kernels.
#' @param ... Passed on (formula method); unknown arguments are an error.
#' @return An object of class `nt_gp_fit` with `logLik()`, `AIC()`, `BIC()`,
#'   `predict()` (with `se.fit`), `summary()` (the fitted variances and the
#'   relevance ranking), `fitted()`, `residuals()`, `nobs()`. Elements
#'   include `parameters` (the fitted variances), `noise`, `relevance`
#'   (per input column, or `NULL`), `depths` (the evidence of each depth
#'   tried), `jitter` and `net` (the network with the fitted variances).
#' @seealso [nt_fit()] for gradient-flow regression with a ridge chosen by
#'   cross-validation.
#' @examples
#' fit <- nt_gp_fit(mpg ~ wt + hp + qsec, data = mtcars, starts = 2, seed = 1)
#' fit
#' AIC(fit)
#' predict(fit, mtcars[1:3, ], se.fit = TRUE)
#' @export
nt_gp_fit <- function(x, ...) {
  if (missing(x)) {
    call <- match.call()
    if (!"formula" %in% names(call))
      stop("`x` is missing: give a formula (with `data`) or a matrix of inputs", call. = FALSE)
    names(call)[names(call) == "formula"] <- "x"
    return(eval(call, parent.frame()))
  }
  UseMethod("nt_gp_fit")
}

#' @rdname nt_gp_fit
#' @export
nt_gp_fit.formula <- function(x, data = NULL, subset, na.action, ...) {
  m <- formula_model(match.call(expand.dots = FALSE), c("data", "subset", "na.action"), parent.frame())
  formula_fit(nt_gp_fit.default(m$design, m$y, ...), m, match.call(), quote(nt_gp_fit))
}

#' @rdname nt_gp_fit
#' @export
nt_gp_fit.default <- function(x, y, net = nt_fc(1, b_var = 0.1), kernel = c("nngp", "ntk"),
                              optimise = c("w_var", "b_var", "noise"), depth = NULL, noise = 0.1,
                              starts = 5, bounds = list(), seed = NULL, standardize = TRUE,
                              threads = nt_threads(), ...) {
  reject_unknown_arguments(..., caller = "nt_gp_fit()")
  kernel <- match.arg(kernel)
  optimise <- check_optimise(optimise)
  noise <- check_number(noise, "noise", lower = 0)
  starts <- check_count(starts, "starts", lower = 1L)
  standardize <- check_flag(standardize, "standardize")
  threads <- clamp_threads(check_count(threads, "threads", lower = 1L))
  bounds <- gp_bounds(bounds)
  if (is_image_input(x)) stop("nt_gp_fit() takes matrix inputs (fully connected networks)", call. = FALSE)
  x <- as_input_matrix(x, "x")
  y <- gp_response(y, nrow(x))
  scaling <- if (standardize) column_scaling(x)
  if (standardize) x <- scale(x, scaling$center, scaling$scale)
  nets <- gp_candidate_nets(net, depth)
  fits <- with_seed(seed, lapply(nets, function(candidate)
    gp_optimise(candidate, x, y$scaled, kernel, optimise, noise, starts, bounds, threads)))
  evidence <- vapply(fits, `[[`, numeric(1), "value") - length(y$values) * log(y$scale)
  best <- which.max(evidence)
  fit <- fits[[best]]
  structure(list(net = fit$net, kernel = kernel, parameters = fit$parameters, noise = fit$noise,
                 relevance = gp_relevance(fit$net, colnames(x)), optimise = optimise,
                 log_lik = evidence[best], df = fit$df, jitter = fit$jitter,
                 depths = if (!is.null(depth)) data.frame(depth = depth, logLik = evidence),
                 depth = if (!is.null(depth)) depth[best], starts = fit$starts,
                 x = x, y = y, scaling = scaling, alpha = fit$alpha, chol = fit$chol,
                 threads = threads, call = match.call()),
            class = "nt_gp_fit")
}

check_optimise <- function(optimise) {
  allowed <- c("w_var", "b_var", "noise", "relevance")
  if (!is.character(optimise) || anyNA(optimise) || !all(optimise %in% allowed))
    stop(sprintf("`optimise` must name some of %s", paste0('"', allowed, '"', collapse = ", ")),
         call. = FALSE)
  unique(optimise)
}

gp_bounds <- function(bounds) {
  defaults <- list(w_var = c(1e-3, 1e2), b_var = c(1e-6, 1e2), noise = c(1e-6, 10),
                   relevance = c(1e-5, 1e3))
  if (!is.list(bounds) || (length(bounds) && (is.null(names(bounds)) ||
                                              !all(names(bounds) %in% names(defaults)))))
    stop("`bounds` must be a named list with elements among w_var, b_var, noise, relevance",
         call. = FALSE)
  for (name in names(bounds)) {
    b <- bounds[[name]]
    if (!is.numeric(b) || length(b) != 2L || anyNA(b) || b[1] <= 0 || b[2] < b[1] || !all(is.finite(b)))
      stop(sprintf("`bounds$%s` must be c(lower, upper) with 0 < lower <= upper", name), call. = FALSE)
    defaults[[name]] <- as.double(b)
  }
  defaults
}

# The response, centred and scaled to unit variance.
gp_response <- function(y, n) {
  if (is.factor(y) || is.character(y) || !is.null(dim(y)) && NCOL(y) > 1L)
    stop("nt_gp_fit() fits one numeric response; use nt_fit() for classes", call. = FALSE)
  y <- as.numeric(y)
  if (length(y) != n) stop(sprintf("`y` has %d values but `x` has %d rows", length(y), n), call. = FALSE)
  if (!all(is.finite(y))) stop("`y` contains NA, NaN or Inf", call. = FALSE)
  if (n < 3L) stop("nt_gp_fit() needs at least 3 observations", call. = FALSE)
  center <- mean(y)
  spread <- stats::sd(y)
  if (!(spread > 0)) stop("`y` is constant", call. = FALSE)
  list(values = y, center = center, scale = spread, scaled = (y - center) / spread)
}

# The networks to fit: `net`, or nt_fc() at each depth.
gp_candidate_nets <- function(net, depth) {
  net <- as_network(net)
  if (is.null(depth)) return(list(net))
  depth <- vapply(depth, check_count, integer(1), arg = "depth")
  built <- attr(net, "ntk_fc")
  if (is.null(built))
    stop("`depth` needs `net` built by nt_fc(), so that it can be rebuilt at other depths", call. = FALSE)
  lapply(depth, function(d) nt_fc(d, built$activation, built$w_var, built$b_var, min(built$fixed, d)))
}

# Which kernel parameters `optimise` frees, and their bounds.
gp_free <- function(names, optimise, bounds) {
  group <- ifelse(startsWith(names, "w_var"), "w_var",
                  ifelse(startsWith(names, "b_var"), "b_var", "relevance"))
  free <- group %in% optimise
  list(free = free, lower = vapply(group, function(g) bounds[[g]][1], 1),
       upper = vapply(group, function(g) bounds[[g]][2], 1))
}

# The network with the parameter values `values` (named as kernel_parameters()).
gp_set_parameters <- function(net, values) {
  dense <- 0L
  for (i in seq_along(net)) {
    if (!inherits(net[[i]], "nt_dense")) next
    dense <- dense + 1L
    for (kind in c("w_var", "b_var")) {
      if (kind == "w_var" && dense == 1L && length(net[[i]]$w_var) > 1L) {
        net[[i]]$w_var <- unname(values[sprintf("relevance[%d]", seq_along(net[[i]]$w_var))])
        next
      }
      label <- parameter_label(net[[i]], kind, dense)
      if (label %in% names(values)) net[[i]][[kind]] <- unname(values[[label]])
    }
  }
  net
}

# One relevance per column in the first layer, from its scalar w_var.
with_relevance <- function(net, columns) {
  if (!length(net) || !inherits(net[[1]], "nt_dense"))
    stop("`optimise = \"relevance\"` needs a network whose first layer is nt_dense()", call. = FALSE)
  if (length(net[[1]]$w_var) == 1L) net[[1]]$w_var <- rep(net[[1]]$w_var, columns)
  net
}

gp_relevance <- function(net, columns) {
  w <- relevance_of(net)
  if (is.null(w)) return(NULL)
  stats::setNames(w, columns %||% paste0("x", seq_along(w)))
}
