# Memory guards: every call that allocates big compares its peak with the
# memory available (options(ntk.memory_limit) overrides the system's figure)
# and stops before allocating, with the figures in the message.

with_limit <- function(bytes, code) {
  old <- options(ntk.memory_limit = bytes)
  on.exit(options(old))
  code
}

test_that("the memory figure is the system's, or the option's", {
  avail <- ntk:::available_memory()
  expect_gt(avail, 0)
  if (file.exists("/proc/meminfo")) {
    total <- as.numeric(sub("\\D*(\\d+).*", "\\1", grep("^MemTotal", readLines("/proc/meminfo"), value = TRUE)))
    expect_lte(avail, total * 1024)
  }
  expect_identical(with_limit(12345, ntk:::available_memory()), 12345)
  expect_error(with_limit("lots", nt_kernel(nt_fc(1), matrix(1, 2, 2))), "ntk.memory_limit.*positive")
  expect_error(with_limit(-1, nt_kernel(nt_fc(1), matrix(1, 2, 2))), "ntk.memory_limit")
})

test_that("kernels stop before allocating more than is available, with the figure", {
  x <- matrix(rnorm(300 * 3), 300)
  need <- 300^2 * 8 * 2      # ntk and nngp
  expect_error(with_limit(need * 0.9, nt_kernel(nt_fc(2), x, what = c("ntk", "nngp"))),
               sprintf("the kernel matrix of 300 x 300 entries would bring this call to %.1f MB", need / 1e6))
  expect_silent(with_limit(need * 1.5, nt_kernel(nt_fc(2), x, what = c("ntk", "nngp"))))
  expect_error(with_limit(1e5, nt_fc_family(x, max_depth = 2)), "family of kernel matrices.*MB")
  img <- array(rnorm(3 * 6 * 6), c(3, 6, 6, 1))
  expect_error(with_limit(10, nt_kernel(nt_cnn(2), img)), "0.0 MB of memory are available")
})

test_that("the CNN counts one pair workspace per thread", {
  skip_if(ntk:::clamp_threads(2L) < 2L, "one core: a second thread is not granted")
  img <- array(rnorm(2 * 24 * 24), c(2, 24, 24, 1))
  net <- nt_cnn(1, readout = "gap")             # all position pairs: 576^2 entries per state
  one <- 576^2 * 4 * 8                          # four states (two slots' k and t) per thread
  limit <- 1.5 * one + 1e6
  expect_silent(with_limit(limit, nt_kernel(net, img, threads = 1)))
  expect_error(with_limit(limit, nt_kernel(net, img, threads = 2)), "per-thread pair workspaces")
})

test_that("nt_fit checks its whole peak, about 4 kernels, before the kernel is computed", {
  x <- matrix(rnorm(400 * 2), 400)
  y <- x[, 1]
  kernels <- 2 * 400^2 * 8
  expect_error(with_limit(kernels * 1.2, nt_fit(x, y)), "nt_fit on 400 observations would need")
  fit <- with_limit(400^2 * 8 * 4.5, nt_fit(x, y))
  expect_lt(sqrt(mean(residuals(fit)^2)), 0.2 * sd(y))
})

test_that("finite networks check their activations and outputs", {
  x <- matrix(rnorm(200 * 3), 200)
  expect_error(with_limit(200^2 * 8 * 1.5, nt_empirical(nt_fc(1), x, width = 16)),
               "the empirical kernels of 200 x 200 entries")
  expect_error(with_limit(1e6, nt_empirical(nt_fc(2), x, width = 4096)), "activations")
  expect_error(with_limit(200^2 * 8, nt_train(nt_fc(1), x, x[, 1], width = 16, steps = 2, ntk = TRUE)),
               "empirical NTKs before and after")
})

test_that("nt_kernel_tiled without a store checks the kernel's size before computing", {
  skip_if_not_installed("future.apply")
  x <- matrix(rnorm(400 * 2), 400)
  started <- proc.time()[[3]]
  expect_error(with_limit(400^2 * 8, nt_kernel_tiled(nt_fc(1), x, tile = 100)),
               "nt_kernel_tiled\\(\\) without a store .* would need 2.6 MB")
  expect_lt(proc.time()[[3]] - started, 5)
})

test_that("a local average pool wider than the image is the whole-image pool, at its cost", {
  img <- array(rnorm(3 * 4 * 4), c(3, 4, 4, 1))
  wide <- nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_local_avg_pool(2000), nt_dense()), img)
  reach <- nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_local_avg_pool(3), nt_dense()), img)
  expect_equal(wide@.Data, reach@.Data, tolerance = 1e-14)
  plan <- ntk:::compile_spatial_plan(nt_serial(nt_conv(3), nt_relu(), nt_local_avg_pool(2000), nt_dense()),
                                     c(4L, 4L, 1L))
  expect_lte(ncol(plan$band), 49L)              # (2 * 3 + 1)^2 offsets, not 4001^2
})

# The peak resident memory a call adds, in n x n matrices, in a fresh R.
peak_copies <- function(call, n) {
  script <- tempfile(fileext = ".R")
  writeLines(c(
    "suppressMessages(library(ntk))",
    "hwm <- function() as.numeric(sub('\\\\D*(\\\\d+).*', '\\\\1', grep('VmHWM', readLines('/proc/self/status'), value = TRUE))) * 1024",
    sprintf("n <- %d; set.seed(1); x <- matrix(rnorm(n * 4), n, dimnames = list(paste0('r', 1:n), NULL)); y <- x[, 1]", n),
    "gc(); base <- hwm()",
    sprintf("out <- %s", call),
    "cat((hwm() - base) / (8 * n^2), '\\n')"), script)
  out <- system2(file.path(R.home("bin"), "Rscript"), script, stdout = TRUE)
  as.numeric(out[length(out)])
}

test_that("nt_fit, nt_kernel and nt_empirical keep no extra copies of the kernels", {
  skip_if_not(file.exists("/proc/self/status"))
  # ASan's shadow memory and quarantine inflate the resident size: the
  # figures are measured by the plain run of the suite
  skip_if(grepl("asan", Sys.getenv("LD_PRELOAD")), "resident size under ASan")
  # the two kernels, labelled, without a copy
  expect_lt(peak_copies("nt_kernel(nt_fc(2), x, what = c('ntk', 'nngp'), threads = 1)", 1500), 2.3)
  # was about 7.5: two kernels plus the decomposition (LAPACK's copy and the vectors)
  expect_lt(peak_copies("nt_fit(x, y, threads = 1)", 1500), 4.6)
  # was about 9: now the two kernels and bounded blocks of workspace (8 MB)
  expect_lt(peak_copies("nt_empirical(nt_fc(2), x, width = 64, what = c('ntk', 'nngp'))", 1500), 3.3)
})
