# A plain transcription of the layer semantics (?ntk, ?nt_conv) for images, for the tests:
# the kernel state is the full P x P matrix of position pairs; a convolution
# is the sum over filter offsets of S_e K S_e^T (S_e selects the input
# position each output position reads), pooling is A K A^T. It shares no code
# with src/conv.c.
ref_selection <- function(h, w, q, s, pad, circular, ho, wo, e) {
  S <- matrix(0, ho * wo, h * w)
  for (oy in 0:(ho - 1)) for (ox in 0:(wo - 1)) {
    jy <- oy * s[1] + e[1] - pad[1]
    jx <- ox * s[2] + e[2] - pad[2]
    if (circular) { jy <- jy %% h; jx <- jx %% w }
    if (jy >= 0 && jy < h && jx >= 0 && jx < w) S[oy * wo + ox + 1, jy * w + jx + 1] <- 1
  }
  S
}

ref_dual <- function(layer, K, sx, sz) {
  P <- sqrt(outer(sx, sz))
  rho <- ifelse(P > 0, pmin(pmax(K / P, -1), 1), 0)
  th <- acos(rho)
  if (layer$code == "abrelu") {
    a <- layer$a; b <- layer$b
    list(k = P / (2 * pi) * ((a^2 + b^2) * (sin(th) + (pi - th) * cos(th)) -
                               2 * a * b * (sin(th) - th * cos(th))),
         kd = ((a^2 + b^2) * (pi - th) + 2 * a * b * th) / (2 * pi))
  } else if (layer$code == "erf") {
    den <- sqrt(outer(1 + 2 * sx, 1 + 2 * sz))
    list(k = 2 / pi * asin(2 * K / den), kd = 4 / pi / sqrt(den^2 - 4 * K^2))
  } else stop("reference: unsupported activation")
}

ref_cnn_pair <- function(net, x, z, self_x = NULL, self_z = NULL) {
  # x, z: H x W x C arrays; returns (ntk, nngp) and the self diagonals
  h <- dim(x)[1]; w <- dim(x)[2]; C <- dim(x)[3]
  flat <- function(a) matrix(aperm(a, c(2, 1, 3)), h * w, C)   # row-major positions
  K <- flat(x) %*% t(flat(z)) / C
  env <- new.env()
  env$act <- 0
  env$diags <- list()
  env$self_x <- self_x
  env$self_z <- self_z
  out <- ref_layers(net, list(list(K = K, Tm = K * 0, h = h, w = w)), env)[[1]]
  list(ntk = out$Tm[1, 1], nngp = out$K[1, 1], diags = env$diags)
}

# The layers on a list of branch states (K, Tm, h, w): fan-out copies a
# state, parallel runs branch b on state b, a fan-in merges them by the
# rules of ?branches.
ref_layers <- function(net, states, env) {
  for (layer in net) {
    if (layer$kind == "fanout") {
      states <- rep(states, layer$copies)
    } else if (layer$kind == "parallel") {
      states <- Map(function(b, st) ref_layers(b, list(st), env)[[1]], layer$branches, states)
    } else if (layer$kind == "fanin") {
      Ks <- lapply(states, `[[`, "K"); Ts <- lapply(states, `[[`, "Tm")
      merged <- states[[1]]
      if (layer$op == "sum") {
        merged$K <- Reduce(`+`, Ks); merged$Tm <- Reduce(`+`, Ts)
      } else if (layer$op == "concat") {
        merged$K <- Reduce(`+`, Ks) / length(Ks); merged$Tm <- Reduce(`+`, Ts) / length(Ts)
      } else {
        merged$K <- Reduce(`*`, Ks)
        merged$Tm <- Reduce(`+`, lapply(seq_along(Ks), function(b) Reduce(`*`, c(Ts[b], Ks[-b]))))
      }
      states <- list(merged)
    } else {
      states[[1]] <- ref_layer(layer, states[[1]], env)
    }
  }
  states
}

ref_layer <- function(layer, st, env) {
  K <- st$K; Tm <- st$Tm; h <- st$h; w <- st$w
  if (layer$kind == "dense") {
    K <- layer$w_var * K + layer$b_var
    Tm <- layer$w_var * Tm + if (layer$trainable) K else 0
  } else if (layer$kind == "activation") {
    env$act <- env$act + 1
    sx <- if (is.null(env$self_x)) diag(K) else env$self_x[[env$act]]
    sz <- if (is.null(env$self_z)) diag(K) else env$self_z[[env$act]]
    env$diags[[env$act]] <- diag(K)
    d <- ref_dual(layer, K, sx, sz)
    K <- d$k
    Tm <- Tm * d$kd
  } else if (layer$kind == "conv") {
    q <- layer$filter; s <- layer$stride
    if (layer$padding == "valid") {
      ho <- (h - q[1]) %/% s[1] + 1; wo <- (w - q[2]) %/% s[2] + 1; pad <- c(0, 0)
    } else {
      ho <- ceiling(h / s[1]); wo <- ceiling(w / s[2])
      pad <- c(max((ho - 1) * s[1] + q[1] - h, 0) %/% 2, max((wo - 1) * s[2] + q[2] - w, 0) %/% 2)
    }
    Kn <- Tn <- 0
    for (ey in 0:(q[1] - 1)) for (ex in 0:(q[2] - 1)) {
      S <- ref_selection(h, w, q, s, pad, layer$padding == "circular", ho, wo, c(ey, ex))
      Kn <- Kn + S %*% K %*% t(S)
      Tn <- Tn + S %*% Tm %*% t(S)
    }
    K <- layer$w_var / prod(q) * Kn + layer$b_var
    Tm <- layer$w_var / prod(q) * Tn + if (layer$trainable) K else 0
    h <- ho; w <- wo
  } else if (layer$kind == "pool") {
    q <- layer$window; s <- layer$stride
    ho <- (h - q[1]) %/% s[1] + 1; wo <- (w - q[2]) %/% s[2] + 1
    A <- matrix(0, ho * wo, h * w)
    for (oy in 0:(ho - 1)) for (ox in 0:(wo - 1)) for (ay in 0:(q[1] - 1)) for (ax in 0:(q[2] - 1))
      A[oy * wo + ox + 1, (oy * s[1] + ay) * w + ox * s[2] + ax + 1] <- 1 / prod(q)
    K <- A %*% K %*% t(A); Tm <- A %*% Tm %*% t(A)
    h <- ho; w <- wo
  } else if (layer$kind == "readout") {
    if (layer$readout == "flatten") M <- diag(h * w)
    if (layer$readout == "gap") M <- matrix(1 / (h * w), h * w, h * w)
    if (layer$readout == "lap") {
      pos <- expand.grid(x = 0:(w - 1), y = 0:(h - 1))
      M <- (abs(outer(pos$y, pos$y, "-")) <= layer$c) * (abs(outer(pos$x, pos$x, "-")) <= layer$c)
    }
    K <- matrix(sum(K * M) / (h * w)); Tm <- matrix(sum(Tm * M) / (h * w))
    h <- w <- 1
  }
  list(K = K, Tm = Tm, h = h, w = w)
}

# Kernel matrices between image arrays (n x H x W x C), by the reference.
ref_cnn_kernel <- function(net, x, z = x) {
  img <- function(a, i) a[i, , , , drop = TRUE] |> array(dim(a)[-1])
  self <- function(a) lapply(seq_len(dim(a)[1]), function(i)
    ref_cnn_pair(net, img(a, i), img(a, i))$diags)
  sx <- self(x); sz <- self(z)
  out <- list(ntk = matrix(0, dim(x)[1], dim(z)[1]), nngp = matrix(0, dim(x)[1], dim(z)[1]))
  for (i in seq_len(dim(x)[1])) for (j in seq_len(dim(z)[1])) {
    r <- ref_cnn_pair(net, img(x, i), img(z, j), sx[[i]], sz[[j]])
    out$ntk[i, j] <- r$ntk; out$nngp[i, j] <- r$nngp
  }
  out
}
