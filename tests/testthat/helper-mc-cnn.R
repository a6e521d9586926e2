# Monte Carlo kernels of wide finite CNNs, written directly in R for the
# tests: convolutions (any padding and stride) with `width` channels and
# activations, then Flatten or GlobalAvgPool and a dense readout, in the NTK
# parametrization. The NNGP is averaged analytically over the readout
# weights; the NTK is the inner product of all parameter gradients
# (backpropagation through im2col matrices).

mc_im2col <- function(g, h, w, layer) {
  # g: (h*w) x C activations (row-major positions); returns the patch matrix
  # (Po x q*q*C) and the index of each input entry it reads (0 = padding).
  q <- layer$filter; s <- layer$stride; C <- ncol(g)
  if (layer$padding == "valid") {
    ho <- (h - q[1]) %/% s[1] + 1; wo <- (w - q[2]) %/% s[2] + 1; pad <- c(0, 0)
  } else {
    ho <- ceiling(h / s[1]); wo <- ceiling(w / s[2])
    pad <- c(max((ho - 1) * s[1] + q[1] - h, 0) %/% 2, max((wo - 1) * s[2] + q[2] - w, 0) %/% 2)
  }
  idx <- matrix(0L, ho * wo, q[1] * q[2])
  for (oy in 0:(ho - 1)) for (ox in 0:(wo - 1)) for (ey in 0:(q[1] - 1)) for (ex in 0:(q[2] - 1)) {
    jy <- oy * s[1] + ey - pad[1]; jx <- ox * s[2] + ex - pad[2]
    if (layer$padding == "circular") { jy <- jy %% h; jx <- jx %% w }
    if (jy >= 0 && jy < h && jx >= 0 && jx < w)
      idx[oy * wo + ox + 1, ey * q[2] + ex + 1] <- jy * w + jx + 1
  }
  padded <- rbind(0, g)
  cols <- do.call(cbind, lapply(seq_len(ncol(idx)), function(e) padded[idx[, e] + 1, , drop = FALSE]))
  list(cols = cols, idx = idx, ho = ho, wo = wo)
}

mc_cnn_kernels <- function(net, x, width = 256, nets = 10) {
  act_fun <- function(layer) mc_activations[[switch(layer$code, abrelu = "relu", erf = "erf")]]
  n <- dim(x)[1]
  per_net <- vector("list", nets)
  for (s in seq_len(nets)) {
    # draw the parameters once per network
    params <- list()
    C <- dim(x)[4]
    for (l in seq_along(net)) {
      layer <- net[[l]]
      if (layer$kind == "conv") {
        fan <- prod(layer$filter) * C
        params[[l]] <- list(W = matrix(rnorm(fan * width), fan, width), b = rnorm(width), fan = fan)
        C <- width
      }
      if (layer$kind == "dense") params[[l]] <- list(v = NULL, b = rnorm(1))
    }
    grads <- list(); feats <- list()
    for (i in seq_len(n)) {
      h <- dim(x)[2]; w <- dim(x)[3]
      g <- matrix(aperm(x[i, , , , drop = FALSE][1, , , , drop = TRUE] |> array(dim(x)[-1]), c(2, 1, 3)),
                  h * w, dim(x)[4])
      tape <- list()
      for (l in seq_along(net)) {
        layer <- net[[l]]
        if (layer$kind == "conv") {
          im <- mc_im2col(g, h, w, layer)
          p <- params[[l]]
          pre <- sqrt(layer$w_var / p$fan) * im$cols %*% p$W +
            sqrt(layer$b_var) * matrix(p$b, nrow(im$cols), width, byrow = TRUE)
          tape[[l]] <- list(cols = im$cols, idx = im$idx, hw = c(h, w), C = ncol(g))
          g <- pre; h <- im$ho; w <- im$wo
        } else if (layer$kind == "activation") {
          tape[[l]] <- list(pre = g)
          g <- act_fun(layer)$f(g)
        } else if (layer$kind == "readout") {
          tape[[l]] <- list(P = nrow(g), readout = layer$readout)
          g <- if (layer$readout == "gap") matrix(colMeans(g), 1) else matrix(as.vector(t(g)), 1)
        }
      }
      feats[[i]] <- g   # features entering the final dense layer
      # backward: delta = d f / d (current activations), f = sqrt(w/fan) g . v + sqrt(b) beta
      dense <- net[[length(net)]]
      if (is.null(params[[length(net)]]$v)) params[[length(net)]]$v <- rnorm(length(g))
      v <- params[[length(net)]]$v
      delta <- matrix(sqrt(dense$w_var / length(g)) * v, 1)
      grad <- list()
      for (l in rev(seq_len(length(net) - 1))) {
        layer <- net[[l]]; tp <- tape[[l]]
        if (layer$kind == "readout") {
          delta <- if (tp$readout == "gap") matrix(delta, tp$P, length(delta), byrow = TRUE) / tp$P
                   else matrix(delta, tp$P, byrow = TRUE)
        } else if (layer$kind == "activation") {
          delta <- delta * act_fun(layer)$df(tp$pre)
        } else if (layer$kind == "conv") {
          p <- params[[l]]; sc <- sqrt(layer$w_var / p$fan)
          if (layer$trainable)
            grad[[l]] <- c(sc * as.vector(crossprod(tp$cols, delta)),
                           sqrt(layer$b_var) * colSums(delta))
          dcols <- sc * delta %*% t(p$W)
          din <- matrix(0, prod(tp$hw), tp$C)
          for (e in seq_len(ncol(tp$idx))) {   # col2im: one input per output and offset
            hit <- tp$idx[, e] > 0
            cols <- (e - 1) * tp$C + seq_len(tp$C)
            din[tp$idx[hit, e], ] <- din[tp$idx[hit, e], ] + dcols[hit, cols, drop = FALSE]
          }
          delta <- din
        }
      }
      grads[[i]] <- unlist(grad)
    }
    Fm <- do.call(rbind, lapply(feats, as.vector))
    dense <- net[[length(net)]]
    k <- dense$w_var / ncol(Fm) * tcrossprod(Fm) + dense$b_var
    G <- do.call(rbind, grads)
    theta <- (if (length(G)) tcrossprod(G) else 0) + (if (dense$trainable) k else 0)
    per_net[[s]] <- list(ntk = theta, nngp = k)
  }
  summarise <- function(what) {
    draws <- sapply(per_net, function(p) p[[what]])
    list(mean = matrix(rowMeans(draws), n, n),
         se = matrix(apply(draws, 1, sd) / sqrt(nets), n, n))
  }
  list(ntk = summarise("ntk"), nngp = summarise("nngp"))
}
