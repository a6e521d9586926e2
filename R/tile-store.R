# The tile store of nt_kernel_tiled(): a directory of tile files, each
# carrying the fingerprint of its computation, its block and a checksum,
# beside a manifest created atomically.

store_format <- "ntk tile store 2"
tile_format <- "ntk tile 2"

check_store <- function(store) {
  if (!is.character(store) || length(store) != 1L || is.na(store) || !nzchar(store))
    stop("`store` must be a directory path", call. = FALSE)
  # workers may start in another working directory
  store <- path.expand(store)
  if (!grepl("^(/|\\\\|[A-Za-z]:)", store)) store <- file.path(getwd(), store)
  normalizePath(store, mustWork = FALSE)
}

manifest_file <- function(store) file.path(store, "manifest.rds")
tile_file <- function(store, i) file.path(store, sprintf("tile-%06d.rds", i))

# What a tile's values depend on. The key, a digest of all of it, is what
# every tile carries; the fields themselves let a mismatch say what differs.
new_manifest <- function(net, x, z, what, gram, layout, images) {
  fields <- list(format = store_format, package = as.character(utils::packageVersion("ntk")),
                 net = hash_object(net), x = hash_values(x), z = hash_values(z),
                 images = images, what = what, gram = gram,
                 n = layout$n, m = layout$m, sym = layout$sym, tile = layout$tile)
  list(format = store_format, key = hash_object(fields), fields = fields)
}

field_labels <- c(format = "the store format", package = "the package version",
                  net = "the network", x = "the inputs `x`", z = "the inputs `z`",
                  images = "the kind of inputs", what = "the kernels (`what`)",
                  gram = "the Gram mode (option `ntk.gram`)", n = "the tile layout",
                  m = "the tile layout", sym = "the tile layout", tile = "the tile layout")

# Claims the store for `manifest`, or checks that it holds the same
# computation. Creating the manifest is atomic, so that of two runs starting
# on an empty store exactly one claims it; the other then reads the winner's
# manifest like any other.
open_store <- function(store, manifest) {
  dir.create(store, recursive = TRUE, showWarnings = FALSE)
  if (!dir.exists(store)) stop(sprintf("cannot create `store` (%s)", store), call. = FALSE)
  if (!file.exists(manifest_file(store))) create_manifest(store, manifest)
  old <- read_manifest(store)
  if (!identical(old$key, manifest$key)) {
    differs <- names(field_labels)[vapply(names(field_labels), function(f)
      !identical(old$fields[[f]], manifest$fields[[f]]), NA)]
    what <- unique(field_labels[differs])
    if (!length(what) || !identical(old$format, store_format)) what <- "the store format"
    if ("gram" %in% differs && is.character(old$fields$gram) && !is.na(old$fields$gram))
      what[what == field_labels[["gram"]]] <- sprintf(
        "the Gram mode (the store's tiles used options(ntk.gram = \"%s\"))", old$fields$gram)
    stop(sprintf(paste0("`store` (%s) holds tiles of another computation: its manifest does ",
                        "not match %s; use another directory, or delete %s to let this ",
                        "computation replace its tiles"),
                 store, paste(what, collapse = ", "), manifest_file(store)), call. = FALSE)
  }
  invisible(manifest)
}

read_manifest <- function(store) {
  file <- manifest_file(store)
  if (!file.exists(file))
    stop(sprintf("`store` (%s) has no manifest.rds: it is not a tile store, or its manifest was deleted (rerun nt_kernel_tiled() to recreate it)",
                 store), call. = FALSE)
  size <- file.size(file)
  old <- if (!is.na(size) && size <= 1e6) unseal(file_bytes(file, size))
  if (!is.list(old) || !identical(old$format, store_format) || !is.character(old$key) ||
      !is.list(old$fields))
    stop(sprintf(paste0("the manifest of `store` (%s) is damaged or of another version of ntk: ",
                        "delete %s; the tiles are checked one by one, so the next run keeps ",
                        "the good ones"), store, file), call. = FALSE)
  old
}

# A hard link fails when its target exists, atomically, also over NFS (the
# classic lock-file idiom); where links are not supported, a lock directory
# (mkdir is atomic too) guards the check and the rename.
create_manifest <- function(store, manifest) {
  file <- manifest_file(store)
  tmp <- temp_path(file)
  on.exit(unlink(tmp))
  writeBin(seal(manifest), tmp)
  if (isTRUE(suppressWarnings(link_file(tmp, file))) || file.exists(file)) return(invisible())
  lock <- file.path(store, "manifest.lock")
  deadline <- Sys.time() + 120
  repeat {
    if (dir.create(lock, showWarnings = FALSE)) {
      on.exit(unlink(lock, recursive = TRUE), add = TRUE)
      if (!file.exists(file) && !file.rename(tmp, file))
        stop(sprintf("cannot write the manifest of `store` (%s)", store), call. = FALSE)
      return(invisible())
    }
    if (file.exists(file)) return(invisible())
    # a lock this old belongs to a run that was killed while holding it
    age <- as.double(difftime(Sys.time(), file.mtime(lock), units = "secs"))
    if (!is.na(age) && age > 60) unlink(lock, recursive = TRUE)
    if (Sys.time() > deadline)
      stop(sprintf("cannot create the manifest of `store` (%s): %s stays locked",
                   store, lock), call. = FALSE)
    Sys.sleep(0.05)
  }
}

# (A function of its own so that tests can make links fail.)
link_file <- function(from, to) file.link(from, to)

# ---- tiles -------------------------------------------------------------------

# Writes a tile under a temporary name, then renames it into place: a
# reader sees the old file or the whole new one, never a partial one.
write_tile <- function(store, i, key, rows, cols, kernels) {
  record <- list(format = tile_format, key = key, index = as.integer(i),
                 rows = as.integer(range(rows)), cols = as.integer(range(cols)),
                 kernels = kernels)
  path <- tile_file(store, i)
  tmp <- temp_path(path)
  on.exit(if (file.exists(tmp)) unlink(tmp))
  writeBin(seal(record), tmp)
  if (!file.rename(tmp, path))
    stop(sprintf("cannot move the tile into place as %s", path), call. = FALSE)
  invisible(path)
}

# The bytes of a store file (tile or manifest): an uncompressed RDS file
# (readRDS() reads it) of list(obj, digest), the digest being the md5 of
# all the bytes before it. A list without attributes ends with its last
# element, so its 32 characters end the file, and a reader checks them
# before it unserializes anything: R's reader can crash on damaged
# serialized data.
seal <- function(obj) {
  bytes <- serialize(list(obj, strrep("0", 32L)), NULL, xdr = TRUE)
  n <- length(bytes)
  bytes[(n - 31L):n] <- charToRaw(bytes_md5(bytes[seq_len(n - 32L)]))
  bytes
}

bytes_md5 <- function(bytes) md5_of(function(con) writeBin(bytes, con))

# The object in sealed bytes whose digest matches; NULL otherwise.
unseal <- function(bytes) {
  n <- length(bytes)
  if (n <= 32L) return(NULL)
  digest <- bytes[(n - 31L):n]
  if (!all(digest %in% charToRaw("0123456789abcdef")) ||
      !identical(rawToChar(digest), bytes_md5(bytes[seq_len(n - 32L)])))
    return(NULL)
  out <- tryCatch(unserialize(bytes), error = function(e) NULL)
  if (!is.list(out) || length(out) != 2L || !is.null(attributes(out))) return(NULL)
  out[[1L]]
}

# The bytes of a file, or raw(0) when it cannot be read.
file_bytes <- function(path, size) tryCatch(readBin(path, "raw", size), error = function(e) raw(0))

# Tile i of the computation `key` from the store: list(kernels) when the
# file is that tile, undamaged; list(problem) saying why not otherwise.
read_tile <- function(store, i, key, layout, what) {
  path <- tile_file(store, i)
  no <- function(why) list(problem = why)
  if (!file.exists(path)) return(no("missing"))
  rows <- tile_rows(layout, i); cols <- tile_cols(layout, i)
  # a file far from the size of this block is not read at all
  payload <- 8 * length(rows) * length(cols) * length(what)
  size <- file.size(path)
  if (is.na(size) || dir.exists(path)) return(no("not a file"))
  if (size < payload || size > payload + 65536)
    return(no(sprintf("%.0f bytes, not those of a %d x %d tile", size, length(rows), length(cols))))
  rec <- unseal(file_bytes(path, size))
  if (is.null(rec)) return(no("damaged or not a tile: its checksum does not match its contents"))
  if (!is_tile_record(rec)) return(no("not a tile of this version of ntk"))
  if (!identical(rec$key, key))
    return(no("a tile of another computation (network, inputs, kernels, Gram mode or layout)"))
  if (!identical(rec$index, as.integer(i)) || !identical(rec$rows, as.integer(range(rows))) ||
      !identical(rec$cols, as.integer(range(cols))))
    return(no(sprintf("the tile of another block (rows %d-%d, columns %d-%d)",
                      rec$rows[1], rec$rows[2], rec$cols[1], rec$cols[2])))
  if (!identical(names(rec$kernels), what))
    return(no(sprintf("holds the kernels %s", paste(names(rec$kernels), collapse = ", "))))
  shape <- vapply(rec$kernels, function(k) identical(dim(k), c(length(rows), length(cols))), NA)
  if (!all(shape))
    return(no(sprintf("a block of %s values, not %d x %d",
                      paste(dim(rec$kernels[[which(!shape)[1]]]), collapse = " x "),
                      length(rows), length(cols))))
  list(kernels = rec$kernels)
}

is_tile_record <- function(rec) {
  is.list(rec) && identical(rec$format, tile_format) &&
    is.character(rec$key) && length(rec$key) == 1L &&
    is.integer(rec$index) && length(rec$index) == 1L &&
    is.integer(rec$rows) && length(rec$rows) == 2L && !anyNA(rec$rows) &&
    is.integer(rec$cols) && length(rec$cols) == 2L && !anyNA(rec$cols) &&
    is.list(rec$kernels) && length(rec$kernels) >= 1L && !is.null(names(rec$kernels)) &&
    all(vapply(rec$kernels, function(k) is.double(k) && is.matrix(k), NA))
}

# The tiles a run must compute: missing ones, and present ones that are not
# this computation's own undamaged tile (each named in one warning).
tiles_to_compute <- function(store, key, layout, what) {
  problems <- lapply(seq_len(nrow(layout$tiles)), function(i)
    read_tile(store, i, key, layout, what)$problem)
  todo <- which(!vapply(problems, is.null, NA))
  bad <- todo[vapply(problems[todo], function(p) !identical(p, "missing"), NA)]
  if (length(bad))
    warning(sprintf("`store` (%s): recomputing %d tile%s that %s damaged or not this computation's: %s",
                    store, length(bad), if (length(bad) > 1L) "s" else "",
                    if (length(bad) > 1L) "are" else "is",
                    describe_tiles(store, bad, problems[bad])), call. = FALSE)
  todo
}

describe_tiles <- function(store, idx, problems) {
  shown <- utils::head(seq_along(idx), 20L)
  out <- paste(sprintf("%s (%s)", basename(tile_file(store, idx[shown])), unlist(problems[shown])),
               collapse = "; ")
  if (length(idx) > 20L) out <- paste0(out, sprintf("; and %d more", length(idx) - 20L))
  out
}

# The kernel from the tiles of computation `key` (with `stored` kernels), in
# memory or file-backed; tiles that are missing or unusable are an error
# naming each file.
read_store <- function(store, key, layout, stored, what, file, labels) {
  bad <- integer(0)
  problems <- list()
  get_tile <- function(i) {
    t <- read_tile(store, i, key, layout, stored)
    if (is.null(t$problem)) return(t$kernels)
    if (!i %in% bad) {
      bad <<- c(bad, i)
      problems[[length(problems) + 1L]] <<- t$problem
    }
    NULL
  }
  complain <- function() {
    if (length(bad))
      stop(sprintf("`store` (%s) cannot give the kernel: %d tile%s missing or unusable: %s; rerun nt_kernel_tiled() with the same arguments to compute %s",
                   store, length(bad), if (length(bad) > 1L) "s are" else " is",
                   describe_tiles(store, bad, problems), if (length(bad) > 1L) "them" else "it"),
           call. = FALSE)
  }
  bytes <- 8 * as.double(layout$n) * layout$m * length(what)
  if (is.null(file) && bytes > 0.5 * physical_memory_bytes()) file <- TRUE
  if (is.null(file) || isFALSE(file)) {
    out <- assemble_tiles(layout, get_tile, what, labels)
    complain()
    return(out)
  }
  if (length(what) != 1L) stop("a file-backed result holds one kernel: give `what`", call. = FALSE)
  path <- if (isTRUE(file)) file.path(store, paste0(what, ".bin")) else file
  write_filematrix(layout, function(i) get_tile(i)[[what]], path, labels, complain)
}

#' Assemble a tile store
#'
#' Reads the tiles that [nt_kernel_tiled()] wrote to `store` into the kernel
#' matrix, or, with `file` (by default when the result would exceed half of
#' the machine's memory), into a file of doubles in column-major order that
#' is read back block by block through `[`: an `nt_filematrix`, indexed as a
#' matrix is (positive, negative, zero, logical and character indices,
#' `drop`; an index out of range is an error).
#'
#' Each tile is checked against the manifest: its fingerprint, its block,
#' its shape and its checksum. A tile that is missing, damaged or not the
#' store's own is an error naming its file; rerunning [nt_kernel_tiled()]
#' with the same arguments recomputes it. The store does not keep the
#' inputs' names, so the result has no dimnames (`nt_kernel_tiled()` adds
#' them).
#'
#' @param store The store directory.
#' @param file `NULL`, `TRUE` (a file in `store`), or a path for a
#'   file-backed result; by default file-backed only when large.
#' @param what Which kernel, when the store holds both.
#' @return A kernel matrix (or list of both), or an `nt_filematrix`.
#' @examples
#' if (requireNamespace("future.apply", quietly = TRUE) &&
#'     requireNamespace("progressr", quietly = TRUE)) {
#'   x <- matrix(rnorm(40 * 3), 40)
#'   store <- file.path(tempdir(), "ntk-tiles-example")
#'   k <- nt_kernel_tiled(nt_fc(2), x, tile = 20, store = store)
#'   again <- nt_tiles_read(store)                  # the same kernel, from the tiles
#'   print(all.equal(c(again), c(k)))
#'   on_disk <- nt_tiles_read(store, file = TRUE)   # file-backed, read block by block
#'   print(on_disk[1:3, 1:3])
#'   unlink(store, recursive = TRUE)
#' }
#' @export
nt_tiles_read <- function(store, file = NULL, what = NULL) {
  store <- check_store(store)
  if (!is.null(file) && !isTRUE(file) && !isFALSE(file) &&
      !(is.character(file) && length(file) == 1L && !is.na(file) && nzchar(file)))
    stop("`file` must be NULL, TRUE, FALSE or a file path", call. = FALSE)
  manifest <- read_manifest(store)
  if (!identical(manifest$format, store_format))
    stop(sprintf("`store` (%s) was written by another version of ntk", store), call. = FALSE)
  f <- manifest$fields
  if (!is.null(what)) {
    what <- intersect(c("ntk", "nngp"), check_what(what))
    if (!all(what %in% f$what))
      stop(sprintf("`store` (%s) holds %s only", store, paste(f$what, collapse = " and ")),
           call. = FALSE)
  }
  layout <- tile_layout(f$n, if (f$sym) NULL else f$m, f$tile)
  read_store(store, manifest$key, layout, f$what, what %||% f$what, file, NULL)
}

# The machine's memory as the C side sees it (src/checks.c), Inf if unknown.
physical_memory_bytes <- function() {
  bytes <- .Call(C_ntk_physical_memory)
  if (bytes > 0) bytes else Inf
}

# ---- temporary files ---------------------------------------------------------

# `path`.<node>.<pid>.<random>.tmp, in the same directory (a rename across
# file systems is not atomic). tempfile() makes the random part without
# touching the session's random number stream.
temp_path <- function(path) {
  sprintf("%s.%s.%d.%s.tmp", path, node_name(), Sys.getpid(),
          sub("^file", "", basename(tempfile())))
}

node_name <- function() {
  node <- tryCatch(Sys.info()[["nodename"]], error = function(e) "")
  node <- gsub("[^A-Za-z0-9-]", "-", node %||% "")
  if (nzchar(node)) node else "node"
}

# (tiles, the manifest, and nt_tiles_read()'s file-backed matrices)
temp_pattern <- "^(.+)\\.([A-Za-z0-9-]+)\\.([0-9]+)\\.([A-Za-z0-9]+)\\.tmp$"

# Removes temporary files that no running writer will rename: those of
# processes on this node that are gone, those older than an hour (a tile is
# renamed seconds after it is written; the age also covers other nodes,
# whose processes cannot be asked), and any `.tmp` file with a name this
# version does not write. Directories and other files are left alone.
clean_temp_files <- function(store) {
  files <- list.files(store, pattern = "\\.tmp$", all.files = TRUE, full.names = TRUE)
  files <- files[!dir.exists(files)]
  if (!length(files)) return(invisible())
  stale <- vapply(files, function(f) {
    parts <- regmatches(basename(f), regexec(temp_pattern, basename(f)))[[1]]
    if (!length(parts)) return(TRUE)
    age <- as.double(difftime(Sys.time(), file.mtime(f), units = "secs"))
    if (!is.na(age) && age > 3600) return(TRUE)
    identical(parts[3], node_name()) && !writer_running(as.integer(parts[4]))
  }, NA)
  unlink(files[stale])
  invisible()
}

# Whether the process of this node that wrote a temporary file may still
# rename it: not this process (it writes nothing while it cleans, so its
# files are left over from an interrupted call); another one while it runs
# (signal 0 checks without sending; Windows has no such probe, so there
# only the age counts).
writer_running <- function(pid) {
  if (is.na(pid)) return(TRUE)
  if (pid == Sys.getpid()) return(FALSE)
  if (.Platform$OS.type != "unix") return(TRUE)
  if (!isTRUE(tools::pskill(pid, 0L))) return(FALSE)
  # a killed child its parent has not reaped yet still answers signal 0
  stat <- sprintf("/proc/%d/stat", pid)
  if (!file.exists(stat)) return(TRUE)
  state <- tryCatch(sub("^.*\\) ([A-Za-z]).*$", "\\1", readLines(stat, n = 1L, warn = FALSE)),
                    error = function(e) "R")
  !isTRUE(state %in% c("Z", "X"))
}
