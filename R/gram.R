# Which Gram matrix the fully connected kernels start from (src/gram.c).

# TRUE for the register-blocked loop, FALSE for BLAS: option `ntk.gram` (or
# the environment variable NTK_GRAM) "native", "blas" or "auto" (the
# default: the loop when R runs on a reference BLAS, which it beats by 2 to
# 6 times, and BLAS otherwise, since an optimised one usually beats it).
gram_native <- function() {
  from_option <- !is.null(getOption("ntk.gram"))
  mode <- getOption("ntk.gram", Sys.getenv("NTK_GRAM", "auto"))
  if (!is.character(mode) || length(mode) != 1L || !mode %in% c("auto", "native", "blas"))
    stop(sprintf("%s must be \"auto\", \"native\" or \"blas\", not %s",
                 if (from_option) "option `ntk.gram`" else "the environment variable NTK_GRAM",
                 paste(deparse(mode, nlines = 1L), collapse = "")), call. = FALSE)
  if (mode == "auto") reference_blas() else mode == "native"
}

reference_blas <- function() {
  if (is.null(.ntk_state$reference_blas))
    .ntk_state$reference_blas <- is_reference_blas(
      tryCatch(extSoftVersion()[["BLAS"]], error = function(e) ""))
  .ntk_state$reference_blas
}

# R's own libRblas or a netlib libblas, judged from the library's path.
is_reference_blas <- function(path) {
  path <- tolower(path)
  fast <- grepl("openblas|mkl|blis|atlas|accelerate|veclib|flexiblas|armpl|essl", path)
  !fast && grepl("^librblas|^libblas", basename(path))
}
