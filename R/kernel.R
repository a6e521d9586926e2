# nt_kernel(): the exact infinite-width kernels of a network.

#' Infinite-width NTK and NNGP kernels
#'
#' Computes the neural tangent kernel and/or the NNGP kernel of a network at
#' infinite width, for all pairs of rows of `x` and `z`. Long computations
#' run on `threads` OpenMP threads, show a progress bar and can be
#' interrupted (Ctrl-C) between blocks of work. With `z = NULL` only the upper
#' triangle is computed and the result is exactly symmetric.
#'
#' Matrix inputs (fully connected networks) enter as `K0 = x . x' / d` for `d`
#' features; the input Gram matrix comes from BLAS or the package's own
#' loop (option `ntk.gram`, see [ntk-package]) and all layers run down each
#' column of pairs, without n x m temporaries. Image inputs are
#' `n x H x W x C` arrays (NHWC; see [nt_images()]) and enter as
#' `K0[i, i'] = x_i . x'_i' / C`
#' per pair of positions. Sequences are `n x L x C` arrays (a 3-d array is
#' always a sequence; give one-channel images as `n x H x W x 1`): they run
#' as images of one row, every filter, window and stride `q` of the network
#' taken as `1 x q`, so [nt_conv()] is then a 1-d convolution. Volumes are
#' `n x D x H x W x C` arrays (a 5-d array is always a volume): filters,
#' windows and strides are then `c(depth, height, width)` (one number: a
#' cube), every convolution averages over the box of offsets and pads each
#' axis as it pads an image's, so a volume of depth 1 with filters
#' `c(1, q, q)` is the image, and one of `H = W = 1` with filters
#' `c(q, 1, 1)` the sequence of length `D`. Networks without pooling keep only the position
#' pairs their readout reaches through the convolutions (the spatial diagonal
#' for [nt_flatten()], `O(P q^2 depth)` per pair of images with `P = H W`;
#' `P = D H W` and `q^3` taps for volumes);
#' networks with pooling, global average pooling or circular padding keep all
#' `P^2` position pairs, as do volumes read out by [nt_local_avg_pool()].
#' See [ntk-package] for the layer semantics.
#'
#' Horizontal flips (`flip = TRUE`): the kernel of the flip-augmented data,
#' averaged over the flip group acting on both images,
#' `(K(x, z) + K(x, f z) + K(f x, z) + K(f x, f z)) / 4` with `f` the
#' horizontal mirror. For networks whose layers are mirror-symmetric
#' (symmetric padding, windows that tile the width) this equals
#' `(K(x, z) + K(x, f z)) / 2`, which is what is then computed.
#'
#' Kernel values that overflow the double range are an error, never `Inf` or
#' `NaN`. Networks whose layers are all positively homogeneous (ReLU, leaky
#' ReLU, abs, identity; dense and convolutional layers with `b_var = 0`;
#' pooling and readouts) have `K(a x, b z) = a b K(x, z)` for `a, b > 0`
#' (`(a b)^D` after a product fan-in), NNGP and NTK alike: their inputs are
#' shifted by powers of two into a safe range, which is exact, and each
#' kernel value shifted back, so that inputs of any magnitude give the kernel
#' to full precision whenever its value is representable (subnormal values
#' rounded once). Other networks compute on the inputs as given; with a bias,
#' tiny inputs give the kernel of zero inputs.
#'
#' @param net A network ([nt_serial()], [nt_fc()], [nt_cnn()]) or a layer.
#' @param x A numeric matrix (`n x d`), a data frame of numeric columns, or
#'   an array of sequences `n x L x C`, images `n x H x W x C` or volumes
#'   `n x D x H x W x C`.
#' @param z `NULL` (then `z = x`) or inputs like `x` with the same columns or
#'   image shape.
#' @param what `"ntk"`, `"nngp"` or `c("ntk", "nngp")` (both in one pass).
#' @param threads Number of OpenMP threads.
#' @param progress Show a progress bar for long computations.
#' @param flip For images: average over horizontal flips (see Details).
#' @param gradient For fully connected networks on matrix inputs: also
#'   return the kernel's derivatives in the network's variances, as the
#'   attribute `"gradient"` of each kernel: a named list of matrices, one per
#'   parameter. The parameters are each dense layer's `w_var` and `b_var`,
#'   named `"w_var[l]"`, `"b_var[l]"` for dense layer `l`, except where the
#'   network ties them: [nt_fc()] gives its hidden layers one `"w_var"` and
#'   all layers one `"b_var"` (its first layer's weight variance stays
#'   `"w_var[1]"`); a first layer with one weight variance per input column
#'   gives `"relevance[k]"`. They come from forward-mode differentiation of
#'   the recursion in the same pass (each pair carries one tangent per
#'   parameter, each input's self variances theirs), for dense layers in
#'   the NTK parameterization and ReLU-type, erf and identity activations.
#'   ReLU's dual is not differentiable at exactly parallel inputs (its
#'   `E[phi' phi']` has slope `1 / sin(theta)`): there the derivative of
#'   that factor is taken as 0, which is exact for an input with itself and
#'   for parallel inputs in networks without biases.
#' @return For one kernel an `n x m` [ntKernelMatrix][ntKernelMatrix-class]
#'   (a kernlab `kernelMatrix` whose `ksvm()` method defaults to
#'   `shrinking = FALSE`); for both a list with elements `ntk` and `nngp`.
#' @examples
#' x <- as.matrix(iris[1:5, 1:4])
#' nt_kernel(nt_fc(depth = 2), x)
#' both <- nt_kernel(nt_fc(depth = 2, activation = "erf"), x, what = c("ntk", "nngp"))
#' both$nngp
#' img <- array(rnorm(3 * 6 * 6 * 2), c(3, 6, 6, 2))
#' nt_kernel(nt_cnn(depth = 2, readout = "gap"), img)
#' @export
nt_kernel <- function(net, x, z = NULL, what = "ntk", threads = nt_threads(),
                      progress = interactive(), flip = FALSE, gradient = FALSE) {
  net <- as_network(net)
  what <- check_what(what)
  threads <- clamp_threads(check_count(threads, "threads", lower = 1L))
  progress <- check_flag(progress, "progress")
  flip <- check_flag(flip, "flip")
  gradient <- check_flag(gradient, "gradient")
  wanted <- c(ntk = "ntk" %in% what, nngp = "nngp" %in% what)
  if (gradient && is_image_input(x))
    stop(paste0("`gradient = TRUE` is available for fully connected networks on matrix inputs; ",
                "gradients of convolutional kernels are not implemented yet"), call. = FALSE)
  if (is_image_input(x)) {
    net <- network_for(net, x)
    x <- as_image_array(x, "x")
    if (!is.null(z)) {
      z <- as_image_array(z, "z")
      if (!identical(dim(z)[-1], dim(x)[-1]))
        stop(sprintf("`z` holds %s images but `x` holds %s images",
                     paste(dim(z)[-1], collapse = " x "), paste(dim(x)[-1], collapse = " x ")),
             call. = FALSE)
    }
    res <- kernel_values(net, x, z, wanted, threads, progress, flip)
    labels <- list(dimnames(x)[[1]], if (is.null(z)) dimnames(x)[[1]] else dimnames(z)[[1]])
  } else {
    if (flip) stop("`flip` applies to image inputs only", call. = FALSE)
    x <- as_input_matrix(x, "x")
    if (!is.null(z)) {
      z <- as_input_matrix(z, "z")
      if (ncol(z) != ncol(x))
        stop(sprintf("`z` has %d columns but `x` has %d", ncol(z), ncol(x)), call. = FALSE)
    }
    res <- if (gradient) gradient_kernels(net, x, z, threads)
           else kernel_values(net, x, z, wanted, threads, progress)
    labels <- list(rownames(x), if (is.null(z)) rownames(x) else rownames(z))
  }
  if (all(vapply(labels, is.null, logical(1)))) labels <- NULL
  for (w in what) {   # in place, in C: each kernel is held by `res` alone
    res[[w]] <- .Call(C_ntk_as_kernel_matrix, res[[w]], labels)
    if (gradient) {   # labels cost a copy of each matrix: only when there are any
      grad <- res[[paste0("d", w)]]
      if (!is.null(labels)) grad <- lapply(grad, function(g) { dimnames(g) <- labels; g })
      attr(res[[w]], "gradient") <- grad
    }
  }
  if (length(what) == 1L) res[[what]] else res[c("ntk", "nngp")[wanted]]
}

# The kernels as plain matrices (list ntk, nngp; NULL where not wanted) of
# checked inputs: matrices, or image arrays.
kernel_values <- function(net, x, z, wanted, threads, progress, flip = FALSE) {
  if (is_image_input(x)) image_kernels(net, x, z, wanted, threads, progress, flip)
  else matrix_kernels(net, x, z, wanted, threads, progress)
}

matrix_kernels <- function(net, x, z, wanted, threads, progress) {
  a <- absorb_relevance(net, x, z)
  net <- a$net; x <- a$x; z <- a$z
  plan <- compile_plan(net, ncol(x))
  if (holds_user_dual(net)) return(user_dual_kernels(net, plan, x, z, wanted, threads, progress))
  plan <- fit_matrix_tables(plan, x, z)
  res <- .Call(C_ntk_fc_kernel, x, z, plan$ints, plan$dbls, plan$tables,
               unname(wanted), threads, progress, gram_native())
  names(res) <- c("ntk", "nngp")   # in place: setNames() would share the kernels
  res
}

image_kernels <- function(net, x, z, wanted, threads, progress, flip) {
  refuse_user_dual(net, "image networks")
  plan <- compile_spatial_plan(net, dim(x)[-1])
  check_graph_counts(plan, dim(x)[1] + if (is.null(z)) 0L else dim(z)[1])
  # C reads each image contiguously, channels fastest: (C, W, H, n).
  xc <- images_for_c(x)
  zc <- if (is.null(z)) NULL else images_for_c(z)
  plan <- fit_image_tables(plan, xc, zc)
  run <- function(a, b) {
    res <- .Call(C_ntk_conv_kernel, a, b, plan$ints, plan$dbls, plan$geom, plan$band,
                 plan$full, plan$tables, unname(wanted), threads, progress)
    names(res) <- c("ntk", "nngp")
    res
  }
  if (!flip) return(run(xc, zc))
  mirror <- function(a) a[, dim(a)[2]:1, , , drop = FALSE]   # reverse W in (C, W, H, n)
  zc_or_x <- if (is.null(zc)) xc else zc
  terms <- list(run(xc, zc), run(xc, mirror(zc_or_x)))
  if (!mirror_symmetric(plan))
    terms <- c(terms, list(run(mirror(xc), zc_or_x), run(mirror(xc), mirror(zc_or_x))))
  lapply(stats::setNames(names(terms[[1]]), names(terms[[1]])), function(what) {
    if (is.null(terms[[1]][[what]])) return(NULL)
    Reduce(`+`, lapply(terms, `[[`, what)) / length(terms)
  })
}

# Volumes first become images of H * D rows, depth fastest (row y * D + d:
# R's own order of the n x D x H x W x C array, so no copy), the rows the
# engine reads as heights and depths (src/ntk.h).
images_for_c <- function(a) {
  if (length(dim(a)) == 5L) dim(a) <- c(dim(a)[1], engine_shape(dim(a)[-1]))
  aperm(a, 4:1)
}

# Rows idx of an input matrix, or inputs idx of a sequence, image or volume
# array (its first axis).
input_rows <- function(a, idx) {
  do.call(`[`, c(list(a, idx), rep(list(TRUE), length(dim(a)) - 1L), list(drop = FALSE)))
}

# The (rows, W, C) the engine sees of an image shape c(H, W, C) or a volume
# shape c(D, H, W, C).
engine_shape <- function(shape) {
  shape <- as.integer(shape)
  if (length(shape) == 4L) c(shape[1] * shape[2], shape[3:4]) else shape
}


# Tabulate the R-function activations (nt_activation()) on the variances
# the inputs reach: a table given with the network (nt_kernel_tiled() fits
# them on all inputs, for each tile to compute what the whole kernel does)
# is kept where it covers them.
fit_matrix_tables <- function(plan, x, z) {
  input_var <- c(rowSums(x^2), if (!is.null(z)) rowSums(z^2)) / ncol(x)
  fit_tables(plan, function(tables)
    .Call(C_ntk_fc_self, input_var, plan$ints, plan$dbls, tables))
}

# The same for images in C order (images_for_c()).
fit_image_tables <- function(plan, xc, zc) {
  fit_tables(plan, function(tables) {
    parts <- lapply(list(xc, zc)[!vapply(list(xc, zc), is.null, NA)], function(a)
      .Call(C_ntk_conv_self, a, plan$ints, plan$dbls, plan$geom, plan$band, plan$full, tables))
    list(do.call(cbind, lapply(parts, `[[`, 1L)), unlist(lapply(parts, `[[`, 2L)))
  })
}

# Whether every conv and pool layer commutes with the horizontal mirror:
# padding split evenly and windows that tile the width exactly.
mirror_symmetric <- function(plan) {
  g <- plan$geom
  moving <- plan$ints[1L, ] %in% op_code(c("conv", "conv_local", "pool"))
  right_pad <- (g["wout", ] - 1L) * g["sw", ] + g["qw", ] - g["win", ] - g["pl", ]
  all(right_pad[moving] == g["pl", moving])
}

# Spatial inputs: sequences (n x L x C), images (n x H x W x C) and volumes
# (n x D x H x W x C), told apart by their number of dimensions alone.
is_image_input <- function(x) is.array(x) && length(dim(x)) %in% 3:5 && !is.data.frame(x)

as_image_array <- function(x, arg) {
  if (!is_image_input(x))
    stop(sprintf(paste0("`%s` must be an n x H x W x C array of images (or n x L x C of sequences, ",
                        "n x D x H x W x C of volumes), like `x`"), arg), call. = FALSE)
  if (!is.numeric(x)) stop(sprintf("`%s` must be numeric, not %s", arg, typeof(x)), call. = FALSE)
  if (length(dim(x)) == 3L) dim(x) <- c(dim(x)[1], 1L, dim(x)[2:3])   # a sequence: one row
  d <- dim(x)
  if (length(d) == 4L && d[2] %in% c(1L, 3L, 4L) && d[4] > 4L && d[3] == d[4])
    warning(sprintf(paste0("`%s` looks like n x C x H x W (%s), but image arrays are read as ",
                           "n x H x W x C: if so, use aperm(%s, c(1, 3, 4, 2))"),
                    arg, paste(d, collapse = " x "), arg), call. = FALSE)
  if (any(dim(x) == 0L))
    stop(sprintf("`%s` is empty (%s)", arg, paste(dim(x), collapse = " x ")), call. = FALSE)
  if (!all(is.finite(x))) {
    at <- which(!is.finite(x), arr.ind = TRUE)[1, ]
    stop(sprintf("`%s` contains NA, NaN or Inf (first in image %d)", arg, at[1]), call. = FALSE)
  }
  storage.mode(x) <- "double"
  x
}
