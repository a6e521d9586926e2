# Dropout in train mode.

#' Dropout (train mode)
#'
#' Keeps each unit with probability `rate` and scales it by `1 / rate`, a
#' new mask for every input and every position (neural-tangents'
#' `Dropout(rate, mode = "train")`; note that `rate` is the probability of
#' *keeping* a unit, as there, so `rate = 1` is the identity). Two
#' different inputs, or two positions of an image, see independent masks,
#' whose product has mean 1, so their kernel entries are unchanged; an
#' input with itself at one position sees the same mask twice, of mean
#' square `1 / rate`. The layer therefore multiplies the diagonal of the
#' NNGP and of the NTK (and the self variances the next layers see) by
#' `1 / rate`: `K(x, x) -> K(x, x) / rate`, `K(x, z)` unchanged for `z != x`.
#' "The same input" means the same row of `x` when `z` is `NULL` (or `z`
#' is identical to `x`); a test point equal to a training point in a cross
#' kernel counts as another input.
#'
#' Its output is not Gaussian, so a dense or convolutional layer must come
#' before the next activation; dropout on the inputs themselves is refused,
#' as in neural-tangents. Finite networks ([nt_empirical()]) draw the masks
#' in each forward pass; [nt_train()] refuses it (its gradient descent is
#' deterministic).
#'
#' @param rate The probability of keeping a unit, in `(0, 1]`.
#' @return A layer object of class `nt_layer`.
#' @examples
#' x <- matrix(rnorm(12), 4)
#' net <- nt_serial(nt_dense(2), nt_relu(), nt_dropout(0.8), nt_dense())
#' nt_kernel(net, x, what = "nngp")
#' @export
nt_dropout <- function(rate) {
  rate <- check_number(rate, "rate")
  if (!(rate > 0 && rate <= 1))
    stop("`rate` must be in (0, 1]: the probability of keeping a unit (neural-tangents' convention)",
         call. = FALSE)
  new_layer("dropout", sprintf("Dropout(rate = %g)", rate), rate = rate)
}

#' @export
compile_layer.nt_dropout <- function(layer, ctx, where) {
  slot <- single_stream(ctx, layer, where)
  if (on_inputs(ctx))
    layer_error(where, layer, "acts on the inputs: dropout needs a dense or convolutional layer before it")
  emit(ctx, op_code("dropout"), slot, c(layer$rate, 0), out = list(gaussian = FALSE))
}
