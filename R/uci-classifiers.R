# The classifiers of the UCI protocols, on a precomputed kernel matrix `k`
# (all samples of a dataset). Each is fitted on the rows `train` and returns
# the predicted class codes (those of the factor `y`) of the rows `test`;
# only `y[train]` is read, so the labels of `test` may be NA.

# C-classification SVM, one against one. Attribute "capped": the pairs of
# classes whose fit stopped at libsvm's iteration limit.
svm_predict <- function(k, y, train, test, C, solver = "smo") {
  single <- single_class_prediction(y, train, test)
  if (!is.null(single)) return(single)
  if (solver == "smo")
    return(.Call(C_ntk_svm_ovo, k, as.integer(y), as.integer(train), as.integer(test), as.double(C), 1e-3))
  # classes absent from a small training part are dropped (they cannot be predicted)
  model <- kernlab::ksvm(kernlab::as.kernelMatrix(k[train, train]), droplevels(y[train]), type = "C-svc",
                         kernel = "matrix", C = C, shrinking = FALSE)
  pred <- nt_predict_ksvm(model, k[test, train, drop = FALSE])
  structure(match(as.character(pred), levels(y)), capped = 0L)
}

# Kernel ridge regression on centred one-hot targets (the gradient-flow
# predictor at t = Inf with ridge `ridge * mean(diag(k[train, train]))`),
# the class of the largest output. NULL when the regularised kernel is not
# numerically positive definite (the candidate is then not used).
krr_predict <- function(k, y, train, test, ridge) {
  single <- single_class_prediction(y, train, test)
  if (!is.null(single)) return(single)
  classes <- droplevels(y[train])
  targets <- outer(as.integer(classes), seq_len(nlevels(classes)), "==") - 1 / nlevels(classes)
  ktt <- k[train, train, drop = FALSE]
  diag(ktt) <- diag(ktt) + ridge * mean(diag(ktt))
  r <- tryCatch(chol(ktt), error = function(e) NULL)
  if (is.null(r)) return(NULL)
  coef <- backsolve(r, backsolve(r, targets, transpose = TRUE))
  out <- k[test, train, drop = FALSE] %*% coef
  structure(match(levels(classes)[max.col(out, ties.method = "first")], levels(y)), capped = 0L)
}

# A training part with one class predicts it (no classifier can be fitted,
# and none is needed); NULL when there are several classes.
single_class_prediction <- function(y, train, test) {
  present <- unique(y[train])
  if (length(present) > 1L) return(NULL)
  structure(rep(as.integer(present), length(test)), capped = 0L)
}

svm_accuracy <- function(k, y, train, test, C, solver = "kernlab") {
  pred <- svm_predict(k, y, train, test, C, solver)
  warn_capped(attr(pred, "capped"), sprintf("the SVM with C = %g", C))
  mean(pred == as.integer(y)[test])
}

# ntk's own solver (src/svm.c: libsvm's algorithm, tolerance 1e-3)
smo_accuracy <- function(k, y, train, test, C) svm_accuracy(k, y, train, test, C, "smo")

# libsvm reports a fit stopped by its iteration limit; so do we.
warn_capped <- function(capped, what) {
  if (capped > 0)
    warning(sprintf("%s stopped at libsvm's iteration limit (max(1e7, 100 l) iterations) on %d pair(s) of classes",
                    what, capped), call. = FALSE)
}
