# mlr3: learners "classif.ntk" and "regr.ntk". mlr3 and paradox are
# suggested, not imported: the R6 generators are made when ntk loads (R6
# resolves the parent class only when a learner is created) and added to
# mlr3's dictionary of learners when mlr3 loads.

#' mlr3 learners with neural tangent kernels
#'
#' `LearnerClassifNTK` (key `"classif.ntk"`) and `LearnerRegrNTK`
#' (`"regr.ntk"`) fit an SVM on the NTK (`method = "svm"`, the default;
#' [nt_svm_model()]) or kernel regression by gradient flow on it
#' (`method = "krr"`; [nt_krr_model()]), with the parameters `depth`,
#' `fixed`, `cost` (SVM), `diag_reg` and `t` (kernel regression),
#' `activation`, `w_var`, `b_var`, `input_shape` (flattened images:
#' `nt_cnn(depth)`) and `standardize`, in a paradox parameter set that
#' `mlr3tuning` can tune. The classification learner predicts classes or
#' probabilities (Platt scaling for the SVM, the flow's calibrated scores for
#' kernel regression). They need the R6, mlr3 and paradox packages; without
#' R6 installed these objects are `NULL`.
#'
#' @format R6 class generators inheriting from `mlr3::LearnerClassif` and
#'   `mlr3::LearnerRegr`.
#' @examples
#' if (requireNamespace("mlr3", quietly = TRUE)) {
#'   learner <- mlr3::lrn("classif.ntk", depth = 2, cost = 10, predict_type = "prob")
#'   task <- mlr3::tsk("iris")
#'   learner$train(task, row_ids = seq(1, 150, 2))
#'   pred <- learner$predict(task, row_ids = seq(2, 150, 2))
#'   pred$score(mlr3::msr("classif.acc"))
#' }
#' @name LearnerClassifNTK
NULL

#' @rdname LearnerClassifNTK
#' @export
LearnerClassifNTK <- NULL

#' @rdname LearnerClassifNTK
#' @export
LearnerRegrNTK <- NULL

# The parameter set of both learners (paradox, at learner creation).
ntk_param_set <- function(classification) {
  p <- asNamespace("paradox")
  params <- list(
    method = p$p_fct(c("svm", "krr"), default = "svm", tags = "train"),
    depth = p$p_int(lower = 0L, upper = 20L, default = 2L, tags = "train"),
    fixed = p$p_int(lower = 0L, upper = 20L, default = 0L, tags = "train"),
    cost = p$p_dbl(lower = 0, default = 1, tags = "train"),
    diag_reg = p$p_dbl(lower = 0, tags = "train"),
    t = p$p_dbl(lower = 0, upper = Inf, default = Inf, tags = "train"),
    activation = p$p_fct(c("relu", "leaky_relu", "abs", "erf", "gelu", "identity"), default = "relu",
                         tags = "train"),
    w_var = p$p_dbl(lower = 0, default = 2, tags = "train"),
    b_var = p$p_dbl(lower = 0, default = 0, tags = "train"),
    input_shape = p$p_uty(default = NULL, tags = "train"),
    standardize = p$p_lgl(tags = "train"))
  do.call(p$ps, params)
}

# Fits the learner's model from its parameter values.
ntk_learner_train <- function(learner, task) {
  pv <- learner$param_set$get_values(tags = "train")
  method <- pv$method %||% "svm"
  pv$method <- NULL
  x <- as.matrix(task$data(cols = task$feature_names))
  y <- task$truth()
  wrong <- intersect(names(pv), if (method == "svm") c("diag_reg", "t") else "cost")
  if (length(wrong))
    stop(sprintf("%s %s to method = \"%s\" only", paste0("`", wrong, "`", collapse = " and "),
                 if (length(wrong) > 1L) "apply" else "applies", setdiff(c("svm", "krr"), method)),
         call. = FALSE)
  fit <- if (method == "svm") nt_svm_model else nt_krr_model
  do.call(fit, c(list(x = x, y = y), pv))
}

ntk_learner_predict <- function(learner, task) {
  x <- as.matrix(task$data(cols = task$feature_names))
  if (inherits(learner, "LearnerRegr")) return(list(response = predict(learner$model, x, type = "numeric")))
  if (learner$predict_type == "prob")
    return(list(prob = as.matrix(predict(learner$model, x, type = "prob"))))
  list(response = predict(learner$model, x, type = "class"))
}

# bound by R6 in each method's enclosure
utils::globalVariables(c("self", "super"))

# R6 gives methods its own enclosure (self, super, private; then the
# namespace), so they call these helpers with `super` and `self`.
ntk_learner_init <- function(super, id, classification) {
  super$initialize(
    id = id, param_set = ntk_param_set(classification),
    predict_types = if (classification) c("response", "prob") else "response",
    feature_types = c("integer", "numeric"),
    properties = if (classification) c("twoclass", "multiclass") else character(0),
    packages = "ntk", label = "Neural tangent kernel SVM or kernel regression",
    man = "ntk::LearnerClassifNTK")
}

make_mlr3_learners <- function() {
  if (!requireNamespace("R6", quietly = TRUE)) return(invisible(FALSE))
  ns <- asNamespace("ntk")
  private <- list(.train = function(task) ntk_learner_train(self, task),
                  .predict = function(task) ntk_learner_predict(self, task))
  classif <- R6::R6Class("LearnerClassifNTK", inherit = mlr3::LearnerClassif, parent_env = ns,
                         public = list(initialize = function() ntk_learner_init(super, "classif.ntk", TRUE)), private = private)
  regr <- R6::R6Class("LearnerRegrNTK", inherit = mlr3::LearnerRegr, parent_env = ns,
                      public = list(initialize = function() ntk_learner_init(super, "regr.ntk", FALSE)), private = private)
  assign("LearnerClassifNTK", classif, envir = ns)
  assign("LearnerRegrNTK", regr, envir = ns)
  invisible(TRUE)
}

register_mlr3_learners <- function() {
  if (is.null(LearnerClassifNTK)) return(invisible(FALSE))
  learners <- mlr3::mlr_learners
  learners$add("classif.ntk", LearnerClassifNTK)
  learners$add("regr.ntk", LearnerRegrNTK)
  invisible(TRUE)
}
