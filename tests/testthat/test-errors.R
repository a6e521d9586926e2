test_that("bad inputs are refused with errors naming the argument", {
  net <- nt_fc(2)
  x <- matrix(rnorm(12), 4)
  bad <- x; bad[2, 3] <- NA
  expect_error(nt_kernel(net, bad), "`x` contains NA, NaN or Inf \\(first at row 2, column 3\\)")
  bad[2, 3] <- Inf
  expect_error(nt_kernel(net, bad), "`x` contains NA")
  bad[2, 3] <- NaN
  expect_error(nt_kernel(net, x, z = bad), "`z` contains NA")
  expect_error(nt_kernel(net, data.frame(a = 1:3, b = letters[1:3])),
               "`x` column 'b' is not numeric")
  expect_error(nt_kernel(net, data.frame(a = 1:3, f = factor(1:3))),
               "`x` column 'f' is not numeric \\(factor\\)")
  expect_error(nt_kernel(net, x, z = matrix(1, 2, 2)), "`z` has 2 columns but `x` has 3")
  expect_error(nt_kernel(net, matrix(numeric(0), 0, 3)), "`x` is empty")
  expect_error(nt_kernel(net, matrix(numeric(0), 3, 0)), "`x` is empty")
  expect_error(nt_kernel(net, matrix("a", 2, 2)), "`x` must be numeric")
  expect_error(nt_kernel(net, array(1, c(2, 2, 2, 2, 2, 2))), "`x` is a 6-dimensional array")
  expect_error(nt_kernel(net, array(1, c(2, 2, 2))), "must end image inputs with a readout")
  expect_error(nt_kernel(net, list(1, 2)), "`x` must be a numeric matrix")
  expect_error(nt_kernel(net, x, what = "rbf"), "`what`")
  expect_error(nt_kernel(net, x, threads = 0), "`threads`")
  expect_error(nt_kernel(net, x, progress = NA), "`progress`")
  expect_error(nt_kernel("relu", x), "`net` must be a network")
})

test_that("bad layer and network parameters are refused", {
  expect_error(nt_dense(w_var = -1), "`w_var` must be non-negative")
  expect_error(nt_dense(b_var = -0.1), "`b_var` must be non-negative")
  expect_error(nt_dense(w_var = Inf), "`w_var` must be a single finite number")
  expect_error(nt_dense(w_var = NA), "`w_var` must be a single finite number")
  expect_error(nt_dense(trainable = "yes"), "`trainable` must be TRUE or FALSE")
  expect_error(nt_fc(depth = -1), "`depth` must be non-negative")
  expect_error(nt_fc(depth = 1.5), "`depth` must be a whole number")
  expect_error(nt_fc(depth = 2, fixed = 3), "`fixed` must be between 0 and 2")
  expect_error(nt_fc(activation = "softmax"), "`activation` must be one of")
  expect_error(nt_fc(w_var = -2), "`w_var`")
  expect_error(nt_fc(b_var = NaN), "`b_var`")
  expect_error(nt_leaky_relu(slope = "a"), "`slope`")
  expect_error(nt_serial(nt_dense(), "relu"), "`...` must hold layers")
  expect_error(nt_activation("tanh"), "`fun` must be a function")
  expect_error(nt_activation(function(u) 1), "`fun` must be vectorised")
  expect_error(nt_activation(tanh, deriv = function(u) stop("no")), "`deriv` failed")
  expect_error(nt_activation(tanh, cells = 101), "`cells` must be even")
  expect_error(nt_kernel(nt_serial(nt_dense(), nt_activation(function(u) exp(u^2))),
                         matrix(10, 1, 1)), "`fun` is not finite at u = .*grows too fast")
})

test_that("the registered C routines reject malformed arguments", {
  plan <- ntk:::compile_plan(nt_fc(1))
  call <- function(...) .Call(ntk:::C_ntk_fc_kernel, ...)
  ok <- list(matrix(1, 2, 2), NULL, plan$ints, plan$dbls, list(), c(TRUE, FALSE), 1L, FALSE, TRUE)
  expect_type(do.call(call, ok), "list")
  with <- function(i, value) { args <- ok; args[i] <- list(value); args }
  expect_error(do.call(call, with(1, 1:4)), "'x' must be a double matrix")
  expect_error(do.call(call, with(1, matrix(NA_real_, 2, 2))), "'x' contains NA")
  expect_error(do.call(call, with(2, matrix(1, 2, 3))), "'z' must have as many columns")
  expect_error(do.call(call, with(3, matrix(99L, 3, 1))), "'ops_dbl' and 'ops_int'|unknown code|columns")
  expect_error(do.call(call, with(3, "a")), "'ops_int'")
  expect_error(do.call(call, with(6, c(FALSE, FALSE))), "at least one kernel")
  expect_error(do.call(call, with(7, -1L)), "'threads'")
  expect_error(do.call(call, with(8, NA)), "'progress'")
  expect_error(.Call(ntk:::C_ntk_fc_self, -1, plan$ints, plan$dbls, list()), "non-negative")
})

test_that("messages name the real problem (shapes, activations, models, newdata)", {
  img <- array(rnorm(2 * 8 * 8 * 3), c(2, 8, 8, 3))
  # nt_cnn_arora's variances depend on the image size: a wrong shape is refused
  expect_error(nt_kernel(nt_cnn_arora(3, "trace", input_shape = c(4, 4, 3)), img),
               "the images are 8 x 8 x 3, but `net` was built for input_shape = c\\(4, 4, 3\\)")
  expect_equal(dim(nt_kernel(nt_cnn_arora(3, "trace", input_shape = c(8, 8, 3)), img)), c(2L, 2L))
  expect_error(nt_kernel(nt_cnn(2), array(0, c(2, 4, 4, 3, 2, 2))),
               "`x` is a 6-dimensional array: images are n x H x W x C arrays")
  expect_warning(nt_kernel(nt_cnn(2), array(rnorm(2 * 3 * 8 * 8), c(2, 3, 8, 8))),
                 "looks like n x C x H x W.*aperm")
  expect_error(nt_activation(function(u) log(u)), "`fun` returned NaN at u = -1.5")
  expect_error(nt_activation(function(u) u[1]), "must be vectorised")
  expect_error(nt_fc(2, activation = tanh), "wrap it as nt_activation\\(fun\\)")
  model <- kernlab::ksvm(as.matrix(iris[1:100, 1:4]), droplevels(iris$Species[1:100]),
                         kernel = "vanilladot", kpar = list())
  expect_error(nt_predict_ksvm(model, matrix(0, 2, 100)), "not on a kernel matrix")
  fit <- nt_fit(as.matrix(mtcars[, 2:3]), mtcars$mpg)
  bad <- as.matrix(mtcars[1:2, 2:3]); bad[2, 1] <- NA
  expect_error(predict(fit, bad), "`newdata` contains NA")
})

test_that("the messages of issue 16 say what is wrong and where", {
  x <- matrix(rnorm(20), 5)
  # an activation that grows too fast through many layers
  sq <- nt_activation(function(u) u^2)
  expect_error(nt_kernel(do.call(nt_serial, c(rep(list(nt_dense(), sq), 8), list(nt_dense()))), x * 10),
               "grows too fast.*lower the weight variances")
  ex <- nt_activation(exp)
  expect_error(suppressWarnings(nt_kernel(do.call(nt_serial, c(rep(list(nt_dense(), ex), 4), list(nt_dense()))), x * 3)),
               "`fun` is not finite at u = .*grows too fast")
  # the wrong length only on long vectors is a length error, not "finite values"
  odd <- nt_activation(function(u) if (length(u) > 100) u[-1] else pmax(u, 0))
  expect_error(nt_kernel(nt_serial(nt_dense(), odd, nt_dense()), x),
               "as long as its argument: given \\d+ values it returned \\d+")
  # tanh on all-zero inputs: exact (variance 0), no warning about large variances
  zero <- matrix(0, 4, 3)
  expect_no_warning(k <- nt_kernel(nt_serial(nt_dense(), nt_activation(tanh), nt_dense()), zero, what = "nngp"))
  expect_equal(k@.Data, matrix(0, 4, 4))
  # environment variable and option named as what they are
  old_env <- Sys.getenv("NTK_GRAM", unset = NA)
  Sys.setenv(NTK_GRAM = "fast")
  expect_error(nt_kernel(nt_fc(1), x), "environment variable NTK_GRAM .*not \"fast\"")
  if (is.na(old_env)) Sys.unsetenv("NTK_GRAM") else Sys.setenv(NTK_GRAM = old_env)
  old_opt <- options(ntk.gram = "fast")
  expect_error(nt_kernel(nt_fc(1), x), "option `ntk.gram`")
  options(old_opt)
  expect_error(nt_family_kernel(matrix(1), 1), "`family` must be the result of nt_fc_family")
  expect_error(nt_kernel(nt_fc(1), data.frame(row.names = 1:3)), "`x` has no columns")
  expect_error(nt_conv(1001), "`filter` must be at most 1000, not 1001")
  expect_error(nt_conv(3, stride = 2000), "`stride` must be at most 1000")
  expect_error(nt_avg_pool(c(2, 5000)), "`window` must be at most 1000")
  # a direct call with an out-of-range window names the layer and the figure
  sp <- ntk:::compile_spatial_plan(nt_cnn(1, readout = "flatten"), c(4L, 4L, 1L))
  img <- aperm(array(rnorm(2 * 16), c(2, 4, 4, 1)), 4:1)
  g <- sp$geom
  g["qh", 1] <- 5000L
  expect_error(.Call(ntk:::C_ntk_conv_kernel, img, NULL, sp$ints, sp$dbls, g, sp$band, sp$full, list(),
                     c(TRUE, FALSE), 1L, FALSE), "layer 1 has a 5000 x 3 window: each side must be 1 to 1000")
})
