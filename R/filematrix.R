# File-backed kernel matrices: doubles in column-major order, read back
# through `[` with the indexing rules of a base matrix.

# Writes the matrix a column block at a time (each block needs the tiles of
# its column and, mirrored, of its row), under a temporary name renamed at
# the end; `complain()` stops, before the rename, if a tile was unusable.
write_filematrix <- function(layout, get_block, path, labels, complain) {
  tmp <- temp_path(path)
  on.exit(if (file.exists(tmp)) unlink(tmp))
  con <- file(tmp, "w+b")
  closed <- FALSE
  on.exit(if (!closed) close(con), add = TRUE, after = FALSE)
  for (cb in seq_along(layout$cols)) {
    block <- matrix(0, layout$n, length(layout$cols[[cb]]))
    for (i in seq_len(nrow(layout$tiles))) {
      tr <- layout$tiles$r[i]; tc <- layout$tiles$c[i]
      if (tc != cb && !(layout$sym && tr == cb)) next
      k <- get_block(i)
      if (is.null(k)) next
      if (tc == cb) block[layout$rows[[tr]], ] <- k
      else block[layout$rows[[tc]], ] <- t(k)
    }
    write_doubles(con, block)
  }
  close(con)
  closed <- TRUE
  complain()
  if (!file.rename(tmp, path)) stop(sprintf("cannot write %s", path), call. = FALSE)
  structure(list(path = normalizePath(path), dim = c(layout$n, layout$m), dimnames = labels),
            class = "nt_filematrix")
}

#' @export
dim.nt_filematrix <- function(x) x$dim

#' @export
dimnames.nt_filematrix <- function(x) x$dimnames

#' @export
as.matrix.nt_filematrix <- function(x, ...) x[, , drop = FALSE]

#' @export
`[.nt_filematrix` <- function(x, i, j, ..., drop = TRUE) {
  args <- nargs() - !missing(drop)
  if (args > 3L || ...length()) stop("incorrect number of dimensions", call. = FALSE)
  if (args == 2L) {
    if (missing(i)) return(as.matrix(x))
    return(filematrix_cells(x, i))
  }
  rows <- if (missing(i)) named_seq(x$dim[1], x$dimnames[[1]]) else
    along_index(i, x$dim[1], x$dimnames[[1]])
  cols <- if (missing(j)) named_seq(x$dim[2], x$dimnames[[2]]) else
    along_index(j, x$dim[2], x$dimnames[[2]])
  out <- matrix(NA_real_, length(rows), length(cols))
  con <- filematrix_open(x)
  on.exit(close(con))
  for (col in unique(cols[!is.na(cols)])) {
    values <- read_column(con, x, col, rows)
    out[, which(cols == col)] <- values
  }
  # names by position (not names(rows): an empty selection has none), NA
  # for an NA index, as base `[` gives them
  labels <- list(if (!is.null(x$dimnames[[1]])) x$dimnames[[1]][rows],
                 if (!is.null(x$dimnames[[2]])) x$dimnames[[2]][cols])
  if (!all(vapply(labels, is.null, NA))) dimnames(out) <- labels
  # base `[` on the assembled block drops exactly as it would on the matrix
  out[, , drop = drop]
}

named_seq <- function(n, names) stats::setNames(seq_len(n), names)

# The positions an index selects along a dimension of extent n, by base R's
# own rules: a one-column proxy matrix indexed the same way (negative, zero,
# logical recycling, names, NA; out of range is an error).
along_index <- function(i, n, names) {
  proxy <- matrix(seq_len(n), n, 1L, dimnames = if (!is.null(names)) list(names, NULL))
  tryCatch(proxy[i, 1L], error = function(e) stop(conditionMessage(e), call. = FALSE))
}

filematrix_open <- function(x) {
  expect <- 8 * as.double(x$dim[1]) * x$dim[2]
  size <- file.size(x$path)
  if (is.na(size) || size != expect)
    stop(sprintf("%s holds %s bytes, not the %.0f of a %d x %d matrix of doubles: it changed after nt_tiles_read() wrote it",
                 x$path, if (is.na(size)) "no" else format(size, scientific = FALSE),
                 expect, x$dim[1], x$dim[2]), call. = FALSE)
  file(x$path, "rb")
}

# Rows `rows` (NA allowed) of column `col`: one read of the span they cover.
read_column <- function(con, x, col, rows) {
  at <- rows[!is.na(rows)]
  if (!length(at)) return(rep(NA_real_, length(rows)))
  lo <- min(at); hi <- max(at)
  seek(con, 8 * ((as.double(col) - 1) * x$dim[1] + lo - 1))
  span <- readBin(con, "double", hi - lo + 1L, endian = "little")
  if (length(span) != hi - lo + 1L) stop(sprintf("%s is truncated", x$path), call. = FALSE)
  span[rows - lo + 1L]
}

# fm[k] and fm[cbind(r, c)]: cells by linear (column-major) positions or by
# a two-column matrix of rows and columns, as for a base matrix.
filematrix_cells <- function(x, i) {
  n <- x$dim[1]; m <- x$dim[2]
  if (is.matrix(i) && ncol(i) == 2L && (is.numeric(i) || is.character(i))) {
    if (is.character(i)) {
      rows <- match(i[, 1], x$dimnames[[1]]); cols <- match(i[, 2], x$dimnames[[2]])
      if (anyNA(rows[!is.na(i[, 1])]) || anyNA(cols[!is.na(i[, 2])]))
        stop("subscript out of bounds", call. = FALSE)
    } else {
      if (any(i < 0, na.rm = TRUE))
        stop("negative values are not allowed in a matrix subscript", call. = FALSE)
      i <- trunc(i)
      i <- i[!(i[, 1] %in% 0 | i[, 2] %in% 0), , drop = FALSE]
      if (any(i[, 1] > n, na.rm = TRUE) || any(i[, 2] > m, na.rm = TRUE))
        stop("subscript out of bounds", call. = FALSE)
      rows <- i[, 1]; cols <- i[, 2]
    }
  } else {
    if (!is.numeric(i) || is.matrix(i) && ncol(i) == 2L)
      stop("index a file-backed matrix by [i, j], by positions or by a two-column matrix",
           call. = FALSE)
    if (any(i < 0, na.rm = TRUE))
      stop("negative linear positions are not supported for a file-backed matrix: use [i, j]",
           call. = FALSE)
    k <- trunc(as.vector(i))
    k <- k[is.na(k) | k != 0]
    k[!is.na(k) & k > as.double(n) * m] <- NA        # as for a vector: NA beyond the end
    rows <- (k - 1) %% n + 1; cols <- (k - 1) %/% n + 1
  }
  out <- rep(NA_real_, length(rows))
  con <- filematrix_open(x)
  on.exit(close(con))
  ok <- !is.na(rows) & !is.na(cols)
  for (col in unique(cols[ok])) {
    sel <- which(ok & cols == col)
    out[sel] <- read_column(con, x, col, rows[sel])
  }
  out
}

#' @export
print.nt_filematrix <- function(x, ...) {
  cat(sprintf("<file-backed kernel matrix> %d x %d, %s\n", x$dim[1], x$dim[2], x$path))
  invisible(x)
}
