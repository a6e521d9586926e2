# Activations with a user-supplied dual (nt_activation(fun, dual = )):
# against the package's closed forms (written independently, in C), against
# quadrature of the same function, and against Monte Carlo of finite
# networks, which use `fun` only.

erf <- function(u) 2 * pnorm(sqrt(2) * u) - 1
erf_dual <- function(c11, c12, c22) 2 / pi * asin(2 * c12 / sqrt((1 + 2 * c11) * (1 + 2 * c22)))
erf_slope <- function(c11, c12, c22) 4 / pi / sqrt((1 + 2 * c11) * (1 + 2 * c22) - 4 * c12^2)
# the arc-cosine kernel of degree 1, with the angle from atan2 (acos loses
# half the digits near rho = 1)
relu_angle <- function(c11, c12, c22) atan2(sqrt(pmax(c11 * c22 - c12^2, 0)), c12)
relu_dual <- function(c11, c12, c22)
  (sqrt(pmax(c11 * c22 - c12^2, 0)) + (pi - relu_angle(c11, c12, c22)) * c12) / (2 * pi)
relu_slope <- function(c11, c12, c22) (pi - relu_angle(c11, c12, c22)) / (2 * pi)
# cos u: E[cos u cos v] and E[sin u sin v] of a Gaussian pair
cos_dual <- function(c11, c12, c22) (exp(-(c11 + c22 - 2 * c12) / 2) + exp(-(c11 + c22 + 2 * c12) / 2)) / 2
cos_slope <- function(c11, c12, c22) (exp(-(c11 + c22 - 2 * c12) / 2) - exp(-(c11 + c22 + 2 * c12) / 2)) / 2
# u^2: E[u^2 v^2] = c11 c22 + 2 c12^2 (Isserlis), E[2u 2v] = 4 c12
square_dual <- function(c11, c12, c22) c11 * c22 + 2 * c12^2

relative_gap <- function(got, want) max(abs(got - want)) / max(abs(want))

both <- function(net, x, z = NULL) nt_kernel(net, x, z, what = c("ntk", "nngp"))

test_that("a user dual reproduces the closed-form erf and ReLU networks", {
  set.seed(1)
  x <- matrix(rnorm(8 * 5), 8)
  z <- matrix(rnorm(4 * 5), 4)
  cases <- list(
    list(nt_activation(erf, dual = erf_dual, dual_deriv = erf_slope), nt_erf(), 1e-12),
    # the NTK factor by quadrature of erf: the rule's tolerance, 1e-9, per layer
    list(nt_activation(erf, dual = erf_dual), nt_erf(), 1e-8),
    list(nt_activation(function(u) pmax(u, 0), dual = relu_dual, dual_deriv = relu_slope), nt_relu(), 1e-12),
    list(nt_activation(function(u) pmax(u, 0), dual = relu_dual), nt_relu(), 1e-8))
  for (case in cases) for (zz in list(NULL, z)) {
    got <- both(nt_fc(3, case[[1]], b_var = 0.2), x, zz)
    want <- both(nt_fc(3, case[[2]], b_var = 0.2), x, zz)
    expect_lt(relative_gap(got$nngp, want$nngp), 1e-12)
    expect_lt(relative_gap(got$ntk, want$ntk), case[[3]])
  }
  sym <- both(nt_fc(2, cases[[2]][[1]]), x)
  expect_true(isSymmetric(sym$ntk@.Data, tol = 0))
  expect_true(isSymmetric(sym$nngp@.Data, tol = 0))
  expect_gt(min(eigen(sym$ntk, only.values = TRUE)$values), -1e-10)
})

test_that("a user dual agrees with quadrature of the same function to 1e-6", {
  set.seed(2)
  x <- matrix(rnorm(6 * 3), 6)
  for (case in list(list(cos, cos_dual, cos_slope), list(function(u) u^2, square_dual, function(a, c, b) 4 * c))) {
    net_dual <- nt_fc(2, nt_activation(case[[1]], dual = case[[2]], dual_deriv = case[[3]]), w_var = 1.5, b_var = 0.1)
    net_quad <- nt_fc(2, nt_activation(case[[1]]), w_var = 1.5, b_var = 0.1)
    got <- both(net_dual, x)
    want <- both(net_quad, x)
    expect_lt(relative_gap(got$nngp, want$nngp), 1e-6)
    expect_lt(relative_gap(got$ntk, want$ntk), 1e-6)
  }
})

test_that("user duals sit anywhere on the main line: first layer, after residual blocks, before dropout, in the standard parameterization", {
  set.seed(3)
  x <- matrix(rnorm(7 * 4), 7)
  z <- x[c(2, 5, 1), ]
  relu_user <- nt_activation(function(u) pmax(u, 0), dual = relu_dual, dual_deriv = relu_slope)
  block <- function(act) nt_serial(act, nt_dense(2, 0.1))
  builds <- list(
    function(act) nt_serial(act, nt_dense(1, 0.1)),
    function(act) nt_serial(nt_dense(1, 0.1), nt_residual(block(nt_relu())), act, nt_dense(1), act, nt_dense(1)),
    function(act) nt_serial(nt_dense(1, 0.1), act, nt_dropout(0.7), nt_dense(1.5)),
    function(act) nt_serial(nt_dense(1, 0.1, parameterization = "standard", width = 8), act,
                            nt_dense(2, 0.1, parameterization = "standard", width = 8), act,
                            nt_dense(1, parameterization = "standard")))
  # z = NULL: exact to rounding. Given z: pairs of an input with itself have
  # rho within an ulp of 1 on both sides, where ReLU's E[phi' phi'] has an
  # infinite slope in rho, so rounding moves it by up to sqrt(eps), 1e-8
  for (b in builds) for (zz in list(NULL, x, z)) {
    got <- both(b(relu_user), x, zz)
    want <- both(b(nt_relu()), x, zz)
    expect_lt(relative_gap(got$nngp, want$nngp), 1e-12)
    expect_lt(relative_gap(got$ntk, want$ntk), if (is.null(zz)) 1e-12 else 1e-8)
  }
})

test_that("the dual runs in blocks of columns with the same result", {
  set.seed(10)
  x <- matrix(rnorm(1100 * 2), 1100)   # 1100^2 pairs: more than one block of 2^20
  user <- nt_activation(erf, dual = erf_dual, dual_deriv = erf_slope)
  got <- both(nt_fc(1, user), x)
  want <- both(nt_fc(1, nt_erf()), x)
  expect_lt(relative_gap(got$nngp, want$nngp), 1e-12)
  expect_lt(relative_gap(got$ntk, want$ntk), 1e-12)
  expect_true(isSymmetric(got$ntk@.Data, tol = 0))
})

test_that("z equal to x (other row names) is the same inputs, for dropout and rho = 1", {
  set.seed(9)
  x <- matrix(rnorm(5 * 3), 5)
  named <- x
  rownames(named) <- letters[1:5]
  relu_user <- nt_activation(function(u) pmax(u, 0), dual = relu_dual, dual_deriv = relu_slope)
  build <- function(act) nt_serial(nt_dense(1, 0.1), act, nt_dropout(0.8), nt_dense(1), act,
                                   nt_dropout(0.6), nt_dense(1))
  got <- both(build(relu_user), x, named)
  want <- both(build(nt_relu()), x)
  expect_lt(relative_gap(got$nngp, want$nngp), 1e-12)
  expect_lt(relative_gap(got$ntk, want$ntk), 1e-12)
})

test_that("a network with a user dual matches Monte Carlo of wide finite networks", {
  set.seed(4)
  x <- matrix(rnorm(5 * 3), 5)
  net <- nt_fc(2, nt_activation(cos, dual = cos_dual, dual_deriv = cos_slope), w_var = 1.5, b_var = 0.1)
  # 100 networks of width 1024: standard errors near 1 % of the largest entry
  expect_monte_carlo(net, x, width = 1024, samples = 100, seed = 5, tolerance = 0.05, label = "cos dual")
})

test_that("finite networks run nt_activation() from its table, with or without a dual", {
  set.seed(7)
  x <- matrix(rnorm(4 * 3), 4)
  softplus <- nt_activation(function(u) log1p(exp(u)), function(u) plogis(u))
  expect_monte_carlo(nt_fc(2, softplus, b_var = 0.1), x, width = 1024, samples = 100, seed = 8,
                     tolerance = 0.05, label = "softplus")
  # the same weights through the table and through the closed form of erf
  table_erf <- nt_empirical(nt_fc(2, nt_activation(erf)), x, width = 64, samples = 2, seed = 9)
  closed_erf <- nt_empirical(nt_fc(2, nt_erf()), x, width = 64, samples = 2, seed = 9)
  expect_lt(relative_gap(table_erf, closed_erf), 1e-9)
})

test_that("kernel fits and predictions use the user dual", {
  set.seed(6)
  x <- matrix(rnorm(30 * 2), 30)
  y <- sin(x[, 1]) + 0.1 * rnorm(30)
  fit_user <- nt_fit(x, y, net = nt_fc(2, nt_activation(erf, dual = erf_dual, dual_deriv = erf_slope)))
  fit_ref <- nt_fit(x, y, net = nt_fc(2, nt_erf()))
  expect_equal(predict(fit_user, x[1:5, ]), predict(fit_ref, x[1:5, ]), tolerance = 1e-9)
})

test_that("bad duals and unsupported places give clear errors", {
  x <- matrix(rnorm(12), 4)
  user <- nt_activation(erf, dual = erf_dual)
  expect_error(nt_activation(erf, dual = 3), "`dual` must be a function")
  expect_error(nt_activation(erf, dual = function(a) a), "`dual` must be a function of \\(c11, c12, c22\\)")
  expect_error(nt_activation(erf, dual_deriv = erf_slope), "`dual_deriv` needs `dual`")
  expect_warning(nt_activation(erf, dual = function(a, c, b) 1.01 * erf_dual(a, c, b)), "disagrees with the quadrature")
  expect_error(nt_activation(erf, dual = function(a, c, b) 1),
               "`dual` must return a numeric vector as long as its arguments")
  wild <- suppressWarnings(nt_activation(erf, dual = function(a, c, b) ifelse(a == b, 1, 5) * erf_dual(a, c, b)))
  expect_error(nt_kernel(nt_fc(1, wild), x), "not the dual of an activation")
  # NaN only at variances above those the construction's check probes
  nan <- nt_activation(erf, dual = function(a, c, b) ifelse(a > 4, NaN, erf_dual(a, c, b)))
  expect_error(nt_kernel(nt_fc(1, nan), 5 * x), "`dual` returned NaN")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_residual(nt_serial(user, nt_dense()))), x), "inside a branch")
  expect_error(nt_kernel(nt_serial(nt_conv(3, 1), user, nt_global_avg_pool(), nt_dense(1)), array(rnorm(2 * 16), c(2, 4, 4, 1))), "matrix inputs only")
  expect_error(nt_fc_family(x, max_depth = 2, activation = user), "matrix inputs only")
})
