# Activations with a user-supplied dual (nt_activation(fun, dual = )): the
# fully connected engine runs the network in segments between such layers
# (C_ntk_fc_resume continues from a given state), and the user's dual maps
# the state in R between segments, vectorised over all pairs.

is_user_dual <- function(layer) inherits(layer, "nt_activation") && is.function(layer$dual)

# Whether a user-supplied dual sits anywhere in `obj` (a network, a layer,
# the branches of a layer).
holds_user_dual <- function(obj) {
  if (is_user_dual(obj)) return(TRUE)
  if (!is.list(obj)) return(FALSE)
  any(vapply(obj, holds_user_dual, logical(1)))
}

# A user dual acts on the whole state between two segments: it must sit on
# the network's main line, not inside a branch.
check_dual_placement <- function(net) {
  for (l in seq_along(net))
    if (!is_user_dual(net[[l]]) && holds_user_dual(net[[l]]))
      stop(sprintf(paste0("`net` layer %d (%s) holds an activation with a user-supplied `dual` ",
                          "inside a branch; such an activation must sit on the main line of the network"),
                   l, format(net[[l]])), call. = FALSE)
}

# Where the kernels are not computed in segments (image networks, the
# family of depths), a user-supplied dual would be silently replaced by
# quadrature: refused instead.
refuse_user_dual <- function(net, where) {
  if (holds_user_dual(net))
    stop(sprintf(paste0("an activation with a user-supplied `dual` is used by fully connected ",
                        "kernels of matrix inputs only, not by %s; build it without `dual` to use ",
                        "quadrature of `fun`"), where), call. = FALSE)
}

# The NTK and NNGP (list ntk, nngp) of a fully connected network with user
# duals; `plan` is the compiled network (which checked its structure).
user_dual_kernels <- function(net, plan, x, z, wanted, threads, progress) {
  check_dual_placement(net)
  table_of <- plan$ints["table", ]
  duals <- which(table_of > 0L)
  duals <- duals[vapply(plan$custom[table_of[duals]], is_user_dual, logical(1))]
  bounds <- c(0L, duals, ncol(plan$ints) + 1L)
  # the pair (j, j) is an input with itself (dropout, rho = 1): by values, as the C engine decides
  same <- is.null(z) || (nrow(x) == nrow(z) && identical(unname(x), unname(z)))
  state <- NULL
  for (s in seq_len(length(bounds) - 1L)) {
    ops <- seq_len(bounds[s + 1L] - bounds[s] - 1L) + bounds[s]
    state <- run_segment(sub_plan(plan, ops), state, x, z, same, threads, progress)
    if (s < length(bounds) - 1L)
      state <- apply_user_dual(plan$custom[[table_of[bounds[s + 1L]]]], state, same)
  }
  list(ntk = if (wanted[["ntk"]]) state$theta, nngp = if (wanted[["nngp"]]) state$k)
}

# The ops `ops` of a plan, with their own activation tables.
sub_plan <- function(plan, ops) {
  tab <- plan$ints["table", ops]
  used <- unique(tab[tab > 0L])
  ints <- plan$ints[, ops, drop = FALSE]
  ints["table", ] <- match(tab, used, nomatch = 0L)
  list(ints = ints, dbls = plan$dbls[, ops, drop = FALSE], custom = plan$custom[used],
       tables = plan$tables[used])
}

# The state (k, theta: n x m; kx, kz: self variances, kz NULL when z is x)
# after a segment, from the inputs (state NULL) or from the previous state.
run_segment <- function(seg, state, x, z, same, threads, progress) {
  if (is.null(state)) {
    kx <- rowSums(x^2) / ncol(x)
    kz <- if (is.null(z)) NULL else rowSums(z^2) / ncol(x)
    if (!ncol(seg$ints)) {
      k <- tcrossprod(x, z %||% x) / ncol(x)
      if (is.null(z)) diag(k) <- kx
      return(list(k = k, theta = k * 0, kx = kx, kz = kz))
    }
    seg <- fit_matrix_tables(seg, x, z)
    res <- .Call(C_ntk_fc_kernel, x, z, seg$ints, seg$dbls, seg$tables, c(TRUE, TRUE), threads,
                 progress, gram_native())
  } else {
    if (!ncol(seg$ints)) return(state)
    kx <- state$kx
    kz <- state$kz
    seg <- fit_tables(seg, function(tables)
      .Call(C_ntk_fc_self, c(kx, kz), seg$ints, seg$dbls, tables))
    res <- .Call(C_ntk_fc_resume, state$k, state$theta, kx, kz, same, seg$ints, seg$dbls,
                 seg$tables, c(TRUE, TRUE), threads, progress)
  }
  list(k = res[[2]], theta = res[[1]], kx = segment_end_variance(seg, kx),
       kz = if (!is.null(kz)) segment_end_variance(seg, kz))
}

# The self variances after a segment: those before an identity activation
# appended to it (the self pass reports variances at activations).
segment_end_variance <- function(seg, s0) {
  probe <- assemble_plan(list(list(ints = c(code = op_code("abrelu"), trainable = 1L),
                                   dbls = c(1, 1), geom = integer(0))))
  ints <- cbind(seg$ints, probe$ints)
  dbls <- cbind(seg$dbls, probe$dbls)
  var <- .Call(C_ntk_fc_self, s0, ints, dbls, seg$tables)[[1]]
  var[nrow(var), ]
}

# The user's dual applied to every pair of the state: K -> dual(K),
# theta -> theta * E[phi'(u) phi'(v)]; on the upper triangle only, mirrored,
# when z is x, so that the kernel stays exactly symmetric. In blocks of
# columns, so that the temporaries stay small beside the kernels.
apply_user_dual <- function(layer, state, same) {
  k <- state$k
  theta <- state$theta
  n <- nrow(k)
  sym <- is.null(state$kz)
  kz <- if (sym) state$kx else state$kz
  kx_new <- dual_values(layer, "dual", state$kx, state$kx, state$kx)
  kz_new <- if (sym) kx_new else dual_values(layer, "dual", kz, kz, kz)
  if (any(kx_new < 0) || any(kz_new < 0))
    stop(sprintf("`dual` of %s gave a negative variance E[phi(u)^2]", format(layer)), call. = FALSE)
  # one quadrature table for every block (NULL: the user's closed form)
  table <- if (!is.function(layer$dual_deriv)) activation_table(layer, range(c(state$kx, kz)))
  step <- max(1L, floor(2^20 / n))
  for (j0 in seq(1L, ncol(k), by = step)) {
    cols <- j0:min(ncol(k), j0 + step - 1L)
    i <- rep(seq_len(n), length(cols))
    j <- rep(cols, each = n)
    if (sym) {
      upper <- i <= j
      i <- i[upper]
      j <- j[upper]
    }
    at <- i + n * (j - 1)
    c11 <- state$kx[i]
    c22 <- kz[j]
    bound <- sqrt(c11 * c22)
    c12 <- pmin(pmax(k[at], -bound), bound)   # rounding can step past |rho| = 1
    # an input with itself exactly at rho = 1, as the engine has it (duals with
    # a kink there, like ReLU's E[phi' phi'], move by sqrt(eps) otherwise)
    if (sym || same) c12[i == j] <- bound[i == j]
    value <- dual_values(layer, "dual", c11, c12, c22)
    bad <- which(abs(value) > sqrt(kx_new[i] * kz_new[j]) * (1 + 1e-6) + 1e-300)
    if (length(bad))
      stop(sprintf(paste0("`dual` of %s is not the dual of an activation: at (c11, c12, c22) = ",
                          "(%.4g, %.4g, %.4g) it gives a covariance %.4g beyond its variances ",
                          "(Cauchy-Schwarz)"), format(layer), c11[bad[1]], c12[bad[1]], c22[bad[1]],
                   value[bad[1]]), call. = FALSE)
    k[at] <- value
    theta[at] <- theta[at] * dual_slopes(layer, c11, c12, c22, table)
  }
  if (sym) {
    low <- lower.tri(k)
    k[low] <- t(k)[low]
    theta[low] <- t(theta)[low]
  }
  list(k = k, theta = theta, kx = kx_new, kz = if (!sym) kz_new)
}

# `dual` or `dual_deriv` of the layer on vectors of covariances, checked.
dual_values <- function(layer, arg, c11, c12, c22) {
  out <- layer[[arg]](c11, c12, c22)
  if (!is.numeric(out) || length(out) != length(c12))
    stop(sprintf(paste0("`%s` must return a numeric vector as long as its arguments: given %d ",
                        "pairs it returned %d values (%s)"), arg, length(c12), length(out),
                 class(out)[1]), call. = FALSE)
  bad <- which(!is.finite(out))
  if (length(bad))
    stop(sprintf("`%s` returned %s at (c11, c12, c22) = (%.4g, %.4g, %.4g)", arg,
                 format(out[bad[1]]), c11[bad[1]], c12[bad[1]], c22[bad[1]]), call. = FALSE)
  as.double(out)
}

# E[phi'(u) phi'(v)]: the user's closed form, or the quadrature of `fun`
# (or `deriv`) that nt_activation(fun) uses, on a table fitted to the
# variances at hand.
dual_slopes <- function(layer, c11, c12, c22, table = NULL) {
  if (is.function(layer$dual_deriv)) return(dual_values(layer, "dual_deriv", c11, c12, c22))
  quadrature_duals(layer, c11, c12, c22, table)$kdot
}

# Both quadrature duals (k, kdot) of a table activation on covariance
# triples, on `table` or one fitted to their variances.
quadrature_duals <- function(layer, c11, c12, c22, table = NULL) {
  if (is.null(table)) table <- activation_table(layer, range(c(c11, c22)))
  one <- assemble_plan(list(list(ints = c(code = op_code("table"), table = 1L), dbls = c(0, 0),
                                 geom = integer(0))))
  res <- .Call(C_ntk_act_dual, one$ints, one$dbls, list(table), as.double(c11), as.double(c22),
               as.double(c12))
  list(k = res[[1]], kdot = res[[2]])
}

# At construction: the user's dual against the quadrature of `fun` on a few
# covariances, so that a dual that is not fun's (a typo, another scaling)
# is reported before it gives kernels that no finite network has.
check_dual_agrees <- function(layer) {
  c11 <- c(1, 1, 1, 1, 2, 0.5)
  c22 <- c(1, 1, 1, 1, 0.5, 3)
  c12 <- c(-0.6, 0, 0.6, 1, 0.3, -0.9)
  quad <- quadrature_duals(layer, c11, c12, c22)
  for (arg in c("dual", "dual_deriv")) {
    if (!is.function(layer[[arg]])) next
    got <- dual_values(layer, arg, c11, c12, c22)
    want <- if (arg == "dual") quad$k else quad$kdot
    scale <- max(abs(want), 1e-12)
    worst <- which.max(abs(got - want))
    if (abs(got - want)[worst] > 1e-6 * scale)
      warning(sprintf(paste0("`%s` disagrees with the quadrature of `fun` (%s): at (c11, c12, c22) = ",
                             "(%g, %g, %g) it gives %.8g, quadrature %.8g; kernels use `%s`, finite ",
                             "networks (nt_empirical(), nt_train()) use `fun`"),
                      arg, if (arg == "dual") "E[phi(u) phi(v)]" else "E[phi'(u) phi'(v)]",
                      c11[worst], c12[worst], c22[worst], got[worst], want[worst], arg),
              call. = FALSE)
  }
  invisible(layer)
}

check_dual_function <- function(f, arg) {
  if (is.null(f)) return(invisible(NULL))
  if (!is.function(f) || length(formals(f)) < 3L && !("..." %in% names(formals(f))))
    stop(sprintf("`%s` must be a function of (c11, c12, c22)", arg), call. = FALSE)
  invisible(f)
}
