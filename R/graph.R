# Graph aggregation.

#' Graph aggregation (graph neural tangent kernels)
#'
#' A graph is an input whose positions are its nodes: an `n x N x C` array
#' (as a sequence; see [nt_kernel()]) of `n` graphs of `N` nodes with `C`
#' features each. `nt_aggregate(adjacency)` replaces each node's units by
#' the weighted sum over the nodes, `h(p) <- sum_q A[p, q] h(q)`, so both
#' kernels of two graphs `x` and `z` become `A_x K A_z'` over the node pairs
#' (the NNGP and the NTK alike: the layer has no parameters). With the
#' dense and activation layers acting per node and a readout over the nodes
#' ([nt_global_sum_pool()] or [nt_global_avg_pool()]), this is the graph
#' NTK of Du et al. (2019): their neighbourhood aggregation is
#' `A = adjacency + I` (scaled by `1 / degree` for their `c_u` of the mean).
#' Graphs of different sizes are padded to `N` nodes with isolated,
#' all-zero nodes, which then add nothing.
#'
#' `adjacency` is either one `N x N` matrix shared by all graphs, or an
#' array `G x N x N` with the adjacency of each graph: of the rows of `x`
#' in order, then those of `z` (so a cross kernel `nt_kernel(net, x, z)`
#' needs `nrow(x) + nrow(z)` of them, and [nt_kernel_tiled()], whose tiles
#' are subsets, cannot use per-graph adjacency). Its values need not be
#' 0 or 1: any finite weights.
#'
#' @param adjacency An `N x N` matrix, or a `G x N x N` array (one matrix
#'   per graph).
#' @return A layer object of class `nt_layer`.
#' @examples
#' # three graphs of 4 nodes with 2 features; each with its own edges
#' set.seed(1)
#' x <- array(rnorm(3 * 4 * 2), c(3, 4, 2))
#' adj <- array(rbinom(3 * 16, 1, 0.5), c(3, 4, 4))
#' for (g in 1:3) adj[g, , ] <- pmax(adj[g, , ], t(adj[g, , ])) + diag(4)
#' gntk <- nt_serial(nt_aggregate(adj), nt_dense(), nt_relu(), nt_dense(2),
#'                   nt_aggregate(adj), nt_dense(), nt_relu(), nt_global_sum_pool(), nt_dense())
#' nt_kernel(gntk, x)
#' @export
nt_aggregate <- function(adjacency) {
  d <- dim(adjacency)
  if (!is.numeric(adjacency) || !length(d) %in% 2:3 || d[length(d)] != d[length(d) - 1L] ||
      any(d == 0L))
    stop("`adjacency` must be an N x N matrix or a G x N x N array of numbers", call. = FALSE)
  if (!all(is.finite(adjacency))) stop("`adjacency` contains NA, NaN or Inf", call. = FALSE)
  per_graph <- length(d) == 3L
  nodes <- d[length(d)]
  # C reads each graph's matrix column-major and the graphs one after another
  data <- as.numeric(if (per_graph) aperm(adjacency, c(2, 3, 1)) else adjacency)
  new_layer("aggregate", sprintf("Aggregate(%d nodes%s)", nodes,
                                 if (per_graph) sprintf(", %d graphs", d[1]) else ""),
            nodes = nodes, graphs = if (per_graph) d[1] else 0L, coef = data)
}

#' @export
compile_layer.nt_aggregate <- function(layer, ctx, where) {
  slot <- spatial_stream(ctx, layer, where)
  st <- ctx$state[[slot + 1L]]
  if (st$h * st$w != layer$nodes)
    layer_error(where, layer, sprintf("has a %d x %d adjacency, but its inputs have %d nodes (positions)",
                                      layer$nodes, layer$nodes, st$h * st$w))
  ctx$custom[[length(ctx$custom) + 1L]] <- layer           # its adjacency, in plan$tables
  emit(ctx, op_code("aggregate"), slot, c(as.numeric(layer$graphs > 0L), 0), table = length(ctx$custom))
}

# Per-graph adjacency: one matrix for each of the `graphs` inputs (x's rows,
# then z's).
check_graph_counts <- function(plan, graphs) {
  for (layer in plan$custom)
    if (inherits(layer, "nt_aggregate") && layer$graphs > 0L && layer$graphs < graphs)
      stop(sprintf(paste0("`net` layer %s holds the adjacency of %d graphs, but the inputs are %d graphs ",
                          "(the rows of `x`, then those of `z`)"), format(layer), layer$graphs, graphs),
           call. = FALSE)
  invisible(plan)
}
