# Finite networks: Monte Carlo kernels and gradient-descent training (src/finite.c).

#' Empirical kernels of random finite networks
#'
#' Draws networks of the given `width` (every dense and convolutional layer
#' but the last gets `width` output channels; the last has one output) in
#' the NTK parametrization (weights and biases `N(0, 1)`, scaled by
#' `sqrt(w_var / fan_in)` and `sqrt(b_var)`, using R's random number
#' generator, so `set.seed()` or `seed` makes it reproducible), and returns
#' their NTK (inner products of all parameter gradients, from
#' backpropagation in C) and NNGP, averaged over `samples` networks. The NNGP
#' of one network is `E[f(x) f(x')]` over its readout weights given the
#' features that enter the readout (an unbiased, lower-variance estimate of
#' the output covariance). Both converge to [nt_kernel()] as `width` grows,
#' with errors of order `1 / sqrt(width * samples)`.
#'
#' Supported: dense and convolutional layers (all paddings and strides),
#' activations with closed forms, average pooling, Flatten and global average
#' pooling; the network must end with a dense layer. An [nt_activation()] of
#' an R function runs from the table its kernel uses (cubic Hermite
#' interpolation of `phi` and `phi'`, about 8 standard deviations of the
#' largest infinite-width pre-activation variance of the inputs given), and
#' by its tangent beyond that range.
#'
#' @inheritParams nt_kernel
#' @param width Channels of the hidden layers.
#' @param samples Number of networks to average over.
#' @param seed `NULL`, or a seed used for this call only (the global random
#'   state is restored afterwards).
#' @param progress Show a progress bar (one step per network or per gradient
#'   step); interrupts are checked at the same points.
#' @return Like [nt_kernel()]: one kernel matrix, or a list `ntk`, `nngp`.
#' @examples
#' x <- matrix(rnorm(12), 4)
#' nt_empirical(nt_fc(2), x, width = 256, samples = 4, seed = 1)
#' nt_kernel(nt_fc(2), x)
#' @export
nt_empirical <- function(net, x, z = NULL, width = 512, samples = 1, what = "ntk", seed = NULL,
                         progress = interactive()) {
  net <- as_network(net)
  what <- check_what(what)
  width <- check_count(width, "width", lower = 1L)
  samples <- check_count(samples, "samples", lower = 1L)
  progress <- check_flag(progress, "progress")
  setup <- finite_setup(net, x, z)
  with_seed(seed, {
    res <- .Call(C_ntk_empirical, setup$data, setup$shape, setup$plan$ints, setup$plan$dbls,
                 setup$plan$geom, setup$plan$tables, width, samples, progress)
  })
  names(res) <- c("ntk", "nngp")
  for (w in what) if (!all(is.finite(res[[w]])))
    stop(sprintf(paste0("the finite networks overflowed: their %s has non-finite entries ",
                        "(the largest |x| is %.3g); rescale `x`"), toupper(w), max(abs(setup$data))),
         call. = FALSE)
  rows <- seq_len(setup$n_x)
  cols <- if (is.null(z)) rows else setup$n_x + seq_len(setup$n_z)
  for (w in what) {   # no copies beyond the z block's: each kernel is held by `res` alone
    if (!is.null(z)) res[[w]] <- res[[w]][rows, cols, drop = FALSE]
    res[[w]] <- .Call(C_ntk_as_kernel_matrix, res[[w]], NULL)
  }
  if (length(what) == 1L) res[[what]] else res[c("ntk", "nngp")[c("ntk", "nngp") %in% what]]
}

#' Train one finite network by gradient descent
#'
#' Full-batch gradient descent on `1/2 * sum((f(x) - y)^2)` for one network
#' drawn as in [nt_empirical()] (fully connected or convolutional, one
#' output), recording the predictions on `x` and `x_test`, and the relative
#' change of the parameters `||theta_s - theta_0|| / ||theta_0||`, at the
#' recorded steps. With `center = TRUE` (the default) the network's output
#' is `f(theta) - f(theta_0)`: it starts at 0, as [nt_predict()] assumes (its
#' mean is that of an infinite ensemble, whose random initial outputs
#' average to 0). For wide networks and small learning rates the
#' predictions then follow `nt_predict()` at time `t = steps * learning_rate`
#' (with `learning_rate = 1` there); the step's discretisation adds an error
#' of order `learning_rate * max eigenvalue` per unit time.
#'
#' @inheritParams nt_empirical
#' @param y Numeric targets, one per row (or image) of `x`.
#' @param learning_rate Step size.
#' @param steps Number of gradient steps.
#' @param x_test Inputs to predict at the recorded steps, or `NULL`.
#' @param record Steps at which to record (increasing, from 0 to `steps`);
#'   by default 11 equally spaced steps.
#' @param ntk Also return the empirical NTK at the start and the end, on `x`
#'   or, when `x_test` is given, on `x` and `x_test` together (the inputs of
#'   `x` first): a square matrix of size `n` or `n + nrow(x_test)`.
#' @param center Subtract the initial network's output (see Details).
#' @return A list: `steps`, `train` (`n x length(steps)`), `test` (or
#'   `NULL`), `weight_change`, and `ntk_start`, `ntk_end` (or `NULL`).
#' @examples
#' x <- matrix(rnorm(8), 4)
#' run <- nt_train(nt_fc(2), x, sin(x[, 1]), width = 256, learning_rate = 0.1,
#'                 steps = 50, seed = 1)
#' run$train[, c(1, 11)]
#' @export
nt_train <- function(net, x, y, width = 512, learning_rate = 1, steps = 100, x_test = NULL,
                     record = NULL, ntk = FALSE, center = TRUE, seed = NULL,
                     progress = interactive()) {
  net <- as_network(net)
  width <- check_count(width, "width", lower = 1L)
  learning_rate <- check_number(learning_rate, "learning_rate", lower = 0)
  if (learning_rate == 0) stop("`learning_rate` must be positive", call. = FALSE)
  steps <- check_count(steps, "steps")
  ntk <- check_flag(ntk, "ntk")
  center <- check_flag(center, "center")
  progress <- check_flag(progress, "progress")
  record <- if (is.null(record)) unique(round(seq(0, steps, length.out = 11))) else record
  if (!is.numeric(record) || anyNA(record) || any(record < 0) || any(record > steps) ||
      any(diff(record) <= 0) || any(record != round(record)))
    stop("`record` must be increasing whole steps between 0 and `steps`", call. = FALSE)
  record <- as.integer(record)
  if (record[length(record)] != steps) record <- c(record, as.integer(steps))
  setup <- finite_setup(net, x, NULL)
  if (any(setup$plan$ints["code", ] == op_code("dropout")))
    stop("`net` has dropout: nt_train() runs deterministic gradient descent; check dropout's kernel with nt_empirical()",
         call. = FALSE)
  if (!is.numeric(y) || !is.null(dim(y)) && NCOL(y) != 1L)
    stop("`y` must be a numeric vector", call. = FALSE)
  y <- as.double(y)
  if (length(y) != setup$n_x)
    stop(sprintf("`y` has %d values but `x` has %d inputs", length(y), setup$n_x), call. = FALSE)
  if (anyNA(y) || !all(is.finite(y))) stop("`y` contains NA, NaN or Inf", call. = FALSE)
  test <- if (is.null(x_test)) NULL else finite_setup(net, x_test, NULL, like = x)$data
  with_seed(seed, {
    res <- .Call(C_ntk_train, setup$data, y, test, setup$shape, setup$plan$ints,
                 setup$plan$dbls, setup$plan$geom, setup$plan$tables, width, learning_rate, record, ntk, center, progress)
  })
  names(res) <- c("train", "test", "weight_change", "ntk_start", "ntk_end")
  label <- paste0("step=", record)
  colnames(res$train) <- label
  if (!is.null(res$test)) colnames(res$test) <- label
  names(res$weight_change) <- label
  check_training(res, y, record, learning_rate)
  c(list(steps = record), res)
}

# Gradient descent that overflowed is an error; one whose training loss grew
# a millionfold is a warning naming the step: never NaN or huge values
# returned quietly.
check_training <- function(res, y, record, learning_rate) {
  finite <- apply(res$train, 2, function(f) all(is.finite(f)))
  if (!is.null(res$test)) finite <- finite & apply(res$test, 2, function(f) all(is.finite(f)))
  if (!all(finite))
    stop(sprintf(paste0("training diverged: the predictions overflowed by step %d (learning rate %g); ",
                        "use a smaller `learning_rate`, or rescale `x` and `y`"), record[which(!finite)[1]], learning_rate),
         call. = FALSE)
  for (k in c("ntk_start", "ntk_end"))
    if (!is.null(res[[k]]) && !all(is.finite(res[[k]])))
      stop(sprintf("the empirical NTK (%s) overflowed; rescale `x`", k), call. = FALSE)
  loss <- colMeans((res$train - y)^2)
  reference <- max(loss[1], mean(y^2), .Machine$double.xmin)
  grown <- which(loss > 1e6 * reference)
  if (length(grown))
    warning(sprintf(paste0("training diverged at step %d: the training loss reached %.3g ",
                           "(%.3g at the start; learning rate %g is too large)"),
                    record[grown[1]], loss[grown[1]], loss[1], learning_rate), call. = FALSE)
  invisible()
}

# The plan, input shape and inputs (one column per input, channels fastest)
# of a finite network on x (and z).
# All inputs of a finite network, stacked (images along their first axis).
rbind_inputs <- function(x, z, like) {
  parts <- Filter(Negate(is.null), list(x, z, like))
  if (!is_image_input(x)) return(do.call(rbind, lapply(parts, as_input_matrix, "x")))
  parts <- lapply(parts, as_image_array, "x")
  rows <- do.call(rbind, lapply(parts, function(p) matrix(p, dim(p)[1])))   # one row per input
  array(rows, c(nrow(rows), dim(parts[[1]])[-1]))
}

finite_setup <- function(net, x, z, like = NULL) {
  images <- is_image_input(x)
  if (!is.null(like) && images != is_image_input(like))
    stop("`x_test` must be inputs like `x`", call. = FALSE)
  if (images) {
    net <- network_for(net, x)
    x <- as_image_array(x, "x")
    if (!is.null(z)) {
      z <- as_image_array(z, "z")
      if (!identical(dim(z)[-1], dim(x)[-1])) stop("`z` must hold images of the shape of `x`", call. = FALSE)
    }
    if (!is.null(like) && !identical(dim(x)[-1], dim(as_image_array(like, "x"))[-1]))
      stop("`x_test` must hold images of the shape of `x`", call. = FALSE)
    plan <- compile_spatial_plan(net, dim(x)[-1])
    shape <- engine_shape(dim(x)[-1])
    check_graph_counts(plan, dim(x)[1] + if (is.null(z)) 0L else dim(z)[1])
    flat <- function(a) matrix(images_for_c(a), ncol = dim(a)[1])
    data <- cbind(flat(x), if (!is.null(z)) flat(z))
  } else {
    x <- as_input_matrix(x, "x")
    if (!is.null(z)) {
      z <- as_input_matrix(z, "z")
      if (ncol(z) != ncol(x)) stop(sprintf("`z` has %d columns but `x` has %d", ncol(z), ncol(x)), call. = FALSE)
    }
    if (!is.null(like) && ncol(x) != ncol(as_input_matrix(like, "x")))
      stop("`x_test` must have the columns of `x`", call. = FALSE)
    if (!is.null(like)) like <- absorb_relevance(net, as_input_matrix(like, "x"))$x
    a <- absorb_relevance(net, x, z)
    net <- a$net; x <- a$x; z <- a$z
    shape <- c(1L, 1L, ncol(x))
    plan <- compile_plan(net, ncol(x))
    data <- cbind(t(x), if (!is.null(z)) t(z))
  }
  codes <- plan$ints["code", ]
  if (!length(codes) || codes[length(codes)] != op_code("dense"))
    stop("`net` must end with nt_dense() for a finite network", call. = FALSE)
  # nt_activation(): the table the kernel would use, on every input given
  if (any(codes == op_code("table")))
    plan <- if (images) fit_image_tables(plan, images_for_c(rbind_inputs(x, z, like)), NULL)
            else fit_matrix_tables(plan, rbind_inputs(x, z, like), NULL)
  if (any(codes == op_code("lap")))
    stop("nt_local_avg_pool() has no finite-network counterpart", call. = FALSE)
  list(plan = plan, shape = shape, data = data, n_x = dim(x)[1],
       n_z = if (is.null(z)) 0L else dim(z)[1])
}

# Evaluates expr with set.seed(seed) when seed is given, restoring the
# global random state afterwards.
with_seed <- function(seed, expr) {
  if (is.null(seed)) return(invisible(force(expr)))
  seed <- check_count(seed, "seed", lower = -.Machine$integer.max)
  env <- globalenv()
  had <- exists(".Random.seed", envir = env, inherits = FALSE)
  old <- if (had) get(".Random.seed", envir = env, inherits = FALSE)
  on.exit(if (had) assign(".Random.seed", old, envir = env) else rm(".Random.seed", envir = env))
  set.seed(seed)
  invisible(force(expr))
}
