# Convolutional kernels on the Fashion-MNIST subset shipped in inst/extdata,
# in the spirit of Arora et al. (2019), Table 1: kernel regression with
# CNTK-V and CNTK-GAP by depth; plus horizontal flips and local average
# pooling (Li et al. 2019) at one depth. Writes inst/results/cntk.csv, which
# vignettes/cntk.Rmd reads.
#
# Protocol: the 28 x 28 images averaged over 2 x 2 blocks to 14 x 14 (the
# kernels' cost grows with the square of the number of pixels), grey
# levels / 255, standardised with the training mean and sd; the first
# `n_train` training images per class (of 50) and all 300 test images;
# targets one-hot minus 0.1; prediction K(test, train) K(train, train)^-1 Y
# (nt_predict at t = Inf, no ridge); accuracy = share of test images whose
# largest prediction is the true class. Kernels: nt_cnn_arora(depth,
# "trace") (CNTK-V) and nt_cnn_arora(depth, "gap") (CNTK-GAP, first and last
# layers fixed as in their code).
#
# Run from the package root (after installing ntk), about 40 minutes on one
# core with R's reference BLAS:
#   Rscript inst/scripts/cntk.R inst/results [threads]
suppressPackageStartupMessages(library(ntk))
args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) args[1] else "inst/results"
nt_threads(if (length(args) > 1) as.integer(args[2]) else 1L)
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
say <- function(...) message(format(Sys.time(), "%H:%M:%S "), sprintf(...))

fashion <- readRDS(system.file("extdata", "fashion-mnist-subset.rds", package = "ntk"))
n_train <- 30
block_mean <- function(a) {
  half <- seq(1, dim(a)[2], by = 2)
  (a[, half, half, , drop = FALSE] + a[, half + 1, half, , drop = FALSE] +
     a[, half, half + 1, , drop = FALSE] + a[, half + 1, half + 1, , drop = FALSE]) / 4
}
keep <- unlist(lapply(split(seq_along(fashion$train$y), fashion$train$y), head, n_train))
x_train <- block_mean(fashion$train$x[keep, , , , drop = FALSE] / 255)
x_test <- block_mean(fashion$test$x / 255)
centre <- mean(x_train); spread <- stats::sd(as.vector(x_train))
x_train <- (x_train - centre) / spread
x_test <- (x_test - centre) / spread
y_train <- fashion$train$y[keep]
y_test <- fashion$test$y
targets <- outer(as.integer(y_train), seq_along(levels(y_train)), "==") - 0.1
shape <- dim(x_train)[2:4]

# Arora et al.'s CNTK-GAP network with local average pooling as the readout
lap_net <- function(depth, c) {
  net <- nt_cnn_arora(depth, "gap", input_shape = shape)
  net[[length(net) - 1L]] <- nt_local_avg_pool(c)
  net
}

accuracy <- function(net, flip = FALSE) {
  started <- proc.time()[["elapsed"]]
  k_train <- nt_kernel(net, x_train, flip = flip)
  k_test <- nt_kernel(net, x_test, x_train, flip = flip)
  # (a local-average-pooling kernel need not be positive semi-definite,
  # which nt_predict() refuses: its negative eigenvalues are clipped here,
  # the projection onto the nearest positive semi-definite matrix)
  eig <- eigen(k_train, symmetric = TRUE)
  if (min(eig$values) < 0)
    k_train <- eig$vectors %*% (pmax(eig$values, 0) * t(eig$vectors))
  pred <- suppressWarnings(nt_predict(k_train, targets, k_test, t = Inf))$test[, , 1]
  eigen_range <- range(eigen(k_train, symmetric = TRUE, only.values = TRUE)$values)
  c(accuracy = mean(max.col(pred, ties.method = "first") == as.integer(y_test)),
    seconds = proc.time()[["elapsed"]] - started,
    min_eigen_ratio = eigen_range[1] / eigen_range[2])
}

# Arora et al.'s network with average pooling (window w, stride 1) then
# Flatten as the readout: a positive semi-definite local pooling
pool_net <- function(depth, w) {
  net <- nt_cnn_arora(depth, "trace", input_shape = shape)
  net[[length(net) - 1L]] <- nt_flatten()
  nt_serial(net[seq_len(length(net) - 2L)], nt_avg_pool(w, 1), net[length(net) - 1:0])
}

runs <- rbind(
  expand.grid(depth = c(3, 4, 6, 11), kernel = c("CNTK-V", "CNTK-GAP"), flip = FALSE,
              stringsAsFactors = FALSE),
  data.frame(depth = 6, kernel = c("CNTK-V", "CNTK-GAP", "CNTK-LAP(2)", "CNTK-LAP(4)",
                                   "CNTK-AvgPool(5)"),
             flip = c(TRUE, TRUE, FALSE, FALSE, FALSE)))
runs$accuracy <- NA_real_
runs$seconds <- NA_real_
runs$min_eigen_ratio <- NA_real_
# rows already in the results file are kept, not recomputed
out_file <- file.path(out_dir, "cntk.csv")
if (file.exists(out_file)) {
  done <- read.csv(out_file, stringsAsFactors = FALSE)
  key <- function(d) paste(d$depth, d$kernel, d$flip)
  at <- match(key(runs), key(done))
  cols <- c("accuracy", "seconds", "min_eigen_ratio")
  runs[!is.na(at), cols] <- done[at[!is.na(at)], cols]
}
for (i in which(is.na(runs$accuracy))) {
  net <- switch(runs$kernel[i],
                "CNTK-V" = nt_cnn_arora(runs$depth[i], "trace", input_shape = shape),
                "CNTK-GAP" = nt_cnn_arora(runs$depth[i], "gap", input_shape = shape),
                "CNTK-LAP(2)" = lap_net(runs$depth[i], 2),
                "CNTK-LAP(4)" = lap_net(runs$depth[i], 4),
                "CNTK-AvgPool(5)" = pool_net(runs$depth[i], 5))
  runs[i, c("accuracy", "seconds", "min_eigen_ratio")] <- accuracy(net, runs$flip[i])
  say("%s depth %d flip %s: %.3f (%.0f s)", runs$kernel[i], runs$depth[i], runs$flip[i],
      runs$accuracy[i], runs$seconds[i])
}
runs$n_train <- length(keep)
runs$n_test <- length(y_test)
runs$image <- "14x14x1"
write.csv(runs, out_file, row.names = FALSE)
writeLines(paste("R", getRversion(), "ntk", packageVersion("ntk"), "threads", nt_threads(),
                 format(Sys.time())), file.path(out_dir, "cntk-info.txt"))
