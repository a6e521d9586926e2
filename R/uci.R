# Arora et al. (2020)'s UCI protocol on the Fernandez-Delgado et al. (2014)
# data layout (see ?nt_uci_benchmark), and the summary statistics.

#' NTK-SVM on the UCI collection of Fernandez-Delgado et al.
#'
#' Runs Arora et al. (2020)'s protocol on a folder in the layout of
#' Fernandez-Delgado et al. (2014): one folder per dataset with `<name>.txt`
#' (`key=value` lines), the data file it names in `fich1=` (a header line,
#' then an index column, the standardised features and the integer class),
#' `conxuntos.dat` (training and validation indices, 0-based) and
#' `conxuntos_kfold.dat` (4 pairs of training and test indices). Datasets
#' with more than `max_n` samples or a separate test file (`n_patrons2=`)
#' are skipped. For each dataset the kernels `K[dep][fix]` of
#' [nt_fc_family()] (`arora = TRUE`: raw features, no `c_sigma`) for
#' `dep in 0:max_depth`, `fix in 0:dep` and `C` in `costs` are tried with
#' kernlab's `ksvm()` (C-classification, one against one, `shrinking =
#' FALSE`) on the validation split; ties keep the first configuration in
#' the order depth, fixed, C (ascending); the chosen one is scored as the
#' mean test accuracy over the 4 folds.
#'
#' @param dir The folder holding one folder per dataset.
#' @param datasets Names of datasets to run (default: all folders).
#' @param max_n Skip datasets with more samples than this.
#' @param max_depth,costs The grid: depths `0..max_depth` and the costs `C`.
#' @param threads Threads for the kernels.
#' @return A data frame with one row per dataset: `dataset`, `n`, `d`,
#'   `classes`, `depth`, `fixed`, `C`, `validation` (accuracy), `accuracy`
#'   (mean over the 4 test folds).
#' @seealso [nt_uci_summary()]
#' @export
nt_uci_benchmark <- function(dir, datasets = NULL, max_n = 5000, max_depth = 4,
                             costs = 10^(-2:4), threads = nt_threads()) {
  if (!is.character(dir) || length(dir) != 1L || !dir.exists(dir))
    stop("`dir` must be an existing directory", call. = FALSE)
  max_n <- check_count(max_n, "max_n", lower = 1L)
  max_depth <- check_count(max_depth, "max_depth")
  if (!is.numeric(costs) || !length(costs) || any(!is.finite(costs)) || any(costs <= 0))
    stop("`costs` must be positive numbers", call. = FALSE)
  costs <- sort(costs)
  names <- datasets %||% sort(basename(list.dirs(dir, recursive = FALSE)))
  rows <- lapply(names, function(name) {
    data <- read_uci_dataset(file.path(dir, name), name)
    if (is.null(data) || nrow(data$x) > max_n) return(NULL)
    uci_run(name, data, max_depth, costs, threads)
  })
  out <- do.call(rbind, rows)
  if (is.null(out))
    out <- data.frame(dataset = character(), n = integer(), d = integer(), classes = integer(),
                      depth = integer(), fixed = integer(), C = numeric(),
                      validation = numeric(), accuracy = numeric())
  rownames(out) <- NULL
  out
}

# One dataset's description, data and splits, or NULL when it has a separate
# test file (as Arora et al. skip those).
read_uci_dataset <- function(path, name) {
  info_file <- file.path(path, paste0(name, ".txt"))
  if (!file.exists(info_file)) stop(sprintf("`dir` lacks %s", info_file), call. = FALSE)
  lines <- grep("=", readLines(info_file, warn = FALSE), value = TRUE)
  info <- stats::setNames(trimws(sub("^[^=]*=", "", lines)), trimws(sub("=.*$", "", lines)))
  if (!is.na(info["n_patrons2"])) return(NULL)
  data_file <- file.path(path, info[["fich1"]])
  table <- utils::read.table(data_file, header = FALSE, skip = 1L, sep = "\t",
                             colClasses = "numeric", strip.white = TRUE)
  x <- as.matrix(table[, -c(1L, ncol(table)), drop = FALSE])
  y <- factor(table[[ncol(table)]])
  splits <- function(file) lapply(strsplit(trimws(readLines(file.path(path, file), warn = FALSE)), "[[:space:]]+"),
                                  function(v) as.integer(v) + 1L)
  list(x = unname(x), y = y, holdout = splits("conxuntos.dat"), folds = splits("conxuntos_kfold.dat"))
}

uci_run <- function(name, data, max_depth, costs, threads) {
  fam <- nt_fc_family(data$x, max_depth = max_depth, arora = TRUE, threads = threads,
                      progress = FALSE)
  fit_score <- function(k, train, test, C) svm_accuracy(k, data$y, train, test, C)
  train <- data$holdout[[1]]; valid <- data$holdout[[2]]
  best <- NULL
  for (r in seq_len(nrow(fam$grid))) {          # ordered by depth, then fixed
    k <- fam$ntk[[r]]@.Data
    for (C in costs) {
      acc <- fit_score(k, train, valid, C)
      if (is.null(best) || acc > best$validation)
        best <- list(row = r, C = C, validation = acc)
    }
  }
  k <- fam$ntk[[best$row]]@.Data
  folds <- matrix(data$folds, nrow = 2L)
  test_acc <- mean(vapply(seq_len(ncol(folds)), function(f)
    fit_score(k, folds[[1, f]], folds[[2, f]], best$C), 1))
  data.frame(dataset = name, n = nrow(data$x), d = ncol(data$x), classes = nlevels(data$y),
             depth = fam$grid$depth[best$row], fixed = fam$grid$fixed[best$row], C = best$C,
             validation = best$validation, accuracy = test_acc)
}

#' Summary statistics of a UCI comparison
#'
#' Average accuracy, Friedman rank (the mean over datasets of each
#' classifier's rank, 1 = best, ties averaged), P90 and P95 (the share of
#' datasets where a classifier reaches at least 90 % or 95 % of the best
#' accuracy any classifier reached there) and PMA (the mean of accuracy over
#' that best), as in Fernandez-Delgado et al. (2014) and Arora et al. (2020).
#'
#' @param results The data frame of [nt_uci_benchmark()] (its `accuracy`
#'   column is the classifier "NTK").
#' @param others `NULL`, or a data frame with a `dataset` column and one
#'   column of accuracies per other classifier; datasets missing from either
#'   are dropped.
#' @return A data frame with one row per classifier: `classifier`,
#'   `accuracy` (average), `friedman_rank`, `p90`, `p95`, `pma`, and the
#'   number of datasets `n`.
#' @examples
#' res <- data.frame(dataset = c("a", "b", "c"), accuracy = c(0.9, 0.8, 0.7))
#' nt_uci_summary(res, data.frame(dataset = c("a", "b", "c"), rf = c(0.85, 0.8, 0.75)))
#' @export
nt_uci_summary <- function(results, others = NULL) {
  if (!is.data.frame(results) || !all(c("dataset", "accuracy") %in% names(results)))
    stop("`results` must be a data frame with columns dataset and accuracy", call. = FALSE)
  acc <- data.frame(dataset = results$dataset, NTK = results$accuracy)
  if (!is.null(others)) {
    if (!is.data.frame(others) || !"dataset" %in% names(others) || ncol(others) < 2L)
      stop("`others` must be a data frame with a dataset column and accuracy columns", call. = FALSE)
    acc <- merge(acc, others, by = "dataset")
  }
  if (!nrow(acc)) stop("no dataset is common to `results` and `others`", call. = FALSE)
  m <- as.matrix(acc[, -1L, drop = FALSE])
  best <- apply(m, 1, max)
  ranks <- t(apply(-m, 1, rank, ties.method = "average"))
  if (ncol(m) == 1L) ranks <- t(ranks)
  data.frame(classifier = colnames(m), accuracy = colMeans(m),
             friedman_rank = colMeans(matrix(ranks, nrow(m))),
             p90 = colMeans(m >= 0.9 * best), p95 = colMeans(m >= 0.95 * best),
             pma = colMeans(m / best), n = nrow(m), row.names = NULL)
}

#' Compare NTK-SVM with a Gaussian SVM and a random forest
#'
#' The comparison of Arora et al. (2020) on datasets in memory: for each
#' dataset, `splits` seeded random splits into 75 % training and 25 % test;
#' within the training part a 70/30 validation split chooses the
#' hyper-parameters: for NTK-SVM Arora et al.'s grid (`K[dep][fix]` of
#' [nt_fc_family()] with `arora = TRUE`, `dep` in `0:4`, `fix` in `0:dep`, on
#' standardised features, times `C` in `10^(-2:4)`; ties keep the first), for
#' the Gaussian SVM 15 values of `sigma` in `10^(-4..1)` times the same `C`,
#' for the random forest (if the randomForest package is installed) `mtry`
#' in `{sqrt(d), d/3, d}` with 500 trees. The chosen model is refitted on the
#' whole training part and scored on the test part. Features are
#' standardised once per dataset over all its rows (as in Fernandez-Delgado
#' et al.'s files), and every kernel is computed once per dataset.
#'
#' @param data A named list of datasets, each `list(x = numeric matrix, y = factor)`.
#' @param splits Number of random training/test splits per dataset.
#' @param seed Seed of the first split (split `r` uses `seed + r - 1`).
#' @param costs The SVMs' values of `C`.
#' @return A data frame: `dataset`, `n`, `d`, `classes`, and the mean test
#'   accuracy of each classifier (`ntk`, `rbf`, `rf`).
#' @examples
#' \donttest{
#' nt_uci_compare(list(iris = list(x = as.matrix(iris[, 1:4]), y = iris$Species)),
#'                splits = 1)
#' }
#' @export
nt_uci_compare <- function(data, splits = 3, seed = 1, costs = 10^(-2:4)) {
  if (!is.list(data) || is.null(names(data)) || any(!nzchar(names(data))))
    stop("`data` must be a named list of list(x, y)", call. = FALSE)
  splits <- check_count(splits, "splits", lower = 1L)
  seed <- check_count(seed, "seed")
  forest_ok <- requireNamespace("randomForest", quietly = TRUE)
  rows <- lapply(names(data), function(name) {
    x <- as_input_matrix(data[[name]]$x, sprintf("data$%s$x", name))
    scaling <- column_scaling(x)            # constant columns keep scale 1, never NaN
    x <- scale(x, scaling$center, scaling$scale)
    y <- factor(data[[name]]$y)
    if (nlevels(y) < 2L)
      stop(sprintf("dataset '%s' has a single class: there is nothing to classify", name), call. = FALSE)
    if (length(y) != nrow(x)) stop(sprintf("dataset '%s': x and y differ in length", name), call. = FALSE)
    # the kernels do not depend on the split: computed once per dataset
    ntk <- lapply(nt_fc_family(x, max_depth = 4, arora = TRUE, progress = FALSE)$ntk,
                  function(k) k@.Data)
    rbf <- lapply(10^seq(-4, 1, length.out = 15), function(s)
      kernlab::kernelMatrix(kernlab::rbfdot(s), x)@.Data)
    acc <- vapply(seq_len(splits), function(r) {
      set.seed(seed + r - 1L)
      train <- sample(nrow(x), round(0.75 * nrow(x)))
      test <- setdiff(seq_len(nrow(x)), train)
      c(ntk = select_svm(ntk, y, train, test, costs),
        rbf = select_svm(rbf, y, train, test, costs),
        rf = if (forest_ok) select_forest(x, y, train, test) else NA_real_)
    }, numeric(3))
    data.frame(dataset = name, n = nrow(x), d = ncol(x), classes = nlevels(y),
               ntk = mean(acc[1, ]), rbf = mean(acc[2, ]), rf = mean(acc[3, ]))
  })
  do.call(rbind, rows)
}

svm_accuracy <- function(k, y, train, test, C) {
  # classes absent from a small training part are dropped (they cannot be predicted)
  single <- single_class_accuracy(y, train, test)
  if (!is.null(single)) return(single)
  model <- kernlab::ksvm(kernlab::as.kernelMatrix(k[train, train]), droplevels(y[train]), type = "C-svc",
                         kernel = "matrix", C = C, shrinking = FALSE)
  mean(as.character(nt_predict_ksvm(model, k[test, train, drop = FALSE])) == as.character(y[test]))
}

# A training part with one class predicts it (no classifier can be fitted,
# and none is needed): its accuracy, or NULL when there are several classes.
single_class_accuracy <- function(y, train, test) {
  present <- unique(as.character(y[train]))
  if (length(present) > 1L) return(NULL)
  mean(as.character(y[test]) == present)
}

validation_split <- function(train) {
  fit <- sample(train, round(0.7 * length(train)))
  list(fit = fit, valid = setdiff(train, fit))
}

# The kernel and C with the best validation accuracy (the first of ties),
# refitted on all of `train` and scored on `test`.
select_svm <- function(kernels, y, train, test, costs) {
  v <- validation_split(train)
  best <- list(acc = -1)
  for (i in seq_along(kernels)) for (C in costs) {
    acc <- svm_accuracy(kernels[[i]], y, v$fit, v$valid, C)
    if (acc > best$acc) best <- list(acc = acc, i = i, C = C)
  }
  svm_accuracy(kernels[[best$i]], y, train, test, best$C)
}

select_forest <- function(x, y, train, test) {
  v <- validation_split(train)
  score <- function(m, tr, te) {
    single <- single_class_accuracy(y, tr, te)
    if (!is.null(single)) return(single)
    rf <- randomForest::randomForest(x[tr, , drop = FALSE], droplevels(y[tr]), mtry = m, ntree = 500)
    mean(as.character(stats::predict(rf, x[te, , drop = FALSE])) == as.character(y[te]))
  }
  tries <- unique(pmax(1, round(c(sqrt(ncol(x)), ncol(x) / 3, ncol(x)))))
  m <- tries[which.max(vapply(tries, score, 1, tr = v$fit, te = v$valid))]
  score(m, train, test)
}
