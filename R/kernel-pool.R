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
  if (is.null(pool) || !identical(pool$net, kp$net) || !identical(pool$what, kp$what) ||
      !identical(pool$input_shape, kp$input_shape)) {
    if (!create) return(NULL)
    pool <- new.env(parent = emptyenv())
    pool$net <- kp$net
    pool$what <- kp$what
    pool$input_shape <- kp$input_shape
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
  if (anyNA(at) || !isTRUE(all(x == pool$rows[at, , drop = FALSE]))) return(NULL)
  at
}

# Fills the pool with the rows of x when they fit and are not all there yet.
seed_pool <- function(kernel, x) {
  if (!is.matrix(x) || !is.numeric(x) || nrow(x) > pool_limit || !all(is.finite(x)))
    return(invisible())
  pool <- kernel_pool(kernel)
  if (is.null(pool_positions(pool, x))) pool_add(pool, x)
  invisible()
}

# Adds the rows of x that the pool lacks, with their kernel; FALSE when the
# pool would outgrow its limit.
pool_add <- function(pool, x) {
  if (is.null(pool$rows) || ncol(pool$rows) != ncol(x)) {
    pool$rows <- x[0, , drop = FALSE]
    pool$keys <- numeric(0)
    pool$k <- matrix(0, 0, 0)
  }
  keys <- row_keys(x)
  fresh <- which(is.na(match(keys, pool$keys)) & !duplicated(keys))
  if (!length(fresh)) return(TRUE)
  old <- length(pool$keys)
  if (old + length(fresh) > pool_limit) return(FALSE)
  xn <- x[fresh, , drop = FALSE]
  k_new <- rows_kernel(pool$net, pool$input_shape, pool$what, xn)@.Data
  if (old == 0L) {
    pool$k <- unname(k_new)
  } else {
    k_cross <- rows_kernel(pool$net, pool$input_shape, pool$what, xn, pool$rows)@.Data
    grown <- matrix(0, old + length(fresh), old + length(fresh))
    grown[seq_len(old), seq_len(old)] <- pool$k
    grown[old + seq_along(fresh), seq_len(old)] <- k_cross
    grown[seq_len(old), old + seq_along(fresh)] <- t(k_cross)
    grown[old + seq_along(fresh), old + seq_along(fresh)] <- k_new
    pool$k <- grown
  }
  pool$rows <- rbind(pool$rows, xn)
  pool$keys <- c(pool$keys, keys[fresh])
  TRUE
}

pooled_kernel <- function(kernel, x) {
  if (is.vector(x)) x <- as.matrix(x)
  x <- as_input_matrix(x, "x")
  pool <- kernel_pool(kernel)
  if (is.null(pool) || nrow(x) > pool_limit || !pool_add(pool, x)) return(kernel_of(kernel, x))
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
