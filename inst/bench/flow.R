# nt_predict with 20 time points on n = 3000 training and 500 test points,
# as a ratio to one eigen(symmetric = TRUE) of the training kernel measured
# in the same run (target: at most 1.3).
#
# Run: Rscript inst/bench/flow.R   (needs the bench package; minutes with
# the reference BLAS)
library(ntk)
library(bench)
set.seed(1)
n <- 3000; m <- 500
x <- matrix(rnorm((n + m) * 20), n + m)
k <- nt_kernel(nt_fc(3), x, progress = FALSE)@.Data
k_train <- k[1:n, 1:n]; k_test <- k[n + 1:m, 1:n]
y <- sin(x[1:n, 1])
times <- c(10^seq(-2, 3, length.out = 19), Inf)
res <- bench::mark(
  eigen = eigen(k_train, symmetric = TRUE),
  nt_predict = nt_predict(k_train, y, k_test, t = times),
  iterations = 1, check = FALSE, filter_gc = FALSE)
ratio <- as.numeric(res$median[2]) / as.numeric(res$median[1])
cat(sprintf("eigen: %.1f s; nt_predict (20 times, %d test points): %.1f s; ratio %.2f (target <= 1.3)\n",
            as.numeric(res$median[1]), m, as.numeric(res$median[2]), ratio))
