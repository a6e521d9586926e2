# Kernel gradients (nt_kernel(gradient = TRUE)) of fully connected networks:
# the network's variances as named parameters, and the C pass that
# differentiates the recursion forward (src/gradient.c).

# A first dense layer with one weight variance per input column is the
# network on the inputs with column k scaled by sqrt(w_var[k]): the layer
# gets w_var = 1 and the columns their scales.
absorb_relevance <- function(net, x, z = NULL) {
  a <- without_relevance(net, ncol(x))
  if (is.null(a$relevance)) return(list(net = a$net, x = x, z = z))
  scale_columns <- function(m) if (is.null(m)) NULL else sweep(m, 2L, sqrt(a$relevance), `*`)
  list(net = a$net, x = scale_columns(x), z = scale_columns(z))
}

# The network with its first layer's per-column weight variances (checked
# against the inputs' `columns`) replaced by w_var = 1, and those variances.
without_relevance <- function(net, columns) {
  net <- as_network(net)
  w <- relevance_of(net)
  if (is.null(w)) return(list(net = net, relevance = NULL))
  if (length(w) != columns)
    stop(sprintf("`net`'s first layer has %d weight variances (one per input column), but `x` has %d columns",
                 length(w), columns), call. = FALSE)
  net[[1]]$w_var <- 1
  list(net = net, relevance = w)
}

# The first layer's per-column weight variances, or NULL.
relevance_of <- function(net) {
  if (length(net) && inherits(net[[1]], "nt_dense") && length(net[[1]]$w_var) > 1L) net[[1]]$w_var
}

# The network's variances as parameters: each dense layer's w_var and b_var
# under its tie label (nt_fc() ties the hidden layers' w_var, and every
# layer's b_var) or as "w_var[l]" / "b_var[l]" for dense layer l; a first
# layer's per-column weight variances as "relevance[k]". Returns the names,
# the values, the 2 x ops index matrix the C pass reads (0-based, -1 for
# none), the relevances and the network with them absorbed (w_var 1).
kernel_parameters <- function(net, columns) {
  a <- without_relevance(net, columns)
  net <- a$net
  ard <- a$relevance
  plan <- compile_plan(net, columns)
  dense_ops <- which(plan$ints["code", ] == op_code("dense"))
  dense_layers <- Filter(function(l) inherits(l, "nt_dense"), unclass(net))
  if (length(dense_layers) != length(dense_ops))
    stop("kernel gradients need a network of plain layers (no branches)", call. = FALSE)
  labels <- character(0)
  values <- numeric(0)
  index <- matrix(-1L, 2L, ncol(plan$ints))
  for (i in seq_along(dense_ops)) {
    layer <- dense_layers[[i]]
    for (kind in c("w_var", "b_var")) {
      if (kind == "w_var" && i == 1L && !is.null(ard)) next
      label <- parameter_label(layer, kind, i)
      if (!label %in% labels) {
        labels <- c(labels, label)
        values <- c(values, layer[[kind]])
      }
      index[if (kind == "w_var") 1L else 2L, dense_ops[i]] <- match(label, labels) - 1L
    }
  }
  ard_first <- length(labels)
  if (!is.null(ard)) {
    labels <- c(labels, sprintf("relevance[%d]", seq_along(ard)))
    values <- c(values, ard)
  }
  list(names = labels, values = stats::setNames(values, labels), index = index, ard = ard,
       ard_first = as.integer(ard_first), net = net, plan = plan)
}

# The name of a dense layer's variance (`kind`) as a parameter: its tie
# label, or "w_var[i]" / "b_var[i]" for the i-th dense layer.
parameter_label <- function(layer, kind, i) {
  if (kind %in% names(layer$tie)) layer$tie[[kind]] else sprintf("%s[%d]", kind, i)
}

# list(ntk, nngp, dntk, dnngp) of matrix inputs, the gradients named lists.
gradient_kernels <- function(net, x, z, threads) {
  p <- kernel_parameters(net, ncol(x))
  res <- .Call(C_ntk_fc_gradient, x, z, p$plan$ints, p$plan$dbls, p$plan$tables, p$index,
               length(p$names), p$ard, p$ard_first, threads)
  names(res) <- c("ntk", "nngp", "dntk", "dnngp")
  names(res$dntk) <- names(res$dnngp) <- p$names
  res
}
