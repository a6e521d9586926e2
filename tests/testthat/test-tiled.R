skip_if_not_installed("future.apply")
skip_if_not_installed("progressr")

test_that("tiled kernels equal nt_kernel bit for bit", {
  future::plan(future::sequential)
  set.seed(1)
  x <- matrix(rnorm(23 * 3), 23)
  z <- matrix(rnorm(9 * 3), 9)
  expect_identical(nt_kernel_tiled(nt_fc(2), x, tile = 7)@.Data, nt_kernel(nt_fc(2), x)@.Data)
  both <- nt_kernel_tiled(nt_fc(2, "erf", b_var = 0.1), x, z, tile = 4, what = c("ntk", "nngp"))
  ref <- nt_kernel(nt_fc(2, "erf", b_var = 0.1), x, z, what = c("ntk", "nngp"))
  expect_identical(both$ntk@.Data, ref$ntk@.Data)
  expect_identical(both$nngp@.Data, ref$nngp@.Data)
  img <- array(rnorm(7 * 5 * 4 * 2), c(7, 5, 4, 2))
  expect_identical(nt_kernel_tiled(nt_cnn(2, readout = "gap"), img, tile = 3)@.Data,
                   nt_kernel(nt_cnn(2, readout = "gap"), img)@.Data)
  expect_identical(nt_kernel_tiled(nt_cnn(2), img, img[1:4, , , , drop = FALSE], tile = 3)@.Data,
                   nt_kernel(nt_cnn(2), img, img[1:4, , , , drop = FALSE])@.Data)
})

test_that("tiles run on two local workers", {
  future::plan(future::multisession, workers = 2)
  on.exit(future::plan(future::sequential))
  set.seed(2)
  x <- matrix(rnorm(30 * 4), 30)
  expect_identical(nt_kernel_tiled(nt_fc(3), x, tile = 8)@.Data, nt_kernel(nt_fc(3), x)@.Data)
  img <- array(rnorm(6 * 4 * 4 * 1), c(6, 4, 4, 1))
  expect_identical(nt_kernel_tiled(nt_cnn(2, readout = "gap"), img, tile = 2)@.Data,
                   nt_kernel(nt_cnn(2, readout = "gap"), img)@.Data)
})

test_that("a failed tile is reported, and a rerun completes it without redoing the others", {
  future::plan(future::sequential)
  set.seed(3)
  x <- matrix(rnorm(23 * 3), 23)
  store <- file.path(tempdir(), "ntk-store-test")
  unlink(store, recursive = TRUE)
  # a worker that fails on tile 4 (trace() on the worker function; no hook
  # in the package's code)
  suppressMessages(trace("compute_tile", quote(if (task$i == 4L) stop("simulated failure of tile 4")),
        where = asNamespace("ntk"), print = FALSE))
  expect_error(nt_kernel_tiled(nt_fc(2), x, tile = 7, store = store), "1 tile failed \\(4\\)")
  suppressMessages(untrace("compute_tile", where = asNamespace("ntk")))
  written <- list.files(store, pattern = "^tile-")
  expect_length(written, 9L)                            # 10 tiles on and above the diagonal
  stamps <- file.mtime(file.path(store, written))
  Sys.sleep(1.1)
  k <- nt_kernel_tiled(nt_fc(2), x, tile = 7, store = store)
  expect_identical(k@.Data, nt_kernel(nt_fc(2), x)@.Data)
  expect_equal(file.mtime(file.path(store, written)), stamps)   # each tile written once
  expect_length(list.files(store, pattern = "^tile-"), 10L)
  expect_length(list.files(store, pattern = "\\.tmp$"), 0L)
  # the same store with other arguments is refused
  expect_error(nt_kernel_tiled(nt_fc(3), x, tile = 7, store = store), "manifest does not match")
  expect_error(nt_kernel_tiled(nt_fc(2), x + 1, tile = 7, store = store), "manifest does not match")
  expect_error(nt_kernel_tiled(nt_fc(2), x, tile = 5, store = store), "manifest does not match")
  # a file-backed copy reads back the same values
  fm <- nt_tiles_read(store, file = TRUE)
  expect_s3_class(fm, "nt_filematrix")
  expect_equal(dim(fm), c(23L, 23L))
  expect_identical(fm[, c(2, 20)], k@.Data[, c(2, 20)])
  expect_identical(fm[5:9, 3], k@.Data[5:9, 3])
  unlink(store, recursive = TRUE)
})
