# Seeded fuzzing of nt_kernel: random layer sequences (some invalid) and
# random inputs (zero and repeated rows, scales from 1e-150 to 1e150, NA,
# Inf). Every case ends in a clear R error or in finite, exactly symmetric
# kernels that equal the same pairs computed as a cross kernel.
random_activation <- function() {
  switch(sample(13, 1), nt_relu(), nt_leaky_relu(runif(1, -1, 1)), nt_abs(), nt_erf(), nt_gelu(),
         nt_identity(), nt_sin(runif(1, 0, 2), runif(1, 0, 3), runif(1, -3, 3)),
         nt_rectified_monomial(sample(0:3, 1)), nt_sign(), nt_exp(1, runif(1, -1, 1)),
         nt_gaussian(1, runif(1, -1, 0.2)), nt_polynomial(rnorm(sample(1:5, 1))),
         nt_hermite(sample(0:4, 1)))
}
random_dense <- function() {
  w <- if (runif(1) < 0.03) -1 else runif(1, 0, 3)
  nt_dense(abs(w), runif(1, 0, 1) * (runif(1) < 0.5), trainable = runif(1) < 0.8,
           parameterization = if (runif(1) < 0.08) "standard" else "ntk",
           width = if (runif(1) < 0.8) sample(1:64, 1)) |>
    (\(layer) { if (w < 0) layer$w_var <- w; layer })()
}
random_fc_net <- function() {
  layers <- list(random_dense())
  # an activation follows a dense layer, except in a few invalid cases
  for (i in seq_len(sample(0:5, 1))) {
    after_dense <- inherits(layers[[length(layers)]], "nt_dense")
    layers <- c(layers, list(if (runif(1) < 0.5 && (after_dense || runif(1) < 0.05)) random_activation()
                             else random_dense()))
    if (runif(1) < 0.1) layers <- c(layers, list(nt_layer_norm(eps = 10^runif(1, -12, 0))))
    if (runif(1) < 0.1) layers <- c(layers, list(nt_dropout(runif(1, 0.1, 1))))
  }
  if (runif(1) < 0.03) layers <- c(layers, list(nt_flatten()))       # invalid on matrices
  nt_serial(layers)
}
random_cnn <- function() {
  layers <- list(nt_conv(sample(1:3, 1), runif(1, 0.5, 2), runif(1) * (runif(1) < 0.5),
                         sample(c("same", "valid", "circular"), 1), stride = sample(1:2, 1)))
  for (i in seq_len(sample(0:2, 1)))
    layers <- c(layers, list(random_activation(), (if (runif(1) < 0.2) nt_conv_local else nt_conv)(
      sample(1:3, 1), 2, padding = sample(c("same", "circular"), 1))))
  if (runif(1) < 0.2) layers <- c(layers, list(nt_layer_norm(sample(c("channels", "all"), 1))))
  if (runif(1) < 0.2) layers <- c(layers, list(nt_avg_pool(sample(1:2, 1), padding = sample(c("valid", "same"), 1),
                                                           normalize_edges = runif(1) < 0.5)))
  readout <- switch(sample(3, 1), nt_flatten(), nt_global_avg_pool(), nt_local_avg_pool(sample(0:2, 1)))
  tail <- switch(sample(c(1, 2, 2, 2, 3, 3, 3, 3), 1),
                 list(nt_conv(1)),                                        # invalid after the readout
                 list(nt_dense(1), random_activation(), nt_dense(2)),
                 list(nt_dense(2)))
  if (runif(1) < 0.05) tail <- c(list(random_activation()), tail)         # invalid: not Gaussian
  nt_serial(c(layers, list(random_activation(), readout), tail))
}
random_rows <- function(n, d) {
  x <- matrix(rnorm(n * d), n, d) * 10^runif(1, -150, 150)
  if (n > 1 && runif(1) < 0.3) x[2, ] <- x[1, ]                        # repeated row
  if (runif(1) < 0.3) x[sample(n, 1), ] <- 0                           # zero row
  if (runif(1) < 0.03) x[sample(length(x), 1)] <- sample(c(NA, Inf, -Inf, NaN), 1)
  x
}

check_case <- function(net, x) {
  res <- tryCatch(nt_kernel(net, x, what = c("ntk", "nngp"), threads = 1), error = function(e) e)
  if (inherits(res, "error")) {
    expect_true(nzchar(conditionMessage(res)))
    return("error")
  }
  cross <- nt_kernel(net, x, x, what = c("ntk", "nngp"), threads = 2)
  for (what in c("ntk", "nngp")) {
    k <- res[[what]]@.Data
    expect_true(all(is.finite(k)))
    expect_identical(k, t(k))
    scale <- max(abs(k), .Machine$double.xmin)
    expect_lte(max(abs(k - cross[[what]]@.Data)), 1e-6 * scale)
  }
  "kernel"
}

test_that("random fully connected networks and inputs give errors or sound kernels", {
  set.seed(20261128)
  outcomes <- character(0)
  for (case in 1:2000) {
    n <- sample(1:5, 1); d <- sample(1:4, 1)
    outcomes <- c(outcomes, check_case(random_fc_net(), random_rows(n, d)))
  }
  expect_gt(mean(outcomes == "kernel"), 0.7)
  expect_gt(sum(outcomes == "error"), 20)
})

test_that("random convolutional networks and images give errors or sound kernels", {
  set.seed(7)
  outcomes <- character(0)
  for (case in 1:400) {
    n <- sample(1:3, 1); h <- sample(2:5, 1); w <- sample(2:5, 1); ch <- sample(1:2, 1)
    x <- array(random_rows(n, h * w * ch), c(n, h, w, ch))
    outcomes <- c(outcomes, check_case(random_cnn(), x))
  }
  expect_gt(mean(outcomes == "kernel"), 0.5)
})
