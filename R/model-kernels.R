# The networks and kernels behind the tuned models (caret, parsnip, mlr3):
# nt_fc(depth, fixed) on matrix inputs, or nt_cnn(depth) on rows that hold
# flattened images when an input shape is given.

# Settings shared by every candidate of a tuned model.
model_settings <- function(activation = "relu", w_var = 2, b_var = 0, input_shape = NULL) {
  input_shape <- check_input_shape(input_shape)
  if (!is.null(input_shape) && !identical(activation, "relu"))
    stop("`activation` must be \"relu\" with `input_shape`: the convolutional models use nt_cnn()",
         call. = FALSE)
  list(activation = activation, w_var = check_number(w_var, "w_var", lower = 0),
       b_var = check_number(b_var, "b_var", lower = 0), input_shape = input_shape)
}

# NULL, or the shape of one input: c(H, W, C) for images, c(L, C) for
# sequences, c(D, H, W, C) for volumes.
check_input_shape <- function(shape) {
  if (is.null(shape)) return(NULL)
  if (!is.numeric(shape) || !length(shape) %in% 2:4 || anyNA(shape) || any(shape < 1) ||
      any(shape != round(shape)))
    stop(paste0("`input_shape` must be NULL, c(H, W, C) for images, c(L, C) for sequences or ",
                "c(D, H, W, C) for volumes (positive whole numbers)"), call. = FALSE)
  as.integer(shape)
}

# Rows of flattened inputs as the array nt_kernel() reads: row i holds
# input i in R's order (first axis fastest), as matrix(a, n) flattens an
# n x H x W x C array a.
shaped_inputs <- function(x, shape, arg = "x") {
  x <- as_input_matrix(x, arg)
  if (is.null(shape)) return(x)
  if (ncol(x) != prod(shape))
    stop(sprintf("`%s` has %d columns, but input_shape = c(%s) needs %d", arg, ncol(x),
                 paste(shape, collapse = ", "), prod(shape)), call. = FALSE)
  out <- array(x, c(nrow(x), shape))
  if (!is.null(rownames(x))) dimnames(out) <- c(list(rownames(x)), rep(list(NULL), length(shape)))
  out
}

model_network <- function(settings, depth, fixed = 0) {
  if (is.null(settings$input_shape))
    return(nt_fc(depth, settings$activation, settings$w_var, settings$b_var, fixed))
  if (fixed != 0)
    stop("`fixed` must be 0 for convolutional models (nt_cnn() trains every layer)", call. = FALSE)
  nt_cnn(depth, w_var = settings$w_var, b_var = settings$b_var)
}

# The training kernel of a candidate: for matrix inputs from the cached
# family of nt_fc kernels (one pass for every depth and fixed); for images,
# and activations with a user-supplied dual (which the family does not
# run), one kernel per candidate network, the last few cached.
model_train_kernel <- function(x, settings, depth, fixed = 0) {
  if (is.null(settings$input_shape) && !holds_user_dual(settings$activation))
    return(cached_family_kernel(x, depth, fixed, settings$activation, settings$w_var, settings$b_var))
  net <- model_network(settings, depth, fixed)   # refuses fixed > 0 for images, before any work
  key <- list(settings = settings, depth = depth, fixed = fixed)
  entries <- .kernel_cache$images %||% list()
  for (e in entries)
    if (identical(e$key, key) && identical(e$x, x)) return(e$k)
  k <- nt_kernel(net, shaped_inputs(x, settings$input_shape),
                 progress = FALSE)@.Data
  .kernel_cache$images <- c(list(list(key = key, x = x, k = k)), utils::head(entries, 5L))
  k
}

# The kernel between new rows and the training rows.
model_test_kernel <- function(net, settings, newdata, x) {
  nt_kernel(net, shaped_inputs(newdata, settings$input_shape, "newdata"),
            shaped_inputs(x, settings$input_shape), progress = FALSE)
}
