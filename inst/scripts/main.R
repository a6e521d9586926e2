# The main job: exact infinite-width kernels on a real data set, and a
# support vector machine trained on them (kernlab), beside a Gaussian SVM.
# Run with: Rscript inst/scripts/main.R   (after installing ntk)
suppressPackageStartupMessages({
  library(ntk)
  library(kernlab)
})

data(spam, package = "kernlab")
set.seed(2019)
x <- scale(as.matrix(spam[, -58]))
y <- spam$type
train <- sample(nrow(x), 1500)
test <- sample(setdiff(seq_len(nrow(x)), train), 1500)

net <- nt_fc(depth = 3, activation = "relu", w_var = 2)
cat("Network (Arora et al. 2019, c_sigma = 2):\n")
print(net)

timing <- system.time(
  k <- nt_kernel(net, x[train, ], what = c("ntk", "nngp"), progress = FALSE))
cat(sprintf("\nNTK and NNGP of %d training points in one pass: %.2f s on %d thread(s)\n",
            length(train), timing[["elapsed"]], nt_threads()))
cat("NTK, first 4 x 4 entries:\n")
print(round(k$ntk[1:4, 1:4], 4))
cat("NNGP, first 4 x 4 entries:\n")
print(round(k$nngp[1:4, 1:4], 4))

accuracy <- function(pred) mean(pred == y[test])

# A precomputed kernel: nt_kernel's matrices make ksvm default to
# shrinking = FALSE (kernlab's shrinking gives wrong solutions for precomputed
# kernels), and nt_predict_ksvm() keeps the support vectors' columns of the
# test kernel (kernlab silently mispredicts given all training columns).
fit_kernel_svm <- function(kernel_name, C) {
  model <- ksvm(k[[kernel_name]], y[train], kernel = "matrix", C = C)
  k_test <- nt_kernel(net, x[test, ], x[train, ], what = kernel_name, progress = FALSE)
  accuracy(nt_predict_ksvm(model, k_test))
}

rbf <- ksvm(x[train, ], y[train], kernel = "rbfdot", C = 1)
results <- data.frame(
  classifier = c("NTK-SVM (depth 3)", "NNGP-SVM (depth 3)", "Gaussian SVM (sigest)"),
  C = c(1, 1, 1),
  test_accuracy = c(fit_kernel_svm("ntk", 1), fit_kernel_svm("nngp", 1),
                    accuracy(predict(rbf, x[test, ]))))
cat(sprintf("\nspam (kernlab), %d training and %d test e-mails:\n", length(train), length(test)))
print(results, row.names = FALSE, digits = 4)
