# Residual network builders, on nt_residual().

#' Wide residual networks and residual MLPs
#'
#' `nt_wide_resnet()` is the wide residual network of neural-tangents' own
#' examples (Zagoruyko and Komodakis's WRN): a 3 x 3 convolution of 16
#' channels, then three groups of `(depth - 4) / 6` residual blocks of
#' `16 k`, `32 k` and `64 k` channels (`k = width_factor`; the second and
#' third groups start with stride 2), global average pooling and a dense
#' readout. A block is `relu, conv 3 x 3, relu, conv 3 x 3` beside its
#' shortcut, summed ([nt_residual()]); the shortcut is the identity,
#' except in the first block of each group, where the channels change and
#' it is a strided 3 x 3 convolution. neural-tangents' example pools over
#' 8 x 8 windows of its 32 x 32 images, which is global average pooling
#' there; here the pooling is global for any image size. The channel counts
#' are the layers' `width`s: they do not change the infinite-width kernel
#' (NTK parameterization) but are the widths of its finite networks
#' ([nt_empirical()], [nt_train()]), and enter the kernel in the standard
#' parameterization.
#'
#' `nt_mlp_residual()` is the fully connected counterpart: a dense layer,
#' `depth` blocks `activation, dense` beside the identity, summed, then the
#' activation and a dense readout.
#'
#' @param depth The WRN depth, `6 n + 4` for `n >= 1` blocks per group
#'   (16 in neural-tangents' examples); for `nt_mlp_residual()` the number
#'   of residual blocks.
#' @param width_factor The WRN's widening factor `k` (a positive number;
#'   channel counts are rounded).
#' @param w_var,b_var Weight and bias variances of every dense and
#'   convolutional layer (neural-tangents' examples: `W_std = 1`, no bias).
#' @param parameterization `"ntk"` or `"standard"`, for every layer.
#' @param activation For `nt_mlp_residual()`: `"relu"`, `"erf"` or `"gelu"`.
#' @param width For `nt_mlp_residual()`: the hidden layers' width, or
#'   `NULL`.
#' @return A network (class `nt_network`).
#' @examples
#' nt_wide_resnet(10, 1)
#' img <- array(rnorm(2 * 8 * 8 * 3), c(2, 8, 8, 3))
#' nt_kernel(nt_wide_resnet(10, 1), img)
#' x <- matrix(rnorm(12), 4)
#' nt_kernel(nt_mlp_residual(2, width = 64), x)
#' @export
nt_wide_resnet <- function(depth = 16, width_factor = 1, w_var = 1, b_var = 0,
                           parameterization = c("ntk", "standard")) {
  depth <- check_count(depth, "depth", lower = 10L)
  if ((depth - 4L) %% 6L != 0L) stop("`depth` must be 6 n + 4 (10, 16, 22, 28, ...)", call. = FALSE)
  width_factor <- check_number(width_factor, "width_factor", lower = 0)
  if (!(width_factor > 0)) stop("`width_factor` must be positive", call. = FALSE)
  parameterization <- match.arg(parameterization)
  conv <- function(channels, stride = 1)
    nt_conv(3, w_var, b_var, "same", stride, parameterization = parameterization, width = channels)
  block <- function(channels, stride, first) {
    main <- nt_serial(nt_relu(), conv(channels, stride), nt_relu(), conv(channels))
    nt_residual(main, if (first) conv(channels, stride))
  }
  group <- function(channels, stride)
    lapply(seq_len((depth - 4L) %/% 6L), function(b) block(channels, if (b == 1L) stride else 1L, b == 1L))
  channels <- pmax(1L, as.integer(round(c(16, 32, 64) * width_factor)))
  nt_serial(conv(16L), group(channels[1], 1L), group(channels[2], 2L), group(channels[3], 2L),
            nt_global_avg_pool(),
            nt_dense(w_var, b_var, parameterization = parameterization))
}

#' @rdname nt_wide_resnet
#' @export
nt_mlp_residual <- function(depth = 2, activation = c("relu", "erf", "gelu"), w_var = 1, b_var = 0,
                            width = NULL, parameterization = c("ntk", "standard")) {
  depth <- check_count(depth, "depth", lower = 1L)
  activation <- match.arg(activation)
  parameterization <- match.arg(parameterization)
  act <- switch(activation, relu = nt_relu, erf = nt_erf, gelu = nt_gelu)
  dense <- function(out = width) nt_dense(w_var, b_var, parameterization = parameterization, width = out)
  blocks <- lapply(seq_len(depth), function(b) nt_residual(nt_serial(act(), dense())))
  nt_serial(dense(), blocks, act(), dense(NULL))
}
