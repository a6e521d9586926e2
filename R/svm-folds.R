# Cross-validation and probability models for kernlab's ksvm on precomputed
# kernels, refitted here with shrinking off: kernlab's own refits (cross =,
# prob.model =) do not pass `shrinking` on, which switches its faulty
# shrinking heuristic back on, and its probability model on kernel matrices
# returns 1/2 for every point.

svm_classification_types <- c("C-svc", "nu-svc", "C-bsvc", "spoc-svc", "kbb-svc")
svm_probability_types <- c("C-svc", "nu-svc", "C-bsvc")

# Folds stratified by class (classification) or random (regression).
svm_folds <- function(y, folds) {
  fold <- integer(length(y))
  groups <- if (is.factor(y)) split(seq_along(y), y, drop = TRUE) else list(seq_along(y))
  for (g in groups) fold[g] <- sample(rep_len(seq_len(folds), length(g)))
  fold
}

# One ksvm on the rows `train` of the kernel matrix k.
svm_refit <- function(k, y, train, args) {
  do.call(kernlab::ksvm, c(list(as_kernlab_matrix(k[train, train, drop = FALSE]), y[train]), args))
}

# Decision values (one column per pair of classes, kernlab's order) or
# regression predictions of `model` on the rows `test`.
svm_outputs <- function(model, k, train, test, type) {
  sv <- kernlab::SVindex(model)
  k_sv <- as_kernlab_matrix(k[test, train[sv], drop = FALSE])
  as.matrix(kernlab::predict(model, k_sv, type = type))
}

# kernlab's `cross` figure: the mean test error rate (classification) or
# mean squared error (regression) over `folds` folds.
svm_cross_error <- function(k, y, args, folds, type) {
  fold <- svm_folds(y, folds)
  err <- vapply(seq_len(folds), function(f) {
    train <- which(fold != f); test <- which(fold == f)
    model <- svm_refit(k, y, train, args)
    if (type %in% svm_classification_types)
      mean(as.character(svm_outputs(model, k, train, test, "response")) != as.character(y[test]))
    else sum((svm_outputs(model, k, train, test, "response") - y[test])^2) / length(y) * folds
  }, numeric(1))
  mean(err)
}

# kernlab's prob.model slot: for classification one Platt sigmoid per pair
# of classes (list(A, B), P(second class) = 1 / (1 + exp(A f + B))), fitted on
# decision values from 3-fold cross-validation; for regression the scale of
# a Laplace distribution of the cross-validated residuals.
svm_prob_model <- function(k, y, args, type, folds = 3L) {
  if (type %in% svm_classification_types && !type %in% svm_probability_types)
    stop(sprintf("probability models exist for %s only, not type \"%s\"",
                 paste(svm_probability_types, collapse = ", "), type), call. = FALSE)
  classification <- type %in% svm_probability_types
  if (classification) {
    smallest <- min(table(droplevels(y)))
    if (smallest < 2L) stop("a probability model needs at least 2 observations of every class", call. = FALSE)
    folds <- min(folds, smallest)
  }
  fold <- svm_folds(y, folds)
  out <- NULL
  for (f in seq_len(folds)) {
    train <- which(fold != f); test <- which(fold == f)
    model <- svm_refit(k, y, train, args)
    values <- svm_outputs(model, k, train, test, if (classification) "decision" else "response")
    if (is.null(out)) out <- matrix(NA_real_, length(y), ncol(values))
    out[test, ] <- values
  }
  if (!classification) {
    residual <- out[, 1] - y
    residual[abs(residual) > 5 * stats::sd(residual)] <- 0
    return(list(mean(abs(residual))))
  }
  classes <- levels(droplevels(y))
  pairs <- utils::combn(length(classes), 2L)
  lapply(seq_len(ncol(pairs)), function(p) {
    rows <- which(as.integer(droplevels(y)) %in% pairs[, p])
    platt_sigmoid(out[rows, p], as.integer(droplevels(y))[rows] == pairs[2L, p])
  })
}

# Platt's sigmoid P(positive | f) = 1 / (1 + exp(A f + B)) by the Newton
# method with backtracking of Lin, Lin and Weng (2007), on Platt's smoothed
# targets; all terms are computed in a form that cannot overflow.
platt_sigmoid <- function(decision, positive) {
  n1 <- sum(positive); n0 <- length(positive) - n1
  target <- ifelse(positive, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))
  loss <- function(a, b) {
    z <- decision * a + b
    sum(ifelse(z >= 0, target * z + log1p(exp(-z)), (target - 1) * z + log1p(exp(z))))
  }
  a <- 0; b <- log((n0 + 1) / (n1 + 1))
  value <- loss(a, b)
  for (iter in seq_len(100L)) {
    z <- decision * a + b
    p <- ifelse(z >= 0, exp(-z) / (1 + exp(-z)), 1 / (1 + exp(z)))
    w <- p * (1 - p)
    h11 <- 1e-12 + sum(decision^2 * w); h22 <- 1e-12 + sum(w); h21 <- sum(decision * w)
    g1 <- sum(decision * (target - p)); g2 <- sum(target - p)
    if (abs(g1) < 1e-5 && abs(g2) < 1e-5) break
    det <- h11 * h22 - h21^2
    da <- -(h22 * g1 - h21 * g2) / det
    db <- -(-h21 * g1 + h11 * g2) / det
    slope <- g1 * da + g2 * db
    step <- 1
    while (step >= 1e-10) {
      trial <- loss(a + step * da, b + step * db)
      if (trial < value + 1e-4 * step * slope) break
      step <- step / 2
    }
    if (step < 1e-10) break
    a <- a + step * da; b <- b + step * db; value <- trial
  }
  list(A = a, B = b)
}
