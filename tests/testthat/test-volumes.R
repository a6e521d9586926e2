# Volumes (n x D x H x W x C arrays): 3-d convolutions, pooling and readouts.
# Checked against a transcription of the layer semantics on selection
# matrices (below; it shares no code with src/), against the image and
# sequence engines on degenerate volumes, by the symmetry of isotropic
# networks under permutations of the three axes, and by Monte Carlo of
# finite 3-d networks.

# Output size and leading padding along one axis (TensorFlow's layout).
ref_axis <- function(n, q, s, padding) {
  if (padding == "valid") return(c((n - q) %/% s + 1, 0))
  out <- ceiling(n / s)
  c(out, max((out - 1) * s + q - n, 0) %/% 2)
}

# S[o, j] = 1 when output o reads input j at offset e; positions are
# numbered (d H + h) W + w.
ref_selection3 <- function(n_in, n_out, e, s, pad, circular) {
  grid <- as.matrix(expand.grid(w = seq_len(n_out[3]) - 1, h = seq_len(n_out[2]) - 1,
                                d = seq_len(n_out[1]) - 1))[, 3:1, drop = FALSE]
  S <- matrix(0, nrow(grid), prod(n_in))
  for (o in seq_len(nrow(grid))) {
    j <- grid[o, ] * s + e - pad
    if (circular) j <- j %% n_in
    if (all(j >= 0 & j < n_in)) S[o, (j[1] * n_in[2] + j[2]) * n_in[3] + j[3] + 1] <- 1
  }
  S
}

# NTK and NNGP of one pair of D x H x W x C volumes through `steps`:
# conv (q, s, padding, w, b, circular), relu, pool (q, s, padding, sum,
# edges), gap, flatten, lap (c) and dense (w, b). The pair and both self
# pairs run side by side (the ReLU's dual reads the self variances).
ref_volume_pair <- function(steps, x1, x2) {
  dims <- dim(x1)[1:3]
  C <- dim(x1)[4]
  flat <- function(a) matrix(aperm(a, c(3, 2, 1, 4)), ncol = C)
  f <- list(flat(x1), flat(x2))
  K <- list(f[[1]] %*% t(f[[1]]) / C, f[[2]] %*% t(f[[2]]) / C, f[[1]] %*% t(f[[2]]) / C)
  Tm <- lapply(K, function(k) 0 * k)
  relu <- list(code = "abrelu", a = 0, b = 1)
  for (step in steps) {
    if (step$type %in% c("conv", "pool")) {
      ax <- mapply(ref_axis, dims, step$q, step$s, step$padding)
      offsets <- as.matrix(expand.grid(lapply(step$q, function(q) seq_len(q) - 1)))
      Ss <- lapply(seq_len(nrow(offsets)), function(i)
        ref_selection3(dims, ax[1, ], offsets[i, ], step$s, ax[2, ], isTRUE(step$circular)))
      if (step$type == "conv") {
        avg <- function(k) Reduce(`+`, lapply(Ss, function(S) S %*% k %*% t(S))) / length(Ss)
        Knew <- lapply(K, function(k) step$w * avg(k) + step$b)
        Tm <- Map(function(t, k) step$w * avg(t) + k, Tm, Knew)
        K <- Knew
      } else {
        A <- Reduce(`+`, Ss)
        A <- if (isTRUE(step$sum)) A else if (isTRUE(step$edges)) A / rowSums(A) else A / length(Ss)
        K <- lapply(K, function(k) A %*% k %*% t(A))
        Tm <- lapply(Tm, function(t) A %*% t %*% t(A))
      }
      dims <- ax[1, ]
    } else if (step$type == "relu") {
      s1 <- diag(K[[1]]); s2 <- diag(K[[2]])
      d <- list(ref_dual(relu, K[[1]], s1, s1), ref_dual(relu, K[[2]], s2, s2),
                ref_dual(relu, K[[3]], s1, s2))
      Tm <- Map(function(t, di) t * di$kd, Tm, d)
      K <- lapply(d, `[[`, "k")
    } else if (step$type %in% c("gap", "flatten", "lap")) {
      grid <- as.matrix(expand.grid(w = seq_len(dims[3]), h = seq_len(dims[2]), d = seq_len(dims[1])))
      near <- if (step$type == "gap") matrix(1 / nrow(grid)^2, nrow(grid), nrow(grid))
              else if (step$type == "flatten") diag(nrow(grid)) / nrow(grid)
              else outer(seq_len(nrow(grid)), seq_len(nrow(grid)), Vectorize(function(i, j)
                all(abs(grid[i, ] - grid[j, ]) <= step$c))) / nrow(grid)
      K <- lapply(K, function(k) sum(k * near))
      Tm <- lapply(Tm, function(t) sum(t * near))
    } else if (step$type == "dense") {
      K <- lapply(K, function(k) step$w * k + step$b)
      Tm <- Map(function(t, k) step$w * t + k, Tm, K)
    }
  }
  c(ntk = Tm[[3]], nngp = K[[3]])
}

ref_volume_kernels <- function(steps, x) {
  n <- dim(x)[1]
  out <- list(ntk = matrix(0, n, n), nngp = matrix(0, n, n))
  for (i in seq_len(n)) for (j in seq_len(n)) {
    v <- ref_volume_pair(steps, x[i, , , , ], x[j, , , , ])
    out$ntk[i, j] <- v[["ntk"]]
    out$nngp[i, j] <- v[["nngp"]]
  }
  out
}

expect_volume_reference <- function(net, steps, x, tolerance = 1e-12) {
  got <- nt_kernel(net, x, what = c("ntk", "nngp"))
  want <- ref_volume_kernels(steps, x)
  for (w in c("ntk", "nngp"))
    expect_lt(max(abs(got[[w]]@.Data - want[[w]])) / max(abs(want[[w]])), tolerance)
}

random_volumes <- function(n, d, h, w, c, seed) {
  set.seed(seed)
  array(rnorm(n * d * h * w * c), c(n, d, h, w, c))
}

test_that("3-d convolutions, pooling and readouts follow the layer semantics", {
  x <- random_volumes(3, 4, 3, 5, 2, seed = 1)
  # anisotropic filters and strides, "same" and "valid", biases, GAP (all pairs)
  net <- nt_serial(nt_conv(c(2, 3, 1), 1.5, 0.2, stride = c(2, 1, 1)), nt_relu(),
                   nt_conv(c(1, 2, 3), 2, 0.1, padding = "valid"), nt_relu(),
                   nt_global_avg_pool(), nt_dense(2, 0.3))
  steps <- list(list(type = "conv", q = c(2, 3, 1), s = c(2, 1, 1), padding = "same", w = 1.5, b = 0.2),
                list(type = "relu"),
                list(type = "conv", q = c(1, 2, 3), s = c(1, 1, 1), padding = "valid", w = 2, b = 0.1),
                list(type = "relu"), list(type = "gap"), list(type = "dense", w = 2, b = 0.3))
  expect_volume_reference(net, steps, x)
  # Flatten: the band of the spatial diagonal, with strides along two axes
  net <- nt_serial(nt_conv(3, 1, 0.1, stride = c(2, 1, 2)), nt_relu(), nt_conv(3, 2), nt_relu(),
                   nt_flatten(), nt_dense(2))
  steps <- list(list(type = "conv", q = c(3, 3, 3), s = c(2, 1, 2), padding = "same", w = 1, b = 0.1),
                list(type = "relu"),
                list(type = "conv", q = c(3, 3, 3), s = c(1, 1, 1), padding = "same", w = 2, b = 0),
                list(type = "relu"), list(type = "flatten"), list(type = "dense", w = 2, b = 0))
  expect_volume_reference(net, steps, x)
  # circular padding, average pooling with normalize_edges, sum pooling,
  # local average pooling over depth, height and width
  net <- nt_serial(nt_conv(c(3, 2, 3), 2, padding = "circular"), nt_relu(),
                   nt_avg_pool(c(3, 2, 2), stride = c(2, 2, 1), padding = "same", normalize_edges = TRUE),
                   nt_conv(2, 2, 0.05), nt_relu(), nt_sum_pool(c(1, 2, 2), stride = 1),
                   nt_local_avg_pool(1), nt_dense(1))
  steps <- list(list(type = "conv", q = c(3, 2, 3), s = c(1, 1, 1), padding = "same", circular = TRUE,
                     w = 2, b = 0),
                list(type = "relu"),
                list(type = "pool", q = c(3, 2, 2), s = c(2, 2, 1), padding = "same", edges = TRUE),
                list(type = "conv", q = c(2, 2, 2), s = c(1, 1, 1), padding = "same", w = 2, b = 0.05),
                list(type = "relu"),
                list(type = "pool", q = c(1, 2, 2), s = c(1, 1, 1), padding = "valid", sum = TRUE),
                list(type = "lap", c = 1), list(type = "dense", w = 1, b = 0))
  expect_volume_reference(net, steps, x)
  # average pooling without normalize_edges counts the padding as zeros
  net <- nt_serial(nt_conv(2), nt_relu(), nt_avg_pool(2, padding = "same"), nt_global_avg_pool(),
                   nt_dense())
  steps <- list(list(type = "conv", q = c(2, 2, 2), s = c(1, 1, 1), padding = "same", w = 1, b = 0),
                list(type = "relu"), list(type = "pool", q = c(2, 2, 2), s = c(2, 2, 2), padding = "same"),
                list(type = "gap"), list(type = "dense", w = 1, b = 0))
  expect_volume_reference(net, steps, x)
})

test_that("degenerate volumes are images and sequences, exactly", {
  set.seed(2)
  img <- array(rnorm(3 * 5 * 4 * 2), c(3, 5, 4, 2))
  seq <- array(rnorm(3 * 7 * 2), c(3, 7, 2))
  both <- c("ntk", "nngp")
  # depth 1 with filters 1 x q x q: the image network with q x q filters
  vol_img <- nt_serial(nt_conv(c(1, 3, 3), 1, 0.1), nt_relu(),
                       nt_avg_pool(c(1, 2, 2), stride = 1, padding = "same", normalize_edges = TRUE),
                       nt_conv(c(1, 3, 3), 2), nt_relu(), nt_global_avg_pool(), nt_dense())
  img_net <- nt_serial(nt_conv(3, 1, 0.1), nt_relu(),
                       nt_avg_pool(2, stride = 1, padding = "same", normalize_edges = TRUE),
                       nt_conv(3, 2), nt_relu(), nt_global_avg_pool(), nt_dense())
  a <- nt_kernel(vol_img, array(img, c(3, 1, 5, 4, 2)), what = both)
  b <- nt_kernel(img_net, img, what = both)
  expect_identical(a$ntk@.Data, b$ntk@.Data)
  expect_identical(a$nngp@.Data, b$nngp@.Data)
  # H = W = 1 with filters q x 1 x 1 along depth: the 1-d network (which runs
  # on the column axis, so this checks the depth axis against the other
  # one), with and without pooling (all pairs; the band of the diagonal)
  net <- function(size, readout, pool)
    nt_serial(nt_conv(size(3), 1, 0.1, stride = size(2)), nt_relu(),
              if (pool) nt_sum_pool(size(2), stride = 1) else list(), nt_conv(size(2), 2), nt_relu(),
              readout, nt_dense())
  along_depth <- function(q) c(q, 1, 1)
  for (readout in list(nt_flatten(), nt_global_avg_pool(), nt_local_avg_pool(1)))
    for (pool in c(TRUE, FALSE)) {
      a <- nt_kernel(net(along_depth, readout, pool), array(seq, c(3, 7, 1, 1, 2)), what = both)
      b <- nt_kernel(net(identity, readout, pool), seq, what = both)
      expect_equal(a$ntk@.Data, b$ntk@.Data, tolerance = 1e-14)
      expect_equal(a$nngp@.Data, b$nngp@.Data, tolerance = 1e-14)
    }
})

test_that("isotropic networks do not care which axis is depth", {
  x <- random_volumes(3, 4, 3, 5, 2, seed = 3)
  for (net in list(nt_cnn(2, readout = "gap"), nt_cnn(3, readout = "flatten"),
                   nt_serial(nt_conv(3, stride = 2), nt_relu(), nt_avg_pool(2, padding = "same"),
                             nt_conv(3, 2), nt_relu(), nt_local_avg_pool(1), nt_dense()))) {
    k <- nt_kernel(net, x)@.Data
    for (perm in list(c(1, 3, 2, 4, 5), c(1, 4, 3, 2, 5), c(1, 4, 2, 3, 5)))
      expect_lt(max(abs(nt_kernel(net, aperm(x, perm))@.Data - k)) / max(k), 1e-13)
  }
})

test_that("3-d kernels agree with Monte Carlo of wide finite 3-d networks", {
  # 40 networks of width 256: the empirical kernels' relative error is
  # about 1 / sqrt(40 * 256 / 2) ~ 1.4 % here; 5 % is over three of those
  x <- random_volumes(3, 3, 4, 3, 2, seed = 4)
  net <- nt_serial(nt_conv(c(2, 3, 3), b_var = 0.1), nt_relu(),
                   nt_avg_pool(2, padding = "same", normalize_edges = TRUE),
                   nt_conv(3, 2, stride = c(1, 2, 1)), nt_relu(), nt_global_avg_pool(), nt_dense(1, 0.1))
  expect_monte_carlo(net, x, width = 256, samples = 40, seed = 1, tolerance = 0.05, label = "3-d conv")
})

test_that("fits, predictions and tiles take volumes", {
  set.seed(5)
  n <- 24
  y <- rep(c(-1, 1), n / 2)
  # a bump in the front or the back half of the depth axis
  x <- array(rnorm(n * 4 * 3 * 3, sd = 0.3), c(n, 4, 3, 3, 1))
  for (i in seq_len(n)) x[i, if (y[i] > 0) 1:2 else 3:4, , , 1] <- x[i, if (y[i] > 0) 1:2 else 3:4, , , 1] + 1
  train <- 1:16
  net <- nt_cnn(2, readout = "flatten")
  fit <- nt_fit(x[train, , , , , drop = FALSE], y[train], net = net, diag_reg = 1e-3)
  pred <- predict(fit, x[-train, , , , , drop = FALSE])
  k <- nt_kernel(net, x)@.Data
  want <- k[-train, train] %*% solve(k[train, train] + 1e-3 * diag(length(train)),
                                     y[train] - mean(y[train])) + mean(y[train])
  expect_equal(as.numeric(pred), as.numeric(want), tolerance = 1e-8)
  expect_gt(mean(sign(pred) == y[-train]), 0.85)
  tiled <- nt_kernel_tiled(net, x, tile = 7)
  expect_equal(matrix(as.numeric(tiled), nrow(k)), k, tolerance = 1e-14)
})

test_that("volume shapes and sizes are checked with clear errors", {
  x <- random_volumes(2, 3, 3, 3, 1, seed = 6)
  expect_error(nt_kernel(nt_serial(nt_conv(c(3, 2)), nt_relu(), nt_flatten(), nt_dense()), x),
               "has filter 3 x 2, but volumes \\(n x D x H x W x C arrays\\) take one size or three")
  expect_error(nt_kernel(nt_serial(nt_conv(3, stride = c(1, 2)), nt_relu(), nt_flatten(), nt_dense()), x),
               "has stride 1 x 2, but volumes")
  expect_error(nt_kernel(nt_serial(nt_conv(c(3, 3, 3)), nt_relu(), nt_flatten(), nt_dense()),
                         array(1, c(2, 4, 4, 1))),
               "has a 3-d filter \\(3 x 3 x 3\\), but the inputs are images")
  expect_error(nt_kernel(nt_serial(nt_conv(c(3, 3, 3)), nt_relu(), nt_flatten(), nt_dense()),
                         array(1, c(2, 4, 1))), "sequences \\(n x L x C arrays\\) take one size")
  expect_error(nt_kernel(nt_serial(nt_conv(c(4, 1, 1), padding = "valid"), nt_relu(), nt_flatten(),
                                   nt_dense()), x), "does not fit a 3 x 3 x 3 volume")
  expect_error(nt_conv(c(1, 2, 3, 4)), "`filter` must be one to three")
  expect_error(nt_kernel(nt_cnn(2), x, array(1, c(2, 3, 3, 2, 1))), "`z` holds 3 x 3 x 2 x 1 images")
  # the C entry point refuses inconsistent depth geometry
  sp <- ntk:::compile_spatial_plan(nt_cnn(1, readout = "gap"), c(3L, 3L, 3L, 1L))
  xc <- ntk:::images_for_c(x)
  call <- function(g, full = sp$full, band = sp$band)
    .Call(ntk:::C_ntk_conv_kernel, xc, NULL, sp$ints, sp$dbls, g, band, full, list(),
          c(TRUE, FALSE), 1L, FALSE)
  expect_equal(call(sp$geom)[[1]], nt_kernel(nt_cnn(1, readout = "gap"), x)@.Data)
  for (bad in list(c(din = 0L), c(din = 2L), c(qd = 2L), c(dout = 0L), c(sd = 0L), c(pd = 5000L))) {
    g <- sp$geom
    g[names(bad), 1] <- bad
    expect_error(call(g), "layer 1 has (an invalid depth geometry|depth stride)")
  }
  g <- sp$geom
  g["din", 3] <- 1L   # the readout says depth 1 of 9 rows of depth 3
  expect_error(call(g), "layer 3 expects depth 1, but gets 3")
  # the band of offsets beyond the diagonal is refused for volumes
  spf <- ntk:::compile_spatial_plan(nt_cnn(1, readout = "flatten"), c(3L, 3L, 3L, 1L))
  expect_error(.Call(ntk:::C_ntk_conv_kernel, xc, NULL, spf$ints, spf$dbls, spf$geom,
                     matrix(c(0L, 0L, 1L, 0L), 2), FALSE, list(), c(TRUE, FALSE), 1L, FALSE),
               "a volume needs all position pairs unless only the spatial diagonal is kept")
})
