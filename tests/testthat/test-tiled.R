skip_if_not_installed("future.apply")
skip_if_not_installed("progressr")

# A worker that fails on tile 4 (trace() on the worker function; no hook in
# the package's code).
trace_failure <- function() {
  suppressMessages(trace("compute_tile", quote(if (task$i == 4L) stop("simulated failure of tile 4")),
                         where = asNamespace("ntk"), print = FALSE))
}
untrace_failure <- function() suppressMessages(untrace("compute_tile", where = asNamespace("ntk")))

with_gram <- function(mode, code) {
  old <- options(ntk.gram = mode)
  on.exit(options(old))
  code
}

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

test_that("nt_activation() functions are tabulated on all inputs, as nt_kernel() does", {
  future::plan(future::sequential)
  set.seed(7)
  x <- matrix(rnorm(20 * 3), 20) * rep(c(0.1, 3), each = 10)   # blocks of different scales
  z <- matrix(rnorm(6 * 3), 6) * 5
  softplus <- nt_activation(function(u) log1p(exp(u)), function(u) stats::plogis(u), nodes = 20)
  net <- nt_serial(nt_dense(1, 0.1), softplus, nt_dense(2), softplus, nt_dense(1))
  expect_identical(nt_kernel_tiled(net, x, tile = 10)@.Data, nt_kernel(net, x)@.Data)
  expect_identical(nt_kernel_tiled(net, x, z, tile = 4)@.Data, nt_kernel(net, x, z)@.Data)
  img <- array(rnorm(6 * 4 * 4 * 1), c(6, 4, 4, 1)) * rep(c(0.2, 4), each = 3)
  cnn <- nt_serial(nt_conv(1, 3), softplus, nt_global_avg_pool(), nt_dense(1))
  expect_identical(nt_kernel_tiled(cnn, img, tile = 3)@.Data, nt_kernel(cnn, img)@.Data)
  # inputs of another shape are refused before any worker starts
  expect_error(nt_kernel_tiled(net, x, matrix(1, 2, 4)), "`z` has 4 columns but `x` has 3")
  expect_error(nt_kernel_tiled(cnn, img, array(1, c(2, 3, 4, 1))), "`z` holds 3 x 4 x 1 images")
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
  # the workers take the caller's Gram mode (with 40 features the two modes
  # differ in the last bits)
  x <- matrix(rnorm(30 * 40), 30)
  for (mode in c("native", "blas"))
    with_gram(mode, expect_identical(nt_kernel_tiled(nt_fc(2), x, tile = 15)@.Data,
                                     nt_kernel(nt_fc(2), x)@.Data))
})

test_that("a failed tile is reported, and a rerun completes it without redoing the others", {
  future::plan(future::sequential)
  set.seed(3)
  x <- matrix(rnorm(23 * 3), 23)
  store <- file.path(tempdir(), "ntk-store-test")
  unlink(store, recursive = TRUE)
  trace_failure()
  expect_error(nt_kernel_tiled(nt_fc(2), x, tile = 7, store = store), "1 tile failed \\(4\\)")
  untrace_failure()
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

# ---- the store never returns a kernel it did not compute for the call --------

fresh_store <- function(name) {
  store <- file.path(tempdir(), paste0("ntk-", name))
  unlink(store, recursive = TRUE)
  store
}
tile_path <- function(store, i) file.path(store, sprintf("tile-%06d.rds", i))
# x with 3 x 3 blocks of 10: tiles 1-6 on and above the diagonal
store_inputs <- function(seed = 4) {
  set.seed(seed)
  matrix(rnorm(30 * 3), 30)
}

test_that("a deleted manifest: another network's tiles are recomputed, not returned", {
  future::plan(future::sequential)
  x <- store_inputs()
  store <- fresh_store("deleted-manifest")
  on.exit(unlink(store, recursive = TRUE))
  expect_identical(nt_kernel_tiled(nt_fc(3), x, tile = 10, store = store)@.Data,
                   nt_kernel(nt_fc(3), x)@.Data)
  unlink(file.path(store, "manifest.rds"))
  expect_warning(k <- nt_kernel_tiled(nt_fc(1), x, tile = 10, store = store),
                 "recomputing 6 tiles.*tile-000001\\.rds \\(a tile of another computation")
  expect_identical(k@.Data, nt_kernel(nt_fc(1), x)@.Data)
  expect_identical(nt_tiles_read(store)@.Data, k@.Data)
  # the store is now nt_fc(1)'s; nt_fc(3) is refused, naming the store
  expect_error(nt_kernel_tiled(nt_fc(3), x, tile = 10, store = store),
               "ntk-deleted-manifest\\) holds tiles of another computation: its manifest does not match the network")
  unlink(file.path(store, "manifest.rds"))
  expect_error(nt_tiles_read(store), "has no manifest.rds")
})

test_that("tiles of other data, of the wrong size or of another block are never used", {
  future::plan(future::sequential)
  x <- store_inputs()
  ref <- nt_kernel(nt_fc(2), x)@.Data
  store <- fresh_store("foreign")
  other <- fresh_store("foreign-other")
  on.exit(unlink(c(store, other), recursive = TRUE))
  nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store)
  nt_kernel_tiled(nt_fc(2), x + 1, tile = 10, store = other)
  good <- lapply(1:6, function(i) readBin(tile_path(store, i), "raw", file.size(tile_path(store, i))))
  restore <- function() for (i in 1:6) writeBin(good[[i]], tile_path(store, i))
  forge <- function(i, k) {        # a tile with a valid checksum but the wrong shape
    rec <- readRDS(tile_path(store, i))[[1]]   # tiles are RDS files: list(tile, checksum)
    rec$kernels$ntk <- k
    writeBin(ntk:::seal(rec), tile_path(store, i))
  }
  attacks <- list(
    `other data` = list(function() file.copy(tile_path(other, 2), tile_path(store, 2), overwrite = TRUE),
                        2, "another computation"),
    `1 x 1, old format` = list(function() saveRDS(list(ntk = matrix(1, 1, 1)), tile_path(store, 3)),
                               3, "bytes, not those of a 10 x 10 tile"),
    `100 x 200` = list(function() saveRDS(list(ntk = matrix(1, 100, 200)), tile_path(store, 4),
                                          compress = FALSE), 4, "not those of a 10 x 10 tile"),
    `1 x 1, forged` = list(function() forge(5, matrix(1, 1, 1)), 5, "bytes, not those"),
    `10 x 9, forged` = list(function() forge(5, matrix(1, 10, 9)), 5, "a block of 10 x 9 values"),
    `neighbour` = list(function() file.copy(tile_path(store, 2), tile_path(store, 3), overwrite = TRUE),
                       3, "the tile of another block \\(rows 1-10, columns 11-20\\)"),
    `not a tile` = list(function() saveRDS(letters, tile_path(store, 6)), 6, "not those"))
  for (name in names(attacks)) {
    a <- attacks[[name]]
    a[[1]]()
    file <- sprintf("tile-%06d\\.rds \\(", a[[2]])
    expect_error(nt_tiles_read(store), paste0(file, ".*", a[[3]]), info = name)
    expect_warning(k <- nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store),
                   paste0("recomputing 1 tile .*", file), info = name)
    expect_identical(k@.Data, ref, info = name)
    expect_identical(nt_tiles_read(store)@.Data, ref, info = name)
    restore()
  }
  # two tiles swapped: both named, both recomputed
  file.rename(tile_path(store, 1), file.path(store, "t"))
  file.rename(tile_path(store, 2), tile_path(store, 1))
  file.rename(file.path(store, "t"), tile_path(store, 2))
  expect_warning(k <- nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store),
                 "recomputing 2 tiles.*tile-000001\\.rds.*tile-000002\\.rds")
  expect_identical(k@.Data, ref)
})

test_that("flipped bytes anywhere in a tile are caught by its checksum", {
  future::plan(future::sequential)
  x <- store_inputs()
  ref <- nt_kernel(nt_fc(2), x, what = c("ntk", "nngp"))
  store <- fresh_store("flipped")
  on.exit(unlink(store, recursive = TRUE))
  nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store, what = c("ntk", "nngp"))
  path <- tile_path(store, 5)
  good <- readBin(path, "raw", file.size(path))
  # the record's header, the key, the values (near the start, middle and end)
  # and the checksum
  for (at in c(30, 120, 400, length(good) %/% 2, length(good) - 700, length(good) - 10)) {
    bytes <- good
    bytes[at + 0:3] <- xor(bytes[at + 0:3], as.raw(0x5a))
    writeBin(bytes, path)
    expect_error(nt_tiles_read(store), "tile-000005\\.rds \\(", info = at)
    expect_warning(k <- nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store,
                                        what = c("ntk", "nngp")),
                   "recomputing 1 tile .*tile-000005\\.rds", info = at)
    expect_identical(k$ntk@.Data, ref$ntk@.Data, info = at)
    expect_identical(k$nngp@.Data, ref$nngp@.Data, info = at)
    expect_identical(readBin(path, "raw", file.size(path)), good, info = at)
  }
  # random damage: bytes overwritten, runs zeroed, files cut short (checked
  # before anything is unserialized: R's reader can crash on such bytes)
  set.seed(8)
  for (trial in 1:20) {
    bytes <- good
    at <- sample(length(bytes), 1)
    switch(trial %% 3 + 1,
           bytes[sample(length(bytes), 3)] <- as.raw(sample(0:255, 3, TRUE)),
           bytes[at:min(length(bytes), at + 40)] <- as.raw(0),
           bytes <- bytes[seq_len(at - 1)])
    if (identical(bytes, good)) next
    writeBin(bytes, path)
    expect_error(nt_tiles_read(store), "tile-000005\\.rds \\(", info = trial)
    k <- suppressWarnings(nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store,
                                          what = c("ntk", "nngp")))
    expect_identical(k$ntk@.Data, ref$ntk@.Data, info = trial)
  }
  # a truncated tile, and an empty one
  writeBin(good[seq_len(length(good) - 100)], path)
  expect_error(nt_tiles_read(store), "tile-000005\\.rds")
  file.create(path)
  expect_error(nt_tiles_read(store, what = "nngp"), "tile-000005\\.rds")
  expect_warning(nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store, what = c("ntk", "nngp")),
                 "tile-000005\\.rds")
  expect_identical(nt_tiles_read(store, what = "nngp")@.Data, ref$nngp@.Data)
  # a damaged manifest is an error naming it
  writeBin(as.raw(1:50), file.path(store, "manifest.rds"))
  expect_error(nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store),
               "manifest of `store`.*is damaged.*manifest\\.rds")
})

test_that("the Gram mode is part of a tile's fingerprint and reaches the workers", {
  future::plan(future::sequential)
  set.seed(5)
  x <- matrix(rnorm(30 * 40), 30)   # 40 features: the two Gram modes differ in the last bits
  refs <- lapply(c(native = "native", blas = "blas"), function(mode)
    with_gram(mode, nt_kernel(nt_fc(2), x)@.Data))
  expect_false(identical(refs$native, refs$blas))
  store <- fresh_store("gram")
  on.exit(unlink(store, recursive = TRUE))
  with_gram("native", {
    trace_failure()
    expect_error(nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store), "1 tile failed")
    untrace_failure()
  })
  with_gram("blas", {
    expect_error(nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store),
                 "does not match the Gram mode \\(the store's tiles used options\\(ntk.gram = \"native\"\\)\\)")
    unlink(file.path(store, "manifest.rds"))
    expect_warning(k <- nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store), "recomputing 5 tiles")
    expect_identical(k@.Data, refs$blas)
  })
  # without a store, too
  with_gram("blas", expect_identical(nt_kernel_tiled(nt_fc(2), x, tile = 10)@.Data, refs$blas))
})

test_that("tiled results keep the dimnames that nt_kernel keeps", {
  future::plan(future::sequential)
  x <- store_inputs()
  rownames(x) <- paste0("x", 1:30)
  z <- x[1:12, ] + 1
  rownames(z) <- paste0("z", 1:12)
  store <- fresh_store("names")
  on.exit(unlink(c(store, fresh_store("names-both")), recursive = TRUE))
  same <- function(k, ref) {
    expect_identical(dimnames(k), dimnames(ref))
    expect_identical(k@.Data, ref@.Data)
  }
  same(nt_kernel_tiled(nt_fc(2), x, tile = 7), nt_kernel(nt_fc(2), x))
  same(nt_kernel_tiled(nt_fc(2), x, tile = 7, store = store), nt_kernel(nt_fc(2), x))
  same(nt_kernel_tiled(nt_fc(2), x, tile = 7, store = store), nt_kernel(nt_fc(2), x))  # resumed
  same(nt_kernel_tiled(nt_fc(2), x, z, tile = 5), nt_kernel(nt_fc(2), x, z))
  z2 <- unname(z)
  same(nt_kernel_tiled(nt_fc(2), x, z2, tile = 5), nt_kernel(nt_fc(2), x, z2))
  both <- nt_kernel_tiled(nt_fc(2), as.data.frame(x), tile = 9, what = c("nngp", "ntk"),
                          store = fresh_store("names-both"))
  ref <- nt_kernel(nt_fc(2), as.data.frame(x), what = c("ntk", "nngp"))
  same(both$ntk, ref$ntk)
  same(both$nngp, ref$nngp)
  img <- array(rnorm(5 * 4 * 4 * 2), c(5, 4, 4, 2), dimnames = list(letters[1:5], NULL, NULL, NULL))
  same(nt_kernel_tiled(nt_cnn(1, readout = "gap"), img, tile = 2),
       nt_kernel(nt_cnn(1, readout = "gap"), img))
  # without names: none
  expect_null(dimnames(nt_kernel_tiled(nt_fc(2), unname(x), tile = 7)))
})

test_that("two processes with different networks on a fresh store: one claims it, none is wrong", {
  skip_on_os("windows")   # no fork there
  future::plan(future::sequential)
  x <- store_inputs()
  nets <- list(nt_fc(1), nt_fc(3))
  refs <- lapply(nets, function(net) nt_kernel(net, x)@.Data)
  race <- function(store) {
    start <- Sys.time() + 0.3
    jobs <- lapply(1:2, function(p) parallel::mcparallel({
      while (Sys.time() < start) NULL                 # both claim the store at once
      tryCatch(nt_kernel_tiled(nets[[p]], x, tile = 5, store = store, threads = 1)@.Data,
               error = function(e) conditionMessage(e))
    }))
    parallel::mccollect(jobs)
  }
  check <- function(got) {
    correct <- vapply(1:2, function(p) identical(got[[p]], refs[[p]]), NA)
    refused <- vapply(got, function(g) is.character(g) && grepl("manifest does not match the network", g), NA)
    expect_true(all(correct | refused))
    expect_equal(sum(correct), 1L)
  }
  for (trial in 1:3) {
    store <- fresh_store(paste0("race-", trial))
    check(race(store))
    unlink(store, recursive = TRUE)
  }
  # where hard links fail, a lock directory guards the manifest
  suppressMessages(trace("link_file", quote(return(FALSE)), where = asNamespace("ntk"), print = FALSE))
  on.exit(suppressMessages(untrace("link_file", where = asNamespace("ntk"))))
  for (trial in 1:2) {
    store <- fresh_store(paste0("race-lock-", trial))
    check(race(store))
    expect_false(dir.exists(file.path(store, "manifest.lock")))
    unlink(store, recursive = TRUE)
  }
})

test_that("temporary files of killed runs are never read and are cleaned up", {
  skip_on_os("windows")
  future::plan(future::sequential)
  x <- store_inputs()
  ref <- nt_kernel(nt_fc(2), x)@.Data
  store <- fresh_store("killed")
  on.exit(unlink(store, recursive = TRUE))
  # a run killed (SIGKILL, no cleanup) while it moves tile 4 into place
  job <- parallel::mcparallel({
    suppressMessages(trace("file.rename", quote(if (grepl("tile-000004", to))
      tools::pskill(Sys.getpid(), tools::SIGKILL)), print = FALSE, where = baseenv()))
    nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store, threads = 1)
  })
  expect_null(suppressWarnings(parallel::mccollect(job))[[1]])   # killed: no result
  left <- list.files(store, pattern = "\\.tmp$")
  expect_length(left, 1L)
  expect_match(left, "^tile-000004\\.rds\\..*\\.tmp$")
  expect_length(list.files(store, pattern = "^tile-[0-9]+\\.rds$"), 3L)
  # and leftovers of other kinds: a garbage tile-like name, an older
  # version's name, another node's file an hour old, another node's fresh one
  writeBin(as.raw(1:99), file.path(store, "tile-000005.rds.tmp"))
  writeBin(as.raw(1:99), file.path(store, "file1a2b3c.tmp"))
  old <- file.path(store, "tile-000006.rds.othernode.123.abc.tmp")
  writeBin(as.raw(1:99), old)
  Sys.setFileTime(old, Sys.time() - 7200)
  live <- file.path(store, "tile-000006.rds.othernode.456.def.tmp")
  writeBin(as.raw(1:99), live)
  writeLines("notes", file.path(store, "notes.tmp"))
  dir.create(file.path(store, "folder.tmp"))            # directories are left alone
  k <- nt_kernel_tiled(nt_fc(2), x, tile = 10, store = store)
  expect_identical(k@.Data, ref)
  expect_setequal(list.files(store, pattern = "\\.tmp$"), c(basename(live), "folder.tmp"))
  expect_length(list.files(store, pattern = "^tile-[0-9]+\\.rds$"), 6L)
})

test_that("a network with an nt_activation closure over a local environment resumes in a new R session", {
  skip_on_os("windows")
  future::plan(future::sequential)
  code <- c("act <- local({ s <- 0.7; nt_activation(function(u) tanh(s * u), nodes = 20, cells = 2^10) })",
            "net <- nt_serial(nt_dense(1, 0.1), act, nt_dense(1))",
            "set.seed(6); x <- matrix(rnorm(20 * 3), 20)")
  eval(parse(text = code))
  store <- fresh_store("closure")
  on.exit(unlink(store, recursive = TRUE))
  trace_failure()
  expect_error(nt_kernel_tiled(net, x, tile = 7, store = store), "1 tile failed \\(4\\)")
  untrace_failure()
  stamps <- file.mtime(tile_path(store, c(1:3, 5:6)))
  Sys.sleep(1.1)
  out <- tempfile(fileext = ".rds")
  script <- tempfile(fileext = ".R")
  writeLines(c(sprintf(".libPaths(%s)", paste(deparse(.libPaths()), collapse = "")),
               "suppressPackageStartupMessages(library(ntk))", code,
               sprintf("saveRDS(nt_kernel_tiled(net, x, tile = 7, store = '%s'), '%s')", store, out)),
             script)
  status <- system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", script), stdout = FALSE, stderr = FALSE)
  expect_equal(status, 0L)
  k <- readRDS(out)
  expect_identical(k@.Data, nt_kernel(net, x)@.Data)
  expect_equal(file.mtime(tile_path(store, c(1:3, 5:6))), stamps)   # only tile 4 was computed
  # a different value in the closure's environment is another network
  act2 <- local({ s <- 0.8; nt_activation(function(u) tanh(s * u), nodes = 20, cells = 2^10) })
  expect_error(nt_kernel_tiled(nt_serial(nt_dense(1, 0.1), act2, nt_dense(1)), x, tile = 7, store = store),
               "manifest does not match the network")
})

test_that("network fingerprints depend on values, not on environments or source references", {
  fp <- function(code, keep = FALSE, env = new.env(parent = globalenv()))
    ntk:::hash_object(eval(parse(text = code, keep.source = keep), env))
  act <- "local({ s <- 0.7; nt_activation(function(u) {\n  tanh(s * u) }, nodes = 20) })"
  ref <- fp(act)
  expect_identical(fp(act, keep = TRUE), ref)                     # srcrefs do not count
  expect_identical(fp(sub("local\\(", "(function() ", sub("\\)$", ")()", act))), ref)
  expect_identical(fp(sub("nodes = 20", "nodes = 20, label = 'mine'", act)), ref)   # nor labels
  expect_false(identical(fp(sub("0.7", "0.7000000000000001", act)), ref))
  expect_false(identical(fp(sub("tanh", "sin", act)), ref))
  # a global the function reads counts by value; other globals do not
  env <- new.env(parent = globalenv())
  glob <- "nt_activation(function(u) tanh(scale * u), nodes = 20)"
  assign("scale", 2, env)
  a <- fp(glob, env = env)
  assign("unrelated", 1:10, env)
  expect_identical(fp(glob, env = env), a)
  assign("scale", 3, env)
  expect_false(identical(fp(glob, env = env), a))
  # recursive closures end
  expect_type(ntk:::hash_object(local({ f <- function(u) if (all(u > 9)) u else f(u + 1); f })),
              "character")
})

test_that("nt_filematrix indexes as a matrix does", {
  future::plan(future::sequential)
  x <- store_inputs()
  store <- fresh_store("filematrix")
  on.exit(unlink(store, recursive = TRUE))
  k <- nt_kernel_tiled(nt_fc(2), x[1:23, ], tile = 7, store = store)
  fm <- nt_tiles_read(store, file = TRUE)
  m <- k@.Data
  named <- fm
  named$dimnames <- list(paste0("r", 1:23), paste0("c", 1:23))
  mn <- m
  dimnames(mn) <- named$dimnames
  expect_identical(dimnames(named), dimnames(mn))
  rows <- c("", "5", "5:9", "c(3, 3, 1)", "-1", "-(1:5)", "0", "c(0, 2)", "integer(0)", "TRUE",
            "FALSE", "c(TRUE, FALSE)", "1:23 %% 3 == 0", "NA", "c(1, NA)", "2.7", "23", "24",
            "6000", "-24", "c(-1, 2)", "rep(TRUE, 24)", "c('r2', 'r9')", "'nope'")
  cols <- c("", "1", "0", "-1", "c(23, 1)", "c(TRUE, FALSE, TRUE)", "NA_integer_", "24", "'c3'")
  outcome <- function(obj, index) {
    tryCatch(eval(parse(text = sprintf("obj[%s]", index))), error = function(e) conditionMessage(e))
  }
  for (i in rows) for (j in cols) for (drop in c("", ", drop = FALSE")) {
    index <- paste0(i, ", ", j, drop)
    expect_identical(outcome(named, index), outcome(mn, index), info = index)
    if (!grepl("'", index)) expect_identical(outcome(fm, index), outcome(m, index), info = index)
  }
  for (index in c("5", "c(1, 30, 529)", "530", "0", "c(2, NA)", "cbind(1:3, c(2, 5, 23))",
                  "cbind(c(1, 0), c(2, 2))", "cbind(24, 1)", "cbind(c('r1', 'r4'), c('c2', 'c2'))"))
    expect_identical(outcome(named, index), outcome(mn, index), info = index)
  expect_identical(fm[], m)
  expect_identical(as.matrix(named), mn)
  expect_error(fm[1, 1, 1], "incorrect number of dimensions")
  # a file changed behind its back is an error, not wrong values
  writeBin(as.double(1:10), fm$path)
  expect_error(fm[1, 1], "not the 4232 of a 23 x 23 matrix")
})
