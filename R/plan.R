# A network compiled for the C core: one column per op of an integer matrix
# (rows named by the C registry: code, trainable, table, slot, first, count),
# a double matrix (two parameters) and a geometry matrix (positions in and
# out, filter, stride, padding, ...). The codes and row names come from the
# C op registry (src/ops.c, src/activations.c) when the package loads, so
# that R never holds a copy of them.
#
# One compiler walks the network (compile_network()); each layer class
# compiles itself (compile_layer() methods: code, parameters, output shape,
# geometry). Ops act on kernel states held in slots: a plain network uses
# slot 0 alone; nt_fan_out() copies a state into free slots, nt_parallel()
# runs one branch per slot, a fan-in merges them back.

.op_layout <- new.env(parent = emptyenv())

load_op_layout <- function() {
  layout <- .Call(C_ntk_op_layout)
  for (name in names(layout)) assign(name, layout[[name]], envir = .op_layout)
  invisible(layout)
}

op_layout <- function(what) {
  if (is.null(.op_layout[[what]])) load_op_layout()
  .op_layout[[what]]
}

# The integer code of each op named (registry names, e.g. "dense", "abrelu",
# "conv", "gap", "fanout", "sum").
op_code <- function(name) {
  codes <- op_layout("codes")
  if (!all(name %in% names(codes))) stop("internal: unknown op ", setdiff(name, names(codes))[1])
  unname(codes[name])
}

# Whether each op code is elementwise (an activation), by the registry's kinds.
op_is_activation <- function(code) {
  kinds <- op_layout("kinds")
  bitwAnd(unname(kinds[match(code, op_layout("codes"))]), 2L) > 0L
}

geometry_rows <- function() op_layout("geometry")

# ---- the compiler ----------------------------------------------------------

# shape: NULL for matrix inputs (dense layers and activations only),
# c(H, W, C) for images (and sequences, as images of one row), or
# c(D, H, W, C) for volumes, which the engine reads as images of H * D rows
# (src/ntk.h): each state's `h` counts those rows, `d` the depth in them.
# columns: the inputs' width (matrix inputs), to refuse a normalisation of
# the inputs over one column; NULL when not known yet.
compile_network <- function(net, shape = NULL, columns = NULL) {
  net <- as_network(net)
  images <- !is.null(shape)
  ctx <- new.env(parent = emptyenv())
  ctx$images <- images
  ctx$volume <- length(shape) == 4L
  grid <- if (images) engine_shape(shape)
  ctx$input_shape <- if (images) shape else c(1L, 1L, columns)
  ctx$cols <- list()
  ctx$custom <- list()
  ctx$streams <- 0L
  ctx$busy <- c(TRUE, logical(op_layout("max_slots") - 1L))
  # per slot: positions h x w, whether before the readout, and `indep`:
  # the open fan-outs (ids on ctx$open) since which the state went through a
  # dense or conv layer; its own zero-mean weights make it independent of
  # the sibling branches of those fan-outs
  ctx$open <- integer(0)
  ctx$fan_outs <- 0L
  # `gaussian`: the state is (the limit of) a Gaussian process, as after a
  # dense or conv layer, so that an activation's dual applies to it; a
  # product of branches, a concatenation (units of different branches
  # differ) or a sum with a non-Gaussian branch is not, until the next
  # dense or conv layer (the inputs count as Gaussian, as always)
  # `channels`: the state's width where known (NA: not given), the fan-in
  # of a standard-parameterization layer
  ctx$state <- list(list(h = if (images) grid[1] else 1L, w = if (images) grid[2] else 1L,
                         d = if (ctx$volume) shape[1] else 1L,
                         spatial = images, indep = integer(0), gaussian = TRUE, mixed = FALSE,
                         channels = if (images) grid[3] else columns %||% NA_integer_))
  compile_sequence(net, ctx, prefix = "")
  if (length(ctx$streams) != 1L)
    stop(sprintf("`net` ends with %d branches: merge them with a fan-in (nt_fan_in_sum(), ...)",
                 length(ctx$streams)), call. = FALSE)
  if (images && ctx$state[[1L]]$spatial)
    stop("`net` must end image inputs with a readout: nt_flatten(), nt_global_avg_pool() or nt_local_avg_pool()",
         call. = FALSE)
  plan <- assemble_plan(ctx$cols)
  plan$custom <- ctx$custom
  # an R function's table is fitted to the inputs later (fit_tables());
  # a polynomial's coefficients and an aggregation's adjacency are their data
  plan$tables <- lapply(ctx$custom, function(layer) layer$coef)
  # tables fitted beforehand on a superset of the inputs (nt_kernel_tiled()
  # attaches those of all inputs to the network it sends to its workers)
  preset <- attr(net, "ntk_tables")
  if (is.list(preset) && length(preset) == length(ctx$custom)) plan$tables <- preset
  if (images) plan <- add_band(plan)
  plan
}

compile_plan <- function(net, columns = NULL) compile_network(net, columns = columns)

# shape: c(H, W, C) of images or c(D, H, W, C) of volumes.
compile_spatial_plan <- function(net, shape) {
  built_for <- attr(net, "input_shape")
  if (!is.null(built_for) && !identical(as.integer(built_for), as.integer(shape)))
    stop(sprintf(paste0("the images are %s, but `net` was built for input_shape = c(%s) ",
                        "(its variances depend on the image shape)"),
                 paste(shape, collapse = " x "), paste(built_for, collapse = ", ")), call. = FALSE)
  compile_network(net, as.integer(shape))
}

compile_sequence <- function(net, ctx, prefix) {
  for (l in seq_along(net)) compile_layer(net[[l]], ctx, paste0(prefix, l))
}

compile_layer <- function(layer, ctx, where) UseMethod("compile_layer")

#' @export
compile_layer.default <- function(layer, ctx, where) {
  stop(sprintf("`net` layer %s is not a layer ntk can compile", where), call. = FALSE)
}

# The one stream a plain layer acts on, and its state.
single_stream <- function(ctx, layer, where) {
  if (length(ctx$streams) != 1L)
    stop(sprintf("`net` layer %s (%s) meets %d branches: use nt_parallel() or a fan-in first",
                 where, format(layer), length(ctx$streams)), call. = FALSE)
  ctx$streams
}

layer_error <- function(where, layer, msg) {
  stop(sprintf("`net` layer %s (%s) %s", where, format(layer), msg), call. = FALSE)
}

# Appends one op: `geom` names the geometry entries that differ from a
# pointwise op on the slot's positions; `out` updates the slot's state.
emit <- function(ctx, code, slot, params = c(0, 0), trainable = TRUE, table = 0L,
                 first = 0L, count = 0L, geom = integer(0), out = list()) {
  st <- ctx$state[[slot + 1L]]
  g <- c(hin = st$h, win = st$w, qh = 1L, qw = 1L, sh = 1L, sw = 1L,
         din = st$d, qd = 1L, sd = 1L, pd = 0L)
  g[names(geom)] <- geom
  new <- utils::modifyList(st, out)
  g[c("hout", "wout", "dout")] <- c(new$h, new$w, new$d)
  ctx$cols[[length(ctx$cols) + 1L]] <- list(
    ints = c(code = code, trainable = as.integer(trainable), table = as.integer(table),
             slot = slot, first = as.integer(first), count = as.integer(count)),
    dbls = c(as.numeric(params), 0, 0, 0, 0)[1:4], geom = g)
  ctx$state[[slot + 1L]] <- new
  invisible(NULL)
}

#' @export
compile_layer.nt_dense <- function(layer, ctx, where) {
  slot <- single_stream(ctx, layer, where)
  # one variance per input column is the inputs' scaling (absorb_relevance())
  if (length(layer$w_var) > 1L)
    layer_error(where, layer, paste0("has one w_var per input column: only the first layer of a ",
                                     "network on matrix inputs can"))
  emit(ctx, op_code("dense"), slot, affine_params(layer, ctx, slot, where, 1L), layer$trainable,
       out = list(indep = ctx$open, gaussian = TRUE, mixed = FALSE,
                  channels = layer$width %||% NA_integer_))
}

# w_var, b_var, the fan-in (0: the NTK parameterization) and the declared
# width (0: none) of a dense or conv layer whose filter has `taps` offsets.
affine_params <- function(layer, ctx, slot, where, taps) {
  fan <- 0
  if (identical(layer$parameterization, "standard")) {
    channels <- ctx$state[[slot + 1L]]$channels
    if (is.na(channels))
      layer_error(where, layer, paste0(
        "uses the standard parameterization, whose NTK depends on its fan-in: ",
        "give the dense or convolutional layer before it a `width`"))
    fan <- channels * taps
  }
  c(layer$w_var, layer$b_var, fan, layer$width %||% 0)
}

#' @export
compile_layer.nt_activation <- function(layer, ctx, where) {
  slot <- single_stream(ctx, layer, where)
  # an activation's dual kernels are expectations over a Gaussian input: the
  # output of another activation, or a pooling of it, is not one (relu(relu(u))
  # is relu(u), not the dual applied twice)
  st <- ctx$state[[slot + 1L]]
  if (st$mixed)
    layer_error(where, layer, paste0(
      "follows a fan-in whose output is not Gaussian (a product, a concatenation, or a sum ",
      "with an activated branch): put a dense or convolutional layer before it"))
  if (!st$gaussian)
    layer_error(where, layer, paste0(
      "follows an activation (directly or through pooling), whose output is not Gaussian: ",
      "put a dense or convolutional layer before it"))
  table <- 0L
  if (layer$code %in% c("table", "polynomial")) {   # per-layer data in plan$tables
    ctx$custom[[length(ctx$custom) + 1L]] <- layer
    table <- length(ctx$custom)
  }
  emit(ctx, op_code(layer$code), slot, layer$params %||% c(0, 0), table = table,
       out = list(indep = integer(0), gaussian = FALSE))
}

#' @export
compile_layer.nt_layer_norm <- function(layer, ctx, where) {
  slot <- single_stream(ctx, layer, where)
  st <- ctx$state[[slot + 1L]]
  # the normaliser is the limit of a mean over infinitely many Gaussian
  # units: the state must be one (as for an activation)
  if (st$mixed || !st$gaussian)
    layer_error(where, layer, paste0("follows an activation, pooling of one or a non-Gaussian fan-in: ",
                                     "put a dense or convolutional layer before it"))
  over_space <- layer$axis == "all" && st$spatial
  if (on_inputs(ctx)) {   # it normalises the inputs themselves
    shape <- ctx$input_shape
    width <- if (over_space) prod(shape) else shape[length(shape)]
    if (length(width) && width < 2L)
      layer_error(where, layer, sprintf("normalises the inputs over an axis of width %d", width))
  }
  emit(ctx, op_code(if (over_space) "layer_norm_all" else "layer_norm"), slot, c(layer$eps, 0))
}

# Whether no dense or convolutional layer has been compiled yet: the next
# layer acts on the inputs themselves.
on_inputs <- function(ctx) {
  codes <- vapply(ctx$cols, function(col) col$ints[["code"]], integer(1))
  !any(codes %in% op_code(c("dense", "conv", "conv_local")))
}

spatial_stream <- function(ctx, layer, where) {
  slot <- single_stream(ctx, layer, where)
  if (!ctx$images)
    layer_error(where, layer, "needs image inputs (an n x H x W x C array, or sequences or volumes)")
  if (!ctx$state[[slot + 1L]]$spatial) layer_error(where, layer, "comes after the readout")
  slot
}

# A layer's sizes (filter, window or stride) along each spatial axis:
# (height, width) for images, (depth, height, width) for volumes, where one
# number (stored as an equal pair) is the same along every axis.
axis_sizes <- function(size, ctx, layer, where, what) {
  if (!ctx$volume) {
    if (length(size) == 3L)
      layer_error(where, layer, sprintf("has a 3-d %s (%s), but the inputs are images, not volumes",
                                        what, paste(size, collapse = " x ")))
    return(size)
  }
  if (length(size) == 3L) return(size)
  if (size[1] != size[2])
    layer_error(where, layer, sprintf(paste0("has %s %s, but volumes (n x D x H x W x C arrays) ",
                                             "take one size or three (depth, height, width)"),
                                      what, paste(size, collapse = " x ")))
  rep(size[1], 3L)
}

# The geometry of a window sliding over the slot's image or volume: the
# entries of its geometry column, the output shape and the number of taps.
window_out <- function(ctx, slot, layer, where, size, stride, padding, what) {
  st <- ctx$state[[slot + 1L]]
  size <- axis_sizes(size, ctx, layer, where, what)
  stride <- axis_sizes(stride, ctx, layer, where, "stride")
  k <- length(size)
  height <- st$h %/% st$d
  ay <- conv_axis(height, size[k - 1L], stride[k - 1L], padding)
  ax <- conv_axis(st$w, size[k], stride[k], padding)
  az <- if (k == 3L) conv_axis(st$d, size[1], stride[1], padding) else c(out = 1L, pad = 0L)
  if (ay[["out"]] < 1L || ax[["out"]] < 1L || az[["out"]] < 1L)
    layer_error(where, layer, if (k == 3L) sprintf("does not fit a %d x %d x %d volume", st$d, height, st$w)
                              else sprintf("does not fit a %d x %d image", height, st$w))
  qd <- if (k == 3L) size[1] else 1L
  list(taps = prod(size),
       geom = c(qh = size[k - 1L] * qd, qw = size[k], sh = stride[k - 1L], sw = stride[k],
                pt = ay[["pad"]], pl = ax[["pad"]], qd = qd, sd = if (k == 3L) stride[1] else 1L,
                pd = az[["pad"]]),
       out = list(h = ay[["out"]] * az[["out"]], w = ax[["out"]], d = az[["out"]]))
}

#' @export
compile_layer.nt_conv <- function(layer, ctx, where) {
  slot <- spatial_stream(ctx, layer, where)
  a <- window_out(ctx, slot, layer, where, layer$filter, layer$stride, layer$padding, "filter")
  emit(ctx, op_code(if (isTRUE(layer$local)) "conv_local" else "conv"), slot,
       affine_params(layer, ctx, slot, where, a$taps),
       layer$trainable,
       geom = c(a$geom, circ = as.integer(layer$padding == "circular")),
       out = c(a$out, list(indep = ctx$open, gaussian = TRUE,
                           mixed = FALSE, channels = layer$width %||% NA_integer_)))
}

#' @export
compile_layer.nt_pool <- function(layer, ctx, where) {
  slot <- spatial_stream(ctx, layer, where)
  a <- window_out(ctx, slot, layer, where, layer$window, layer$stride, layer$padding %||% "valid",
                  "window")
  emit(ctx, op_code("pool"), slot,
       params = c(as.numeric(isTRUE(layer$sum)), as.numeric(isTRUE(layer$normalize_edges))),
       geom = a$geom, out = a$out)
}

#' @export
compile_layer.nt_readout <- function(layer, ctx, where) {
  slot <- spatial_stream(ctx, layer, where)
  st <- ctx$state[[slot + 1L]]
  # a window reaching the whole image is the same kernel for any larger c,
  # and the band of offsets grows as c^2: cut c there
  lapc <- if (layer$readout == "lap") min(layer$c, max(st$h %/% st$d, st$w, st$d) - 1L) else 0L
  emit(ctx, op_code(layer$readout), slot, params = c(as.numeric(isTRUE(layer$sum)), 0),
       geom = c(lapc = lapc),
       out = list(h = 1L, w = 1L, d = 1L, spatial = FALSE,
                  channels = if (layer$readout == "flatten") st$channels * st$h * st$w else st$channels))
}

# The compiled columns as the matrices C reads.
assemble_plan <- function(cols) {
  n <- length(cols)
  ints <- matrix(0L, length(op_layout("plan")), n, dimnames = list(op_layout("plan"), NULL))
  dbls <- matrix(0, 4L, n)          # each op's parameters p1..p4
  geom <- matrix(0L, length(geometry_rows()), n, dimnames = list(geometry_rows(), NULL))
  for (l in seq_len(n)) {
    ints[names(cols[[l]]$ints), l] <- as.integer(cols[[l]]$ints)
    dbls[seq_along(cols[[l]]$dbls), l] <- cols[[l]]$dbls
    geom[names(cols[[l]]$geom), l] <- as.integer(cols[[l]]$geom)
  }
  geom[c("bsy", "bsx"), ] <- 1L
  list(ints = ints, dbls = dbls, geom = geom)
}

# Output size and leading padding along one axis (TensorFlow/XLA layout).
conv_axis <- function(n, q, s, padding) {
  if (padding == "valid") {
    out <- (n - q) %/% s + 1L
    return(c(out = out, pad = 0L))
  }
  out <- -((-n) %/% s)                      # ceil(n / s)
  total <- max((out - 1L) * s + q - n, 0L)
  c(out = out, pad = total %/% 2L)
}

# How the convolutional engine runs an image plan: all position pairs
# (`full`) once pooling, global pooling, circular padding or branches mix
# positions; otherwise the band of position offsets the readout reaches,
# scaled by the strides of the convolutions after each op.
add_band <- function(plan) {
  codes <- plan$ints["code", ]
  geom <- plan$geom
  # branches run in the band too while every layer keeps the image's shape
  # with stride 1 (src/conv.c: each state then has the same partner table)
  readout <- codes %in% op_code(c("flatten", "lap", "gap"))
  upto <- seq_len(if (any(readout)) which(readout)[1] else length(codes))   # vectors after it
  g <- geom[, upto, drop = FALSE]
  shape_kept <- all(g["sh", ] == 1L & g["sw", ] == 1L & g["hin", ] == g["hin", 1L] &
                    g["win", ] == g["win", 1L] &
                    (readout[upto] | (g["hout", ] == g["hin", 1L] & g["wout", ] == g["win", 1L])))
  c_lap <- if (any(codes == op_code("lap"))) max(geom["lapc", codes == op_code("lap")]) else 0L
  # a volume's band partners are not shifts of its rows: the band of a
  # volume is the spatial diagonal alone (src/conv.c)
  volume <- any(geom["din", ] > 1L | geom["dout", ] > 1L | geom["qd", ] > 1L)
  plan$full <- any(codes %in% op_code(c("pool", "gap", "aggregate"))) || any(geom["circ", ] == 1L) ||
    (any(codes == op_code("fanout")) && !shape_kept) || (volume && c_lap > 0L)
  offsets <- expand.grid(dy = -c_lap:c_lap, dx = -c_lap:c_lap)
  plan$band <- if (plan$full) matrix(0L, 2L, 1L) else t(as.matrix(offsets)) + 0L
  storage.mode(plan$band) <- "integer"
  scale <- c(1L, 1L)
  for (l in rev(seq_along(codes))) {
    geom[c("bsy", "bsx"), l] <- scale
    if (codes[l] %in% op_code(c("conv", "conv_local"))) scale <- scale * geom[c("sh", "sw"), l]
  }
  plan$geom <- geom
  plan
}

# Tabulate each R-function activation on the range its inputs reach. The
# range of one activation depends on the tables before it, so the C self pass
# (`self_pass(tables)`: list of variances per activation and input, status)
# is rerun until every table covers its inputs (one pass per table, plus one).
fit_tables <- function(plan, self_pass) {
  if (!length(plan$custom)) return(plan)
  for (attempt in seq_len(length(plan$custom) + 1L)) {
    self <- self_pass(plan$tables)
    names(self) <- c("var", "status")
    failed <- self$status[self$status > 0L]
    if (!length(failed)) return(plan)
    op <- min(failed)
    act <- sum(op_is_activation(plan$ints["code", seq_len(op)]))
    which_table <- plan$ints["table", op]
    reached <- self$var[act, ]
    plan$tables[[which_table]] <- activation_table(plan$custom[[which_table]],
                                                   range(reached[!is.na(reached)]))
  }
  stop("could not fit the activation tables; the variances are not finite", call. = FALSE)
}
