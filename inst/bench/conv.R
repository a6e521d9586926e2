# Convolutional kernels, 32 x 32 x 3 images, depth-21 ReLU CNN (3 x 3 filters),
# one thread: time per image pair of the Flatten and the GlobalAvgPool
# kernels (both NTK and NNGP from one pass), beside neural-tangents'
# published CPU figures (neural-tangents' paper: 0.120 ms and 112.9 ms per
# entry on a 56-core CPU, i.e. about 6.7 core-ms and 6.3 core-s), and as a
# ratio to a baseline measured in the same run: one pass of the arithmetic
# floor of the GAP kernel (21 layers of a 9-point stencil over P^2 = 2^20
# position pairs for two kernels, plus one ReLU dual per pair and layer,
# timed as R's own vectorised acos over 2^20 values).
#
# Run: Rscript inst/bench/conv.R   (needs the bench package)
library(ntk)
library(bench)
set.seed(1)
img <- function(n) array(rnorm(n * 32 * 32 * 3), c(n, 32, 32, 3))
flat <- nt_cnn(21, readout = "flatten")
gap <- nt_cnn(21, readout = "gap")
x <- img(40); z <- img(40)
one <- function(net, a, b) nt_kernel(net, a, b, what = c("ntk", "nngp"), threads = 1, progress = FALSE)

flat_run <- bench::mark(one(flat, x, z), iterations = 3, check = FALSE, filter_gc = FALSE)
# A = 1 x 1 images: 2 self passes + 1 pair; B = 1 x 2: 3 self passes + 2 pairs.
gap_a <- bench::mark(one(gap, x[1, , , , drop = FALSE], z[1, , , , drop = FALSE]),
                     iterations = 2, check = FALSE, filter_gc = FALSE)
gap_b <- bench::mark(one(gap, x[1, , , , drop = FALSE], z[1:2, , , , drop = FALSE]),
                     iterations = 2, check = FALSE, filter_gc = FALSE)
rho <- runif(2^20, -1, 1)
floor_run <- bench::mark(acos(rho), iterations = 20, check = FALSE, filter_gc = FALSE)

flat_ms <- as.numeric(flat_run$median) * 1000 / (40 * 40)   # includes 80 self passes
gap_pair <- 2 * as.numeric(gap_b$median) - 3 * as.numeric(gap_a$median)
gap_self <- (as.numeric(gap_a$median) - gap_pair) / 2
gap_s <- gap_pair
acos_s <- as.numeric(floor_run$median)
cat(sprintf("machine: %s, %d cores; R %s\n", Sys.info()[["machine"]], parallel::detectCores(),
            getRversion()))
cat(sprintf("Flatten: %.3f ms per pair (target 0.3; neural-tangents CPU about 6.7 core-ms: %.0fx)\n",
            flat_ms, 6.7 / flat_ms))
cat(sprintf("GAP:     %.3f s per pair (target 0.3; neural-tangents CPU about 6.3 core-s: %.0fx); %.3f s per image's self pass (once per image)\n",
            gap_s, 6.3 / gap_s, gap_self))
cat(sprintf("GAP per pair / (21 layers x acos of 2^20 values, measured now): %.2f\n",
            gap_s / (21 * acos_s)))
