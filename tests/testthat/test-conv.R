# Convolutional kernels: limits, invariances, an independent transcription
# of the position-pair recursion, Monte Carlo CNNs, Arora et al.'s CNTK.

images <- function(n, h = 5, w = 4, c = 2, seed = 1) {
  set.seed(seed)
  array(rnorm(n * h * w * c), c(n, h, w, c))
}

test_that("a 1 x 1 image network is the fully connected network", {
  x <- images(5, 1, 1, 3)
  z <- images(4, 1, 1, 3, seed = 2)
  conv_net <- nt_serial(nt_conv(1, 1, 0.1), nt_relu(), nt_conv(3, 9 * 2, 0.1), nt_erf(),
                        nt_flatten(), nt_dense(2, 0.1))
  # a 3 x 3 filter on one pixel reads only its centre: w_var / 9
  fc_net <- nt_serial(nt_dense(1, 0.1), nt_relu(), nt_dense(2, 0.1), nt_erf(), nt_dense(2, 0.1))
  a <- nt_kernel(conv_net, x, z, what = c("ntk", "nngp"))
  b <- nt_kernel(fc_net, matrix(x, 5), matrix(z, 4), what = c("ntk", "nngp"))
  expect_equal(a$ntk@.Data, b$ntk@.Data, tolerance = 1e-13)
  expect_equal(a$nngp@.Data, b$nngp@.Data, tolerance = 1e-13)
})

test_that("filter 1 with Flatten averages the per-pixel fully connected kernels", {
  x <- images(3)
  z <- images(2, seed = 3)
  conv_net <- nt_serial(nt_conv(1, 1, 0.2), nt_gelu(), nt_conv(1, 2), nt_relu(),
                        nt_flatten(), nt_dense(2))
  fc_net <- nt_serial(nt_dense(1, 0.2), nt_gelu(), nt_dense(2), nt_relu(), nt_dense(2))
  got <- nt_kernel(conv_net, x, z, what = c("ntk", "nngp"))
  want <- list(ntk = 0, nngp = 0)
  for (py in 1:5) for (px in 1:4) {
    k <- nt_kernel(fc_net, x[, py, px, ], z[, py, px, ], what = c("ntk", "nngp"))
    want$ntk <- want$ntk + k$ntk@.Data / 20
    want$nngp <- want$nngp + k$nngp@.Data / 20
  }
  expect_equal(got$ntk@.Data, want$ntk, tolerance = 1e-13)
  expect_equal(got$nngp@.Data, want$nngp, tolerance = 1e-13)
})

test_that("circular padding makes GAP invariant to circular shifts", {
  x <- images(3)
  net <- nt_serial(nt_conv(3, 1, 0.1, "circular"), nt_relu(), nt_conv(3, 2, 0, "circular"),
                   nt_erf(), nt_global_avg_pool(), nt_dense(2))
  shifted <- x[, c(3:5, 1:2), c(4, 1:3), , drop = FALSE]
  expect_equal(nt_kernel(net, x, shifted)@.Data, nt_kernel(net, x)@.Data, tolerance = 1e-12)
  expect_equal(nt_kernel(net, shifted, what = "nngp")@.Data, nt_kernel(net, x, what = "nngp")@.Data,
               tolerance = 1e-12)
})

test_that("LAP(0) is Flatten and LAP over the whole image is P times GAP", {
  x <- images(3)
  body <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(), nt_conv(3, 2), nt_relu())
  with_readout <- function(r) nt_kernel(nt_serial(body, r, nt_dense(2)), x, what = c("ntk", "nngp"))
  flat <- with_readout(nt_flatten()); lap0 <- with_readout(nt_local_avg_pool(0))
  gap <- with_readout(nt_global_avg_pool()); lap_all <- with_readout(nt_local_avg_pool(4))
  expect_equal(lap0$ntk@.Data, flat$ntk@.Data, tolerance = 1e-14)
  # the band engine (LAP) against the all-pairs engine (GAP)
  expect_equal(lap_all$ntk@.Data, 20 * gap$ntk@.Data, tolerance = 1e-13)
  expect_equal(lap_all$nngp@.Data, 20 * gap$nngp@.Data, tolerance = 1e-13)
})

test_that("both engines agree with a plain transcription of the recursion", {
  x <- images(3)
  z <- images(2, seed = 4)
  nets <- list(
    nt_cnn(2, readout = "flatten", b_var = 0.1),
    nt_cnn(2, readout = "gap", b_var = 0.2),
    nt_serial(nt_conv(3, 1, 0.1, "valid"), nt_erf(), nt_conv(2, 2, padding = "valid"), nt_relu(),
              nt_flatten(), nt_dense(2)),
    nt_serial(nt_conv(3, 1, 0.1, stride = 2), nt_relu(), nt_conv(c(2, 3), 2, stride = c(1, 2)),
              nt_relu(), nt_local_avg_pool(1), nt_dense(2)),
    nt_serial(nt_conv(3, 1, 0.1, "circular", stride = 2), nt_relu(),
              nt_conv(3, 2, padding = "circular", trainable = FALSE), nt_abs(), nt_flatten(),
              nt_dense(2)),
    nt_serial(nt_conv(3, 1), nt_relu(), nt_avg_pool(2), nt_conv(2, 2), nt_leaky_relu(0.1),
              nt_flatten(), nt_dense(2, 0.3)),
    nt_serial(nt_conv(c(2, 3), 1, 0.1, "valid"), nt_relu(), nt_conv(c(3, 2), 2), nt_erf(),
              nt_conv(c(3, 2), 2, padding = "valid"), nt_relu(), nt_global_avg_pool(), nt_dense(2)))
  for (net in nets) {
    got <- nt_kernel(net, x, z, what = c("ntk", "nngp"))
    want <- ref_cnn_kernel(net, x, z)
    expect_equal(got$ntk@.Data, want$ntk, tolerance = 1e-12)
    expect_equal(got$nngp@.Data, want$nngp, tolerance = 1e-12)
  }
})

test_that("CNN kernels match wide random CNNs", {
  # Same tolerance argument as test-mc.R: the error must be within 4 standard
  # errors of the Monte Carlo mean (estimated from the spread over networks)
  # plus 0.02 for the O(1/width) finite-width bias at width 256.
  x <- images(4, 4, 4, 2, seed = 2)
  nets <- list(nt_cnn(2, readout = "flatten", b_var = 0.1), nt_cnn(2, readout = "gap"),
               nt_serial(nt_conv(3, 1, 0.1, "circular", stride = 2), nt_erf(),
                         nt_conv(2, 1.5, padding = "valid"), nt_relu(), nt_flatten(),
                         nt_dense(2, 0.1)))
  set.seed(5)
  for (net in nets) {
    mc <- mc_cnn_kernels(net, x, width = 256, nets = 12)
    exact <- nt_kernel(net, x, what = c("ntk", "nngp"))
    for (what in c("ntk", "nngp")) {
      se <- sqrt(sum(mc[[what]]$se^2) / sum(exact[[what]]^2))
      expect_lt(se, 0.06)
      expect_lt(rel_frobenius(mc[[what]]$mean, exact[[what]]), 4 * se + 0.02)
    }
  }
})

test_that("image kernels are symmetric and positive semi-definite", {
  x <- images(12, 4, 4, 3, seed = 6)
  for (net in list(nt_cnn(3, readout = "flatten", b_var = 0.1), nt_cnn(2, readout = "gap"),
                   nt_serial(nt_conv(2), nt_erf(), nt_avg_pool(2), nt_local_avg_pool(1), nt_dense()))) {
    k <- nt_kernel(net, x, what = c("ntk", "nngp"))
    for (m in k) {
      expect_identical(m@.Data, t(m@.Data))
      ev <- eigen(m, symmetric = TRUE, only.values = TRUE)$values
      expect_gt(min(ev), -1e-12 * max(ev))
    }
  }
  expect_identical(nt_kernel(nt_cnn(2), x, threads = 1), nt_kernel(nt_cnn(2), x, threads = 2))
})

# Arora et al. (2019), CNTK code: a plain R transcription of their recursion
# (3 x 3 sum over offsets, zero padding, ReLU with constant 9 pi, the last
# layer without convolution, fix: first and last layers frozen).
arora_cntk <- function(x, z, d, fix, gap) {
  h <- dim(x)[1]; w <- dim(x)[2]
  conv3 <- function(S) {          # S[y, x, y', x'] summed over shared offsets
    out <- S * 0
    for (ey in -1:1) for (ex in -1:1) {
      ys <- 1:h + ey; xs <- 1:w + ex
      ok_y <- ys >= 1 & ys <= h; ok_x <- xs >= 1 & xs <= w
      out[ok_y, ok_x, ok_y, ok_x] <- out[ok_y, ok_x, ok_y, ok_x] + S[ys[ok_y], xs[ok_x], ys[ok_y], xs[ok_x]]
    }
    out
  }
  gram <- function(a, b) {
    S <- array(0, c(h, w, h, w))
    for (c in seq_len(dim(a)[3])) S <- S + outer(a[, , c], b[, , c])
    S
  }
  trans <- function(S, Tm, L, R) {
    P <- outer(L, R)
    Sn <- pmin(pmax(S / P, -1), 1)
    BS <- (Sn * (pi - acos(Sn)) + sqrt(1 - Sn^2)) * P / (9 * pi)
    list(S = BS, T = Tm * (pi - acos(Sn)) / (9 * pi) + BS)
  }
  diag4 <- function(S) matrix(S[cbind(rep(1:h, w), rep(1:w, each = h), rep(1:h, w), rep(1:w, each = h))], h, w)
  run <- function(a, b, La = NULL, Lb = NULL) {
    S <- conv3(gram(a, b)); Tm <- if (fix) S * 0 else S
    L <- list()
    for (i in 1:(d - 1)) {
      if (is.null(La)) L[[i]] <- sqrt(diag4(S))   # self pass: x with itself
      tr <- trans(S, Tm, if (is.null(La)) L[[i]] else La[[i]], if (is.null(Lb)) L[[i]] else Lb[[i]])
      S <- tr$S; Tm <- tr$T
      if (i < d - 1) { S <- conv3(S); Tm <- conv3(Tm) }
    }
    if (fix) Tm <- Tm - S
    list(value = if (gap) mean(Tm) else sum(diag4(Tm)), L = L)
  }
  run(x, z, run(x, x)$L, run(z, z)$L)$value
}

test_that("nt_cnn_arora reproduces Arora et al.'s CNTK-GAP and CNTK-V", {
  x <- images(2, 5, 4, 2, seed = 8)
  for (d in 2:4) for (readout in c("gap", "trace")) for (fix in c(TRUE, FALSE)) {
    net <- nt_cnn_arora(d, readout, fix, input_shape = c(5, 4, 2))
    ours <- nt_kernel(net, x)
    theirs <- arora_cntk(x[1, , , ], x[2, , , ], d, fix, readout == "gap")
    expect_equal(ours[1, 2], theirs, tolerance = 1e-12,
                 label = sprintf("depth %d %s fix=%s", d, readout, fix))
  }
})

test_that("horizontal flips average the kernel over the mirror group", {
  x <- images(3)
  z <- images(2, seed = 9)
  mirror <- function(a) a[, , dim(a)[3]:1, , drop = FALSE]
  sym_net <- nt_cnn(2, readout = "gap", b_var = 0.1)
  k <- function(net, a, b) nt_kernel(net, a, b)@.Data
  expect_equal(nt_kernel(sym_net, x, z, flip = TRUE)@.Data,
               (k(sym_net, x, z) + k(sym_net, x, mirror(z))) / 2, tolerance = 1e-13)
  expect_equal(nt_kernel(sym_net, x, mirror(z), flip = TRUE)@.Data,
               nt_kernel(sym_net, x, z, flip = TRUE)@.Data, tolerance = 1e-13)
  # stride 2 on width 4 pads one side only: the four-term average
  lop <- nt_serial(nt_conv(2, 1, stride = 2), nt_relu(), nt_flatten(), nt_dense())
  four <- (k(lop, x, z) + k(lop, x, mirror(z)) + k(lop, mirror(x), z) + k(lop, mirror(x), mirror(z))) / 4
  expect_equal(nt_kernel(lop, x, z, flip = TRUE)@.Data, four, tolerance = 1e-13)
  sym <- nt_kernel(lop, x, flip = TRUE)@.Data
  expect_equal(sym, t(sym), tolerance = 1e-15)
})

test_that("nt_images reads rows in the stated order", {
  h <- 2; w <- 3; ch <- 2
  a <- array(rnorm(2 * h * w * ch), c(2, h, w, ch))
  hwc <- t(apply(a, 1, function(img) as.vector(aperm(img, c(3, 2, 1)))))
  chw <- t(apply(a, 1, function(img) as.vector(aperm(img, c(2, 1, 3)))))
  whc <- t(apply(a, 1, function(img) as.vector(img)))
  expect_equal(nt_images(hwc, h, w, ch), a)
  expect_equal(nt_images(chw, h, w, ch, order = "CHW"), a)
  expect_equal(nt_images(whc, h, w, ch, order = "WHC"), a)
  expect_error(nt_images(hwc, 2, 2, 2), "`x` has 12 columns")
})

test_that("image networks and inputs that do not fit are refused", {
  x <- images(2)
  expect_error(nt_kernel(nt_serial(nt_conv(3), nt_flatten(), nt_conv(3)), x), "comes after the readout")
  expect_error(nt_kernel(nt_serial(nt_conv(3), nt_relu()), x), "must end image inputs with a readout")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_flatten()), matrix(1, 2, 2)), "needs image inputs")
  expect_error(nt_kernel(nt_cnn(2), matrix(1, 2, 2)), "needs image inputs")
  expect_error(nt_kernel(nt_cnn(2), x, images(2, 4, 4, 2)), "`z` holds 4 x 4 x 2 images but `x` holds 5 x 4 x 2")
  expect_error(nt_kernel(nt_serial(nt_conv(7, padding = "valid"), nt_flatten()), x), "does not fit")
  expect_error(nt_kernel(nt_serial(nt_avg_pool(6), nt_flatten()), x), "does not fit")
  bad <- x; bad[1, 2, 2, 1] <- NA
  expect_error(nt_kernel(nt_cnn(2), bad), "`x` contains NA")
  expect_error(nt_kernel(nt_fc(1), matrix(1, 2, 2), flip = TRUE), "`flip` applies to image inputs")
  expect_error(nt_conv(filter = 0), "`filter`")
  expect_error(nt_conv(padding = "full"), "'arg' should be one of")
  expect_error(nt_conv(stride = 1.5), "`stride`")
  expect_error(nt_avg_pool(window = c(1, 2, 3, 4)), "`window` must be one to three")
  expect_error(nt_local_avg_pool(-1), "`c`")
  expect_error(nt_cnn(depth = 0), "`depth`")
  expect_error(nt_cnn_arora(1, input_shape = c(4, 4, 3)), "`depth`")
})

test_that("networks print their spatial layers", {
  out <- capture.output(print(nt_serial(nt_conv(c(3, 2), 2, 0.1, "valid", stride = 2, trainable = FALSE),
                                        nt_avg_pool(2), nt_local_avg_pool(1))))
  expect_match(out[2], "Conv\\(3x2, w_var = 2, b_var = 0.1, valid, stride 2x2, frozen\\)")
  expect_match(out[3], "AvgPool\\(2x2, stride 2x2\\)")
  expect_match(out[4], "LocalAvgPool\\(c = 1\\)")
})
