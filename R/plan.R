# A network compiled for the C core: one column per layer of an integer
# matrix (code, trainable, table index) and a double matrix (parameters).
# The codes and the geometry rows come from the C op registry (src/ops.c)
# when the package loads, so that R never holds a copy of them.

.op_layout <- new.env(parent = emptyenv())

load_op_layout <- function() {
  layout <- .Call(C_ntk_op_layout)
  .op_layout$codes <- layout$codes
  .op_layout$kinds <- layout$kinds
  .op_layout$geometry <- layout$geometry
  invisible(layout)
}

# The integer code of each op named (registry names: "dense", "abrelu",
# "erf", "gelu", "identity", "table", "conv", "pool", "flatten", "gap", "lap").
op_code <- function(name) {
  codes <- .op_layout$codes
  if (is.null(codes)) codes <- load_op_layout()$codes
  if (!all(name %in% names(codes))) stop("internal: unknown op ", setdiff(name, names(codes))[1])
  unname(codes[name])
}

geometry_rows <- function() {
  if (is.null(.op_layout$geometry)) load_op_layout()
  .op_layout$geometry
}

compile_plan <- function(net, spatial = FALSE) {
  n <- length(net)
  ints <- matrix(0L, 3L, n)
  dbls <- matrix(0, 2L, n)
  custom <- list()
  for (l in seq_len(n)) {
    layer <- net[[l]]
    if (layer$kind == "dense") {
      ints[, l] <- c(op_code("dense"), as.integer(layer$trainable), 0L)
      dbls[, l] <- c(layer$w_var, layer$b_var)
    } else if (layer$kind == "activation") {
      table_index <- 0L
      if (layer$code == "table") {
        custom[[length(custom) + 1L]] <- layer
        table_index <- length(custom)
      }
      ints[, l] <- c(op_code(layer$code), 1L, table_index)
      if (layer$code == "abrelu") dbls[, l] <- c(layer$a, layer$b)
    } else if (spatial) {
      code <- op_code(if (layer$kind == "readout") layer$readout else layer$kind)
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
    act <- sum(plan$ints[1L, seq_len(op)] %in% op_code(c("abrelu", "erf", "gelu", "identity", "table")))
    which_table <- plan$ints[3L, op]
    reached <- self$var[act, ]
    plan$tables[[which_table]] <- activation_table(plan$custom[[which_table]],
                                                   range(reached[!is.na(reached)]))
  }
  stop("could not fit the activation tables; the variances are not finite", call. = FALSE)
}
