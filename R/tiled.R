# Kernels tile by tile on the user's future plan, resumable from a store.

#' Kernels tile by tile, on any future backend, resumable
#'
#' Splits the `n x m` kernel into tiles of `tile` rows and columns (only the
#' tiles on and above the diagonal when `z = NULL`), computes each with
#' [nt_kernel()] on the future plan the user has set (`future::plan()`:
#' sequential, multisession, cluster, or a scheduler through
#' future.batchtools), reports progress through progressr, and assembles a
#' kernel matrix equal, bit for bit, to `nt_kernel()`'s, with the same
#' dimnames (the row names of `x` and `z`); [nt_activation()] functions are
#' tabulated once, on all the inputs, as `nt_kernel()` tabulates them. Each
#' worker uses `threads`
#' OpenMP threads, by default the machine's cores divided by the plan's
#' workers, so that workers times threads does not oversubscribe; each uses
#' the Gram mode (option `ntk.gram`) of the calling session.
#'
#' With `store`, a directory, every finished tile is written there beside a
#' manifest of the computation, and a rerun of the same call skips the
#' finished tiles, so that an interrupted or partly failed run resumes where
#' it stopped. Tiles whose worker failed (an error or a dead worker) are
#' reported by number and left for the next run. The store never gives back
#' a kernel that the call did not ask for:
#' \itemize{
#'   \item Each tile file carries a fingerprint of its computation (the
#'     network, with the values of the variables an [nt_activation()]
#'     function refers to; the values of `x` and `z`; the kernels in
#'     `what`; the Gram mode; the tile layout; the package version), its
#'     block, its shape, and an md5 checksum of the file, checked before
#'     anything in it is unserialized. A tile is used only when all of them
#'     match; a tile that is damaged, of the wrong shape, of another block
#'     or of another computation is recomputed with a warning that names its
#'     file ([nt_tiles_read()], which cannot recompute, reports it in an
#'     error).
#'   \item The manifest is created atomically (a hard link, which fails if
#'     the file exists, also on NFS; a lock directory where links are not
#'     supported), so that of two runs that start together on an empty
#'     store one claims it and the other stops. A store whose manifest is
#'     another computation's is an error naming the store and what differs,
#'     and a damaged manifest an error naming the file; nothing in the store
#'     is overwritten. A store without a manifest (deleted) gets a new one,
#'     and its tiles are checked by their own fingerprints.
#'   \item Files are written under temporary names (`*.tmp`, with the node,
#'     the process id and a random part) and renamed into place, so a killed
#'     run leaves no partial tile; temporary files are never read, and those
#'     of processes that are gone are removed by the next run.
#' }
#' Fingerprints depend on values, not on where objects live: a network
#' with an [nt_activation()] closure over a local environment resumes in a
#' new R session when the function and the values it sees are the same.
#'
#' @inheritParams nt_kernel
#' @param tile Rows and columns per tile.
#' @param store `NULL`, or a directory for finished tiles and the manifest.
#' @param threads OpenMP threads per worker; `NULL` divides the cores among
#'   the plan's workers.
#' @return Like [nt_kernel()]; from a store, a kernel larger than half of the
#'   machine's memory comes back as an `nt_filematrix` (see
#'   [nt_tiles_read()]).
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
  # in the order nt_kernel() returns them, which is how tiles hold them
  what <- intersect(c("ntk", "nngp"), check_what(what))
  tile <- check_count(tile, "tile", lower = 1L)
  if (!is.null(store)) store <- check_store(store)
  images <- is_image_input(x)
  if (images) net <- network_for(net, x)
  x <- if (images) as_image_array(x, "x") else as_input_matrix(x, "x")
  if (!is.null(z)) z <- if (images) as_image_array(z, "z") else as_input_matrix(z, "z")
  check_same_shape(x, z, images)
  # Image kernels do not use the Gram matrix: its mode is no part of them.
  gram <- if (images) NA_character_ else if (gram_native()) "native" else "blas"
  workers <- future::nbrOfWorkers()
  if (is.null(threads)) threads <- max(1L, future::availableCores() %/% max(1L, workers))
  threads <- check_count(threads, "threads", lower = 1L)
  layout <- tile_layout(dim(x)[1], if (is.null(z)) NULL else dim(z)[1], tile)
  # without a store the tiles and the assembled kernels are all in memory:
  # stop before computing anything when they cannot be
  if (is.null(store))
    check_memory(2 * 8 * as.double(dim(x)[1]) * (if (is.null(z)) dim(x)[1] else dim(z)[1]) * length(what),
                 "nt_kernel_tiled() without a store (its tiles and the assembled kernels)")
  labels <- kernel_labels(x, z, images)
  job <- list(net = with_tables(net, x, z, images), what = what, threads = threads,
              gram = gram, store = store, key = NULL)
  todo <- seq_len(nrow(layout$tiles))
  if (!is.null(store)) {
    manifest <- new_manifest(net, x, z, what, gram, layout, images)
    open_store(store, manifest)
    clean_temp_files(store)
    job$key <- manifest$key
    todo <- tiles_to_compute(store, manifest$key, layout, what)
  }
  results <- run_tiles(todo, layout, x, z, job)
  failed <- todo[vapply(results, function(r) inherits(r, "error") || is.null(r), NA)]
  if (length(failed))
    stop(sprintf("%d tile%s failed (%s)%s: %s", length(failed), if (length(failed) > 1) "s" else "",
                 paste(utils::head(failed, 20), collapse = ", "),
                 if (is.null(store)) "" else "; rerun with the same store to complete them",
                 conditionMessage(Filter(function(r) inherits(r, "error"), results)[[1]] %||%
                                    simpleError("a worker did not return"))), call. = FALSE)
  if (is.null(store))
    return(assemble_tiles(layout, function(i) results[[match(i, todo)]], what, labels))
  # Read back against this call's own fingerprint, not the manifest on disk:
  # whatever happened to the store meanwhile, only this computation's tiles
  # make the result.
  out <- read_store(store, manifest$key, layout, what, what, NULL, labels)
  clean_temp_files(store)
  out
}

# As nt_kernel() checks them, before any worker starts.
check_same_shape <- function(x, z, images) {
  if (is.null(z)) return(invisible())
  if (images && !identical(dim(z)[-1], dim(x)[-1]))
    stop(sprintf("`z` holds %s images but `x` holds %s images",
                 paste(dim(z)[-1], collapse = " x "), paste(dim(x)[-1], collapse = " x ")),
         call. = FALSE)
  if (!images && ncol(z) != ncol(x))
    stop(sprintf("`z` has %d columns but `x` has %d", ncol(z), ncol(x)), call. = FALSE)
  invisible()
}

# The network with the activation tables of the whole kernel attached: an
# nt_activation() function is tabulated on the variances the inputs reach,
# and a tile's own rows reach less; from these tables every tile computes
# exactly what nt_kernel() does on all the inputs.
with_tables <- function(net, x, z, images) {
  plan <- if (images) compile_spatial_plan(net, dim(x)[-1]) else compile_plan(net)
  if (!length(plan$custom)) return(net)
  plan <- if (images) fit_image_tables(plan, images_for_c(x), if (!is.null(z)) images_for_c(z))
          else fit_matrix_tables(plan, x, z)
  attr(net, "ntk_tables") <- plan$tables
  net
}

# Row and column names as nt_kernel() gives them.
kernel_labels <- function(x, z, images) {
  names_of <- function(a) if (images) dimnames(a)[[1]] else rownames(a)
  labels <- list(names_of(x), if (is.null(z)) names_of(x) else names_of(z))
  if (all(vapply(labels, is.null, NA))) NULL else labels
}

tile_layout <- function(n, m, tile) {
  sym <- is.null(m)
  if (sym) m <- n
  rows <- split(seq_len(n), ceiling(seq_len(n) / tile))
  cols <- split(seq_len(m), ceiling(seq_len(m) / tile))
  tiles <- expand.grid(r = seq_along(rows), c = seq_along(cols))
  if (sym) tiles <- tiles[tiles$r <= tiles$c, , drop = FALSE]
  tiles <- tiles[order(tiles$c, tiles$r), ]
  rownames(tiles) <- NULL
  list(n = n, m = m, sym = sym, tile = tile, rows = rows, cols = cols, tiles = tiles)
}

# Rows and columns of tile i.
tile_rows <- function(layout, i) layout$rows[[layout$tiles$r[i]]]
tile_cols <- function(layout, i) layout$cols[[layout$tiles$c[i]]]

# The inputs of each tile, so that a worker receives only its two blocks.
tile_tasks <- function(todo, layout, x, z) {
  lapply(todo, function(i) {
    r <- tile_rows(layout, i); c <- tile_cols(layout, i)
    diagonal <- layout$sym && layout$tiles$r[i] == layout$tiles$c[i]
    list(i = i, rows = r, cols = c, x = input_rows(x, r),
         z = if (diagonal) NULL else input_rows(if (layout$sym) x else z, c))
  })
}

# One tile, in a worker: diagonal tiles of a symmetric kernel are symmetric
# kernels themselves (so their values match nt_kernel's exactly). The
# worker takes the caller's Gram mode: its own default may differ (another
# BLAS on another node), and so would the last bits of the kernel.
compute_tile <- function(task, job) {
  if (!is.na(job$gram)) {
    old <- options(ntk.gram = job$gram)
    on.exit(options(old), add = TRUE)
  }
  k <- nt_kernel(job$net, task$x, task$z, what = job$what, threads = job$threads,
                 progress = FALSE)
  if (length(job$what) == 1L) k <- stats::setNames(list(k), job$what)
  k <- lapply(k, function(m) unname(m@.Data))
  if (is.null(job$store)) return(k)
  write_tile(job$store, task$i, job$key, task$rows, task$cols, k)
  TRUE
}

run_tiles <- function(todo, layout, x, z, job) {
  if (!length(todo)) return(list())
  tasks <- tile_tasks(todo, layout, x, z)
  progressr::with_progress({
    step <- progressr::progressor(along = tasks)
    future.apply::future_lapply(tasks, function(task) {
      out <- tryCatch(compute_tile(task, job), error = function(e) e)
      step(sprintf("tile %d", task$i))
      out
    }, future.seed = NULL, future.packages = "ntk", future.chunk.size = 1L)
  }, enable = interactive())
}

# The kernel matrices from the tiles that get_tile() returns (NULL: skip a
# tile, whose absence the caller reports). A block of the wrong shape is an
# error rather than recycled into place.
assemble_tiles <- function(layout, get_tile, what, labels = NULL) {
  out <- lapply(stats::setNames(what, what), function(w) matrix(0, layout$n, layout$m))
  for (i in seq_len(nrow(layout$tiles))) {
    r <- tile_rows(layout, i); c <- tile_cols(layout, i)
    k <- get_tile(i)
    if (is.null(k)) next
    for (w in what) {
      if (!identical(dim(k[[w]]), c(length(r), length(c))))
        stop(sprintf("tile %d holds a block of %s values, not %d x %d", i,
                     paste(dim(k[[w]]) %||% length(k[[w]]), collapse = " x "),
                     length(r), length(c)), call. = FALSE)
      out[[w]][r, c] <- k[[w]]
      if (layout$sym && layout$tiles$r[i] != layout$tiles$c[i]) out[[w]][c, r] <- t(k[[w]])
    }
  }
  out <- lapply(out, function(k) {
    if (!is.null(labels)) dimnames(k) <- labels
    as_nt_kernel_matrix(k)
  })
  if (length(what) == 1L) out[[1L]] else out[c("ntk", "nngp")[c("ntk", "nngp") %in% what]]
}
