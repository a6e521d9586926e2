# The main job: NTK-SVM against a Gaussian-kernel SVM and a random forest on
# UCI datasets that R packages ship (Arora et al. 2020, small-data setting).
#
# Protocol: for each dataset, 3 random splits into 75 % training and 25 %
# test (seeded). Within the training part a 70/30 validation split chooses
# the hyper-parameters: for NTK-SVM Arora et al.'s grid (15 kernels
# K[dep][fix], dep 0..4, fix 0..dep, on standardised features, x 7 values of
# C in 10^(-2..4); ties keep the first in that order), for the Gaussian SVM
# 15 values of sigma in 10^(-4..1) x the same C, for the random forest mtry in
# {sqrt(d), d/3, d} with 500 trees. The chosen model is refitted on the whole
# training part and scored on the test part; the table reports the mean test
# accuracy over the splits, then average accuracy and Friedman rank.
#
# Run with: Rscript inst/scripts/main.R [output.png]   (after installing ntk)
suppressPackageStartupMessages({
  library(ntk)
  library(kernlab)
})
args <- commandArgs(trailingOnly = TRUE)
plot_file <- if (length(args)) args[1] else "uci-comparison.png"

datasets <- local({
  e <- new.env()
  data(list = c("Sonar", "Ionosphere", "PimaIndiansDiabetes", "Glass", "Vehicle"),
       package = "mlbench", envir = e)
  numeric_part <- function(df) {
    keep <- vapply(df, is.numeric, NA)
    x <- as.matrix(df[, keep])
    x[, apply(x, 2, stats::sd) > 0, drop = FALSE]
  }
  iono <- e$Ionosphere
  iono$V1 <- as.numeric(iono$V1 == "1"); iono$V2 <- NULL
  list(iris = list(x = as.matrix(iris[, 1:4]), y = iris$Species),
       Sonar = list(x = numeric_part(e$Sonar), y = e$Sonar$Class),
       Ionosphere = list(x = numeric_part(iono), y = iono$Class),
       Pima = list(x = numeric_part(e$PimaIndiansDiabetes), y = e$PimaIndiansDiabetes$diabetes),
       Glass = list(x = numeric_part(e$Glass), y = droplevels(e$Glass$Type)),
       Vehicle = list(x = numeric_part(e$Vehicle), y = e$Vehicle$Class))
})

costs <- 10^(-2:4)
accuracy <- function(pred, y) mean(as.character(pred) == as.character(y))

svm_on_kernel <- function(k, y, train, test, C) {
  model <- ksvm(as.kernelMatrix(k[train, train]), y[train], type = "C-svc", kernel = "matrix",
                C = C, shrinking = FALSE)
  accuracy(nt_predict_ksvm(model, k[test, train, drop = FALSE]), y[test])
}

# Choose on a validation split of `train`, then score the choice on `test`.
select_and_score <- function(kernels, y, train, test) {
  set.seed(99)
  fit <- sample(train, round(0.7 * length(train)))
  valid <- setdiff(train, fit)
  best <- list(acc = -1)
  for (i in seq_along(kernels)) for (C in costs) {
    acc <- svm_on_kernel(kernels[[i]], y, fit, valid, C)
    if (acc > best$acc) best <- list(acc = acc, i = i, C = C)
  }
  svm_on_kernel(kernels[[best$i]], y, train, test, best$C)
}

ntk_svm <- function(x, y, train, test) {
  fam <- nt_fc_family(x, max_depth = 4, arora = TRUE, progress = FALSE)
  select_and_score(lapply(fam$ntk, function(k) k@.Data), y, train, test)
}

rbf_svm <- function(x, y, train, test) {
  kernels <- lapply(10^seq(-4, 1, length.out = 15), function(s) kernelMatrix(rbfdot(s), x)@.Data)
  select_and_score(kernels, y, train, test)
}

forest <- function(x, y, train, test) {
  d <- ncol(x)
  set.seed(99)
  fit <- sample(train, round(0.7 * length(train)))
  valid <- setdiff(train, fit)
  tries <- unique(pmax(1, round(c(sqrt(d), d / 3, d))))
  score <- function(m, tr, te) {
    rf <- randomForest::randomForest(x[tr, , drop = FALSE], y[tr], mtry = m, ntree = 500)
    accuracy(stats::predict(rf, x[te, , drop = FALSE]), y[te])
  }
  m <- tries[which.max(vapply(tries, score, 1, tr = fit, te = valid))]
  score(m, train, test)
}

started <- Sys.time()
rows <- lapply(names(datasets), function(name) {
  x <- scale(datasets[[name]]$x); y <- datasets[[name]]$y
  res <- vapply(1:3, function(rep) {
    set.seed(rep)
    train <- sample(nrow(x), round(0.75 * nrow(x)))
    test <- setdiff(seq_len(nrow(x)), train)
    c(ntk = ntk_svm(x, y, train, test), rbf = rbf_svm(x, y, train, test),
      rf = forest(x, y, train, test))
  }, numeric(3))
  cat(sprintf("%-11s n = %4d, d = %2d: NTK-SVM %.3f  Gaussian SVM %.3f  random forest %.3f\n",
              name, nrow(x), ncol(x), mean(res[1, ]), mean(res[2, ]), mean(res[3, ])))
  data.frame(dataset = name, ntk = mean(res[1, ]), rbf = mean(res[2, ]), rf = mean(res[3, ]))
})
table <- do.call(rbind, rows)
summary <- nt_uci_summary(data.frame(dataset = table$dataset, accuracy = table$ntk),
                          data.frame(dataset = table$dataset, "Gaussian SVM" = table$rbf,
                                     "random forest" = table$rf, check.names = FALSE))
summary$classifier[summary$classifier == "NTK"] <- "NTK-SVM"
cat("\nMean test accuracy over 3 splits (75/25), hyper-parameters chosen on a validation split:\n")
print(summary[, c("classifier", "accuracy", "friedman_rank", "p95", "pma")], row.names = FALSE, digits = 3)
cat(sprintf("\n(%.0f s in all)\n", as.numeric(Sys.time() - started, units = "secs")))

grDevices::png(plot_file, width = 800, height = 480)
graphics::par(mar = c(5, 5, 3, 1))
graphics::barplot(t(as.matrix(table[, c("ntk", "rbf", "rf")])), beside = TRUE, names.arg = table$dataset,
                  ylim = c(0, 1.15), ylab = "test accuracy", legend.text = c("NTK-SVM", "Gaussian SVM", "random forest"),
                  args.legend = list(x = "top", horiz = TRUE, bty = "n"), col = c("#1b9e77", "#d95f02", "#7570b3"),
                  main = "UCI datasets from mlbench: mean test accuracy over 3 splits")
invisible(grDevices::dev.off())
cat("plot saved to", plot_file, "\n")
