# Arora et al. (2020), UCI code: a plain transcription of their published
# recursion (NTK.py, kernel_value_batch), against the network of
# ?nt_fc_arora.
arora_kernel <- function(X, d_max) {
  n <- nrow(X)
  K <- array(0, c(d_max, d_max, n, n))
  for (fix_dep in 0:(d_max - 1)) {
    S <- X %*% t(X)
    H <- matrix(0, n, n)
    for (dep in 0:(d_max - 1)) {
      if (fix_dep <= dep) H <- H + S
      K[dep + 1, fix_dep + 1, , ] <- H
      L <- diag(S)
      P <- pmax(sqrt(outer(L, L)), 1e-9)
      Sn <- pmin(pmax(S / P, -1), 1)
      S <- (Sn * (pi - acos(Sn)) + sqrt(1 - Sn * Sn)) * P / 2 / pi
      H <- H * (pi - acos(Sn)) / 2 / pi
    }
  }
  K
}

test_that("nt_fc_arora reproduces Arora et al.'s K[dep][fix]", {
  set.seed(7)
  x <- matrix(rnorm(8 * 6), 8)
  ref <- arora_kernel(x, 5)
  for (dep in 0:4) for (fix in 0:dep) {
    ours <- nt_kernel(nt_fc_arora(dep, fix, d = ncol(x)), x)
    expect_equal(unclass(ours)[, ], ref[dep + 1, fix + 1, , ], tolerance = 1e-12,
                 label = sprintf("K[%d][%d]", dep, fix))
    # and the c_sigma = 2 network, rescaled as ?nt_fc_arora states
    scaled <- ncol(x) * 2^-dep * nt_kernel(nt_fc(dep, fixed = fix), x)
    expect_equal(unclass(scaled)[, ], ref[dep + 1, fix + 1, , ], tolerance = 1e-12)
  }
})
