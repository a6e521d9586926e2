# Kernel gradients (nt_kernel(gradient = TRUE)): against central finite
# differences of nt_kernel() itself, and against closed forms (Euler's
# identity for bias-free ReLU networks, the linear kernel's derivatives).

# The network with parameter `name` moved by `eps` (the labels of ?nt_kernel).
shifted_network <- function(net, name, eps) {
  dense <- 0L
  for (i in seq_along(net)) {
    if (!inherits(net[[i]], "nt_dense")) next
    dense <- dense + 1L
    if (length(net[[i]]$w_var) > 1L) {
      k <- match(name, sprintf("relevance[%d]", seq_along(net[[i]]$w_var)))
      if (!is.na(k)) net[[i]]$w_var[k] <- net[[i]]$w_var[k] + eps
    } else if (ntk:::parameter_label(net[[i]], "w_var", dense) == name) {
      net[[i]]$w_var <- net[[i]]$w_var + eps
    }
    if (ntk:::parameter_label(net[[i]], "b_var", dense) == name) net[[i]]$b_var <- net[[i]]$b_var + eps
  }
  net
}

# Each gradient within `tolerance` (relative to its largest entry) of the
# central difference with step h; central differences are accurate to
# about h^2 |K'''| + eps |K| / h, ~1e-10 at h = 1e-5 on these kernels.
expect_finite_differences <- function(net, x, z = NULL, h = 1e-5, tolerance = 1e-6, only = NULL) {
  got <- nt_kernel(net, x, z, what = c("ntk", "nngp"), gradient = TRUE)
  plain <- nt_kernel(net, x, z, what = c("ntk", "nngp"))
  for (w in c("ntk", "nngp")) expect_lt(max(abs(got[[w]]@.Data - plain[[w]]@.Data)), 1e-12 * max(abs(plain[[w]])))
  for (name in only %||% names(attr(got$ntk, "gradient"))) {
    up <- nt_kernel(shifted_network(net, name, h), x, z, what = c("ntk", "nngp"))
    down <- nt_kernel(shifted_network(net, name, -h), x, z, what = c("ntk", "nngp"))
    for (w in c("ntk", "nngp")) {
      analytic <- attr(got[[w]], "gradient")[[name]]
      numeric <- (up[[w]]@.Data - down[[w]]@.Data) / (2 * h)
      expect_lt(max(abs(analytic - numeric)) / max(abs(analytic), 1e-300), tolerance,
                label = paste(w, name))
    }
  }
  invisible(got)
}

test_that("gradients agree with central finite differences", {
  set.seed(1)
  x <- matrix(rnorm(6 * 3), 6)
  z <- matrix(rnorm(4 * 3), 4)
  g <- expect_finite_differences(nt_fc(3, b_var = 0.2), x)
  expect_named(attr(g$ntk, "gradient"), c("w_var[1]", "b_var", "w_var"))
  expect_finite_differences(nt_fc(2, "erf", w_var = 1.5, b_var = 0.3), x, z)
  untied <- nt_serial(nt_dense(0.7, 0.1), nt_relu(), nt_dense(2, 0.05), nt_leaky_relu(0.2),
                      nt_dense(1.5, 0.1, trainable = FALSE), nt_abs(), nt_dense(2, 0.2),
                      nt_erf(2, 0.5, 0.1), nt_dense(1, 0.3), nt_identity(), nt_dense(1.2, 0.4))
  g <- expect_finite_differences(untied, x, z)
  expect_named(attr(g$nngp, "gradient"), paste0(rep(c("w_var[", "b_var["), 6), rep(1:6, each = 2), "]"))
  relevance <- nt_serial(nt_dense(c(0.5, 1, 2), 0.1), nt_relu(), nt_dense(2, 0.1), nt_erf(), nt_dense(1, 0.1))
  g <- expect_finite_differences(relevance, x, z)
  expect_named(attr(g$ntk, "gradient"), c("b_var[1]", "w_var[2]", "b_var[2]", "w_var[3]", "b_var[3]",
                                          paste0("relevance[", 1:3, "]")))
  # the kernel with relevances is the kernel of the inputs scaled by their roots
  expect_equal(nt_kernel(relevance, x)@.Data,
               nt_kernel(nt_serial(nt_dense(1, 0.1), nt_relu(), nt_dense(2, 0.1), nt_erf(), nt_dense(1, 0.1)),
                         sweep(x, 2, sqrt(c(0.5, 1, 2)), `*`))@.Data, tolerance = 1e-14)
})

test_that("gradients of many inputs: several column chunks and row blocks, mirrored exactly", {
  # 300 inputs run as 5 chunks of 64 columns and columns of 2 row blocks of
  # 256: the symmetric pass (upper triangle, mirrored chunk by chunk) must
  # equal the pass that computes every column in full (z = x), and both the
  # finite differences, also in the lower triangle far from the diagonal
  set.seed(3)
  x <- matrix(rnorm(300 * 4), 300)
  net <- nt_fc(2, b_var = 0.1)
  g <- expect_finite_differences(net, x, tolerance = 1e-6)
  full <- nt_kernel(net, x, x, what = c("ntk", "nngp"), gradient = TRUE)
  for (w in c("ntk", "nngp")) for (name in names(attr(g[[w]], "gradient"))) {
    sym <- attr(g[[w]], "gradient")[[name]]
    expect_true(isSymmetric(unname(sym), tol = 0))
    expect_lt(max(abs(sym - attr(full[[w]], "gradient")[[name]])), 1e-13 * max(abs(sym)))
  }
})

test_that("gradients obey Euler's identity and the linear kernel's closed form", {
  set.seed(2)
  x <- matrix(rnorm(5 * 4), 5)
  # bias-free ReLU networks: the NNGP and NTK are linear in each layer's w_var
  net <- nt_serial(nt_dense(1.3), nt_relu(), nt_dense(2), nt_relu(), nt_dense(0.8))
  g <- nt_kernel(net, x, what = c("ntk", "nngp"), gradient = TRUE)
  w <- c(1.3, 2, 0.8)
  for (l in 1:3) for (k in c("ntk", "nngp"))
    expect_equal(w[l] * attr(g[[k]], "gradient")[[sprintf("w_var[%d]", l)]], g[[k]]@.Data,
                 tolerance = 1e-12, ignore_attr = TRUE)
  # tied over the 3 layers of nt_fc(2): w dK/dw = 2 K for the hidden w_var and
  # w1 dK/dw1 = K for the first
  g <- nt_kernel(nt_fc(2, w_var = 1.7), x, what = "nngp", gradient = TRUE)
  expect_equal(1.7 * attr(g, "gradient")[["w_var"]], 2 * g@.Data, tolerance = 1e-12, ignore_attr = TRUE)
  expect_equal(attr(g, "gradient")[["w_var[1]"]], g@.Data, tolerance = 1e-12, ignore_attr = TRUE)
  # depth 0: K = T = x . x' / d + b, so dK/db = 1 and dK/dw_k = x_k x'_k / d
  g <- nt_kernel(nt_serial(nt_dense(c(1, 2, 3, 4), 0.5)), x, what = c("ntk", "nngp"), gradient = TRUE)
  for (k in c("ntk", "nngp")) {
    expect_equal(attr(g[[k]], "gradient")[["b_var[1]"]], matrix(1, 5, 5), tolerance = 0, ignore_attr = TRUE)
    for (j in 1:4)
      expect_equal(attr(g[[k]], "gradient")[[sprintf("relevance[%d]", j)]], outer(x[, j], x[, j]) / 4,
                   tolerance = 1e-15, ignore_attr = TRUE)
  }
})

test_that("ReLU gradients at parallel inputs are those of the pair itself", {
  set.seed(3)
  x <- matrix(rnorm(4 * 3), 4)
  x[2, ] <- 3 * x[1, ]   # parallel to row 1: with no bias rho stays 1 for every variance
  net <- nt_serial(nt_dense(1), nt_relu(), nt_dense(2), nt_relu(), nt_dense(1.5))
  # (the bias variances sit at 0: only the weight variances can move both ways)
  expect_finite_differences(net, x, only = c("w_var[1]", "w_var[2]", "w_var[3]"))
})

test_that("gradient requests that cannot be met are refused", {
  x <- matrix(rnorm(6), 3)
  expect_error(nt_kernel(nt_fc(1, "gelu"), x, gradient = TRUE),
               "layer 2 \\(gelu\\): kernel gradients are available for dense layers")
  expect_error(nt_kernel(nt_cnn(1), array(1, c(2, 3, 3, 1)), gradient = TRUE),
               "gradients of convolutional kernels are not implemented yet")
  expect_error(nt_kernel(nt_fc(1), x, gradient = NA), "`gradient`")
  expect_error(nt_kernel(nt_serial(nt_dense(c(1, 2, 3)), nt_relu(), nt_dense()), x, gradient = TRUE),
               "first layer has 3 weight variances \\(one per input column\\), but `x` has 2 columns")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_relu(), nt_dense(c(1, 2))), x),
               "has one w_var per input column: only the first layer")
  expect_error(nt_dense(c(1, -1)), "`w_var` must hold finite non-negative numbers")
  # the C entry point checks its indices
  p <- ntk:::kernel_parameters(nt_fc(1), 2L)
  call <- function(index = p$index, np = length(p$names), ard = NULL, first = 0L)
    .Call(ntk:::C_ntk_fc_gradient, x, NULL, p$plan$ints, p$plan$dbls, p$plan$tables, index, np,
          ard, first, 1L)
  expect_length(call()[[3]], 3L)
  bad <- p$index
  bad[1, 1] <- 7L
  expect_error(call(bad), "'params' has an index outside 0..2")
  expect_error(call(p$index[, -1]), "'params' must be an integer matrix with 2 rows")
  expect_error(call(ard = c(1, 2, 3), first = 3L), "'ard' must be a double vector with one entry per column")
  expect_error(call(ard = c(1, 2), first = 2L), "'ard_first' leaves no parameter for every column")
})
