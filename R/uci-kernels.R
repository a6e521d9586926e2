# The kernels K[dep][fix] of a UCI dataset, as a function of their row in
# the family's grid (depth, then fixed). They depend on the inputs only, not
# on labels or splits. When the whole family fits in half the available
# memory it is computed in one nt_fc_family() pass; otherwise one kernel at a
# time (the one last asked for is kept), so that the peak is one n x n
# kernel: past 5000 samples a family of 15 is 15 of them.
uci_kernel_source <- function(x, max_depth, threads) {
  grid <- do.call(rbind, lapply(0:max_depth, function(d) data.frame(depth = d, fixed = 0:d)))
  timer <- new.env()
  timer$seconds <- 0
  timed <- function(expr) {
    started <- proc.time()[["elapsed"]]
    on.exit(timer$seconds <- timer$seconds + proc.time()[["elapsed"]] - started)
    expr
  }
  # the NTKs and the NNGPs of the whole family
  together <- 2 * nrow(grid) * as.double(nrow(x))^2 * 8 <= available_memory() / 2
  if (together) {
    kernels <- timed(lapply(nt_fc_family(x, max_depth = max_depth, arora = TRUE, threads = threads,
                                         progress = FALSE)$ntk, function(k) k@.Data))
    get <- function(r) kernels[[r]]
  } else {
    cache <- new.env()
    get <- function(r) {
      if (!identical(cache$row, r)) {
        cache$kernel <- NULL                   # freed before the next one is computed
        cache$kernel <- timed(nt_kernel(nt_fc_arora(grid$depth[r], grid$fixed[r], ncol(x)), x,
                                        threads = threads, progress = FALSE)@.Data)
        cache$row <- r
      }
      cache$kernel
    }
  }
  list(grid = grid, kernel = get, seconds = function() timer$seconds, together = together)
}
