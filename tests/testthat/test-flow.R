flow_data <- function(n = 15, m = 4, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm((n + m) * 3), n + m)
  k <- nt_kernel(nt_fc(2, b_var = 0.1), x, what = c("ntk", "nngp"))
  idx <- seq_len(n)
  list(theta = k$ntk[idx, idx], theta_s = k$ntk[-idx, idx],
       nngp = list(train = k$nngp[idx, idx], test = k$nngp[-idx, idx], test_test = k$nngp[-idx, -idx]),
       y = sin(x[idx, 1]) + x[idx, 2], ymat = cbind(a = x[idx, 1], b = cos(x[idx, 3])))
}

# Explicit Euler steps of df/dt = -eta Theta (f - y) (training points) and
# df*/dt = -eta Theta* (f - y) (test points), from f = 0.
euler <- function(theta, theta_s, y, eta, t, steps) {
  h <- t / steps
  f <- y * 0; fs <- matrix(0, nrow(theta_s), NCOL(y))
  for (i in seq_len(steps)) {
    r <- f - y
    fs <- fs - h * eta * theta_s %*% r
    f <- f - h * eta * theta %*% r
  }
  list(train = f, test = fs)
}

test_that("gradient flow starts at 0, follows the ODE and converges to y", {
  d <- flow_data()
  p <- nt_predict(d$theta, d$y, d$theta_s, t = c(0, 0.5, 3, Inf), learning_rate = 0.3)
  expect_equal(dim(p$train), c(15L, 4L))
  expect_equal(dim(p$test), c(4L, 4L))
  expect_equal(unname(p$train[, 1]), rep(0, 15))
  expect_equal(unname(p$test[, 1]), rep(0, 4))
  # Euler's global error is O(step): 4000 and 8000 steps bracket the answer
  for (i in 2:3) {
    coarse <- euler(d$theta, d$theta_s, d$y, 0.3, p$t[i], 4000)
    fine <- euler(d$theta, d$theta_s, d$y, 0.3, p$t[i], 8000)
    err_fine <- max(abs(fine$train - p$train[, i]), abs(fine$test - p$test[, i]))
    err_coarse <- max(abs(coarse$train - p$train[, i]), abs(coarse$test - p$test[, i]))
    expect_lt(err_fine, 1e-3)
    expect_equal(err_coarse / err_fine, 2, tolerance = 0.05)   # first order: halves with the step
  }
  # t = Inf: kernel regression, against solve()
  expect_equal(unname(p$train[, 4]), d$y, tolerance = 1e-8)
  expect_equal(unname(p$test[, 4]), drop(d$theta_s %*% solve(d$theta, d$y)), tolerance = 1e-8)
  late <- nt_predict(d$theta, d$y, t = 1e4, learning_rate = 0.3)
  expect_equal(unname(late$train[, 1]), d$y, tolerance = 1e-6)
})

test_that("matrix targets give n x k x length(t) arrays; Inf agrees with solve()", {
  d <- flow_data()
  p <- nt_predict(d$theta, d$ymat, d$theta_s, t = c(1, Inf), learning_rate = 2)
  expect_equal(dim(p$train), c(15L, 2L, 2L))
  expect_equal(dim(p$test), c(4L, 2L, 2L))
  single <- nt_predict(d$theta, d$ymat[, 2], d$theta_s, t = 1, learning_rate = 2)
  expect_equal(unname(p$test[, 2, 1]), unname(single$test[, 1]), tolerance = 1e-12)
  inf_only <- nt_predict(d$theta, d$ymat, d$theta_s, t = Inf)
  expect_equal(unname(inf_only$test[, , 1]), unname(d$theta_s %*% solve(d$theta, d$ymat)),
               tolerance = 1e-8)
  expect_equal(unname(p$test[, , 2]), unname(inf_only$test[, , 1]), tolerance = 1e-8)
})

test_that("the ensemble covariance starts at the prior and stays positive semi-definite", {
  d <- flow_data()
  p <- nt_predict(d$theta, d$y, d$theta_s, t = c(0, 0.2, 2, Inf), nngp = d$nngp)
  expect_equal(dim(p$cov), c(4L, 4L, 4L))
  expect_equal(unname(p$cov[, , 1]), unname(d$nngp$test_test), tolerance = 1e-12)
  for (i in 1:4) {
    ev <- eigen(p$cov[, , i], symmetric = TRUE, only.values = TRUE)$values
    expect_gt(min(ev), -1e-9 * max(abs(d$nngp$test_test)))
  }
  # independent route at t: A = Theta* Theta^-1 (I - exp(-eta Theta t)) by Euler
  a <- t(sapply(seq_len(4), function(j) euler(d$theta, d$theta_s[j, , drop = FALSE] * 0 + d$theta_s[j, ],
                                                 diag(15), 1, 2, 8000)$test[1, ]))
  sigma <- d$nngp$test_test + a %*% d$nngp$train %*% t(a) - a %*% t(d$nngp$test) - d$nngp$test %*% t(a)
  expect_equal(unname(p$cov[, , 3]), unname(sigma), tolerance = 1e-3)
  # NNGP dynamics: with Theta = K the covariance is K** - K*X K^-1 (I - exp(-2 eta K t)) K_X*
  q <- nt_predict(d$nngp$train, d$y, d$nngp$test, t = Inf, nngp = d$nngp)
  post <- nt_gp(d$nngp$train, d$y, d$nngp$test, d$nngp$test_test)
  expect_equal(unname(q$cov[, , 1]), unname(post$cov), tolerance = 1e-8)
  expect_equal(unname(q$test[, 1]), unname(post$mean), tolerance = 1e-8)
})

test_that("GP posteriors match solve(), and a singular kernel takes the reported jitter", {
  d <- flow_data()
  post <- nt_gp(d$nngp$train, d$y, d$nngp$test, d$nngp$test_test, diag_reg = 0.01)
  kreg <- d$nngp$train + diag(0.01, 15)
  expect_equal(post$mean, drop(d$nngp$test %*% solve(kreg, d$y)), tolerance = 1e-10)
  expect_equal(post$cov, d$nngp$test_test - d$nngp$test %*% solve(kreg, t(d$nngp$test)),
               tolerance = 1e-10)
  expect_equal(post$jitter, 0)
  x <- matrix(rnorm(12), 4)
  k <- nt_kernel(nt_fc(1), rbind(x, x, x[1, ]), what = "nngp")   # repeated rows: singular
  expect_warning(sing <- nt_gp(k[1:9, 1:9], rnorm(9), k[1:2, 1:9]), "added jitter")
  expect_gt(sing$jitter, 0)
  expect_true(all(is.finite(sing$mean)))
  expect_error(nt_predict(k[1:9, 1:9] - diag(0.1, 9), rnorm(9), t = 1),
               "`k_train` is not positive semi-definite: its eigenvalues range from -")
})

test_that("singular and badly scaled kernels give the limits, never garbage", {
  set.seed(7)
  x <- matrix(rnorm(8 * 3), 8)
  xx <- rbind(x, x[1:3, ])                      # repeated rows
  y <- rnorm(11)
  k <- nt_kernel(nt_fc(2), rbind(xx, matrix(rnorm(9), 3)), what = "ntk")@.Data
  k_train <- k[1:11, 1:11]; k_test <- k[12:14, 1:11]
  expect_warning(inf <- nt_predict(k_train, y, k_test, t = Inf), "numerically singular")
  # the t = Inf limit is the pseudo-inverse solution, by an independent route (svd)
  sv <- svd(k_train)
  pinv <- sv$v[, 1:8] %*% (t(sv$u[, 1:8]) / sv$d[1:8])
  expect_equal(unname(inf$test[, 1]), drop(k_test %*% pinv %*% y), tolerance = 1e-8)
  expect_equal(unname(inf$train[, 1]), drop(k_train %*% pinv %*% y), tolerance = 1e-8)
  # finite times approach it monotonically, with no blow-up along the null space
  times <- c(1e3, 1e8, 1e20)
  late <- suppressWarnings(nt_predict(k_train, y, k_test, t = c(times, Inf)))
  gaps <- vapply(1:3, function(i) max(abs(late$test[, i] - late$test[, 4])), 1)
  expect_true(all(diff(gaps) <= 0))
  expect_lt(gaps[3], 1e-10 * max(abs(late$test[, 4])))
  expect_equal(late$test[, 4], inf$test[, 1], tolerance = 1e-12)
  # scale invariance: Theta * c with learning rate eta / c is the same flow
  d <- flow_data()
  base <- nt_predict(d$theta, d$y, d$theta_s, t = c(0.5, 3, Inf), nngp = d$nngp)
  for (c in c(1e300, 1e-300)) {
    scaled <- nt_predict(d$theta * c, d$y, d$theta_s * c, t = c(0.5, 3, Inf) / c,
                         nngp = lapply(d$nngp, `*`, c))
    expect_equal(unname(scaled$test), unname(base$test), tolerance = 1e-10)
    expect_equal(unname(scaled$train), unname(base$train), tolerance = 1e-10)
    expect_equal(unname(scaled$cov) / c, unname(base$cov), tolerance = 1e-8)
    post <- nt_gp(d$nngp$train * c, d$y, d$nngp$test * c, d$nngp$test_test * c)
    ref <- nt_gp(d$nngp$train, d$y, d$nngp$test, d$nngp$test_test)
    expect_equal(post$mean, ref$mean, tolerance = 1e-10)
    expect_equal(post$cov / c, ref$cov, tolerance = 1e-8)
  }
  # huge learning rates or times reach t = Inf, never NaN
  fast <- nt_predict(d$theta, d$y, d$theta_s, t = c(0, 1, 1e300), learning_rate = 1e300)
  expect_true(all(is.finite(fast$test)))
  expect_equal(unname(fast$test[, 1]), rep(0, 4))
  expect_equal(unname(fast$test[, 3]), unname(base$test[, 3]), tolerance = 1e-10)
  # overflowing predictions are an error, not Inf
  expect_error(nt_predict(d$theta * 1e-300, d$y * 1e300, d$theta_s, t = Inf), "overflowed")
  # an indefinite or negated kernel is refused by the GP, with the figure
  expect_error(nt_gp(-d$nngp$train, d$y, d$nngp$test), "not positive semi-definite: diagonal entry 1")
  bent <- d$nngp$train - 0.5 * max(d$nngp$train) * tcrossprod(eigen(d$nngp$train)$vectors[, 15])
  expect_error(nt_gp(bent, d$y, d$nngp$test), "not positive semi-definite: its smallest eigenvalue")
  expect_error(nt_predict(-d$theta, d$y), "not positive semi-definite")
})

test_that("bad arguments to nt_predict and nt_gp are refused", {
  d <- flow_data()
  y_na <- d$y; y_na[3] <- NA
  expect_error(nt_predict(d$theta, y_na), "`y` contains NA")
  expect_error(nt_predict(d$theta, d$y[-1]), "`y` has 14 rows")
  expect_error(nt_predict(d$theta, d$y, d$theta_s[, -1]), "`k_test` must have one column per training point")
  expect_error(nt_predict(d$theta, d$y, t = -1), "`t` must be non-negative")
  expect_error(nt_predict(d$theta, d$y, t = NA), "`t` must be a numeric vector")
  expect_error(nt_predict(d$theta, d$y, learning_rate = 0), "`learning_rate` must be positive")
  expect_error(nt_predict(d$theta, d$y, diag_reg = -1), "`diag_reg`")
  expect_error(nt_predict(d$theta[, -1], d$y), "`k_train` must be a non-empty square matrix")
  expect_error(nt_predict(d$theta + upper.tri(d$theta), d$y), "`k_train` must be symmetric")
  expect_error(nt_predict(d$theta, d$y, nngp = d$nngp), "`nngp` needs `k_test`")
  expect_error(nt_predict(d$theta, d$y, d$theta_s, nngp = list(train = d$nngp$train)), "`nngp` must be a list")
  expect_error(nt_gp(d$nngp$train, d$y, d$nngp$test[, 1:3]), "`k_test`")
  expect_error(nt_gp(d$nngp$train, "a", d$nngp$test), "`y` must be numeric")
})

test_that("inconsistent kernel blocks give an error, not negative variances", {
  d <- flow_data()
  expect_error(nt_gp(d$nngp$train, d$y, d$nngp$test, d$nngp$test_test * 0.01),
               "not blocks of one positive semi-definite kernel: the variance of test point")
  expect_error(nt_gp(d$nngp$train, d$y, d$nngp$test, -d$nngp$test_test), "not blocks")
  bad <- d$nngp
  bad$test_test <- bad$test_test * 0.01
  expect_error(nt_predict(d$theta, d$y, d$theta_s, t = 1, nngp = bad), "not blocks")
  expect_error(nt_predict(-d$theta, d$y), "eigenvalues range from -")
  ok <- nt_gp(d$nngp$train, d$y, d$nngp$test, d$nngp$test_test)
  expect_true(all(diag(ok$cov) >= 0))
})
