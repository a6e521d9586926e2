# Row pools of the ntkdot() / nngpdot() kernel objects.
#
# ksvm's one-against-one training asks for the kernel of every pair of
# classes, i.e. of overlapping row subsets of the same data, and then for
# fitted values. Each kernel object names a pool, kept in this session's
# registry (not in the object, so that saved models stay small), holding the
# rows it has seen and their kernel matrix: each pair of rows is computed
# once. Rows are found by a fixed projection and then compared exactly.

pool_limit <- 4000L
pools_kept <- 3L
.pools <- new.env(parent = emptyenv())

new_pool_id <- function() {
  .pools$count <- (if (is.null(.pools$count)) 0 else .pools$count) + 1
  sprintf("%d-%.0f-%s", Sys.getpid(), .pools$count, format(Sys.time(), "%Y%m%d%H%M%OS6"))
}

# The pool of a kernel object; with create = TRUE a new one when none
# matches (an unknown id, e.g. of a model saved in another session, or a
# pool of another network), dropping the least recently used beyond
# pools_kept.
kernel_pool <- function(kernel, create = TRUE) {
  kp <- kernlab::kpar(kernel)
  id <- kp$pool
  if (!is.character(id) || length(id) != 1L) return(NULL)
  registry <- .pools$registry
  if (is.null(registry)) registry <- .pools$registry <- new.env(parent = emptyenv())
  pool <- registry[[id]]
  if (is.null(pool) || !identical(pool$net, kp$net) || !identical(pool$what, kp$what)) {
    if (!create) return(NULL)
    pool <- new.env(parent = emptyenv())
    pool$net <- kp$net
    pool$what <- kp$what
    assign(id, pool, envir = registry)
  }
  order <- c(id, setdiff(.pools$order, id))
  stale <- order[-seq_len(min(length(order), pools_kept))]
  if (length(stale)) rm(list = intersect(stale, ls(registry)), envir = registry)
  .pools$order <- setdiff(order, stale)
  pool
}

row_keys <- function(x) drop(x %*% (1 + sqrt(seq_len(ncol(x))) %% 1))

# Positions of the rows of x in the pool, or NULL unless all are there.
pool_positions <- function(pool, x) {
  if (is.null(pool) || is.null(pool$rows) || !is.matrix(x) || ncol(x) != ncol(pool$rows)) return(NULL)
  at <- match(row_keys(x), pool$keys)
  if (anyNA(at) || !identical(unname(x), unname(pool$rows[at, , drop = FALSE]))) return(NULL)
  at
}

pooled_kernel <- function(kernel, x) {
  if (is.vector(x)) x <- as.matrix(x)
  x <- as_input_matrix(x, "x")
  kp <- kernlab::kpar(kernel)
  pool <- kernel_pool(kernel)
  if (is.null(pool) || nrow(x) > pool_limit) return(kernel_of(kernel, x))
  if (is.null(pool$rows) || ncol(pool$rows) != ncol(x)) {
    pool$rows <- x[0, , drop = FALSE]
    pool$keys <- numeric(0)
    pool$k <- matrix(0, 0, 0)
  }
  keys <- row_keys(x)
  fresh <- which(is.na(match(keys, pool$keys)) & !duplicated(keys))
  if (length(fresh)) {
    if (length(pool$keys) + length(fresh) > pool_limit) return(kernel_of(kernel, x))
    xn <- x[fresh, , drop = FALSE]
    k_new <- nt_kernel(kp$net, xn, what = kp$what, progress = FALSE)@.Data
    k_cross <- if (length(pool$keys))
      nt_kernel(kp$net, xn, pool$rows, what = kp$what, progress = FALSE)@.Data
    else matrix(0, length(fresh), 0)
    old <- length(pool$keys)
    grown <- matrix(0, old + length(fresh), old + length(fresh))
    grown[seq_len(old), seq_len(old)] <- pool$k
    grown[old + seq_along(fresh), seq_len(old)] <- k_cross
    grown[seq_len(old), old + seq_along(fresh)] <- t(k_cross)
    grown[old + seq_along(fresh), old + seq_along(fresh)] <- k_new
    pool$k <- grown
    pool$rows <- rbind(pool$rows, xn)
    pool$keys <- c(pool$keys, keys[fresh])
  }
  at <- pool_positions(pool, x)
  if (is.null(at)) return(kernel_of(kernel, x))   # two rows share a key: compute directly
  k <- pool$k[at, at, drop = FALSE]
  dimnames(k) <- list(rownames(x), rownames(x))
  as_nt_kernel_matrix(k)
}

# The pool's kernel between x and y when it holds all their rows, else NULL.
pool_lookup <- function(kernel, x, y) {
  pool <- kernel_pool(kernel, create = FALSE)
  ix <- pool_positions(pool, x)
  iy <- pool_positions(pool, y)
  if (is.null(ix) || is.null(iy)) return(NULL)
  pool$k[ix, iy, drop = FALSE]
}
