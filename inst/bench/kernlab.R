# ksvm with kernel = ntkdot() against ksvm on the precomputed kernel matrix
# plus the time to compute that matrix, measured in the same run (target:
# ratio at most 1.5), for six classes (mlbench's Satellite, 2000 training
# points) and two (Ionosphere rows resampled to 1500, as a larger
# two-class set with repeated rows); and the size of the saved model against
# one with kernlab's rbfdot on the same data.
#
# Run: Rscript inst/bench/kernlab.R   (needs bench and mlbench; about a minute)
library(ntk)
library(kernlab)
library(bench)
data(Satellite, package = "mlbench")
data(Ionosphere, package = "mlbench")
set.seed(1)
rows <- sample(nrow(Satellite), 2000)
iono <- Ionosphere[, -2]
iono$V1 <- as.numeric(iono$V1)
resampled <- sample(nrow(iono), 1500, replace = TRUE)
cases <- list(
  "Satellite, 2000 x 36, 6 classes" =
    list(x = scale(as.matrix(Satellite[rows, 1:36])), y = Satellite$classes[rows]),
  "Ionosphere resampled, 1500 x 33, 2 classes" =
    list(x = scale(as.matrix(iono[resampled, 1:33])), y = iono$Class[resampled]))
net <- nt_fc(3)
saved_size <- function(model) {
  file <- tempfile()
  on.exit(unlink(file))
  saveRDS(model, file)
  file.size(file) / 1e6
}
for (name in names(cases)) {
  x <- cases[[name]]$x
  y <- cases[[name]]$y
  res <- bench::mark(
    precomputed = {
      k <- nt_kernel(net, x, progress = FALSE)
      ksvm(k, y, kernel = "matrix", C = 10)
    },
    ntkdot = ksvm(x, y, kernel = ntkdot(net), C = 10, scaled = FALSE),
    iterations = 3, check = FALSE, filter_gc = FALSE)
  ratio <- as.numeric(res$median[2]) / as.numeric(res$median[1])
  ours <- ksvm(x, y, kernel = ntkdot(net), C = 10, scaled = FALSE)
  rbf <- ksvm(x, y, kernel = "rbfdot", kpar = list(sigma = 0.05), C = 10, scaled = FALSE)
  cat(sprintf(paste0("%s: precomputed kernel + ksvm %.3f s; ksvm(kernel = ntkdot()) %.3f s; ",
                     "ratio %.2f (target <= 1.5)\n  saved model %.2f MB (%d SVs) against %.2f MB ",
                     "with rbfdot (%d SVs): %.2f times per support vector\n"),
              name, as.numeric(res$median[1]), as.numeric(res$median[2]), ratio,
              saved_size(ours), nSV(ours), saved_size(rbf), nSV(rbf),
              (saved_size(ours) / nSV(ours)) / (saved_size(rbf) / nSV(rbf))))
}
