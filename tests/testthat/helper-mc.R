# Monte Carlo kernels of wide finite fully connected networks, written
# directly in R for the tests (NTK parametrization: weights N(0, 1) scaled by
# sqrt(w_var / fan_in)). The NNGP is averaged analytically over the readout
# weights, E[f(x) f(x')] = w_var / width * <g(x), g(x')> + b_var, and the NTK
# is the inner product of parameter gradients from backpropagation.
mc_activations <- list(
  relu = list(f = function(u) pmax(u, 0), df = function(u) as.numeric(u > 0)),
  erf = list(f = function(u) 2 * pnorm(sqrt(2) * u) - 1,
             df = function(u) 2 / sqrt(pi) * exp(-u^2)),
  abs = list(f = abs, df = sign),
  leaky_relu = list(f = function(u) ifelse(u > 0, u, 0.01 * u),
                    df = function(u) ifelse(u > 0, 1, 0.01)),
  gelu = list(f = function(u) u * pnorm(u), df = function(u) pnorm(u) + u * dnorm(u)),
  identity = list(f = identity, df = function(u) u * 0 + 1)
)

mc_fc_kernels <- function(x, depth, activation = "relu", w_var = 2, b_var = 0,
                          fixed = 0, width = 1024, nets = 10) {
  act <- mc_activations[[activation]]
  n <- nrow(x)
  ntk <- nngp <- matrix(0, n, n)
  per_net <- vector("list", nets)
  for (s in seq_len(nets)) {
    g <- list(x)
    h <- list()
    w <- list()
    for (l in 0:depth) {
      fan <- ncol(g[[l + 1]])
      out <- if (l < depth) width else 1
      wv <- if (l == 0) 1 else w_var
      w[[l + 1]] <- matrix(rnorm(fan * out), fan, out)
      h[[l + 1]] <- sqrt(wv / fan) * g[[l + 1]] %*% w[[l + 1]] +
        sqrt(b_var) * matrix(rnorm(out), n, out, byrow = TRUE)
      if (l < depth) g[[l + 2]] <- act$f(h[[l + 1]])
    }
    delta <- matrix(1, n, 1)
    theta <- matrix(0, n, n)
    for (l in depth:0) {
      fan <- ncol(g[[l + 1]])
      wv <- if (l == 0) 1 else w_var
      if (l >= fixed)
        theta <- theta + (wv / fan * tcrossprod(g[[l + 1]]) + b_var) * tcrossprod(delta)
      if (l > 0) delta <- (delta %*% t(w[[l + 1]])) * sqrt(wv / fan) * act$df(h[[l]])
    }
    fan <- ncol(g[[depth + 1]])
    k <- (if (depth == 0) 1 else w_var) / fan * tcrossprod(g[[depth + 1]]) + b_var
    per_net[[s]] <- list(ntk = theta, nngp = k)
  }
  summarise <- function(what) {
    draws <- sapply(per_net, function(p) p[[what]])
    mean <- matrix(rowMeans(draws), n, n)
    se <- matrix(apply(draws, 1, sd) / sqrt(nets), n, n)
    list(mean = mean, se = se)
  }
  list(ntk = summarise("ntk"), nngp = summarise("nngp"))
}

rel_frobenius <- function(a, b) sqrt(sum((a - b)^2) / sum(b^2))
