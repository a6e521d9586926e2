# The cost of class probabilities in caret: train(method = nt_caret_svm())
# with classProbs = TRUE (Platt scaling on 3-fold cross-validated decision
# values in every fit, ROC as the metric) against the same call without
# them, on Sonar (2 classes) and Vehicle (4 classes), measured in the same
# run (target: ratio at most 3). svmRadial is timed beside them for scale.
#
# Run: Rscript inst/bench/caret-probs.R   (needs bench, caret, mlbench, pROC)
library(ntk)
library(caret)
library(bench)
data(Sonar, package = "mlbench")
data(Vehicle, package = "mlbench")
run <- function(data, formula, method, probs) {
  two <- nlevels(stats::model.response(stats::model.frame(formula, data))) == 2L
  control <- trainControl("cv", number = 3, classProbs = probs,
                          summaryFunction = if (probs && two) twoClassSummary
                                            else if (probs) mnLogLoss else defaultSummary)
  set.seed(1)
  suppressWarnings(train(formula, data = data, method = method, tuneLength = 2,
                         metric = if (probs && two) "ROC" else if (probs) "logLoss" else "Accuracy",
                         preProcess = c("center", "scale"), trControl = control))
}
for (case in list(list("Sonar", Sonar, Class ~ .), list("Vehicle", Vehicle, Class ~ .))) {
  res <- bench::mark(
    plain = run(case[[2]], case[[3]], nt_caret_svm(), FALSE),
    probabilities = run(case[[2]], case[[3]], nt_caret_svm(), TRUE),
    svmRadial = run(case[[2]], case[[3]], "svmRadial", TRUE),
    iterations = 3, check = FALSE, filter_gc = FALSE)
  t <- as.numeric(res$median)
  cat(sprintf("%s: nt_caret_svm %.2f s, with classProbs %.2f s: ratio %.2f (target <= 3); svmRadial with classProbs %.2f s\n",
              case[[1]], t[1], t[2], t[2] / t[1], t[3]))
}
