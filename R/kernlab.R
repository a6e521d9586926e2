# kernlab integration: kernel objects, fast kernelMatrix/kernelMult methods,
# a kernelMatrix class whose ksvm method avoids the shrinking bug, and a safe
# prediction helper for precomputed kernels.

#' @importClassesFrom kernlab kernel kernelMatrix
#' @importFrom kernlab kernelMatrix kernelMult kernelPol kernelFast ksvm gausspr kha kfa kcca
#' @importFrom kernlab sigest inchol csi
NULL

#' NTK and NNGP kernels for kernlab
#'
#' `ntkdot()` and `nngpdot()` return kernel objects (classes `ntkkernel` and
#' `nngpkernel`, extending kernlab's `kernel`) for the network `net`, or for
#' `nt_fc(...)` when `net` is `NULL`. They work as the `kernel` argument of
#' [kernlab::ksvm()], [kernlab::gausspr()], [kernlab::kpca()],
#' [kernlab::kkmeans()], [kernlab::rvm()] and [kernlab::kqr()]: their
#' `kernelMatrix()`, `kernelMult()`, `kernelPol()` and `kernelFast()` methods
#' compute the whole matrix with one call of the C code, never kernlab's
#' per-pair R loop. Called on two vectors, the object returns their kernel
#' value. While in use, a kernel object keeps the rows it has seen (up to
#' 4000) with their kernel matrix in the session, because ksvm's
#' one-against-one training and its fitted values ask for overlapping subsets
#' of the same data; the session keeps the pools of the three kernel objects
#' used last. The pool is not part of the object, so a saved model stays as
#' small as one with kernlab's own kernels.
#'
#' @section kernlab's traps:
#' - **ksvm shrinking.** kernlab's SMO solver returns wrong solutions for
#'   precomputed and user-defined kernels with `shrinking = TRUE`, its
#'   default (a positive dual objective and training errors on separable
#'   data). These kernel objects switch shrinking off in every `ksvm()` call
#'   that uses them, including kernlab's internal refits for `cross` and
#'   `prob.model` (which would otherwise switch it back on). Matrices from
#'   [nt_kernel()] have a `ksvm()` method that defaults to
#'   `shrinking = FALSE` and computes `cross` and `prob.model` itself (see
#'   [ntKernelMatrix-class]).
#' - **ksvm scaling.** `ksvm()`'s default `scaled = TRUE` standardises the
#'   columns of `x` (and later of `newdata`, with the training statistics)
#'   before the kernel sees them. The NTK is not shift-invariant, so this is
#'   a different model from the NTK of the raw columns; on tabular data it is
#'   usually the better one (Arora et al. 2020 used standardised features),
#'   so we recommend keeping it, or standardising yourself and passing
#'   `scaled = FALSE`.
#' - `kqr()` and `specc()` need `kpar = list()` with a kernel object;
#'   `lssvm()` needs `reduced = FALSE`; `kkmeans()` with
#'   `alg = "kerninghan"` or `"normcut"` accepts only RBF kernels.
#' - **Precomputed test kernels.** `predict()` of a `ksvm` trained on a
#'   kernelMatrix needs the test-by-support-vector columns only; given the
#'   full test-by-training matrix it silently returns wrong predictions. Use
#'   [nt_predict_ksvm()].
#'
#' @section Images and sequences: kernlab hands kernels the rows of a
#'   matrix. With `input_shape = c(H, W, C)` (or `c(L, C)` for sequences,
#'   `c(D, H, W, C)` for volumes)
#'   each row is read as one flattened input, in R's order (`matrix(a, n)`
#'   of an `n x H x W x C` array `a`, first axis fastest), so that a
#'   convolutional network works on image rows, for instance
#'   `ksvm(x, y, kernel = ntkdot(nt_cnn(2), input_shape = c(28, 28, 1)))`;
#'   without it, image networks refuse matrix rows. `ksvm()`'s `scaled = TRUE`
#'   would standardise every pixel separately: pass `scaled = FALSE`.
#'
#' @param net A network, or `NULL` to build `nt_fc(...)`.
#' @param ... Arguments of [nt_fc()] when `net` is `NULL`.
#' @param input_shape `NULL` (rows are feature vectors), or the shape of the
#'   inputs that the rows hold flattened (see Images and sequences).
#' @return A kernel object.
#' @examples
#' library(kernlab)
#' model <- ksvm(Species ~ ., data = iris, kernel = ntkdot(depth = 2), C = 10,
#'               shrinking = FALSE)
#' mean(predict(model, iris) == iris$Species)
#' ntkdot(depth = 2)(c(1, 0), c(0, 1))
#' # 20 random 6 x 6 one-channel images, flattened into rows
#' img <- matrix(rnorm(20 * 36), 20)
#' cnn <- ksvm(img, factor(rep(1:2, 10)), kernel = ntkdot(nt_cnn(2), input_shape = c(6, 6, 1)),
#'             C = 1, scaled = FALSE)
#' @name ntkdot
NULL

setClass("ntkkernel", contains = "kernel")
setClass("nngpkernel", contains = "kernel")

#' @rdname ntkdot
#' @export
ntkdot <- function(net = NULL, ..., input_shape = NULL) new_nt_kernel("ntkkernel", "ntk", net, input_shape, ...)

#' @rdname ntkdot
#' @export
nngpdot <- function(net = NULL, ..., input_shape = NULL) new_nt_kernel("nngpkernel", "nngp", net, input_shape, ...)

new_nt_kernel <- function(class, what, net, input_shape, ...) {
  if (is.null(net)) net <- nt_fc(...)
  else if (...length()) stop("`...` is used only when `net` is NULL", call. = FALSE)
  net <- as_network(net)
  input_shape <- check_input_shape(input_shape)
  pair <- function(x, y = NULL) {
    if (is.null(y)) y <- x
    rows_kernel(net, input_shape, what, matrix(x, 1L), matrix(y, 1L), threads = 1L)@.Data[1L, 1L]
  }
  methods::new(class, .Data = pair, kpar = list(net = net, what = what, pool = new_pool_id(),
                                                input_shape = input_shape))
}

# The kernel of rows x (and z): feature vectors, or flattened inputs of
# `shape`.
rows_kernel <- function(net, shape, what, x, z = NULL, threads = nt_threads()) {
  nt_kernel(net, shaped_inputs(x, shape), if (!is.null(z)) shaped_inputs(z, shape, "y"),
            what = what, threads = threads, progress = FALSE)
}

kernel_of <- function(kernel, x, y = NULL) {
  if (is.vector(x)) x <- as.matrix(x)
  if (!is.null(y) && is.vector(y)) y <- as.matrix(y)
  kp <- kernlab::kpar(kernel)
  rows_kernel(kp$net, kp$input_shape, kp$what, x, y)
}

# kernlab's ksvm() asks for the kernel matrix of a user-defined kernel from
# the frame that holds its `shrinking` flag and all training rows `x`, just
# before the solver reads the flag, also in its internal refits for `cross`
# and `prob.model`, which do not pass `shrinking` on. The heuristic is wrong
# for such kernels, so our kernels switch it off there; and they compute the
# kernel of all rows at once (the pairs of classes then come from the pool),
# as the precomputed path does.
is_ksvm_frame <- function(frame, kernel) {
  exists("shrinking", envir = frame, inherits = FALSE) &&
    exists("ktype", envir = frame, inherits = FALSE) &&
    identical(get0("kernel", envir = frame, inherits = FALSE), kernel)
}

adjust_ksvm_frame <- function(frame, kernel) {
  if (!is_ksvm_frame(frame, kernel)) return(invisible())
  assign("shrinking", FALSE, envir = frame)
  seed_pool(kernel, get0("x", envir = frame, inherits = FALSE))
  invisible()
}

for (cls in c("ntkkernel", "nngpkernel")) {
  setMethod("kernelMatrix", cls, function(kernel, x, y = NULL) {
    adjust_ksvm_frame(parent.frame(), kernel)
    if (is.null(y)) pooled_kernel(kernel, x) else kernel_of(kernel, x, y)
  })
  setMethod("kernelMult", cls, function(kernel, x, y = NULL, z, blocksize = 128) {
    k <- pool_lookup(kernel, x, if (is.null(y)) x else y) %||% kernel_of(kernel, x, y)@.Data
    z <- as.matrix(z)
    if (nrow(z) != ncol(k)) stop("`z` must have one row per column of the kernel", call. = FALSE)
    k %*% z
  })
  setMethod("kernelPol", cls, function(kernel, x, y = NULL, z, k = NULL) {
    km <- kernel_of(kernel, x, y)@.Data
    z <- as.vector(z)
    right <- if (is.null(y)) z else as.vector(k)
    km * outer(z, right)
  })
  setMethod("kernelFast", cls, function(kernel, x, y, a) kernel_of(kernel, x, y)@.Data)
  setMethod("show", cls, function(object) {
    cat(if (is(object, "ntkkernel")) "Neural tangent kernel" else "NNGP kernel",
        "(ntk); network:\n")
    print(kernlab::kpar(object)$net)
  })
}
rm(cls)

#' Kernel matrices from nt_kernel
#'
#' [nt_kernel()] returns objects of class `ntKernelMatrix`, a kernlab
#' `kernelMatrix` whose [kernlab::ksvm()] method defaults to
#' `shrinking = FALSE` (kernlab's shrinking heuristic returns wrong solutions
#' for precomputed kernels; see [ntkdot()]). Its `cross` and `prob.model`
#' are computed here, on folds refitted with the same settings (kernlab's own
#' refits switch shrinking back on, and its probability model on kernel
#' matrices gives 1/2 everywhere): `cross` is the error rate (or mean squared
#' error) of `cross`-fold cross-validation, and the probability model is
#' Platt scaling (a sigmoid of the decision values, fitted by Lin, Lin and
#' Weng's Newton method on 3-fold cross-validated decision values; for more
#' than two classes, kernlab's pairwise coupling of the pairs' sigmoids).
#' `predict(model, k_test_sv, type = "probabilities")` or
#' [nt_predict_ksvm()] use it.
#'
#' kernlab's `gausspr()`, `kha()`, `kfa()`, `kcca()`, `sigest()`, `inchol()`
#' and `csi()` have no kernel-matrix interface: given an `ntKernelMatrix` they
#' would treat it as a feature matrix, so they stop with an error (use
#' [nt_gp()], or the kernel objects of [ntkdot()]).
#'
#' @param x An `ntKernelMatrix`.
#' @param y The response.
#' @param ... Arguments of kernlab's `ksvm()`.
#' @return A `ksvm` model.
#' @examples
#' x <- scale(as.matrix(iris[, 1:4]))
#' train <- seq(1, 150, 2)
#' k <- nt_kernel(nt_fc(2), x[train, ])
#' class(k)
#' # shrinking = FALSE by default; Platt-scaled class probabilities
#' model <- kernlab::ksvm(k, iris$Species[train], C = 10, prob.model = TRUE)
#' k_test <- nt_kernel(nt_fc(2), x[-train, ], x[train, ])
#' head(nt_predict_ksvm(model, k_test, type = "probabilities"))
#' @name ntKernelMatrix-class
#' @aliases ntKernelMatrix ksvm,ntKernelMatrix-method gausspr,ntKernelMatrix-method
#'   kha,ntKernelMatrix-method kfa,ntKernelMatrix-method kcca,ntKernelMatrix-method
#'   sigest,ntKernelMatrix-method inchol,ntKernelMatrix-method csi,ntKernelMatrix-method
#' @exportClass ntKernelMatrix
#' @exportMethod gausspr kha kfa kcca sigest inchol csi
setClass("ntKernelMatrix", contains = "kernelMatrix")

#' @rdname ntKernelMatrix-class
#' @export
setMethod("ksvm", "ntKernelMatrix", function(x, y = NULL, ...) {
  args <- list(...)
  if (is.null(args$shrinking)) args$shrinking <- FALSE
  cross <- if (is.null(args$cross)) 0L else check_count(args$cross, "cross")
  prob <- if (is.null(args$prob.model)) FALSE else check_flag(args$prob.model, "prob.model")
  args$cross <- 0L
  args$prob.model <- FALSE
  k <- x@.Data
  dimnames(k) <- NULL
  model <- do.call(kernlab::ksvm, c(list(as_kernlab_matrix(k), y), args))
  refit_args <- args[setdiff(names(args), c("fit", "cross", "prob.model"))]
  refit_args$type <- kernlab::type(model)
  refit_args$fit <- FALSE
  if (is.factor(y) || is.character(y)) y <- factor(y)
  if (cross > 1L) model@cross <- svm_cross_error(k, y, refit_args, cross, kernlab::type(model))
  if (prob) model@prob.model <- svm_prob_model(k, y, refit_args, kernlab::type(model))
  model
})

for (generic in c("gausspr", "kha", "kfa", "kcca", "sigest", "inchol", "csi")) {
  local({
    name <- generic
    refuse <- function(x, ...) {
      stop(sprintf(paste0("kernlab's %s() has no kernel-matrix interface and would treat this ",
                          "ntKernelMatrix as a feature matrix; %s"), name,
                   if (name == "gausspr") "use nt_gp() on the kernel matrices, or gausspr(x, y, kernel = nngpdot(net))"
                   else sprintf("give %s() the inputs and kernel = ntkdot(net) or nngpdot(net)", name)),
           call. = FALSE)
    }
    formals(refuse) <- formals(methods::getGeneric(name, package = "kernlab"))
    setMethod(name, "ntKernelMatrix", refuse)
  })
}
rm(generic)

# The class set in place: methods::new() would copy an n x m matrix (and
# costs more than a small SVM fit).
as_nt_kernel_matrix <- function(k) {
  class(k) <- structure("ntKernelMatrix", package = "ntk")
  asS4(k)
}

as_kernlab_matrix <- function(k) {
  class(k) <- structure("kernelMatrix", package = "kernlab")
  asS4(k)
}

#' Predict from a ksvm trained on a precomputed kernel
#'
#' `predict()` of a kernlab `ksvm` model trained on a kernelMatrix expects the
#' test-by-support-vector kernel; given the full test-by-training matrix it
#' returns wrong predictions without a warning. This helper takes the full
#' `m x n` test-by-training kernel and keeps the support vectors' columns.
#'
#' @param model A `ksvm` model trained on a kernel matrix.
#' @param k_test The test-by-training kernel, `m x n` (all training points,
#'   in training order).
#' @param type Passed to `predict()`: `"response"`, `"probabilities"`,
#'   `"decision"` or `"votes"`.
#' @return The predictions.
#' @examples
#' x <- scale(as.matrix(iris[, 1:4]))
#' train <- seq(1, 150, 2)
#' k <- nt_kernel(nt_fc(2), x[train, ])
#' model <- kernlab::ksvm(k, iris$Species[train], kernel = "matrix", C = 10)
#' k_test <- nt_kernel(nt_fc(2), x[-train, ], x[train, ])
#' mean(nt_predict_ksvm(model, k_test) == iris$Species[-train])
#' @export
nt_predict_ksvm <- function(model, k_test, type = "response") {
  if (!is(model, "ksvm")) stop("`model` must be a kernlab ksvm model", call. = FALSE)
  if (!is.character(kernlab::kernelf(model)))
    stop(paste0("`model` was trained with a kernel function, not on a kernel matrix: ",
                "use predict(model, newdata) with the new inputs"), call. = FALSE)
  k <- as_kernel_values(k_test, "k_test")
  n_train <- length(kernlab::fitted(model))
  sv <- kernlab::SVindex(model)
  if (n_train > 0L && ncol(k) != n_train)
    stop(sprintf("`k_test` must have one column per training point (%d), not %d", n_train, ncol(k)),
         call. = FALSE)
  if (max(sv) > ncol(k))
    stop("`k_test` has fewer columns than the model's support vector indices", call. = FALSE)
  kernlab::predict(model, as_kernlab_matrix(k[, sv, drop = FALSE]), type = type)
}
