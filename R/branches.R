# Branching networks: fan-out, parallel branches, fan-in, residual blocks.

#' Branching networks: fan-out, parallel branches, fan-in and residual blocks
#'
#' `nt_fan_out(n)` copies its input into `n` branches; `nt_parallel(...)`
#' applies its `i`-th argument (a layer or network; `nt_serial()` for a
#' branch that passes its input on unchanged) to the `i`-th branch; a fan-in
#' merges the branches into one: `nt_fan_in_sum()` adds them,
#' `nt_fan_in_prod()` multiplies them elementwise, `nt_fan_in_concat()`
#' stacks their channels. `nt_residual(block)` is
#' `nt_serial(nt_fan_out(2), nt_parallel(block, shortcut), nt_fan_in_sum())`:
#' the output is `block(x) + shortcut(x)`, with the identity as the default
#' shortcut.
#'
#' In the infinite-width limit, two branches are independent when at least
#' one of them has a dense or convolutional layer of its own (its fresh
#' zero-mean weights make the cross-covariance vanish), and then the kernels
#' combine simply. With `K_b`, `T_b` the NNGP and NTK of branch `b`:
#' the sum has `K = sum_b K_b`, `T = sum_b T_b`; the product has
#' `K = prod_b K_b`, `T = sum_b T_b prod_{c != b} K_c`; the concatenation
#' (branches of equal width) has `K = mean_b K_b`, `T = mean_b T_b` and needs
#' no independence. A sum or product of two branches that share their
#' randomness (for instance two identity branches) is refused: its kernel
#' has cross terms these rules leave out. The output of a product, of a
#' concatenation, or of a sum with an activated branch is not a Gaussian
#' process (and a concatenation's units differ by branch), so an activation
#' may not follow it directly: a dense or convolutional layer in between
#' makes the next pre-activations Gaussian again. Finite networks
#' ([nt_empirical()], [nt_train()]) run the same layers, so the kernels can
#' be checked by Monte Carlo; there the merged branches must have the same
#' shape (equal widths).
#'
#' Branching image networks are computed over all position pairs.
#'
#' @param n Number of branches, at least 2.
#' @param ... Layers or networks, one per branch.
#' @param block The residual branch: a layer or network.
#' @param shortcut The other branch: a layer or network, or `NULL` for the
#'   identity (`nt_serial()`).
#' @return `nt_fan_out()`, `nt_parallel()` and the fan-ins return layer
#'   objects; `nt_residual()` a network.
#' @examples
#' block <- nt_serial(nt_relu(), nt_dense(2, 0.1))
#' net <- nt_serial(nt_dense(1, 0.1), nt_residual(block), nt_residual(block),
#'                  nt_relu(), nt_dense(1))
#' x <- matrix(rnorm(12), 4)
#' nt_kernel(net, x)
#' @name branches
NULL

#' @rdname branches
#' @export
nt_fan_out <- function(n = 2) {
  new_layer("fanout", "FanOut", copies = check_count(n, "n", lower = 2L, upper = 16L))
}

#' @rdname branches
#' @export
nt_parallel <- function(...) {
  branches <- lapply(list(...), function(b) {
    if (inherits(b, "nt_network") || inherits(b, "nt_layer")) return(as_network(b))
    stop("`...` must hold layers or networks, one per branch", call. = FALSE)
  })
  if (length(branches) < 2L) stop("`...` must hold at least two branches", call. = FALSE)
  new_layer("parallel", "Parallel", branches = branches)
}

fan_in <- function(op, name) new_layer("fanin", name, op = op)

#' @rdname branches
#' @export
nt_fan_in_sum <- function() fan_in("sum", "FanInSum")

#' @rdname branches
#' @export
nt_fan_in_prod <- function() fan_in("prod", "FanInProd")

#' @rdname branches
#' @export
nt_fan_in_concat <- function() fan_in("concat", "FanInConcat")

#' @rdname branches
#' @export
nt_residual <- function(block, shortcut = NULL) {
  nt_serial(nt_fan_out(2), nt_parallel(block, shortcut %||% nt_serial()), nt_fan_in_sum())
}

# ---- compiling ---------------------------------------------------------------

# `count` consecutive free slots (the ops name a first slot and a count).
claim_slots <- function(ctx, count, where) {
  free <- which(!ctx$busy)
  for (s in free) {
    run <- s:(s + count - 1L)
    if (all(run <= length(ctx$busy)) && !any(ctx$busy[run])) {
      ctx$busy[run] <- TRUE
      return(run - 1L)
    }
  }
  stop(sprintf("`net` layer %s needs more than %d branches at once", where, length(ctx$busy)),
       call. = FALSE)
}

#' @export
compile_layer.nt_fanout <- function(layer, ctx, where) {
  slot <- single_stream(ctx, layer, where)
  copies <- claim_slots(ctx, layer$copies - 1L, where)
  emit(ctx, op_code("fanout"), slot, first = copies[1], count = length(copies))
  for (s in copies) ctx$state[[s + 1L]] <- ctx$state[[slot + 1L]]
  ctx$fan_outs <- ctx$fan_outs + 1L
  ctx$open <- c(ctx$open, ctx$fan_outs)
  ctx$streams <- c(slot, copies)
}

#' @export
compile_layer.nt_parallel <- function(layer, ctx, where) {
  streams <- ctx$streams
  if (length(streams) != length(layer$branches))
    layer_error(where, layer, sprintf("has %d branches but meets %d (fan out first)",
                                      length(layer$branches), length(streams)))
  for (b in seq_along(streams)) {
    ctx$streams <- streams[b]
    compile_sequence(layer$branches[[b]], ctx, sprintf("%s.%d.", where, b))
    if (length(ctx$streams) != 1L)
      layer_error(where, layer, sprintf("branch %d ends with %d branches of its own", b,
                                        length(ctx$streams)))
    streams[b] <- ctx$streams
  }
  ctx$streams <- streams
}

# The width after a fan-in, where known: concatenated branches add up;
# summed or multiplied ones share their width (any branch that declares it).
branch_channels <- function(states, op) {
  widths <- vapply(states, function(s) as.numeric(s$channels), 1)
  if (op == "concat") return(sum(widths))
  known <- widths[!is.na(widths)]
  if (length(known)) known[1] else NA_real_
}

#' @export
compile_layer.nt_fanin <- function(layer, ctx, where) {
  streams <- ctx$streams
  if (length(streams) < 2L) layer_error(where, layer, "needs at least two branches (fan out first)")
  states <- ctx$state[streams + 1L]
  same <- function(key) length(unique(vapply(states, function(s) s[[key]], numeric(1)))) == 1L
  if (!same("h") || !same("w") || !same("spatial"))
    layer_error(where, layer, "merges branches of different shapes")
  # the fan-in closes the innermost open fan-out
  this <- ctx$open[length(ctx$open)]
  ctx$open <- ctx$open[-length(ctx$open)]
  fresh <- vapply(states, function(s) this %in% s$indep, NA)
  if (layer$op != "concat" && sum(!fresh) > 1L)
    layer_error(where, layer, paste0(
      "merges branches that share their randomness: at most one branch may lack a dense or ",
      "convolutional layer of its own"))
  # slots are claimed in runs: the fan-in names its first branch slot and a count
  others <- streams[-1L]
  if (any(diff(others) != 1L)) stop("internal: branch slots are not consecutive", call. = FALSE)
  indeps <- lapply(states, `[[`, "indep")
  indep <- Reduce(if (layer$op == "prod") union else intersect, indeps)
  gaussian <- layer$op == "sum" && all(vapply(states, `[[`, NA, "gaussian"))
  emit(ctx, op_code(layer$op), streams[1L], first = others[1L], count = length(others),
       out = list(indep = setdiff(indep, this), gaussian = gaussian, mixed = !gaussian,
                  channels = branch_channels(states, layer$op)))
  ctx$busy[others + 1L] <- FALSE
  ctx$streams <- streams[1L]
}

#' @export
format.nt_parallel <- function(x, ...) {
  inner <- vapply(x$branches, function(b) {
    if (!length(b)) "Identity" else paste(format(b), collapse = " > ")
  }, "")
  sprintf("Parallel(%s)", paste(inner, collapse = " | "))
}

#' @export
format.nt_fanout <- function(x, ...) sprintf("FanOut(%d)", x$copies)
