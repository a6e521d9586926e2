# A network compiled for the C core: one column per layer of an integer
# matrix (code, trainable, table index) and a double matrix (parameters).
# The codes match the enum in src/ntk.h.

op_codes <- c(dense = 1L, abrelu = 2L, erf = 3L, gelu = 4L, identity = 5L, table = 6L)

compile_plan <- function(net, spatial = FALSE) {
  n <- length(net)
  ints <- matrix(0L, 3L, n)
  dbls <- matrix(0, 2L, n)
  custom <- list()
  for (l in seq_len(n)) {
    layer <- net[[l]]
    if (layer$kind == "dense") {
      ints[, l] <- c(op_codes[["dense"]], as.integer(layer$trainable), 0L)
      dbls[, l] <- c(layer$w_var, layer$b_var)
    } else if (layer$kind == "activation") {
      table_index <- 0L
      if (layer$code == "table") {
        custom[[length(custom) + 1L]] <- layer
        table_index <- length(custom)
      }
      ints[, l] <- c(op_codes[[layer$code]], 1L, table_index)
      if (layer$code == "abrelu") dbls[, l] <- c(layer$a, layer$b)
    } else if (spatial) {
      code <- spatial_codes[[if (layer$kind == "readout") layer$readout else layer$kind]]
      ints[, l] <- c(code, as.integer(isTRUE(layer$trainable)), 0L)
      if (layer$kind == "conv") dbls[, l] <- c(layer$w_var, layer$b_var)
    } else {
      stop(sprintf("`net` layer %d (%s) needs image inputs (an n x H x W x C array)",
                   l, format(layer)), call. = FALSE)
    }
  }
  list(ints = ints, dbls = dbls, custom = custom, tables = vector("list", length(custom)))
}

# Tabulate each R-function activation on the range its inputs reach. The
# range of one activation depends on the tables before it, so the C self pass
# (`self_pass(tables)`: list of variances per activation and input, status)
# is rerun until every table covers its inputs (one pass per table, plus one).
fit_tables <- function(plan, self_pass) {
  if (!length(plan$custom)) return(plan)
  for (attempt in seq_len(length(plan$custom) + 1L)) {
    self <- self_pass(plan$tables)
    names(self) <- c("var", "status")
    failed <- self$status[self$status > 0L]
    if (!length(failed)) return(plan)
    op <- min(failed)
    act <- sum(plan$ints[1L, seq_len(op)] %in% op_codes[c("abrelu", "erf", "gelu", "identity", "table")])
    which_table <- plan$ints[3L, op]
    reached <- self$var[act, ]
    plan$tables[[which_table]] <- activation_table(plan$custom[[which_table]],
                                                   range(reached[!is.na(reached)]))
  }
  stop("could not fit the activation tables; the variances are not finite", call. = FALSE)
}
