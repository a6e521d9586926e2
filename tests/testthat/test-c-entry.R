# Every registered routine, called directly with wrong arguments, gives an
# R error and never a crash: each argument of a valid call is replaced in
# turn by values of the wrong type, length, shape or range.
valid_calls <- function() {
  x <- matrix(rnorm(6), 3)
  fc <- ntk:::compile_plan(nt_fc(2, b_var = 0.1))
  img <- aperm(array(rnorm(2 * 4 * 4 * 2), c(2, 4, 4, 2)), 4:1)
  sp <- ntk:::compile_spatial_plan(nt_cnn(2, readout = "flatten"), c(4L, 4L, 2L))
  spg <- ntk:::compile_spatial_plan(nt_cnn(1, readout = "gap"), c(4L, 4L, 2L))
  fin <- ntk:::finite_setup(nt_fc(1), x, NULL)
  act <- ntk:::compile_plan(nt_serial(nt_erf()))
  list(
    ntk_fc_kernel = list(x, NULL, fc$ints, fc$dbls, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
    ntk_fc_self = list(c(1, 2), fc$ints, fc$dbls, list()),
    ntk_fc_resume = list(tcrossprod(x) / 2, tcrossprod(x) / 2, rowSums(x^2) / 2, NULL, FALSE,
                         fc$ints[, -1], fc$dbls[, -1], list(), c(TRUE, TRUE), 1L, FALSE),
    ntk_fc_family = list(x, NULL, fc$ints, fc$dbls, list(), 1L, FALSE, FALSE),
    ntk_fc_gradient = list(x, NULL, fc$ints, fc$dbls, list(),
                           ntk:::kernel_parameters(nt_fc(2, b_var = 0.1), 2L)$index, 3L, NULL, 0L, 1L),
    ntk_conv_kernel = list(img, NULL, sp$ints, sp$dbls, sp$geom, sp$band, FALSE, list(),
                           c(TRUE, FALSE), 1L, FALSE),
    ntk_conv_self = list(img, spg$ints, spg$dbls, spg$geom, spg$band, TRUE, list()),
    ntk_act_dual = list(act$ints, act$dbls, list(), c(1, 2), c(1, 3), c(0.5, -1)),
    ntk_empirical = list(fin$data, fin$shape, fin$plan$ints, fin$plan$dbls, fin$plan$geom, list(), 8L, 1L, FALSE),
    ntk_train = list(fin$data, c(1, 2, 3), NULL, fin$shape, fin$plan$ints, fin$plan$dbls,
                     fin$plan$geom, list(), 8L, 0.1, c(0L, 2L), FALSE, TRUE, FALSE),
    ntk_sym_eigen = list(crossprod(matrix(rnorm(9), 3))),
    ntk_as_kernel_matrix = list(matrix(1, 2, 2), list(c("a", "b"), NULL)),
    ntk_svm_ovo = list(tcrossprod(matrix(rnorm(8), 4)), c(1L, 2L, 1L, 2L), 1:3, 4L, 1, 1e-3))
}

bad_values <- list(NULL, "a", integer(0), numeric(0), NA, NA_real_, list(), TRUE, -1L, 1e9,
                   matrix(NA_real_, 2, 2), matrix(1L, 2, 2), matrix(0, 0, 3), Inf,
                   array(0, c(1, 1, 1, 1)), matrix(99L, 3, 1), matrix(1, 14, 1))

test_that("the valid calls run", {
  for (name in names(valid_calls())) {
    args <- valid_calls()[[name]]
    expect_no_error(do.call(.Call, c(list(get(paste0("C_", name), envir = asNamespace("ntk"))), args)))
  }
})

test_that("every registered routine turns wrong arguments into R errors", {
  routines <- getDLLRegisteredRoutines("ntk")$.Call
  calls <- valid_calls()
  expect_setequal(setdiff(names(routines), c("ntk_omp_info", "ntk_op_layout", "ntk_physical_memory", "ntk_available_memory")), names(calls))
  errors <- 0; total <- 0
  well_formed <- function(out) {
    all(rapply(list(out), function(p) is.numeric(p) && all(is.finite(p) | is.na(p) & is.integer(p)),
               how = "unlist"))
  }
  for (name in names(calls)) {
    symbol <- get(paste0("C_", name), envir = asNamespace("ntk"))
    args <- calls[[name]]
    for (i in seq_along(args)) for (bad in bad_values) {
      trial <- args
      trial[i] <- list(bad)
      # an R error is the expected outcome; a result only where the substitute
      # happens to be valid (NULL for z, TRUE for a flag), and then well formed
      out <- tryCatch(do.call(.Call, c(list(symbol), trial)), error = function(e) e)
      total <- total + 1
      if (inherits(out, "error")) errors <- errors + 1
      else expect_true(well_formed(out), label = sprintf("%s argument %d", name, i))
    }
    expect_error(do.call(.Call, c(list(symbol), args[-1])), "arguments")   # wrong count
  }
  expect_gt(errors / total, 0.9)
})

test_that("the op registry is the one list of op codes, and engines refuse what they do not run", {
  layout <- .Call(C_ntk_op_layout)
  expect_named(layout, c("codes", "kinds", "geometry", "plan", "max_slots"))
  expect_identical(rownames(compile_plan(nt_fc(1))$ints), layout$plan)
  expect_false(anyDuplicated(layout$codes) > 0)
  expect_identical(op_code(names(layout$codes)), unname(layout$codes))
  expect_identical(rownames(compile_spatial_plan(nt_cnn(1), c(4L, 4L, 1L))$geom), layout$geometry)
  x <- matrix(rnorm(6), 3)
  fc <- compile_plan(nt_fc(2))
  unknown <- fc$ints
  unknown[1, 2] <- max(layout$codes) + 1L
  expect_error(.Call(C_ntk_fc_kernel, x, NULL, unknown, fc$dbls, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
               "layer 2 has an unknown code")
  spatial <- fc$ints
  spatial[1, 2] <- op_code("gap")
  expect_error(.Call(C_ntk_fc_kernel, x, NULL, spatial, fc$dbls, list(), c(TRUE, TRUE), 1L, FALSE, TRUE),
               "layer 2 \\(gap\\) is spatial")
  fin <- finite_setup(nt_cnn(1, readout = "flatten"), array(rnorm(2 * 16), c(2, 4, 4, 1)), NULL)
  lap <- fin$plan$ints
  lap[1, ncol(lap) - 1L] <- op_code("lap")
  expect_error(.Call(C_ntk_empirical, fin$data, fin$shape, lap, fin$plan$dbls, fin$plan$geom, list(), 8L, 1L, FALSE),
               "\\(lap\\) has no finite-network counterpart")
})
