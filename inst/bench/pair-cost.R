# The CNTK cost per image pair of residual and layer-normalised
# convolutional networks against a plain CNN of the same depth (the same
# number of 3 x 3 convolutions), for both readouts, one thread, NTK and
# NNGP from one pass; printed as ratios to the plain CNN measured in the
# same run (goal: at most 1.5).
#
#   plain:    conv, then (relu, conv) x (D - 1), relu, readout, dense
#   residual: conv, then (D - 1) / 2 blocks relu, conv, relu, conv beside
#             the identity, summed, then relu, readout, dense
#   layernorm: the plain CNN with nt_layer_norm() after every convolution
#   both:     the residual CNN with nt_layer_norm() after every convolution
#
# Per pair of a cross kernel of 6 x 6 images (GAP) or 100 x 100 (Flatten),
# the once-per-image self passes included (12 and 200 of them).
#
# Run: Rscript inst/bench/pair-cost.R [depth] [image side]   (needs bench)
library(ntk)
library(bench)
args <- commandArgs(trailingOnly = TRUE)
depth <- if (length(args) >= 1) as.integer(args[1]) else 9L
side <- if (length(args) >= 2) as.integer(args[2]) else 16L
stopifnot(depth >= 3, depth %% 2 == 1)
set.seed(1)
img <- function(n) array(rnorm(n * side * side * 3), c(n, side, side, 3))

conv <- function(w_var, norm) if (norm) list(nt_conv(3, w_var), nt_layer_norm()) else list(nt_conv(3, w_var))
plain <- function(readout, norm = FALSE)
  nt_serial(conv(1, norm), lapply(seq_len(depth - 1L), function(i) list(nt_relu(), conv(2, norm))),
            nt_relu(), readout, nt_dense())
residual <- function(readout, norm = FALSE)
  nt_serial(conv(1, norm),
            lapply(seq_len((depth - 1L) %/% 2L), function(i)
              nt_residual(nt_serial(nt_relu(), conv(2, norm), nt_relu(), conv(2, norm)))),
            nt_relu(), readout, nt_dense())

one <- function(net, a, b) nt_kernel(net, a, b, what = c("ntk", "nngp"), threads = 1, progress = FALSE)
# the fastest of 5 runs after a warm-up: the least disturbed by other load
seconds <- function(run) {
  run()
  as.numeric(bench::mark(run(), iterations = 5, check = FALSE, filter_gc = FALSE)$min)
}
per_pair <- function(n) function(net) {
  x <- img(n); z <- img(n)
  seconds(function() one(net, x, z)) / (n * n)
}
gap_pair <- per_pair(6)
flat_pair <- per_pair(100)

cat(sprintf("machine: %s, %d cores; R %s; depth %d, %d x %d x 3 images, one thread\n",
            Sys.info()[["machine"]], parallel::detectCores(), getRversion(), depth, side, side))
for (readout in c("gap", "flatten")) {
  make <- if (readout == "gap") nt_global_avg_pool else nt_flatten
  cost <- if (readout == "gap") gap_pair else flat_pair
  base <- cost(plain(make()))
  others <- c(residual = cost(residual(make())), layernorm = cost(plain(make(), TRUE)),
              both = cost(residual(make(), TRUE)))
  cat(sprintf("%-7s plain %.3g ms per pair; %s\n", readout, 1000 * base,
              paste(sprintf("%s %.2fx", names(others), others / base), collapse = ", ")))
}
