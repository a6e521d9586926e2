# tidymodels: parsnip model specifications nt_svm() and nt_krr() with the
# engine "ntk", and dials parameters for tune. parsnip is suggested, not
# imported: the models are registered with it when it loads (or at the
# first call of a specification).

#' tidymodels models with neural tangent kernels
#'
#' parsnip model specifications: `nt_svm()` is an SVM on the NTK
#' ([nt_svm_model()]), `nt_krr()` kernel regression by gradient flow on it
#' ([nt_krr_model()]); both do classification (with class probabilities)
#' and regression, with the engine `"ntk"`. Their main arguments can be
#' tuned with `tune::tune()` in `tune_grid()`, over the dials parameters
#' `nt_depth()` (hidden layers), `nt_fixed()` (frozen layers),
#' `dials::cost()`, `nt_diag_reg()` (the ridge, on a log10 scale) and
#' `nt_flow_time()` (gradient-flow time, log10 scale). Engine arguments
#' (`set_engine("ntk", ...)`) are those of [nt_svm_model()]: `activation`,
#' `w_var`, `b_var`, `input_shape` (for flattened images: then the network is
#' `nt_cnn(depth)`) and `standardize`.
#'
#' @param mode `"classification"`, `"regression"` or `"unknown"`.
#' @param depth,fixed Hidden and frozen layers.
#' @param cost The SVM's cost.
#' @param diag_reg The ridge.
#' @param t The gradient-flow time.
#' @param engine `"ntk"`.
#' @return A parsnip model specification.
#' @examples
#' if (requireNamespace("parsnip", quietly = TRUE)) {
#'   spec <- parsnip::set_mode(nt_svm(depth = 2, cost = 10), "classification")
#'   fit <- parsnip::fit(spec, Species ~ ., data = iris)
#'   head(predict(fit, iris, type = "prob"))
#' }
#' @name tidymodels_models
NULL

#' @rdname tidymodels_models
#' @export
nt_svm <- function(mode = "unknown", depth = NULL, fixed = NULL, cost = NULL, engine = "ntk") {
  new_nt_spec("nt_svm", mode, engine, list(depth = rlang::enquo(depth), fixed = rlang::enquo(fixed),
                                            cost = rlang::enquo(cost)))
}

#' @rdname tidymodels_models
#' @export
nt_krr <- function(mode = "unknown", depth = NULL, fixed = NULL, diag_reg = NULL, t = NULL,
                   engine = "ntk") {
  new_nt_spec("nt_krr", mode, engine, list(depth = rlang::enquo(depth), fixed = rlang::enquo(fixed),
                                            diag_reg = rlang::enquo(diag_reg), t = rlang::enquo(t)))
}

new_nt_spec <- function(cls, mode, engine, args) {
  if (!requireNamespace("parsnip", quietly = TRUE))
    stop(sprintf("%s() needs the parsnip package: install.packages(\"parsnip\")", cls), call. = FALSE)
  register_parsnip_models()
  modes <- c("unknown", "classification", "regression")
  if (!is.character(mode) || length(mode) != 1L || !mode %in% modes)
    stop(sprintf("`mode` must be one of %s", paste0("\"", modes, "\"", collapse = ", ")), call. = FALSE)
  parsnip::new_model_spec(cls, args = args, eng_args = NULL, mode = mode,
                          user_specified_mode = mode != "unknown", method = NULL, engine = engine,
                          user_specified_engine = TRUE)
}

#' @rdname tidymodels_models
#' @param object A model specification.
#' @param parameters A one-row data frame or list of parameter values, or `NULL`.
#' @param fresh Replace all arguments (`TRUE`) or only those given.
#' @param ... Engine arguments.
#' @export
update.nt_svm <- function(object, parameters = NULL, depth = NULL, fixed = NULL, cost = NULL,
                          fresh = FALSE, ...) {
  parsnip::update_spec(object = object, parameters = parameters,
                       args_enquo_list = list(depth = rlang::enquo(depth), fixed = rlang::enquo(fixed),
                                              cost = rlang::enquo(cost)),
                       fresh = fresh, cls = "nt_svm", ...)
}

#' @rdname tidymodels_models
#' @export
update.nt_krr <- function(object, parameters = NULL, depth = NULL, fixed = NULL, diag_reg = NULL,
                          t = NULL, fresh = FALSE, ...) {
  parsnip::update_spec(object = object, parameters = parameters,
                       args_enquo_list = list(depth = rlang::enquo(depth), fixed = rlang::enquo(fixed),
                                              diag_reg = rlang::enquo(diag_reg), t = rlang::enquo(t)),
                       fresh = fresh, cls = "nt_krr", ...)
}

#' @rdname tidymodels_models
#' @param range,trans The parameter's range (on the transformed scale) and
#'   transformation, as in dials.
#' @export
nt_depth <- function(range = c(1L, 5L), trans = NULL) {
  dials::new_quant_param(type = "integer", range = range, inclusive = c(TRUE, TRUE), trans = trans,
                         label = c(nt_depth = "Hidden layers"), finalize = NULL)
}

#' @rdname tidymodels_models
#' @export
nt_fixed <- function(range = c(0L, 4L), trans = NULL) {
  dials::new_quant_param(type = "integer", range = range, inclusive = c(TRUE, TRUE), trans = trans,
                         label = c(nt_fixed = "Frozen layers"), finalize = NULL)
}

#' @rdname tidymodels_models
#' @export
nt_diag_reg <- function(range = c(-6, 0), trans = log10_transform()) {
  dials::new_quant_param(type = "double", range = range, inclusive = c(TRUE, TRUE), trans = trans,
                         label = c(nt_diag_reg = "Ridge"), finalize = NULL)
}

#' @rdname tidymodels_models
#' @export
nt_flow_time <- function(range = c(-1, 4), trans = log10_transform()) {
  dials::new_quant_param(type = "double", range = range, inclusive = c(TRUE, TRUE), trans = trans,
                         label = c(nt_flow_time = "Gradient-flow time"), finalize = NULL)
}

# The two models, their engine, arguments, fits and predictions, once per
# session (parsnip's registry lives in its namespace).
register_parsnip_models <- function() {
  if (!requireNamespace("parsnip", quietly = TRUE)) return(invisible(FALSE))
  known <- parsnip::get_model_env()$models
  if (all(c("nt_svm", "nt_krr") %in% known)) return(invisible(TRUE))
  args <- list(nt_svm = list(depth = "nt_depth", fixed = "nt_fixed", cost = c("dials", "cost")),
               nt_krr = list(depth = "nt_depth", fixed = "nt_fixed", diag_reg = "nt_diag_reg",
                             t = "nt_flow_time"))
  fits <- c(nt_svm = "nt_svm_model", nt_krr = "nt_krr_model")
  for (model in names(args)) {
    if (model %in% known) next
    parsnip::set_new_model(model)
    for (mode in c("classification", "regression")) {
      parsnip::set_model_mode(model, mode)
      parsnip::set_model_engine(model, mode, "ntk")
      parsnip::set_dependency(model, "ntk", "ntk", mode = mode)
      parsnip::set_fit(model = model, eng = "ntk", mode = mode, value = list(
        interface = "matrix", protect = c("x", "y"), func = c(pkg = "ntk", fun = fits[[model]]),
        defaults = list()))
      parsnip::set_encoding(model = model, eng = "ntk", mode = mode, options = list(
        predictor_indicators = "traditional", compute_intercept = FALSE, remove_intercept = FALSE,
        allow_sparse_x = FALSE))
    }
    for (arg in names(args[[model]])) {
      f <- args[[model]][[arg]]
      parsnip::set_model_arg(model = model, eng = "ntk", parsnip = arg, original = arg,
                             func = if (length(f) == 2L) list(pkg = f[1], fun = f[2])
                                    else list(pkg = "ntk", fun = f),
                             has_submodel = FALSE)
    }
    predict_as <- function(type) list(pre = NULL, post = NULL, func = c(fun = "predict"),
                                      args = list(object = quote(object$fit), newdata = quote(new_data),
                                                  type = type))
    parsnip::set_pred(model = model, eng = "ntk", mode = "classification", type = "class",
                      value = predict_as("class"))
    parsnip::set_pred(model = model, eng = "ntk", mode = "classification", type = "prob",
                      value = predict_as("prob"))
    parsnip::set_pred(model = model, eng = "ntk", mode = "regression", type = "numeric",
                      value = predict_as("numeric"))
  }
  invisible(TRUE)
}

# scales renamed its transformations in 1.3.0 (log10_trans() became
# transform_log10()); either works.
log10_transform <- function() {
  ns <- asNamespace("scales")
  if (exists("transform_log10", envir = ns)) get("transform_log10", envir = ns)() else scales::log10_trans()
}
