# ksvm with kernel = ntkdot() against ksvm on the precomputed kernel matrix
# plus the time to compute that matrix, measured in the same run (target:
# ratio at most 1.5). Data: mlbench's Satellite, 2000 training points.
#
# Run: Rscript inst/bench/kernlab.R   (needs bench and mlbench)
library(ntk)
library(kernlab)
library(bench)
data(Satellite, package = "mlbench")
set.seed(1)
rows <- sample(nrow(Satellite), 2000)
x <- scale(as.matrix(Satellite[rows, 1:36]))
y <- Satellite$classes[rows]
net <- nt_fc(3)
res <- bench::mark(
  precomputed = {
    k <- nt_kernel(net, x, progress = FALSE)
    ksvm(k, y, kernel = "matrix", C = 10)
  },
  ntkdot = ksvm(x, y, kernel = ntkdot(net), C = 10, scaled = FALSE, shrinking = FALSE),
  iterations = 3, check = FALSE, filter_gc = FALSE)
ratio <- as.numeric(res$median[2]) / as.numeric(res$median[1])
cat(sprintf("precomputed kernel + ksvm: %.2f s; ksvm(kernel = ntkdot()): %.2f s; ratio %.2f (target <= 1.5)\n",
            as.numeric(res$median[1]), as.numeric(res$median[2]), ratio))
