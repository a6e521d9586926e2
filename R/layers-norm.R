# Normalisation layers.

#' Layer normalisation
#'
#' Divides each unit of a layer by the root mean square of the units it is
#' normalised with: the channels of one position (`axis = "channels"`, and
#' for matrix inputs simply all units), or the channels of all positions of
#' an image (`axis = "all"`). As the width grows, that mean square tends to
#' the self variance `s` of the kernel state (the units are a Gaussian
#' process of mean zero), so the layer maps both kernels as
#' `K(x, z) -> K(x, z) / sqrt((s_x + eps) (s_z + eps))`, where over
#' channels `s` is the variance at each position and over channels and
#' space its mean over the positions (the semantics of neural-tangents'
#' `LayerNorm`, whose `eps` this is). The normaliser is deterministic in the
#' limit, so the NTK is divided by the same factor. The output is again a
#' Gaussian process, of unit variance, so activations may follow; the
#' layer itself must follow a dense or convolutional layer (or the inputs).
#'
#' In finite networks ([nt_empirical()], [nt_train()]) the layer divides
#' each group by `sqrt(mean(h^2) + eps)`; the mean that LayerNorm also
#' subtracts is zero in the infinite-width limit, so the kernel is the
#' same, and on the inputs themselves (where the mean is not zero) it is
#' the kernel above exactly. A normalisation of the inputs over a single
#' column (or channel) is refused: it would only keep their signs.
#'
#' @param axis `"channels"` or `"all"` (channels and space; the same as
#'   `"channels"` after a readout or on matrix inputs).
#' @param eps A positive number added to the variances.
#' @return A layer object of class `nt_layer`.
#' @examples
#' x <- matrix(rnorm(12), 4)
#' net <- nt_serial(nt_dense(2, 0.1), nt_layer_norm(), nt_relu(), nt_dense())
#' nt_kernel(net, x)
#' img <- array(rnorm(2 * 4 * 4 * 3), c(2, 4, 4, 3))
#' nt_kernel(nt_serial(nt_conv(3), nt_layer_norm("all"), nt_relu(), nt_global_avg_pool(),
#'                     nt_dense()), img)
#' @export
nt_layer_norm <- function(axis = c("channels", "all"), eps = 1e-12) {
  axis <- match.arg(axis)
  eps <- check_number(eps, "eps", lower = 0)
  if (!(eps > 0)) stop("`eps` must be positive", call. = FALSE)
  new_layer("layer_norm", sprintf("LayerNorm(%s)", axis), axis = axis, eps = eps)
}
