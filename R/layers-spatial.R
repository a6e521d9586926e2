# Spatial layers (images in NHWC layout, sequences and volumes):
# convolution, pooling and readouts.

# Filter, window and stride sizes: 1 to 1000 (the engines' bound); one
# number is kept as an equal pair (the same along every axis), three are
# (depth, height, width) for volumes.
check_sizes <- function(x, arg) {
  if (!is.numeric(x) || !length(x) %in% 1:3 || anyNA(x) || any(x < 1) || any(x != round(x)))
    stop(sprintf("`%s` must be one to three positive whole numbers", arg), call. = FALSE)
  if (any(x > 1000))
    stop(sprintf("`%s` must be at most 1000, not %s", arg, paste(x, collapse = " x ")), call. = FALSE)
  as.integer(if (length(x) == 3L) x else rep_len(x, 2L))
}

#' Convolution layer
#'
#' A convolution over images (2-d), sequences (1-d) or volumes (3-d) in the
#' NTK parametrization (see [ntk]):
#' `K <- w_var * A(K) + b_var`, where `A` averages the kernel
#' over the filter's offsets, shifting both positions by the same offset, with
#' the divisor `filter^2` kept at the borders. `"same"` and strides follow
#' TensorFlow/XLA (as neural-tangents does): the output has `ceil(H / stride)`
#' rows, and of the total padding the smaller half goes before. `"valid"`
#' shrinks the image; `"circular"` wraps around with the layout of `"same"`.
#'
#' @param filter Filter size: one number (the same along every axis: a
#'   square on images, a cube on volumes), `c(height, width)` for images or
#'   `c(depth, height, width)` for volumes (`n x D x H x W x C` arrays, see
#'   [nt_kernel()]); on volumes the average runs over all
#'   `depth * height * width` offsets and the padding rules hold along each
#'   axis.
#' @param w_var,b_var Weight and bias variances.
#' @param padding `"same"`, `"valid"` or `"circular"`.
#' @param stride One number or `c(vertical, horizontal)` (volumes:
#'   `c(depth, vertical, horizontal)`).
#' @param trainable Whether the layer's parameters are trained.
#' @param parameterization,width As for [nt_dense()]: in the standard
#'   parameterization the NTK is `w_var * A(T) + fan_in * A(K) + 1` with
#'   `fan_in = channels x filter size` of the layer's input; `width` is the
#'   layer's number of channels.
#' @return A layer object of class `nt_layer`.
#' @examples
#' nt_serial(nt_conv(3, 1), nt_relu(), nt_conv(3, 2, stride = 2), nt_relu(),
#'           nt_global_avg_pool(), nt_dense(2))
#' @export
nt_conv <- function(filter = 3, w_var = 1, b_var = 0,
                    padding = c("same", "valid", "circular"), stride = 1, trainable = TRUE,
                    parameterization = c("ntk", "standard"), width = NULL) {
  new_layer("conv", "Conv", filter = check_sizes(filter, "filter"),
            w_var = check_number(w_var, "w_var", lower = 0),
            b_var = check_number(b_var, "b_var", lower = 0),
            padding = match.arg(padding), stride = check_sizes(stride, "stride"),
            trainable = check_flag(trainable, "trainable"),
            parameterization = match.arg(parameterization),
            width = check_width(width))
}

#' Locally connected layer (convolution with unshared weights)
#'
#' `nt_conv_local()` is [nt_conv()] with a filter of its own at every output
#' position (neural-tangents' `ConvLocal`, a locally connected network).
#' Two different output positions then have independent weights, so their
#' covariance is zero, and the pair of a position with itself is what the
#' shared convolution gives it (each filter offset with itself): both
#' kernels become `K(i, i') <- [i = i'] (w_var * A(K)(i, i) + b_var)`, the
#' NTK alike. Only the spatial diagonal of its input matters. The
#' arguments are those of [nt_conv()].
#'
#' @inheritParams nt_conv
#' @return A layer object of class `nt_layer`.
#' @examples
#' img <- array(rnorm(2 * 4 * 4 * 3), c(2, 4, 4, 3))
#' nt_kernel(nt_serial(nt_conv_local(3), nt_relu(), nt_conv(3, 2), nt_relu(),
#'                     nt_global_avg_pool(), nt_dense()), img)
#' @export
nt_conv_local <- function(filter = 3, w_var = 1, b_var = 0,
                          padding = c("same", "valid", "circular"), stride = 1, trainable = TRUE,
                          parameterization = c("ntk", "standard"), width = NULL) {
  layer <- nt_conv(filter, w_var, b_var, match.arg(padding), stride, trainable,
                   match.arg(parameterization), width)
  layer$name <- "ConvLocal"
  layer$local <- TRUE
  layer
}

#' Pooling and readout layers for images
#'
#' `nt_avg_pool(window, stride)` averages each network's activations over
#' windows (both positions of the kernel are pooled; with `padding =
#' "valid"` windows that do not fit are dropped; with `"same"` the image is
#' padded with zeros as for [nt_conv()], `ceil(H / stride)` rows out, and a
#' border window averages over its full size, zeros included, or, with
#' `normalize_edges = TRUE`, over its positions inside the image only, as in
#' neural-tangents: `K(o, o') = sum K(a, a') / (c(o) c(o'))` over the
#' windows' in-image positions `a`, `a'`, with `c` their counts);
#' `nt_sum_pool(window, stride)` sums them, so its kernels are
#' those of the average times `q^2` for windows of `q` positions (a later
#' nonlinearity sees the larger variance). The readouts turn an image into a vector: `nt_flatten()`
#' averages the kernel over the spatial diagonal, `K <- mean_i K[i, i]`;
#' `nt_global_avg_pool()` averages over all position pairs,
#' `K <- mean_{i, i'} K[i, i']`, and `nt_global_sum_pool()` sums over them,
#' `K <- sum_{i, i'} K[i, i']` (the kernel of the activations summed over all
#' `P` positions: `P^2` times the average's); `nt_local_avg_pool(c)` is the local average
#' pooling of Li et al. (2019): `K <- (1/P) sum_i sum_{i'} K[i, i']` over the
#' positions `i'` within `c` rows and `c` columns of `i` (inside the image;
#' on volumes also within `c` slices of depth), so
#' `c = 0` is `nt_flatten()` and `c >= max(H, W) - 1` is `P` times
#' `nt_global_avg_pool()`. Unlike the other readouts, `nt_local_avg_pool(c)`
#' with `0 < c < max(H, W) - 1` need not give a positive semi-definite kernel
#' (a box window is not a positive definite weighting of position pairs);
#' [nt_predict()] and [nt_gp()] refuse such kernels unless their negative
#' eigenvalues are clipped first.
#'
#' @param window Pooling window: one number or `c(height, width)` (volumes:
#'   one number or `c(depth, height, width)`; the windows are boxes and the
#'   counts of `normalize_edges` are their in-volume positions).
#' @param stride Step between windows, by default the window.
#' @param padding `"valid"` (only windows inside the image) or `"same"`
#'   (zero padding, TensorFlow's layout).
#' @param normalize_edges With `"same"` padding, average border windows over
#'   their positions inside the image instead of their full size.
#' @param c Half-width of the local window, a whole number `>= 0`.
#' @return A layer object of class `nt_layer`.
#' @references Li, Z. et al. (2019). Enhanced convolutional neural tangent
#'   kernels. arXiv:1911.00809.
#' @examples
#' nt_cnn(depth = 2, readout = "flatten")
#' nt_serial(nt_conv(3), nt_relu(), nt_avg_pool(2), nt_flatten(), nt_dense())
#' @name spatial_layers
NULL

#' @rdname spatial_layers
#' @export
nt_avg_pool <- function(window = 2, stride = window, padding = c("valid", "same"),
                        normalize_edges = FALSE) {
  padding <- match.arg(padding)
  normalize_edges <- check_flag(normalize_edges, "normalize_edges")
  new_layer("pool", "AvgPool", window = check_sizes(window, "window"),
            stride = check_sizes(stride, "stride"), padding = padding, normalize_edges = normalize_edges)
}

#' @rdname spatial_layers
#' @export
nt_sum_pool <- function(window = 2, stride = window, padding = c("valid", "same")) {
  new_layer("pool", "SumPool", window = check_sizes(window, "window"),
            stride = check_sizes(stride, "stride"), sum = TRUE, padding = match.arg(padding),
            normalize_edges = FALSE)
}

#' @rdname spatial_layers
#' @export
nt_flatten <- function() new_layer("readout", "Flatten", readout = "flatten")

#' @rdname spatial_layers
#' @export
nt_global_avg_pool <- function() new_layer("readout", "GlobalAvgPool", readout = "gap")

#' @rdname spatial_layers
#' @export
nt_global_sum_pool <- function() new_layer("readout", "GlobalSumPool", readout = "gap", sum = TRUE)

#' @rdname spatial_layers
#' @export
nt_local_avg_pool <- function(c) {
  new_layer("readout", "LocalAvgPool", readout = "lap", c = check_count(c, "c"))
}

#' Convolutional network shortcut
#'
#' Exactly `nt_serial(nt_conv(filter, 1, b_var)`, then `depth - 1` times
#' `[nt_relu(), nt_conv(filter, w_var, b_var)]`, then `nt_relu()`, the
#' readout and `nt_dense(w_var))`: `depth` convolutions. Arora et al.'s
#' "depth d" network has `d - 1` convolutions; see [nt_cnn_arora()].
#'
#' @param depth Number of convolutions, at least 1.
#' @param filter Filter size.
#' @param readout `"gap"` (global average pooling) or `"flatten"`.
#' @param w_var,b_var Weight and bias variances.
#' @return A network of class `nt_network`.
#' @examples
#' nt_cnn(depth = 3, readout = "gap")
#' @export
nt_cnn <- function(depth = 3, filter = 3, readout = c("gap", "flatten"), w_var = 2, b_var = 0) {
  depth <- check_count(depth, "depth", lower = 1L)
  readout <- match.arg(readout)
  w_var <- check_number(w_var, "w_var", lower = 0)
  hidden <- lapply(seq_len(depth - 1L), function(i) list(nt_relu(), nt_conv(filter, w_var, b_var)))
  nt_serial(nt_conv(filter, 1, b_var), hidden, nt_relu(),
            if (readout == "gap") nt_global_avg_pool() else nt_flatten(), nt_dense(w_var))
}

#' Arora et al. (2019) CNTK kernels
#'
#' The network whose kernel is exactly what Arora et al.'s CNTK code computes
#' for "depth d" (`d - 1` convolutions of 3 x 3 filters, zero padding, no
#' bias): their first layer sums `x . x'` over channels and filter offsets
#' (here `nt_conv(3, w_var = 9 * C)`), each later ReLU carries
#' `c_sigma / q^2 = 2/9` (here `nt_conv(3, w_var = 2)` and a final
#' `nt_dense(2/9)`), the last layer has no convolution, and with `fix = TRUE`
#' the first and last layers are frozen. CNTK-GAP is the mean over all
#' position pairs (`nt_global_avg_pool()`); CNTK-V is the trace over
#' positions, `P` times `nt_flatten()`, so its final dense layer carries
#' `P * 2/9`.
#'
#' @param depth Their depth `d` (at least 2): `d - 1` convolutions.
#' @param readout `"gap"` for CNTK-GAP or `"trace"` for CNTK-V.
#' @param fix Freeze the first and last layers (as their GAP experiments do).
#' @param input_shape `c(H, W, C)` of the images.
#' @return A network of class `nt_network`.
#' @examples
#' img <- array(rnorm(2 * 4 * 4 * 3), c(2, 4, 4, 3))
#' nt_kernel(nt_cnn_arora(3, "gap", input_shape = c(4, 4, 3)), img)
#' @export
nt_cnn_arora <- function(depth, readout = c("gap", "trace"), fix = readout == "gap",
                         input_shape) {
  depth <- check_count(depth, "depth", lower = 2L)
  readout <- match.arg(readout)
  fix <- check_flag(fix, "fix")
  if (!is.numeric(input_shape) || length(input_shape) != 3L || any(input_shape < 1))
    stop("`input_shape` must be c(H, W, C)", call. = FALSE)
  hidden <- lapply(seq_len(depth - 2L), function(i) list(nt_relu(), nt_conv(3, 2)))
  last_w <- 2 / 9 * if (readout == "trace") prod(input_shape[1:2]) else 1
  net <- nt_serial(nt_conv(3, w_var = 9 * input_shape[3], trainable = !fix), hidden, nt_relu(),
                   if (readout == "gap") nt_global_avg_pool() else nt_flatten(),
                   nt_dense(last_w, trainable = !fix))
  # its variances depend on the image shape: checked against the inputs
  attr(net, "input_shape") <- as.integer(input_shape)
  net
}

#' Images from a matrix of flattened rows
#'
#' Turns a matrix with one image per row into the `n x H x W x C` array
#' (NHWC) that image networks take.
#'
#' @param x A numeric matrix with `H * W * C` columns, or a data frame.
#' @param height,width,channels Image dimensions.
#' @param order The order of each row: `"HWC"` (channels fastest, as NHWC
#'   tensors are stored; pixels row by row), `"CHW"` (one channel plane after
#'   another, as CIFAR-10's binary files), or `"WHC"` (columns fastest
#'   within a channel: R's `as.vector()` of an `H x W x C` array).
#' @return A numeric array `n x H x W x C`.
#' @examples
#' m <- matrix(1:24, 2)   # two 2 x 3 x 2 images, HWC order
#' dim(nt_images(m, 2, 3, 2))
#' @export
nt_images <- function(x, height, width, channels = 1, order = c("HWC", "CHW", "WHC")) {
  x <- as_input_matrix(x, "x")
  height <- check_count(height, "height", lower = 1L)
  width <- check_count(width, "width", lower = 1L)
  channels <- check_count(channels, "channels", lower = 1L)
  order <- match.arg(order)
  if (ncol(x) != height * width * channels)
    stop(sprintf("`x` has %d columns, not height * width * channels = %d",
                 ncol(x), height * width * channels), call. = FALSE)
  # one row read as a column-major array, and the permutation to n x H x W x C
  layout <- switch(order,
                   HWC = list(dims = c(channels, width, height), perm = c(4L, 3L, 2L, 1L)),
                   CHW = list(dims = c(width, height, channels), perm = c(4L, 2L, 1L, 3L)),
                   WHC = list(dims = c(height, width, channels), perm = c(4L, 1L, 2L, 3L)))
  aperm(array(t(x), c(layout$dims, nrow(x))), layout$perm)
}
