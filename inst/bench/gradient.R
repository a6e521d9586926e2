# Kernel gradients: nt_kernel(gradient = TRUE) against (1 + number of
# parameters) plain kernels of the same network, measured in this run, one
# thread. Networks: nt_fc(3) (3 tied parameters) and nt_fc(3) with one
# relevance per input column (d = 20: 27 parameters), n = 2000. Measured
# 2026-12-02 on 2 cores (one used): ratios 3.90 and 4.10 in two runs for the
# 3 tied parameters (bound 4), 23-24 for 27 (bound 28).
#
# Run: Rscript inst/bench/gradient.R   (needs bench; about a minute)
library(ntk)
library(bench)
set.seed(1)
n <- 2000; d <- 20
x <- matrix(rnorm(n * d), n)
med <- function(expr) {
  e <- substitute(expr)
  env <- parent.frame()
  as.numeric(bench::mark(eval(e, env), iterations = 3, check = FALSE, filter_gc = FALSE)$median)
}
nets <- list(tied = nt_fc(3, b_var = 0.1),
             relevance = nt_serial(nt_dense(rep(1, d), 0.1), nt_relu(), nt_dense(2, 0.1), nt_relu(),
                                   nt_dense(2, 0.1), nt_relu(), nt_dense(2, 0.1)))
for (name in names(nets)) {
  net <- nets[[name]]
  both <- med(nt_kernel(net, x, what = c("ntk", "nngp"), threads = 1, progress = FALSE))
  grad <- med(nt_kernel(net, x, what = c("ntk", "nngp"), gradient = TRUE, threads = 1, progress = FALSE))
  p <- length(attr(nt_kernel(net, x[1:2, ], gradient = TRUE), "gradient"))
  cat(sprintf("%-9s %2d parameters: kernel %.3f s, with gradients %.3f s; ratio %.2f (bound 1 + p = %d)\n",
              name, p, both, grad, grad / both, 1 + p))
}
