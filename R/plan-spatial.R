# Networks on images compiled for src/conv.c: the plan of compile_plan()
# plus a geometry matrix (rows named by geometry_rows(), from the C registry) and the band
# of position offsets the readout needs.

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

compile_spatial_plan <- function(net, shape) {
  built_for <- attr(net, "input_shape")
  if (!is.null(built_for) && !identical(as.integer(built_for), as.integer(shape)))
    stop(sprintf(paste0("the images are %s, but `net` was built for input_shape = c(%s) ",
                        "(its variances depend on the image shape)"),
                 paste(shape, collapse = " x "), paste(built_for, collapse = ", ")), call. = FALSE)
  plan <- compile_plan(net, spatial = TRUE)
  n <- length(net)
  geom <- matrix(0L, length(geometry_rows()), n, dimnames = list(geometry_rows(), NULL))
  h <- shape[1]; w <- shape[2]
  spatial <- TRUE
  for (l in seq_len(n)) {
    layer <- net[[l]]
    geom[c("hin", "win", "qh", "qw", "sh", "sw"), l] <- c(h, w, 1L, 1L, 1L, 1L)
    if (layer$kind %in% c("conv", "pool", "readout") && !spatial)
      stop(sprintf("`net` layer %d (%s) comes after the readout", l, format(layer)), call. = FALSE)
    if (layer$kind == "conv") {
      ay <- conv_axis(h, layer$filter[1], layer$stride[1], layer$padding)
      ax <- conv_axis(w, layer$filter[2], layer$stride[2], layer$padding)
      if (ay[["out"]] < 1L || ax[["out"]] < 1L)
        stop(sprintf("`net` layer %d (%s) does not fit a %d x %d image", l, format(layer), h, w),
             call. = FALSE)
      geom[c("qh", "qw", "sh", "sw", "pt", "pl", "circ"), l] <-
        c(layer$filter, layer$stride, ay[["pad"]], ax[["pad"]], layer$padding == "circular")
      h <- ay[["out"]]; w <- ax[["out"]]
    } else if (layer$kind == "pool") {
      ay <- conv_axis(h, layer$window[1], layer$stride[1], "valid")
      ax <- conv_axis(w, layer$window[2], layer$stride[2], "valid")
      if (ay[["out"]] < 1L || ax[["out"]] < 1L)
        stop(sprintf("`net` layer %d (%s) does not fit a %d x %d image", l, format(layer), h, w),
             call. = FALSE)
      geom[c("qh", "qw", "sh", "sw"), l] <- c(layer$window, layer$stride)
      h <- ay[["out"]]; w <- ax[["out"]]
    } else if (layer$kind == "readout") {
      if (layer$readout == "lap") geom["lapc", l] <- layer$c
      h <- w <- 1L
      spatial <- FALSE
    }
    geom[c("hout", "wout"), l] <- c(h, w)
  }
  if (spatial)
    stop("`net` must end image inputs with a readout: nt_flatten(), nt_global_avg_pool() or nt_local_avg_pool()",
         call. = FALSE)
  kinds <- vapply(net, function(layer) layer$kind, "")
  readouts <- vapply(net[kinds == "readout"], function(layer) layer$readout, "")
  circular <- any(vapply(net[kinds == "conv"], function(layer) layer$padding == "circular", NA))
  plan$full <- any(kinds == "pool") || any(readouts == "gap") || circular
  # The band: offsets at the readout, scaled by the strides of later convs.
  c_lap <- if (readouts == "lap") net[kinds == "readout"][[1]]$c else 0L
  offsets <- expand.grid(dy = -c_lap:c_lap, dx = -c_lap:c_lap)
  plan$band <- if (plan$full) matrix(0L, 2L, 1L) else t(as.matrix(offsets)) + 0L
  storage.mode(plan$band) <- "integer"
  scale <- c(1L, 1L)
  for (l in rev(seq_len(n))) {
    geom[c("bsy", "bsx"), l] <- scale
    if (kinds[l] == "conv") scale <- scale * geom[c("sh", "sw"), l]
  }
  plan$geom <- geom
  plan
}
