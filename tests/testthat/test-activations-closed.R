# The closed-form activations against three independent references: the
# quadrature path (nt_activation of the same R function, accurate to about
# 1e-9 here), closed forms on special inputs, and Monte Carlo kernels of
# wide finite networks.

erf_fun <- function(u) 2 * stats::pnorm(u * sqrt(2)) - 1
closed_forms <- list(
  list(nt_erf(1.5, 0.7, 0.3), function(u) 1.5 * erf_fun(0.7 * u) + 0.3),
  list(nt_sigmoid_like(), function(u) 0.5 * erf_fun(u / 2.4020563531719796) + 0.5),
  list(nt_sin(1.2, 1.5, 0.4), function(u) 1.2 * sin(1.5 * u + 0.4)),
  list(nt_cos(0.9, 0.8, 0.1), function(u) 0.9 * cos(0.8 * u + 0.1)),
  list(nt_rbf(0.5), function(u) sqrt(2) * sin(u + pi / 4)),
  list(nt_exp(0.5, 0.6), function(u) 0.5 * exp(0.6 * u)),
  list(nt_gaussian(1.1, -0.7), function(u) 1.1 * exp(-0.7 * u^2)),
  list(nt_gaussian(1, 0.05), function(u) exp(0.05 * u^2)),
  list(nt_sign(), function(u) sign(u), function(u) 0 * u),
  list(nt_rectified_monomial(0), function(u) as.numeric(u > 0), function(u) 0 * u),
  list(nt_rectified_monomial(1), function(u) pmax(u, 0)),
  list(nt_rectified_monomial(2), function(u) pmax(u, 0)^2),
  list(nt_rectified_monomial(4), function(u) pmax(u, 0)^4),
  list(nt_monomial(1), function(u) u),
  list(nt_monomial(2), function(u) u^2),
  list(nt_monomial(3), function(u) u^3),
  list(nt_abrelu(-0.3, 1.7), function(u) ifelse(u > 0, 1.7 * u, -0.3 * u)),
  list(nt_polynomial(c(0.3, -1, 0.5, 0.2)), function(u) 0.3 - u + 0.5 * u^2 + 0.2 * u^3),
  list(nt_polynomial(0.7), function(u) 0 * u + 0.7, function(u) 0 * u),
  list(nt_hermite(4), function(u) (u^4 - 6 * u^2 + 3) / sqrt(24)),
  list(nt_hermite(5), function(u) (u^5 - 10 * u^3 + 15 * u) / sqrt(120)))

test_that("every closed form agrees with quadrature of its function to 1e-6", {
  set.seed(1)
  x <- rbind(matrix(rnorm(12), 4) * 0.7, 0)                  # a zero row: zero variance without bias
  jumps <- c("Sign", "RectifiedMonomial(0)")
  for (case in closed_forms) {
    ref <- nt_activation(case[[2]], if (length(case) > 2) case[[3]])
    # at zero variance a jump at 0 is read as phi(0) = 0 here (as in finite
    # networks) and as a one-sided limit by the table: compared without it
    xs <- if (case[[1]]$name %in% jumps) x[1:4, ] else x
    for (b_var in c(0, 0.2)) {
      got <- nt_kernel(nt_serial(nt_dense(1.3, b_var), case[[1]], nt_dense(1, 0.1)), xs, what = c("ntk", "nngp"))
      want <- nt_kernel(nt_serial(nt_dense(1.3, b_var), ref, nt_dense(1, 0.1)), xs, what = c("ntk", "nngp"))
      for (k in c("ntk", "nngp"))
        expect_lt(max(abs(got[[k]] - want[[k]])) / max(abs(want[[k]])), 1e-6,
                  label = sprintf("%s, b_var = %g, %s", case[[1]]$name, b_var, k))
    }
  }
})

test_that("the convolutional engine uses the same closed forms", {
  set.seed(2)
  img <- array(rnorm(2 * 4 * 4 * 2), c(2, 4, 4, 2))
  net <- function(a1, a2) nt_serial(nt_conv(3), a1, nt_conv(3), a2, nt_global_avg_pool(), nt_dense())
  got <- nt_kernel(net(nt_sin(1, 1.3, 0.2), nt_rectified_monomial(2)), img)
  want <- nt_kernel(net(nt_activation(function(u) sin(1.3 * u + 0.2)),
                        nt_activation(function(u) pmax(u, 0)^2)), img)
  expect_lt(max(abs(got - want)) / max(abs(want)), 1e-6)
})

test_that("closed forms hold on special inputs", {
  set.seed(3)
  d <- 3
  x <- matrix(rnorm(4 * d), 4)
  g <- tcrossprod(x) / d                                      # the pre-activation covariance (w_var = 1)
  s <- diag(g)
  nngp <- function(act) unclass(nt_kernel(nt_serial(nt_dense(1, 0), act), x, what = "nngp"))[, ]
  # rbf: E[2 sin(a u + pi/4) sin(a v + pi/4)] = exp(-gamma E(u - v)^2), the Gaussian kernel
  gamma <- 0.7
  expect_equal(nngp(nt_rbf(gamma)), exp(-gamma * as.matrix(dist(x))^2 / d), tolerance = 1e-12,
               ignore_attr = TRUE)
  # u^2: E[u^2 v^2] = s1 s2 + 2 c^2; exp: exp((s1 + s2 + 2c) / 2)
  expect_equal(nngp(nt_monomial(2)), outer(s, s) + 2 * g^2, tolerance = 1e-12, ignore_attr = TRUE)
  expect_equal(nngp(nt_exp()), exp(outer(s, s, "+") / 2 + g), tolerance = 1e-12, ignore_attr = TRUE)
  # the diagonal of u^k 1[u > 0]: E[u_+^(2k)] = s^k (2k - 1)!! / 2
  for (k in 1:4)
    expect_equal(diag(nngp(nt_rectified_monomial(k))), s^k * prod(seq(1, 2 * k - 1, by = 2)) / 2,
                 tolerance = 1e-12)
  # polynomials: u^3 is nt_monomial(3); on unit-variance inputs the normalised
  # Hermite polynomial of degree k has NNGP c^k and derivative kernel k c^(k-1)
  expect_equal(nngp(nt_polynomial(c(0, 0, 0, 1))), nngp(nt_monomial(3)), tolerance = 1e-13)
  xu <- x / sqrt(rowMeans(x^2))                              # s = 1 for every row
  gu <- tcrossprod(xu) / d
  for (k in 0:6) {
    both <- nt_kernel(nt_serial(nt_dense(1, 0), nt_hermite(k), nt_dense(1, 0)), xu, what = c("ntk", "nngp"))
    expect_equal(unclass(both$nngp)[, ], gu^k, tolerance = 1e-12, label = sprintf("Hermite(%d) NNGP", k))
    # NTK after the last dense layer: c^k + c (k c^(k-1)) = (1 + k) c^k
    expect_equal(unclass(both$ntk)[, ], (1 + k) * gu^k, tolerance = 1e-12, label = sprintf("Hermite(%d) NTK", k))
  }
  # a polynomial's kernel is a polynomial in c: E[(a + b u)(a + b v)] = a^2 + b^2 c
  expect_equal(nngp(nt_polynomial(c(0.5, 2))), 0.25 + 4 * g, tolerance = 1e-13, ignore_attr = TRUE)
  # sign on orthogonal inputs: 0; on identical ones: 1
  xo <- rbind(c(1, 0, 0), c(0, 2, 0), c(1, 0, 0))
  ks <- unclass(nt_kernel(nt_serial(nt_dense(), nt_sign()), xo, what = "nngp"))[, ]
  expect_equal(ks[1, 2], 0, tolerance = 1e-15)
  expect_equal(ks[1, 3], 1, tolerance = 1e-15)
  # a zero input: sign(0) = 0 and 1[0 > 0] = 0, in the kernel as in finite networks
  xz <- rbind(c(1, 2, 0), 0)
  for (act in list(nt_sign(), nt_rectified_monomial(0))) {
    net <- nt_serial(nt_dense(), act, nt_dense())
    expect_equal(unclass(nt_kernel(net, xz, what = "nngp"))[2, ], c(0, 0))
    expect_equal(unclass(nt_empirical(net, xz, width = 16, what = "nngp", seed = 1))[2, ], c(0, 0))
  }
})

test_that("finite networks of these activations converge to their kernels", {
  # width 1024, 10 draws: relative Monte Carlo errors of order 1 / sqrt(10240) = 0.01,
  # larger for u^3 (sixth moments); tolerances about five standard errors
  set.seed(4)
  x <- matrix(rnorm(9), 3) * 0.6
  cases <- list(list(nt_erf(1.5, 0.7, 0.3), 0.05), list(nt_sin(1.2, 1.5, 0.4), 0.08),
                list(nt_exp(0.5, 0.6), 0.05), list(nt_gaussian(1.1, -0.7), 0.05),
                list(nt_sign(), 0.06), list(nt_rectified_monomial(2), 0.06), list(nt_monomial(3), 0.2),
                list(nt_polynomial(c(0.2, 1, -0.4)), 0.06), list(nt_hermite(3), 0.2))
  for (case in cases) {
    net <- nt_serial(nt_dense(1.3, 0.2), case[[1]], nt_dense(1, 0.1))
    want <- nt_kernel(net, x, what = c("ntk", "nngp"))
    got <- nt_empirical(net, x, width = 1024, samples = 10, what = c("ntk", "nngp"), seed = 1)
    for (k in c("ntk", "nngp"))
      expect_lt(max(abs(got[[k]] - want[[k]])) / max(abs(want[[k]])), case[[2]],
                label = sprintf("%s, %s", case[[1]]$name, k))
  }
})

test_that("bad parameters are refused in R and in C", {
  expect_error(nt_rectified_monomial(-1), "`degree`")
  expect_error(nt_monomial(2.5), "`degree` must be a whole number")
  expect_error(nt_monomial(21), "`degree`")
  expect_error(nt_rbf(-1), "`gamma`")
  expect_error(nt_sin(b = NA), "`b`")
  expect_error(nt_erf(a = Inf), "`a`")
  x <- matrix(c(3, 1, 0.5, 2), 2)
  # E exp(b u^2) is infinite once a variance reaches 1 / (2 b)
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_gaussian(1, 1), nt_dense()), x), "overflowed")
  plan <- ntk:::compile_plan(nt_serial(nt_dense(), nt_rectified_monomial(2), nt_dense()))
  for (bad in c(2.5, -1, 21)) {
    d <- plan$dbls
    d[1, 2] <- bad
    expect_error(.Call(ntk:::C_ntk_fc_kernel, x, NULL, plan$ints, d, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
                 "degree must be a whole number")
  }
  expect_error(.Call(ntk:::C_ntk_fc_kernel, x, NULL, plan$ints, plan$dbls[1:2, ], list(), c(TRUE, TRUE), 1L,
                     FALSE, TRUE), "4 rows")
  # polynomials: coefficients checked in R, and in C when called directly
  expect_error(nt_polynomial(numeric(0)), "`coef`")
  expect_error(nt_polynomial(c(1, NA)), "`coef`")
  expect_error(nt_polynomial(rep(1, 22)), "`coef`")
  expect_error(nt_polynomial("a"), "`coef`")
  expect_error(nt_hermite(-1), "`degree`")
  poly <- ntk:::compile_plan(nt_serial(nt_dense(), nt_polynomial(c(1, 2)), nt_dense()))
  fc <- function(tables, ints = poly$ints)
    .Call(ntk:::C_ntk_fc_kernel, x, NULL, ints, poly$dbls, tables, c(TRUE, TRUE), 1L, FALSE, TRUE)
  expect_equal(fc(poly$tables)[[1]], unclass(nt_kernel(nt_serial(nt_dense(), nt_polynomial(c(1, 2)), nt_dense()), x))[, ],
               ignore_attr = TRUE)
  expect_error(fc(list()), "names no data vector")
  expect_error(fc(list(numeric(0))), "must have 1 to 21 values")
  expect_error(fc(list(rep(1, 22))), "must have 1 to 21 values")
  expect_error(fc(list(c(1, NaN))), "polynomial")
  expect_error(fc(list(list(1))), "names no data vector|8 elements")
  ints <- poly$ints
  ints["table", 2] <- 5L
  expect_error(fc(poly$tables, ints), "names no data vector")
})

test_that("sum pooling is average pooling times the window, in kernels and finite networks", {
  set.seed(5)
  img <- array(rnorm(3 * 4 * 4 * 2), c(3, 4, 4, 2))
  pooled <- function(pool, readout) nt_serial(nt_conv(3), nt_relu(), pool, nt_conv(1), nt_erf(), readout, nt_dense())
  for (what in c("ntk", "nngp")) {
    # a linear readout right after: exactly q^2 = 16 (window) and P^2 = 256 (4 x 4 image) times
    avg <- nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_avg_pool(2), nt_flatten(), nt_dense()), img, what = what)
    sum <- nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_sum_pool(2), nt_flatten(), nt_dense()), img, what = what)
    expect_equal(unclass(sum)[, ], 16 * unclass(avg)[, ], tolerance = 1e-13)
    gap <- nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_global_avg_pool(), nt_dense()), img, what = what)
    gsp <- nt_kernel(nt_serial(nt_conv(3), nt_relu(), nt_global_sum_pool(), nt_dense()), img, what = what)
    expect_equal(unclass(gsp)[, ], 256 * unclass(gap)[, ], tolerance = 1e-13)
  }
  # a nonlinearity after the pooling sees the larger variance: Monte Carlo of
  # finite networks (width 1024, 6 draws: errors of a few per cent; 0.1 is
  # several standard errors)
  net <- pooled(nt_sum_pool(2), nt_global_sum_pool())
  want <- nt_kernel(net, img, what = c("ntk", "nngp"))
  got <- nt_empirical(net, img, width = 1024, samples = 6, what = c("ntk", "nngp"), seed = 3)
  for (k in c("ntk", "nngp")) expect_lt(max(abs(got[[k]] - want[[k]])) / max(abs(want[[k]])), 0.1)
  expect_match(format(nt_sum_pool(2)), "SumPool\\(2x2")
  plan <- ntk:::compile_spatial_plan(net, c(4L, 4L, 2L))
  d <- plan$dbls
  d[1, plan$ints["code", ] == ntk:::op_code("pool")] <- 0.5
  expect_error(.Call(ntk:::C_ntk_conv_kernel, aperm(img, 4:1), NULL, plan$ints, d, plan$geom, plan$band,
                     plan$full, list(), c(TRUE, TRUE), 1L, FALSE), "pooling flag")
})

test_that("an activation after an activation or a pooled activation is refused", {
  # relu(relu(u)) = relu(u): applying the dual twice would be a wrong kernel
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_relu(), nt_relu(), nt_dense()), matrix(1:4, 2)),
               "layer 3 \\(ReLU\\) follows an activation")
  img <- array(rnorm(8), c(2, 2, 2, 1))
  expect_error(nt_kernel(nt_serial(nt_conv(1), nt_relu(), nt_sum_pool(2), nt_relu(), nt_flatten(), nt_dense()), img),
               "through pooling")
  expect_error(nt_kernel(nt_serial(nt_conv(1), nt_relu(), nt_avg_pool(2), nt_erf(), nt_flatten(), nt_dense()), img),
               "through pooling")
})
