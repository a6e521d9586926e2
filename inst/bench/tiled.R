# A CNTK-GAP kernel (depth 11 on 16 x 16 x 3 images, 64 images) tile by tile:
# two local workers (plan(multisession, workers = 2), one thread each)
# against the same tiles computed sequentially on one thread, in this run
# (target: at least 1.8 times faster).
#
# Run: Rscript inst/bench/tiled.R   (needs bench, future.apply, progressr)
library(ntk)
library(bench)
set.seed(1)
x <- array(rnorm(64 * 16 * 16 * 3), c(64, 16, 16, 3))
net <- nt_cnn(11, readout = "gap")
future::plan(future::sequential)
seq_time <- as.numeric(bench::mark(nt_kernel_tiled(net, x, tile = 16, threads = 1),
                                   iterations = 1, check = FALSE, filter_gc = FALSE)$median)
future::plan(future::multisession, workers = 2)
invisible(future.apply::future_lapply(1:2, function(i) { library(ntk); i }))   # workers up, ntk loaded
par_time <- as.numeric(bench::mark(nt_kernel_tiled(net, x, tile = 16, threads = 1),
                                   iterations = 1, check = FALSE, filter_gc = FALSE)$median)
future::plan(future::sequential)
plain <- as.numeric(bench::mark(nt_kernel(net, x, threads = 1, progress = FALSE),
                                iterations = 1, check = FALSE, filter_gc = FALSE)$median)
cat(sprintf("tiles sequential %.1f s, on 2 workers %.1f s: speed-up %.2f (target >= 1.8); nt_kernel on one thread %.1f s\n",
            seq_time, par_time, seq_time / par_time, plain))
