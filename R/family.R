# Every kernel of a hyper-parameter grid over depth and frozen layers, in one pass.

#' All fully connected kernels `K[depth][fixed]` from one pass
#'
#' The networks `nt_fc(dep, activation, w_var, b_var, fixed = fix)` for
#' `dep` in `0..max_depth` and `fix` in `0..dep` share their layers, so one
#' recursion per pair of inputs gives every NTK (partial sums of the same
#' terms) and every depth's NNGP. This is the grid of Arora et al. (2020);
#' with `arora = TRUE` the kernels are exactly theirs (raw features, no
#' `c_sigma`: the networks of [nt_fc_arora()]).
#'
#' @inheritParams nt_kernel
#' @param max_depth Deepest network (number of hidden layers).
#' @param activation,w_var,b_var As in [nt_fc()].
#' @param arora Return Arora et al.'s `K[dep][fix]` (ReLU only).
#' @return A list: `grid` (a data frame with columns `depth` and `fixed`), `ntk`
#'   (a list of kernel matrices in the rows' order) and `nngp` (a list by
#'   depth, `0..max_depth`). [nt_family_kernel()] picks one.
#' @examples
#' x <- scale(as.matrix(iris[1:20, 1:4]))
#' fam <- nt_fc_family(x, max_depth = 2)
#' fam$grid
#' all.equal(nt_family_kernel(fam, 2, 1), nt_kernel(nt_fc(2, fixed = 1), x))
#' @export
nt_fc_family <- function(x, z = NULL, max_depth = 4, activation = "relu", w_var = 2, b_var = 0,
                         arora = FALSE, threads = nt_threads(), progress = interactive()) {
  max_depth <- check_count(max_depth, "max_depth", 0L)
  arora <- check_flag(arora, "arora")
  x <- as_input_matrix(x, "x")
  if (!is.null(z)) {
    z <- as_input_matrix(z, "z")
    if (ncol(z) != ncol(x))
      stop(sprintf("`z` has %d columns but `x` has %d", ncol(z), ncol(x)), call. = FALSE)
  }
  threads <- clamp_threads(check_count(threads, "threads", lower = 1L))
  progress <- check_flag(progress, "progress")
  if (arora && !identical(activation, "relu"))
    stop("`arora = TRUE` is defined for activation = \"relu\" only", call. = FALSE)
  net <- if (arora) nt_fc_arora(max_depth, 0, ncol(x)) else nt_fc(max_depth, activation, w_var, b_var)
  refuse_user_dual(net, "nt_fc_family()")
  plan <- compile_plan(net)
  input_var <- c(rowSums(x^2), if (!is.null(z)) rowSums(z^2)) / ncol(x)
  plan <- fit_tables(plan, function(tables)
    .Call(C_ntk_fc_self, input_var, plan$ints, plan$dbls, tables))
  res <- .Call(C_ntk_fc_family, x, z, plan$ints, plan$dbls, plan$tables, threads, progress,
               gram_native())
  grid <- do.call(rbind, lapply(0:max_depth, function(d) data.frame(depth = d, fixed = 0:d)))
  labels <- list(rownames(x), if (is.null(z)) rownames(x) else rownames(z))
  if (all(vapply(labels, is.null, logical(1)))) labels <- NULL
  for (part in 1:2) for (i in seq_along(res[[part]]))   # in place: no copies of the family
    res[[part]][[i]] <- .Call(C_ntk_as_kernel_matrix, res[[part]][[i]], labels)
  list(grid = grid, ntk = res[[1]], nngp = res[[2]])
}

#' Pick one kernel of a family
#'
#' @param family The result of [nt_fc_family()].
#' @param depth,fixed The network's depth and frozen layers.
#' @param what `"ntk"` or `"nngp"` (the NNGP does not depend on `fixed`).
#' @return A kernel matrix.
#' @examples
#' x <- scale(as.matrix(iris[1:20, 1:4]))
#' fam <- nt_fc_family(x, max_depth = 3)
#' k <- nt_family_kernel(fam, depth = 2, fixed = 1)
#' all.equal(k@.Data, nt_kernel(nt_fc(2, fixed = 1), x)@.Data)
#' @export
nt_family_kernel <- function(family, depth, fixed = 0, what = c("ntk", "nngp")) {
  if (!is.list(family) || !all(c("grid", "ntk", "nngp") %in% names(family)))
    stop("`family` must be the result of nt_fc_family()", call. = FALSE)
  what <- match.arg(what)
  depth <- check_count(depth, "depth"); fixed <- check_count(fixed, "fixed")
  if (what == "nngp") {
    if (depth + 1L > length(family$nngp)) stop("`depth` is beyond the family", call. = FALSE)
    return(family$nngp[[depth + 1L]])
  }
  row <- which(family$grid$depth == depth & family$grid$fixed == fixed)
  if (!length(row)) stop("(`depth`, `fixed`) is not in the family", call. = FALSE)
  family$ntk[[row]]
}
