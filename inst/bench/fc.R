# Fully connected kernels: depth-5 ReLU NTK, n = 5000, d = 50, z = NULL.
# Every figure is a ratio to a baseline measured in this run.
#
# Run: Rscript inst/bench/fc.R   (needs bench, kernlab, mlbench; a few minutes)
library(ntk)
library(bench)
set.seed(1)
n <- 5000; d <- 50
x <- matrix(rnorm(n * d), n)
net <- nt_fc(5)
med <- function(m) as.numeric(m$median)
time_of <- function(expr, iterations = 3) {
  e <- substitute(expr)
  env <- parent.frame()
  med(bench::mark(eval(e, env), iterations = iterations, check = FALSE, filter_gc = FALSE))
}

# The first kernel of a process also pays for the first touch of fresh
# memory (on this virtual machine, pages the host has not backed yet): timed
# apart, then every figure below is the median of repeated calls.
cold <- system.time(nt_kernel(net, x, threads = 1, progress = FALSE))[["elapsed"]]
invisible(nt_kernel(net, x, what = c("ntk", "nngp"), threads = 1, progress = FALSE))
one <- time_of(nt_kernel(net, x, threads = 1, progress = FALSE), iterations = 5)
two <- time_of(nt_kernel(net, x, threads = 2, progress = FALSE), iterations = 5)
both <- time_of(nt_kernel(net, x, what = c("ntk", "nngp"), threads = 1, progress = FALSE),
                iterations = 5)
rbf <- time_of(kernlab::kernelMatrix(kernlab::rbfdot(sigma = 0.01), x), iterations = 5)

# A plain vectorised R implementation, as users would write it (per layer).
r_ntk <- function(x, depth) {
  k <- tcrossprod(x) / ncol(x)
  t <- k
  for (h in seq_len(depth)) {
    s <- sqrt(diag(k))
    rho <- pmin(pmax(k / outer(s, s), -1), 1)
    theta <- acos(rho)
    k <- 2 * outer(s, s) * (sin(theta) + (pi - theta) * rho) / (2 * pi)
    t <- 2 * t * (pi - theta) / (2 * pi) + k
  }
  t
}
plain <- time_of(r_ntk(x, 5), iterations = 1)

# The floor: the BLAS Gram matrix plus one pass of the recursion's
# transcendental arithmetic (one acos and one sqrt per pair and layer over
# the upper triangle), each timed on its own.
gram <- time_of(tcrossprod(x))
v <- runif(n * (n + 1) / 2, 0, 1)
arith <- 5 * time_of({acos(v); sqrt(v)})
floor_s <- gram + arith

# Memory: bench's R-level allocations, against the output matrix plus input.
out_mb <- 8 * n * n / 2^20; in_mb <- 8 * n * d / 2^20
mem_full <- as.numeric(bench::mark(nt_kernel(net, x, threads = 1, progress = FALSE),
                                   iterations = 1, check = FALSE)$mem_alloc) / 2^20
z <- x[1:1000, ]
mem_cross <- as.numeric(bench::mark(nt_kernel(net, x, z, threads = 1, progress = FALSE),
                                    iterations = 1, check = FALSE)$mem_alloc) / 2^20
rss <- function(code) {
  script <- tempfile(fileext = ".R")
  writeLines(c("suppressMessages(library(ntk))", "set.seed(1)",
               sprintf("x <- matrix(rnorm(%d * %d), %d)", n, d, n), code), script)
  out <- system2("/usr/bin/time", c("-f", "%M", "Rscript", script), stdout = TRUE, stderr = TRUE)
  as.numeric(utils::tail(out, 1)) / 1024
}
rss_kernel <- rss("k <- nt_kernel(nt_fc(5), x, threads = 1, progress = FALSE)")
rss_base <- rss(sprintf("k <- matrix(runif(%d * %d), %d)", n, n, n))

cat(sprintf("machine: %s, %d cores, R %s\n", Sys.info()[["machine"]], parallel::detectCores(), getRversion()))
cat(sprintf("nt_kernel, 1 thread: %.2f s (first call of the process: %.2f s)\n", one, cold))
cat(sprintf("  / kernlab rbfdot kernelMatrix (%.2f s): %.2f (target <= 1)\n", rbf, one / rbf))
cat(sprintf("  plain vectorised R (%.1f s) / nt_kernel: %.1f (target >= 20)\n", plain, plain / one))
cat(sprintf("  / floor = BLAS Gram %.2f s + 5 x (acos + sqrt) over %d pairs %.2f s: %.2f (target <= 2)\n",
            gram, length(v), arith, one / floor_s))
cat(sprintf("  both kernels / one: %.2f (target <= 1.2)\n", both / one))
cat(sprintf("  1 thread / 2 threads: %.2f (target >= 1.8)\n", one / two))
cat(sprintf("  R allocations: full %.0f MB for a %.0f MB output + %.1f MB input (%.2f); cross (5000 x 1000) %.0f MB for %.0f MB (%.2f)\n",
            mem_full, out_mb, in_mb, mem_full / (out_mb + in_mb), mem_cross, out_mb / 5,
            mem_cross / (out_mb / 5 + in_mb)))
cat(sprintf("  peak RSS: %.0f MB against %.0f MB for R with the same input and an n x n matrix (%.2f)\n",
            rss_kernel, rss_base, rss_kernel / rss_base))

# Hyper-parameter search of Arora et al. (2020): 15 kernels x 7 C on a
# train / validation split, against a Gaussian SVM over 15 sigma x 7 C.
search <- function(x, y) {
  set.seed(2)
  tr <- sample(nrow(x), round(0.7 * nrow(x)))
  cs <- 10^(-2:4)
  ntk_time <- system.time({
    fam <- nt_fc_family(x[tr, ], max_depth = 4, arora = TRUE, progress = FALSE)
    famv <- nt_fc_family(x[-tr, ], x[tr, ], max_depth = 4, arora = TRUE, progress = FALSE)
    acc <- sapply(seq_along(fam$ntk), function(i) sapply(cs, function(C) {
      m <- kernlab::ksvm(fam$ntk[[i]], y[tr], kernel = "matrix", C = C)
      mean(nt_predict_ksvm(m, famv$ntk[[i]]) == y[-tr])
    }))
  })[["elapsed"]]
  sigmas <- 10^seq(-4, 1, length.out = 15)
  rbf_time <- system.time({
    acc_rbf <- sapply(sigmas, function(s) {
      k <- kernlab::kernelMatrix(kernlab::rbfdot(s), x[tr, ])
      kv <- kernlab::kernelMatrix(kernlab::rbfdot(s), x[-tr, ], x[tr, ])
      sapply(cs, function(C) {
        m <- kernlab::ksvm(kernlab::as.kernelMatrix(k), y[tr], kernel = "matrix", C = C,
                           shrinking = FALSE)
        mean(kernlab::predict(m, kernlab::as.kernelMatrix(kv[, kernlab::SVindex(m), drop = FALSE])) == y[-tr])
      })
    })
  })[["elapsed"]]
  c(ntk = ntk_time, rbf = rbf_time, ntk_best = max(acc), rbf_best = max(acc_rbf))
}
data(Sonar, package = "mlbench"); data(Vehicle, package = "mlbench")
for (set in list(list("Sonar", scale(as.matrix(Sonar[, 1:60])), Sonar$Class),
                 list("Vehicle", scale(as.matrix(Vehicle[, 1:18])), Vehicle$Class))) {
  r <- search(set[[2]], set[[3]])
  cat(sprintf("%s: 105-configuration NTK search %.1f s vs RBF %.1f s (ratio %.2f); best validation accuracy NTK %.3f, RBF %.3f\n",
              set[[1]], r[["ntk"]], r[["rbf"]], r[["ntk"]] / r[["rbf"]], r[["ntk_best"]], r[["rbf_best"]]))
}
