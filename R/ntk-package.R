#' ntk: neural tangent and NNGP kernels of infinitely wide networks
#'
#' Build a network from layers ([nt_dense()], [nt_relu()], ..., or the
#' shortcut [nt_fc()]) and compute its exact infinite-width kernels with
#' [nt_kernel()]. The layer semantics are those of the neural-tangents
#' library ("NTK parametrization"): for inputs with `d` features the input
#' covariance is `x . x' / d`; a dense layer maps the NNGP `K` to
#' `w_var * K + b_var` and the NTK `T` to `w_var * T + K_new` (the last term
#' only if the layer is trainable); an activation `phi` maps `K` to
#' `E[phi(u) phi(v)]` and `T` to `T * E[phi'(u) phi'(v)]`, with `(u, v)`
#' Gaussian with the current covariances. `vignette("kernels", package =
#' "ntk")` gives the whole account: every layer's rule, the recursions, the
#' closed forms, the quadrature and its accuracy, the papers' constants and
#' the gradient-flow formulas.
#'
#' @section Papers' conventions:
#' Jacot et al. (2018), bias scale beta: `nt_dense(1, beta^2)` between
#' activations. Arora et al. (2019), fully connected with `c_sigma = 2`:
#' `nt_fc(depth, "relu", w_var = 2)`. Arora et al. (2020), UCI kernels
#' `K[dep][fix]` on raw features: see [nt_fc_arora()].
#'
#' @section Options:
#' `ntk.threads` (or the environment variable `NTK_NUM_THREADS`): the
#' default number of threads, see [nt_threads()]. `ntk.gram` (or
#' `NTK_GRAM`): how fully connected kernels compute the inputs' Gram
#' matrix: `"blas"` (R's BLAS), `"native"` (a register-blocked loop, 2 to 6
#' times as fast as the reference BLAS, depending on the CPU's vector
#' instructions, and usually slower than an optimised BLAS) or
#' `"auto"` (the default: native on a reference BLAS, BLAS otherwise). Both
#' give the same kernels up to rounding. `ntk.memory_limit`: the bytes a
#' call may allocate. Every call that allocates big (kernels, families,
#' finite networks, [nt_fit()], tiled kernels without a store) estimates
#' its peak first and stops, with the figures, when it exceeds this, or by
#' default the memory the system reports available (on Linux MemAvailable,
#' within a memory cgroup's limit).
#'
#' @section Interrupts:
#' Every long computation stops within about a second of Ctrl-C, between
#' blocks of work. The one exception in part is the eigendecomposition of
#' [nt_fit()] and [nt_predict()] (LAPACK cannot be stopped midway): an
#' interrupt returns at once, while the decomposition finishes in the
#' background on its own thread and frees its memory then.
#'
#' @references
#' Jacot, A., Gabriel, F. and Hongler, C. (2018). Neural tangent kernel:
#' convergence and generalization in neural networks. NeurIPS.
#'
#' Lee, J. et al. (2018). Deep neural networks as Gaussian processes. ICLR.
#'
#' Arora, S. et al. (2019). On exact computation with an infinitely wide
#' neural net. NeurIPS.
#'
#' Arora, S. et al. (2020). Harnessing the power of infinitely wide deep nets
#' on small-data tasks. ICLR.
#' @keywords internal
#' @useDynLib ntk, .registration = TRUE, .fixes = "C_"
#' @importFrom kernlab as.kernelMatrix
#' @importFrom methods is
#' @importFrom stats coef fitted formula logLik nobs predict residuals update
"_PACKAGE"
