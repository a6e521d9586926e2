# The arguments of legitimate calls of every kernel and finite-network
# routine, perturbed one cell at a time (integer plan and geometry cells to
# extreme, zero, negative and NA values; doubles to 0, -1, 1e300, Inf, NaN,
# NA): each perturbed call gives an R error or a well-formed result, never
# a crash or a read outside a buffer (the sanitizer stage of `make test`
# runs this file under ASan/UBSan).
fuzz_calls <- function() {
  ns <- asNamespace("ntk")
  set.seed(5)
  x <- matrix(rnorm(5 * 4), 5)
  img4 <- array(rnorm(2 * 4 * 4 * 2), c(2, 4, 4, 2))
  imgc <- aperm(img4, 4:1)
  block <- nt_serial(nt_relu(), nt_dense(2, 0.1))
  fcnet <- nt_serial(nt_dense(1, 0.1, parameterization = "standard", width = 8), nt_residual(block),
                     nt_relu(), nt_dense(1, parameterization = "standard"))
  cnets <- list(
    band = nt_cnn(2, readout = "flatten"), gap = nt_cnn(1, readout = "gap"),
    lap = nt_serial(nt_conv(3, 1), nt_relu(), nt_conv(3, 2, stride = 2), nt_relu(),
                    nt_local_avg_pool(1), nt_dense(1)),
    res = nt_serial(nt_conv(3, 1), nt_residual(nt_serial(nt_relu(), nt_conv(3, 2))), nt_relu(),
                    nt_global_avg_pool(), nt_dense(1)),
    local = nt_serial(nt_conv_local(3, 1, 0.1), nt_relu(), nt_conv_local(3, 2, stride = 2), nt_relu(),
                      nt_global_avg_pool(), nt_dense(1)),
    graph = nt_serial(nt_aggregate(diag(16) + 0.1), nt_dense(1, 0.1), nt_relu(), nt_dense(1),
                      nt_aggregate(array(rnorm(2 * 256), c(2, 16, 16))), nt_relu(), nt_global_sum_pool(),
                      nt_dense(1)),
    norm = nt_serial(nt_layer_norm(), nt_conv(3, 1), nt_layer_norm("all"), nt_relu(), nt_dropout(0.6),
                     nt_conv(3, 2), nt_layer_norm(), nt_relu(), nt_flatten(), nt_dropout(0.9), nt_dense(1)))
  calls <- list()
  fc <- ns$compile_plan(fcnet, ncol(x))
  calls$fc <- list(ns$C_ntk_fc_kernel, list(x, NULL, fc$ints, fc$dbls, list(), c(TRUE, TRUE), 1L,
                                            FALSE, TRUE))
  poly <- ns$compile_plan(nt_serial(nt_dense(1, 0.1), nt_polynomial(c(0.5, -1, 0.3)), nt_dense(1),
                                     nt_hermite(3), nt_dense(1)))
  calls$poly <- list(ns$C_ntk_fc_kernel, list(x, NULL, poly$ints, poly$dbls, poly$tables, c(TRUE, TRUE),
                                              1L, FALSE, TRUE))
  # the rest of the network after its first layer, from that layer's state
  k1 <- tcrossprod(x, x[1:3, ]) / 4 + 0.1
  calls$resume <- list(ns$C_ntk_fc_resume, list(k1, k1, rowSums(x^2) / 4 + 0.1, rowSums(x[1:3, ]^2) / 4 + 0.1,
                                                FALSE, fc$ints[, -1], fc$dbls[, -1], list(),
                                                c(TRUE, TRUE), 1L, FALSE))
  fam <- ns$compile_plan(nt_fc(2))
  calls$fc_self <- list(ns$C_ntk_fc_self, list(c(1, 2, 0), fc$ints, fc$dbls, list()))
  act <- ns$compile_plan(nt_serial(nt_gelu()))
  calls$act_dual <- list(ns$C_ntk_act_dual, list(act$ints, act$dbls, list(), c(1, 2), c(1, 3), c(0.5, -1)))
  calls$family <- list(ns$C_ntk_fc_family, list(x, NULL, fam$ints, fam$dbls, list(), 1L, FALSE, TRUE))
  for (nm in names(cnets)) {
    sp <- ns$compile_spatial_plan(cnets[[nm]], c(4L, 4L, 2L))
    calls[[paste0("conv_", nm)]] <- list(ns$C_ntk_conv_kernel, list(
      imgc, NULL, sp$ints, sp$dbls, sp$geom, sp$band, sp$full, sp$tables, c(TRUE, TRUE), 1L, FALSE))
    calls[[paste0("self_", nm)]] <- list(ns$C_ntk_conv_self, list(
      imgc, sp$ints, sp$dbls, sp$geom, sp$band, sp$full, sp$tables))
  }
  finite <- list(fc = ns$finite_setup(fcnet, x, NULL),
                 cnn = ns$finite_setup(nt_cnn(2, readout = "flatten"), img4, NULL),
                 res = ns$finite_setup(cnets$res, img4, NULL),
                 norm = ns$finite_setup(cnets$norm, img4, NULL),
                 graph = ns$finite_setup(cnets$graph, img4, NULL),
                 poly = ns$finite_setup(nt_serial(nt_dense(1, 0.1), nt_polynomial(c(0.5, -1, 0.3)),
                                                  nt_dense(1)), x, NULL))
  for (nm in names(finite)) {
    fin <- finite[[nm]]
    n <- ncol(fin$data)
    calls[[paste0("empirical_", nm)]] <- list(ns$C_ntk_empirical, list(
      fin$data, fin$shape, fin$plan$ints, fin$plan$dbls, fin$plan$geom, fin$plan$tables, 8L, 1L, FALSE))
    if (nm %in% c("norm", "graph")) next        # dropout: refused; graph: 2 graphs, no test inputs
    calls[[paste0("train_", nm)]] <- list(ns$C_ntk_train, list(
      fin$data, as.numeric(seq_len(n)), NULL, fin$shape, fin$plan$ints, fin$plan$dbls,
      fin$plan$geom, fin$plan$tables, 8L, 0.01, c(0L, 2L), TRUE, TRUE, FALSE))
  }
  calls
}

well_formed <- function(out) {
  all(rapply(list(out), function(p) is.numeric(p) && all(is.finite(p) | is.na(p) & is.integer(p)),
             how = "unlist"))
}

test_that("one perturbed cell of a legitimate call is an R error or a well-formed result", {
  set.seed(16)
  ints <- c(-2147483647L, -1L, 0L, 1L, 2L, 3L, 7L, 40L, 65536L, 2147483647L, NA)
  dbls <- c(-1, 0, 1e-300, 1e300, Inf, NaN, NA)
  calls <- fuzz_calls()
  total <- 0; errors <- 0
  for (name in names(calls)) {
    routine <- calls[[name]][[1]]
    args <- calls[[name]][[2]]
    expect_true(well_formed(do.call(.Call, c(list(routine), args))), label = paste(name, "as given"))
    for (i in seq_along(args)) {
      a <- args[[i]]
      if (!is.numeric(a) && !is.logical(a)) next
      cells <- if (length(a) > 16) sample(length(a), 16) else seq_along(a)
      values <- if (is.integer(a)) ints else if (is.double(a)) dbls else c(NA, TRUE, FALSE)
      for (cell in cells) for (v in values) {
        trial <- args
        trial[[i]][cell] <- v
        out <- tryCatch(do.call(.Call, c(list(routine), trial)), error = function(e) e)
        total <- total + 1
        if (inherits(out, "error")) errors <- errors + 1
        else expect_true(well_formed(out), label = sprintf("%s argument %d cell %d = %s", name, i, cell, v))
      }
    }
  }
  expect_gt(total, 3000)
  expect_gt(errors / total, 0.2)
})
