test_that("one pass gives every K[depth][fixed] exactly as separate kernels", {
  set.seed(6)
  x <- matrix(rnorm(30 * 4), 30)
  z <- matrix(rnorm(7 * 4), 7)
  for (act in c("relu", "erf")) {
    fam <- nt_fc_family(x, z, max_depth = 3, activation = act, b_var = 0.2)
    expect_equal(nrow(fam$grid), 10L)
    expect_length(fam$nngp, 4L)
    for (r in seq_len(nrow(fam$grid))) {
      d <- fam$grid$depth[r]; f <- fam$grid$fixed[r]
      expect_equal(fam$ntk[[r]]@.Data, nt_kernel(nt_fc(d, act, b_var = 0.2, fixed = f), x, z)@.Data,
                   tolerance = 1e-14)
    }
    for (d in 0:3)
      expect_equal(nt_family_kernel(fam, d, what = "nngp")@.Data,
                   nt_kernel(nt_fc(d, act, b_var = 0.2), x, z, what = "nngp")@.Data, tolerance = 1e-14)
  }
  sym <- nt_fc_family(x, max_depth = 2, arora = TRUE)
  expect_identical(sym$ntk[[4]]@.Data, t(sym$ntk[[4]]@.Data))
  expect_equal(nt_family_kernel(sym, 2, 1)@.Data, nt_kernel(nt_fc_arora(2, 1, 4), x)@.Data,
               tolerance = 1e-14)
  expect_error(nt_family_kernel(sym, 3, 0), "not in the family")
  expect_error(nt_fc_family(x, arora = TRUE, activation = "erf"), "relu")
})
