# Long computations stop soon after an interrupt (SIGINT, as Ctrl-C sends),
# free their memory and leave no thread running. Each case runs in a child R
# process that catches the interrupt and reports what it sees afterwards.
interrupt_child <- function(setup, call) {
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "suppressPackageStartupMessages(library(ntk))",
    setup,
    "gc(); before <- sum(gc()[, 2])",
    "cat('started\\n')",
    sprintf("r <- tryCatch({%s; 'finished'}, interrupt = function(e) 'interrupted')", call),
    "after <- sum(gc()[, 2])",
    "cpu <- proc.time()[1:2]; Sys.sleep(0.5); idle <- sum(proc.time()[1:2] - cpu)",
    "cat(r, after - before, idle, '\\n')"), script)
  p <- processx::process$new(file.path(R.home("bin"), "Rscript"), script, stdout = "|", stderr = "|")
  on.exit(p$kill())
  out <- ""
  while (!grepl("started", out) && p$is_alive()) {
    p$poll_io(200)
    out <- paste0(out, p$read_output())
  }
  Sys.sleep(1)                                        # let the computation run
  sent <- Sys.time()
  p$interrupt()
  p$wait(20000)
  waited <- as.numeric(Sys.time() - sent, units = "secs")
  out <- paste0(out, p$read_all_output())
  fields <- strsplit(trimws(sub(".*started\\s*", "", out)), " +")[[1]]
  list(result = fields[1], memory_mb = as.numeric(fields[2]), idle_cpu = as.numeric(fields[3]),
       seconds = waited - 0.5)                         # less the child's idle check
}

test_that("kernels and finite networks stop on an interrupt and clean up", {
  skip_if_not_installed("processx")
  skip_on_os("windows")
  cases <- list(
    fc = c("x <- matrix(rnorm(20000 * 10), 20000)", "nt_kernel(nt_fc(5), x, threads = 2, progress = FALSE)"),
    cntk_gap = c("x <- array(rnorm(8 * 32 * 32 * 3), c(8, 32, 32, 3))",
                 "nt_kernel(nt_cnn(21, readout = 'gap'), x, threads = 2, progress = FALSE)"),
    empirical = c("x <- matrix(rnorm(40), 10)",
                  "nt_empirical(nt_fc(3), x, width = 2048, samples = 1000, progress = FALSE)"),
    train = c("x <- matrix(rnorm(40), 10)",
              "nt_train(nt_fc(3), x, x[, 1], width = 2048, steps = 100000, progress = FALSE)"),
    # inside one long step: the CNN's self pass (each image against itself,
    # several seconds here before the first pair), one Monte Carlo sample,
    # one gradient step
    cntk_self_pass = c("x <- array(rnorm(200 * 32 * 32), c(200, 32, 32, 1))",
                       "nt_kernel(nt_cnn(3, readout = 'gap'), x, threads = 2, progress = FALSE)"),
    empirical_one_sample = c("x <- matrix(rnorm(1500 * 10), 1500)",
                             "nt_empirical(nt_fc(2), x, width = 3000, samples = 1, progress = FALSE)"),
    train_one_step = c("x <- matrix(rnorm(1500 * 10), 1500)",
                       "nt_train(nt_fc(2), x, x[, 1], width = 3000, steps = 2, progress = FALSE)"))
  # about 1 s on an unloaded machine; the sanitizer stage runs everything
  # several times slower
  limit <- if (grepl("asan", Sys.getenv("LD_PRELOAD"))) 30 else 5
  for (name in names(cases)) {
    res <- interrupt_child(cases[[name]][1], cases[[name]][2])
    expect_identical(res$result, "interrupted", label = name)
    expect_lt(res$seconds, limit)
    expect_lt(res$memory_mb, 20, label = paste(name, "memory kept after gc (MB)"))
    expect_lt(res$idle_cpu, 0.2, label = paste(name, "CPU used while idle (s)"))
  }
})

test_that("nt_fit's eigendecomposition returns at once on an interrupt", {
  skip_if_not_installed("processx")
  skip_on_os("windows")
  # LAPACK cannot be stopped: the decomposition finishes on its worker thread
  # in the background (and frees its memory then), so only the prompt return
  # and R's own memory are checked here, not the idle CPU.
  res <- interrupt_child("set.seed(1); x <- matrix(rnorm(2500 * 5), 2500); y <- x[, 1]",
                         "nt_fit(x, y, threads = 2)")
  limit <- if (grepl("asan", Sys.getenv("LD_PRELOAD"))) 30 else 5
  expect_identical(res$result, "interrupted")
  expect_lt(res$seconds, limit)
  expect_lt(res$memory_mb, 20)
})

test_that("the interruptible eigendecomposition is eigen()'s", {
  set.seed(2)
  a <- crossprod(matrix(rnorm(60 * 40), 60, 40)) + diag(1e-3, 40)
  mine <- ntk:::sym_eigen(a)
  ref <- eigen(a, symmetric = TRUE)
  expect_equal(mine$values, ref$values, tolerance = 1e-12)
  # eigenvectors up to sign: compare the projectors
  expect_equal(abs(colSums(mine$vectors * ref$vectors)), rep(1, 40), tolerance = 1e-9)
  expect_equal(mine$vectors %*% (mine$values * t(mine$vectors)), a, tolerance = 1e-12)
  expect_error(ntk:::sym_eigen(matrix(c(1, NA, NA, 1), 2)), "NA")
})
