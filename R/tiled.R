# Kernels tile by tile on the user's future plan, resumable from a store.

#' Kernels tile by tile, on any future backend, resumable
#'
#' Splits the `n x m` kernel into tiles of `tile` rows and columns (only the
#' tiles on and above the diagonal when `z = NULL`), computes each with
#' [nt_kernel()] on the future plan the user has set (`future::plan()`:
#' sequential, multisession, cluster, or a scheduler through
#' future.batchtools), reports progress through progressr, and assembles a
#' kernel matrix equal, bit for bit, to `nt_kernel()`'s. Each worker uses
#' `threads` OpenMP threads, by default the machine's cores divided by the
#' plan's workers, so that workers times threads does not oversubscribe.
#'
#' With `store`, a directory, every finished tile is written there
#' atomically (to a temporary name, then renamed) beside a manifest of the
#' network, the inputs' fingerprints and the tile layout. A rerun with the
#' same arguments skips finished tiles, so an interrupted or partly failed
#' run resumes where it stopped; a store whose manifest does not match the
#' arguments is an error. Tiles whose worker failed (an error or a dead
#' worker) are reported by number and left for the next run.
#'
#' @inheritParams nt_kernel
#' @param tile Rows and columns per tile.
#' @param store `NULL`, or a directory for finished tiles and the manifest.
#' @param threads OpenMP threads per worker; `NULL` divides the cores among
#'   the plan's workers.
#' @return Like [nt_kernel()].
#' @seealso [nt_tiles_read()] to assemble a store, also into a file-backed
#'   matrix.
#' @examples
#' \donttest{
#' if (requireNamespace("future.apply", quietly = TRUE)) {
#'   x <- matrix(rnorm(200), 50)
#'   k <- nt_kernel_tiled(nt_fc(2), x, tile = 20)
#'   identical(k@.Data, nt_kernel(nt_fc(2), x)@.Data)
#' }
#' }
#' @export
nt_kernel_tiled <- function(net, x, z = NULL, what = "ntk", tile = 1000, store = NULL,
                            threads = NULL) {
  for (p in c("future", "future.apply", "progressr"))
    if (!requireNamespace(p, quietly = TRUE))
      stop(sprintf("nt_kernel_tiled() needs the package '%s'", p), call. = FALSE)
  net <- as_network(net)
  what <- check_what(what)
  tile <- check_count(tile, "tile", lower = 1L)
  images <- is_image_input(x)
  x <- if (images) as_image_array(x, "x") else as_input_matrix(x, "x")
  if (!is.null(z)) z <- if (images) as_image_array(z, "z") else as_input_matrix(z, "z")
  workers <- future::nbrOfWorkers()
  if (is.null(threads)) threads <- max(1L, future::availableCores() %/% max(1L, workers))
  threads <- check_count(threads, "threads", lower = 1L)
  layout <- tile_layout(dim(x)[1], if (is.null(z)) NULL else dim(z)[1], tile)
  if (!is.null(store)) open_store(store, list(net = net, x = fingerprint(x), z = fingerprint(z),
                                              what = what, tile = tile, n = layout$n, m = layout$m))
  todo <- which(!vapply(seq_len(nrow(layout$tiles)), function(i)
    !is.null(store) && file.exists(tile_file(store, i)), NA))
  results <- run_tiles(todo, layout, net, x, z, what, threads, store)
  failed <- todo[vapply(results, function(r) inherits(r, "error") || is.null(r), NA)]
  if (length(failed))
    stop(sprintf("%d tile%s failed (%s)%s: %s", length(failed), if (length(failed) > 1) "s" else "",
                 paste(utils::head(failed, 20), collapse = ", "),
                 if (is.null(store)) "" else "; rerun with the same store to complete them",
                 conditionMessage(Filter(function(r) inherits(r, "error"), results)[[1]] %||%
                                    simpleError("a worker did not return"))), call. = FALSE)
  if (!is.null(store)) return(nt_tiles_read(store))
  assemble_tiles(layout, function(i) results[[match(i, todo)]], what)
}

tile_layout <- function(n, m, tile) {
  sym <- is.null(m)
  if (sym) m <- n
  rows <- split(seq_len(n), ceiling(seq_len(n) / tile))
  cols <- split(seq_len(m), ceiling(seq_len(m) / tile))
  tiles <- expand.grid(r = seq_along(rows), c = seq_along(cols))
  if (sym) tiles <- tiles[tiles$r <= tiles$c, , drop = FALSE]
  list(n = n, m = m, sym = sym, rows = rows, cols = cols, tiles = tiles[order(tiles$c, tiles$r), ])
}

# The inputs of each tile, so that a worker receives only its two blocks.
tile_tasks <- function(todo, layout, x, z) {
  pick <- function(a, idx) if (length(dim(a)) == 4L) a[idx, , , , drop = FALSE] else a[idx, , drop = FALSE]
  lapply(todo, function(i) {
    r <- layout$rows[[layout$tiles$r[i]]]; c <- layout$cols[[layout$tiles$c[i]]]
    diagonal <- layout$sym && layout$tiles$r[i] == layout$tiles$c[i]
    list(i = i, x = pick(x, r), z = if (diagonal) NULL else pick(if (layout$sym) x else z, c))
  })
}

# One tile, in a worker: diagonal tiles of a symmetric kernel are symmetric
# kernels themselves (so their values match nt_kernel's exactly).
compute_tile <- function(task, net, what, threads, store) {
  k <- nt_kernel(net, task$x, task$z, what = what, threads = threads, progress = FALSE)
  if (length(what) == 1L) k <- stats::setNames(list(k), what)
  k <- lapply(k, function(m) unname(m@.Data))
  if (!is.null(store)) {
    tmp <- tempfile(tmpdir = store, fileext = ".tmp")
    saveRDS(k, tmp)
    file.rename(tmp, tile_file(store, task$i))
    return(TRUE)
  }
  k
}

run_tiles <- function(todo, layout, net, x, z, what, threads, store) {
  if (!length(todo)) return(list())
  tasks <- tile_tasks(todo, layout, x, z)
  progressr::with_progress({
    step <- progressr::progressor(along = tasks)
    future.apply::future_lapply(tasks, function(task) {
      out <- tryCatch(compute_tile(task, net, what, threads, store), error = function(e) e)
      step(sprintf("tile %d", task$i))
      out
    }, future.seed = NULL, future.packages = "ntk", future.chunk.size = 1L)
  }, enable = interactive())
}

assemble_tiles <- function(layout, get_tile, what) {
  out <- lapply(stats::setNames(what, what), function(w) matrix(0, layout$n, layout$m))
  for (i in seq_len(nrow(layout$tiles))) {
    r <- layout$rows[[layout$tiles$r[i]]]; c <- layout$cols[[layout$tiles$c[i]]]
    k <- get_tile(i)
    for (w in what) {
      out[[w]][r, c] <- k[[w]]
      if (layout$sym && layout$tiles$r[i] != layout$tiles$c[i]) out[[w]][c, r] <- t(k[[w]])
    }
  }
  out <- lapply(out, as_nt_kernel_matrix)
  if (length(what) == 1L) out[[1L]] else out[c("ntk", "nngp")[c("ntk", "nngp") %in% what]]
}

# ---- the store ---------------------------------------------------------------

fingerprint <- function(obj) {
  if (is.null(obj)) return(NULL)
  f <- tempfile()
  on.exit(unlink(f))
  saveRDS(obj, f, compress = FALSE)
  unname(tools::md5sum(f))
}

tile_file <- function(store, i) file.path(store, sprintf("tile-%06d.rds", i))

open_store <- function(store, manifest) {
  if (!is.character(store) || length(store) != 1L || is.na(store))
    stop("`store` must be a directory path", call. = FALSE)
  file <- file.path(store, "manifest.rds")
  if (file.exists(file)) {
    old <- readRDS(file)
    if (!identical(old, manifest))
      stop(sprintf("`store` (%s) holds tiles of another computation: its manifest does not match the network, inputs or tile layout",
                   store), call. = FALSE)
    return(invisible(manifest))
  }
  dir.create(store, recursive = TRUE, showWarnings = FALSE)
  if (!dir.exists(store)) stop(sprintf("cannot create `store` (%s)", store), call. = FALSE)
  tmp <- tempfile(tmpdir = store, fileext = ".tmp")
  saveRDS(manifest, tmp)
  file.rename(tmp, file)
  invisible(manifest)
}

#' Assemble a tile store
#'
#' Reads the tiles that [nt_kernel_tiled()] wrote to `store` into the kernel
#' matrix, or, with `file` (by default when the result would exceed half of
#' the machine's memory), into a file of doubles in column-major order that
#' is read back block by block through `[`: an `nt_filematrix`.
#'
#' @param store The store directory.
#' @param file `NULL`, `TRUE` (a file in `store`), or a path for a
#'   file-backed result; by default file-backed only when large.
#' @param what Which kernel, when the store holds both.
#' @return A kernel matrix (or list of both), or an `nt_filematrix`.
#' @export
nt_tiles_read <- function(store, file = NULL, what = NULL) {
  manifest <- readRDS(file.path(store, "manifest.rds"))
  layout <- tile_layout(manifest$n, if (is.null(manifest$z)) NULL else manifest$m, manifest$tile)
  missing_tiles <- which(!file.exists(vapply(seq_len(nrow(layout$tiles)), function(i) tile_file(store, i), "")))
  if (length(missing_tiles))
    stop(sprintf("the store lacks %d tile(s): %s", length(missing_tiles),
                 paste(utils::head(missing_tiles, 20), collapse = ", ")), call. = FALSE)
  what <- what %||% manifest$what
  bytes <- 8 * as.double(layout$n) * layout$m * length(what)
  if (is.null(file) && bytes > 0.5 * physical_memory_bytes()) file <- TRUE
  if (is.null(file) || isFALSE(file))
    return(assemble_tiles(layout, function(i) readRDS(tile_file(store, i)), what))
  if (length(what) != 1L) stop("a file-backed result holds one kernel: give `what`", call. = FALSE)
  path <- if (isTRUE(file)) file.path(store, paste0(what, ".bin")) else file
  write_filematrix(layout, store, what, path)
}

# The machine's memory as the C side sees it (src/checks.c), Inf if unknown.
physical_memory_bytes <- function() {
  bytes <- .Call(C_ntk_physical_memory)
  if (bytes > 0) bytes else Inf
}

write_filematrix <- function(layout, store, what, path) {
  con <- file(path, "w+b")
  on.exit(close(con))
  # column blocks: each needs the tiles of its column (and, mirrored, its row)
  for (cb in seq_along(layout$cols)) {
    cols <- layout$cols[[cb]]
    block <- matrix(0, layout$n, length(cols))
    for (i in seq_len(nrow(layout$tiles))) {
      tr <- layout$tiles$r[i]; tc <- layout$tiles$c[i]
      if (tc == cb) block[layout$rows[[tr]], ] <- readRDS(tile_file(store, i))[[what]]
      else if (layout$sym && tr == cb) block[layout$rows[[tc]], ] <- t(readRDS(tile_file(store, i))[[what]])
    }
    writeBin(as.vector(block), con)
  }
  structure(list(path = normalizePath(path), dim = c(layout$n, layout$m)), class = "nt_filematrix")
}

#' @export
dim.nt_filematrix <- function(x) x$dim

#' @export
`[.nt_filematrix` <- function(x, i, j, drop = TRUE) {
  n <- x$dim[1]
  if (missing(i)) i <- seq_len(n)
  if (missing(j)) j <- seq_len(x$dim[2])
  con <- file(x$path, "rb")
  on.exit(close(con))
  out <- vapply(j, function(col) {
    seek(con, 8 * (as.double(col) - 1) * n)
    readBin(con, "double", n)[i]
  }, numeric(length(i)))
  out <- matrix(out, length(i), length(j))
  if (drop) drop(out) else out
}

#' @export
print.nt_filematrix <- function(x, ...) {
  cat(sprintf("<file-backed kernel matrix> %d x %d, %s\n", x$dim[1], x$dim[2], x$path))
  invisible(x)
}
