# How the UCI protocols choose: the candidates (a kernel of the family and a
# classifier with its regularisation), their accuracies on a validation
# split, and the vote of the best ones refitted on a fold's training part.

# One row per candidate, in the order that breaks ties: kernel (depth, then
# fixed), then the SVM's costs ascending, then the ridges as given.
uci_candidates <- function(n_kernels, costs, ridges, learners) {
  rows <- lapply(seq_len(n_kernels), function(r) rbind(
    if ("svm" %in% learners) data.frame(kernel = r, learner = "svm", C = costs, ridge = NA_real_),
    if ("krr" %in% learners) data.frame(kernel = r, learner = "krr", C = NA_real_, ridge = ridges)))
  out <- do.call(rbind, rows)
  rownames(out) <- NULL
  out
}

# `kernel(r)`: the kernel matrix of row r of the family's grid
candidate_predict <- function(cand, kernel, y, train, test, solver) {
  k <- kernel(cand$kernel)
  if (cand$learner == "svm") svm_predict(k, y, train, test, cand$C, solver)
  else krr_predict(k, y, train, test, cand$ridge)
}

# The `ensemble` best candidates by accuracy on `valid` after fitting on
# `fit` (ties: the first in candidate order), with the best one's accuracy
# and the SVM fits stopped by the iteration limit.
choose_candidates <- function(cands, kernel, y, fit, valid, ensemble, solver) {
  capped <- 0L
  acc <- vapply(seq_len(nrow(cands)), function(i) {
    pred <- candidate_predict(cands[i, ], kernel, y, fit, valid, solver)
    if (is.null(pred)) return(-Inf)
    capped <<- capped + attr(pred, "capped")
    mean(pred == as.integer(y)[valid])
  }, 1)
  ok <- which(is.finite(acc))
  if (!length(ok)) stop("no candidate configuration could be fitted", call. = FALSE)
  top <- ok[order(-acc[ok], ok)][seq_len(min(ensemble, length(ok)))]
  list(top = top, validation = acc[top[1]], capped = capped)
}

# A fold's training part split in two for validation: the parts of the
# collection's own validation split that lie in it (so the split is fixed
# by the data files, not by a seed); alternate rows if one part is empty.
training_split <- function(holdout, train) {
  fit <- holdout[[1]][holdout[[1]] %in% train]
  valid <- holdout[[2]][holdout[[2]] %in% train]
  if (!length(fit) || !length(valid)) {
    odd <- seq_along(train) %% 2L == 1L
    fit <- train[odd]
    valid <- train[!odd]
  }
  list(fit = fit, valid = valid)
}

# Majority vote of class codes; a tie goes to the class backed by the
# better-ranked members (the rank weights of all members add to less than
# half a vote, for any ensemble size).
vote <- function(preds, n_classes) {
  size <- length(preds)
  if (size == 1L) return(as.vector(preds[[1]]))
  votes <- matrix(0, length(preds[[1]]), n_classes)
  for (m in seq_len(size)) {
    cell <- cbind(seq_along(preds[[m]]), preds[[m]])
    votes[cell] <- votes[cell] + 1 + 0.5 * (size - m) / size^2
  }
  max.col(votes, ties.method = "first")
}

candidate_label <- function(cand, grid) {
  sprintf("%s %d/%d %s", cand$learner, grid$depth[cand$kernel], grid$fixed[cand$kernel],
          if (cand$learner == "svm") sprintf("C=%g", cand$C) else sprintf("ridge=%g", cand$ridge))
}
