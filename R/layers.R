# Layer constructors, networks and their printing.

new_layer <- function(kind, name, ...) {
  structure(list(kind = kind, name = name, ...), class = c(paste0("nt_", kind), "nt_layer"))
}

#' Dense (fully connected) layer
#'
#' In the NTK parametrization the layer maps the NNGP kernel `K` to
#' `w_var * K + b_var`, and the NTK `T` to `w_var * T + K_new`; a frozen layer
#' (`trainable = FALSE`) omits the `+ K_new`. On images it acts per pixel.
#'
#' With `parameterization = "standard"` the trained parameters are the
#' weights themselves, drawn with variance `w_var / fan_in`, and the bias,
#' of variance `b_var` (neural-tangents' standard parameterization). The
#' NNGP is the same; the NTK becomes `w_var * T + fan_in * K + 1`, with `K`
#' the layer's input kernel and `fan_in` the width of its input: the number
#' of input columns (or channels) for a first layer, else the `width` of
#' the dense or convolutional layer before it, which must then be given.
#' The bias is always trained (its `1` is there even when `b_var = 0`, as
#' in neural-tangents). Such an NTK grows with the widths: it has no
#' infinite-width limit, which is why the widths are part of the network.
#'
#' A first layer on matrix inputs may have one weight variance per input
#' column (`w_var` a vector of length `d`, automatic relevance
#' determination): `K <- sum_k w_var[k] x_k z_k / d + b_var`, the kernel of
#' the inputs with column `k` scaled by `sqrt(w_var[k])`. A column of
#' variance 0 is switched off; [nt_gp_fit()] fits them by evidence.
#'
#' @param w_var Weight variance (non-negative), or for a first layer one per
#'   input column.
#' @param b_var Bias variance (non-negative).
#' @param trainable Whether the layer's parameters are trained (contribute to
#'   the NTK).
#' @param parameterization `"ntk"` or `"standard"`.
#' @param width The layer's number of units, or `NULL`: needed when the
#'   layer after it uses the standard parameterization; finite networks
#'   ([nt_empirical()], [nt_train()]) give the layer this width instead of
#'   their `width` argument.
#' @return A layer object of class `nt_layer`.
#' @seealso [nt_serial()], [nt_fc()], [nt_kernel()]
#' @examples
#' nt_dense(w_var = 2, b_var = 0.1)
#' x <- matrix(rnorm(12), 4)
#' standard <- nt_serial(nt_dense(2, parameterization = "standard", width = 256), nt_relu(),
#'                       nt_dense(1, parameterization = "standard"))
#' nt_kernel(standard, x)
#' @export
nt_dense <- function(w_var = 1, b_var = 0, trainable = TRUE, parameterization = c("ntk", "standard"),
                     width = NULL) {
  new_layer("dense", "Dense",
            w_var = if (length(w_var) > 1L) check_variances(w_var, "w_var")
                    else check_number(w_var, "w_var", lower = 0),
            b_var = check_number(b_var, "b_var", lower = 0),
            trainable = check_flag(trainable, "trainable"),
            parameterization = match.arg(parameterization),
            width = check_width(width))
}

check_width <- function(width) {
  if (is.null(width)) return(NULL)
  check_count(width, "width", lower = 1L, upper = 1048576L)
}

# code: the op's registry name (src/activations.c); params: up to four
# parameters as the C hooks read them (op->p1 .. op->p4).
new_activation <- function(name, code, params = c(0, 0), ...) {
  new_layer("activation", name, code = code, params = params, ...)
}

#' Elementwise activation layers
#'
#' Activations with closed-form dual kernels: for a pre-activation pair
#' `(u, v)` with variances `s1`, `s2` and covariance `c`, the layer maps the
#' NNGP to `E[phi(u) phi(v)]` and multiplies the NTK's incoming part by
#' `E[phi'(u) phi'(v)]`, here in closed form (`rho = c / sqrt(s1 s2)`,
#' `theta = acos(rho)`):
#'
#' - `nt_abrelu(a, b)`: `a * min(u, 0) + b * max(u, 0)`; `nt_relu()`
#'   (`a = 0, b = 1`), `nt_leaky_relu(slope)` (`a = slope, b = 1`) and
#'   `nt_abs()` (`a = -1, b = 1`) are its cases. Arc-cosine kernel of degree 1.
#' - `nt_erf(a, b, c)`: `a * erf(b * u) + c`; with `s' = b^2 s`,
#'   `E = a^2 (2 / pi) asin(2 c' / sqrt((1 + 2 s1') (1 + 2 s2'))) + c^2`.
#'   `nt_sigmoid_like()` is `0.5 * erf(u / 2.4020563531719796) + 0.5`.
#' - `nt_sin(a, b, c)`: `a * sin(b * u + c)`;
#'   `E = a^2 (exp(-b^2 (s1 + s2 - 2 c) / 2) - cos(2 c) exp(-b^2 (s1 + s2 + 2 c) / 2)) / 2`
#'   and the derivative kernel the same with `+` between the terms, times
#'   `b^2`. `nt_cos(a, b, c)` is `nt_sin(a, b, c + pi / 2)`; `nt_rbf(gamma)`
#'   is `sqrt(2) sin(sqrt(2 gamma) u + pi / 4)`, whose NNGP on inputs of
#'   equal norm is the Gaussian kernel `exp(-gamma |x - y|^2)` of the
#'   pre-activations.
#' - `nt_exp(a, b)`: `a * exp(b * u)`; `E = a^2 exp(b^2 (s1 + s2 + 2 c) / 2)`.
#' - `nt_gaussian(a, b)`: `a * exp(b * u^2)`; with
#'   `D = (1 - 2 b s1) (1 - 2 b s2) - 4 b^2 c^2`, `E = a^2 / sqrt(D)` and
#'   `E[phi' phi'] = 4 a^2 b^2 c / D^(3/2)`; infinite (an error) when `b > 0`
#'   and a variance reaches `1 / (2 b)`.
#' - `nt_sign()`: `E = (2 / pi) asin(rho)`; its derivative is zero almost
#'   everywhere, so it adds nothing to the NTK (as in neural-tangents).
#' - `nt_rectified_monomial(degree)`: `u^k 1[u > 0]`, Cho and Saul's
#'   arc-cosine kernel of degree `k`: `E = (s1 s2)^(k/2) J_k(theta) / (2 pi)`
#'   with `J_0 = pi - theta`, `J_1 = sin(theta) + (pi - theta) cos(theta)`
#'   and `J_(m+1) = (2m + 1) rho J_m + m^2 (1 - rho^2) J_(m-1)`; the
#'   derivative kernel is `k^2 (s1 s2)^((k-1)/2) J_(k-1) / (2 pi)` (zero for
#'   the step function, `k = 0`).
#' - `nt_monomial(degree)`: `u^k`; `E[u^k v^k]` by Isserlis' theorem, the sum
#'   over `j = k, k - 2, ..., >= 0` of
#'   `(k!)^2 / (j! h!^2 4^h) c^j (s1 s2)^h`, `h = (k - j) / 2`.
#' - `nt_polynomial(coef)`: `sum_k coef[k + 1] u^k`, any polynomial of
#'   degree up to 20. Writing `u = sqrt(s1) z` with `z` standard normal,
#'   `p(sqrt(s) z) = sum_m s^(m/2) d_m(s) He_m(z)` in the probabilists'
#'   Hermite polynomials, where
#'   `d_m(s) = sum_j a_(m+2j) s^j (m+2j)! / (m! j! 2^j)`; since
#'   `E[He_m(z1) He_n(z2)] = m! rho^m` when `m = n` and 0 otherwise,
#'   `E[p(u) p(v)] = sum_m m! d_m(s1) d_m(s2) c^m`, exact for any
#'   variances (the derivative kernel is the same sum for `p'`).
#' - `nt_hermite(degree)`: the normalised Hermite polynomial
#'   `He_k(u) / sqrt(k!)` (`He_0 = 1`, `He_1 = u`,
#'   `He_(k+1) = u He_k - k He_(k-1)`), a polynomial layer. On inputs of
#'   unit variance its NNGP is `c^k` and its derivative kernel `k c^(k-1)`
#'   (neural-tangents' `Hermite`, which assumes unit variance); here the
#'   kernel is exact for any variance.
#' - `nt_gelu()`: `u * pnorm(u)`, the exact GELU; `nt_identity()`.
#'
#' Degrees are whole numbers from 0 to 20. For any other function use
#' [nt_activation()] (quadrature); every activation here agrees with it.
#'
#' @param a,b,c The activation's parameters, as in its formula.
#' @param slope Slope of the negative part.
#' @param gamma The inverse squared length scale of `nt_rbf()`.
#' @param degree The power `k` (the Hermite polynomial's degree).
#' @param coef The coefficients `a_0, ..., a_k` of `sum_k a_k u^k`, constant
#'   first (as [polyroot()] takes them): 1 to 21 finite numbers.
#' @return A layer object of class `nt_layer`.
#' @examples
#' nt_serial(nt_dense(), nt_leaky_relu(0.1), nt_dense())
#' x <- matrix(rnorm(6), 3)
#' nt_kernel(nt_serial(nt_dense(), nt_rectified_monomial(2), nt_dense()), x)
#' nt_kernel(nt_serial(nt_dense(), nt_sin(1, 2, 0.5), nt_dense()), x, what = "nngp")
#' nt_kernel(nt_serial(nt_dense(), nt_polynomial(c(1, 0, -0.5)), nt_dense()), x)
#' @name activations
NULL

#' @rdname activations
#' @export
nt_abrelu <- function(a = 0, b = 1) {
  a <- check_number(a, "a")
  b <- check_number(b, "b")
  new_activation("ABReLU", "abrelu", c(a, b), a = a, b = b)
}

#' @rdname activations
#' @export
nt_relu <- function() new_activation("ReLU", "abrelu", c(0, 1), a = 0, b = 1)

#' @rdname activations
#' @export
nt_leaky_relu <- function(slope = 0.01) {
  slope <- check_number(slope, "slope")
  new_activation("LeakyReLU", "abrelu", c(slope, 1), a = slope, b = 1)
}

#' @rdname activations
#' @export
nt_abs <- function() new_activation("Abs", "abrelu", c(-1, 1), a = -1, b = 1)

#' @rdname activations
#' @export
nt_erf <- function(a = 1, b = 1, c = 0) {
  p <- c(check_number(a, "a"), check_number(b, "b"), check_number(c, "c"))
  new_activation("Erf", "erf", p)
}

#' @rdname activations
#' @export
nt_sigmoid_like <- function() nt_erf(0.5, 1 / 2.4020563531719796, 0.5)

#' @rdname activations
#' @export
nt_sin <- function(a = 1, b = 1, c = 0) {
  p <- c(check_number(a, "a"), check_number(b, "b"), check_number(c, "c"))
  new_activation("Sin", "sin", p)
}

#' @rdname activations
#' @export
nt_cos <- function(a = 1, b = 1, c = 0) {
  p <- c(check_number(a, "a"), check_number(b, "b"), check_number(c, "c"))
  new_activation("Cos", "sin", p + c(0, 0, pi / 2))
}

#' @rdname activations
#' @export
nt_rbf <- function(gamma = 1) {
  gamma <- check_number(gamma, "gamma", lower = 0)
  new_activation("Rbf", "sin", c(sqrt(2), sqrt(2 * gamma), pi / 4))
}

#' @rdname activations
#' @export
nt_exp <- function(a = 1, b = 1) {
  new_activation("Exp", "exp", c(check_number(a, "a"), check_number(b, "b")))
}

#' @rdname activations
#' @export
nt_gaussian <- function(a = 1, b = -1) {
  new_activation("Gaussian", "gaussian", c(check_number(a, "a"), check_number(b, "b")))
}

#' @rdname activations
#' @export
nt_sign <- function() new_activation("Sign", "sign")

#' @rdname activations
#' @export
nt_rectified_monomial <- function(degree) {
  new_activation(sprintf("RectifiedMonomial(%d)", degree <- check_degree(degree)),
                 "rectified_monomial", degree)
}

#' @rdname activations
#' @export
nt_monomial <- function(degree) {
  new_activation(sprintf("Monomial(%d)", degree <- check_degree(degree)), "monomial", degree)
}

#' @rdname activations
#' @export
nt_polynomial <- function(coef) {
  if (!is.numeric(coef) || !length(coef) || length(coef) > 21L || anyNA(coef) ||
      !all(is.finite(coef)))
    stop("`coef` must be 1 to 21 finite numbers (degree 0 to 20, constant first)", call. = FALSE)
  coef <- as.numeric(coef)
  new_activation(sprintf("Polynomial(%s)", paste(format(coef, digits = 4), collapse = ", ")),
                 "polynomial", coef = coef)
}

#' @rdname activations
#' @export
nt_hermite <- function(degree) {
  degree <- check_degree(degree)
  layer <- nt_polynomial(hermite_coefficients(degree) / sqrt(factorial(degree)))
  layer$name <- sprintf("Hermite(%d)", degree)
  layer
}

# Coefficients (constant first) of the probabilists' Hermite polynomial He_k,
# by He_(k+1) = u He_k - k He_(k-1).
hermite_coefficients <- function(degree) {
  prev <- 0    # He_(k-1), with He_(-1) = 0
  cur <- 1     # He_k
  for (k in seq_len(degree) - 1L) {
    nxt <- c(0, cur)
    nxt[seq_along(prev)] <- nxt[seq_along(prev)] - k * prev
    prev <- cur
    cur <- nxt
  }
  cur
}

check_degree <- function(degree) check_count(degree, "degree", lower = 0L, upper = 20L)

#' @rdname activations
#' @export
nt_gelu <- function() new_activation("GELU", "gelu")

#' @rdname activations
#' @export
nt_identity <- function() new_activation("Identity", "identity")

activation_by_name <- function(name) {
  makers <- list(relu = nt_relu, leaky_relu = nt_leaky_relu, abs = nt_abs,
                 erf = nt_erf, gelu = nt_gelu, identity = nt_identity, sin = nt_sin, cos = nt_cos,
                 rbf = nt_rbf, exp = nt_exp, gaussian = nt_gaussian, sign = nt_sign,
                 sigmoid_like = nt_sigmoid_like)
  if (inherits(name, "nt_activation")) return(name)
  if (is.function(name))
    stop(paste0("`activation` is an R function: wrap it as nt_activation(fun) (its kernel by ",
                "quadrature), or give one of ", paste0('"', names(makers), '"', collapse = ", ")),
         call. = FALSE)
  if (!is.character(name) || length(name) != 1L || is.na(name) || !name %in% names(makers))
    stop(sprintf("`activation` must be one of %s, or an activation layer",
                 paste0('"', names(makers), '"', collapse = ", ")), call. = FALSE)
  makers[[name]]()
}

#' Networks: layers in sequence
#'
#' `nt_serial()` chains layers and networks into one network, a list of
#' layers of class `nt_network`. Nested networks are flattened; branching
#' networks are built with [nt_fan_out()], [nt_parallel()], the fan-ins and
#' [nt_residual()].
#'
#' @param ... Layers, networks, or lists of them, in order.
#' @return A network of class `nt_network`.
#' @examples
#' net <- nt_serial(nt_dense(1), nt_erf(), nt_dense(2, 0.1))
#' net
#' @export
nt_serial <- function(...) {
  flatten <- function(item) {
    if (inherits(item, "nt_layer")) return(list(item))
    if (is.list(item)) return(do.call(c, lapply(item, flatten)))
    stop("`...` must hold layers or networks built with ntk's constructors",
         call. = FALSE)
  }
  structure(unname(flatten(list(...))) %||% list(), class = "nt_network")
}

`%||%` <- function(a, b) if (is.null(a)) b else a

as_network <- function(net) {
  if (inherits(net, "nt_network")) return(net)
  if (inherits(net, "nt_layer")) return(nt_serial(net))
  stop("`net` must be a network (nt_serial(), nt_fc()) or a layer", call. = FALSE)
}

#' Fully connected network shortcut
#'
#' Exactly `nt_serial(nt_dense(1, b_var), then depth times [activation,
#' nt_dense(w_var, b_var)])`, with the first `fixed` dense layers frozen
#' (`trainable = FALSE`). `depth = 0` gives the linear kernel; `fixed = depth`
#' gives an NTK equal to the NNGP.
#'
#' @param depth Number of hidden layers (activations), at least 0.
#' @param activation An activation name (`"relu"`, `"leaky_relu"`, `"abs"`,
#'   `"erf"`, `"gelu"`, `"identity"`, `"sin"`, `"cos"`, `"rbf"`, `"exp"`,
#'   `"gaussian"`, `"sign"`, `"sigmoid_like"`: the layers of [activations]
#'   with their default parameters) or an activation layer.
#' @param w_var,b_var Weight and bias variances of the hidden dense layers.
#' @param fixed Number of leading dense layers that are not trained, between
#'   0 and `depth`.
#' @return A network of class `nt_network`.
#' @examples
#' nt_fc(depth = 2, activation = "erf", b_var = 0.1)
#' @export
nt_fc <- function(depth = 3, activation = "relu", w_var = 2, b_var = 0, fixed = 0) {
  depth <- check_count(depth, "depth")
  fixed <- check_count(fixed, "fixed", 0L, depth)
  act <- activation_by_name(activation)
  w_var <- check_number(w_var, "w_var", lower = 0)
  b_var <- check_number(b_var, "b_var", lower = 0)
  # one w_var for the hidden layers and one b_var for all: tied parameters
  # of the kernel's gradient (nt_kernel(gradient = TRUE), nt_gp_fit())
  hidden <- lapply(seq_len(depth), function(h)
    list(act, tie_layer(nt_dense(w_var, b_var, trainable = h >= fixed), c(w_var = "w_var", b_var = "b_var"))))
  net <- nt_serial(tie_layer(nt_dense(1, b_var, trainable = fixed == 0), c(b_var = "b_var")), hidden)
  # how it was built, so that nt_gp_fit() can build it at other depths
  attr(net, "ntk_fc") <- list(activation = activation, w_var = w_var, b_var = b_var, fixed = fixed)
  net
}

# A layer whose variances are named parameters shared with other layers.
tie_layer <- function(layer, tie) {
  layer$tie <- tie
  layer
}

#' Arora et al. (2020) UCI kernels
#'
#' The network whose NTK is Arora et al.'s `K[dep][fix]` (their UCI code):
#' ReLU with `dep` hidden layers on raw features (`x . x'`, no `1/d`) and
#' without the factor `c_sigma = 2`, the first `fix` weight layers frozen.
#' Exactly `nt_dense(d, trainable = fix == 0)` then, for `h = 1..dep`,
#' `nt_relu()` and `nt_dense(1, trainable = h >= fix)`. By the homogeneity of
#' ReLU it equals `d * 2^-dep` times the NTK of `nt_fc(dep, fixed = fix)`.
#'
#' @param depth Number of hidden layers (`dep`, 0 gives the linear kernel).
#' @param fixed Number of frozen weight layers (`fix`, 0 to `depth`).
#' @param d Number of input features.
#' @return A network of class `nt_network`.
#' @examples
#' x <- matrix(rnorm(20), 5)
#' nt_kernel(nt_fc_arora(2, 1, d = ncol(x)), x)
#' @export
nt_fc_arora <- function(depth, fixed = 0, d) {
  depth <- check_count(depth, "depth")
  fixed <- check_count(fixed, "fixed", 0L, depth)
  d <- check_number(d, "d", lower = 1)
  hidden <- lapply(seq_len(depth), function(h)
    list(nt_relu(), nt_dense(1, trainable = h >= fixed)))
  nt_serial(nt_dense(d, trainable = fixed == 0), hidden)
}

# The parameterization and width of a dense or conv layer, for printing.
affine_extras <- function(x) {
  paste0(if (identical(x$parameterization, "standard")) ", standard" else "",
         if (!is.null(x$width)) sprintf(", width %d", x$width) else "")
}

#' @export
format.nt_layer <- function(x, ...) {
  if (x$kind == "dense") {
    w <- if (length(x$w_var) > 1L) sprintf("<%d relevances>", length(x$w_var)) else sprintf("%g", x$w_var)
    return(sprintf("Dense(w_var = %s, b_var = %g%s%s)", w, x$b_var, affine_extras(x),
                   if (x$trainable) "" else ", frozen"))
  }
  if (x$kind == "conv") {
    return(sprintf("%s(%s, w_var = %g, b_var = %g, %s%s%s%s)", x$name, paste(x$filter, collapse = "x"),
                   x$w_var, x$b_var, x$padding,
                   if (any(x$stride != 1L)) paste0(", stride ", paste(x$stride, collapse = "x")) else "",
                   affine_extras(x), if (x$trainable) "" else ", frozen"))
  }
  if (x$kind == "pool") {
    return(sprintf("%s(%s, stride %s%s%s)", x$name, paste(x$window, collapse = "x"),
                   paste(x$stride, collapse = "x"),
                   if (identical(x$padding, "same")) ", same" else "",
                   if (isTRUE(x$normalize_edges)) ", normalize_edges" else ""))
  }
  if (identical(x$readout, "lap")) return(sprintf("LocalAvgPool(c = %d)", x$c))
  if (identical(x$name, "LeakyReLU")) return(sprintf("LeakyReLU(slope = %g)", x$a))
  if (!is.null(x$label)) return(sprintf("Activation(%s)", x$label))
  x$name
}

#' @export
print.nt_layer <- function(x, ...) {
  cat("<ntk layer> ", format(x), "\n", sep = "")
  invisible(x)
}

#' @export
format.nt_network <- function(x, ...) {
  vapply(x, format, character(1))
}

#' @export
print.nt_network <- function(x, ...) {
  n <- length(x)
  cat(sprintf("<ntk network> %d layer%s\n", n, if (n == 1L) "" else "s"))
  if (n > 0L) cat(sprintf("%3d  %s\n", seq_len(n), format(x)), sep = "")
  invisible(x)
}

#' @export
`[.nt_network` <- function(x, i) structure(unclass(x)[i], class = "nt_network")

#' @export
c.nt_network <- function(...) nt_serial(...)
