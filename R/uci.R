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
#' `dep in 0:max_depth`, `fix in 0:dep` and `C` in `costs` are tried with a
#' C-classification SVM (one against one) on the validation split; ties keep
#' the first configuration in the order depth, fixed, C (ascending); the
#' chosen one is scored as the mean test accuracy over the 4 folds.
#'
#' The SVM: `solver = "smo"` (the default) is ntk's own solver of the SVM
#' dual, written after libsvm's published algorithm, the solver of Arora et
#' al.'s pipeline: sequential minimal optimisation with second-order working
#' set selection (Fan, Chen and Lin 2005) and shrinking, stopped when the
#' largest violation of the optimality conditions is below `1e-3` or after
#' libsvm's limit of `max(1e7, 100 l)` iterations on `l` samples (a fit
#' stopped there is reported in one warning per dataset), the bias from the
#' free support vectors, one SVM per pair of classes and prediction by
#' votes (ties to the first class in level order). It reads the kernel in
#' place, in C, and is many times faster than kernlab on many classes.
#' `solver = "kernlab"` uses kernlab's `ksvm()` (`shrinking = FALSE`). Both
#' find the same optimum up to the tolerance, so a validation accuracy can
#' move by one sample where a test point lies at the margin.
#'
#' **Choosing on the training parts only.** The paper's protocol
#' (`selection = "paper"`) chooses once, on the collection's validation
#' split, whose points are also the test points of the 4 folds: the choice
#' has seen the test labels. With `selection = "training"` the choice is
#' made anew for each fold from its training part alone: the candidates are
#' fitted on the part of the validation split's first half that lies in the
#' fold's training part and scored on the part of its second half that lies
#' there; the labels of the fold's test part are set to `NA` before anything
#' is fitted, so no step can read them. `learners = c("svm", "krr")` adds
#' kernel ridge regression (centred one-hot targets, the class of the
#' largest output: the gradient-flow predictor of [nt_predict()] at
#' `t = Inf` with a ridge of `ridges` times the mean diagonal of the
#' training kernel) to the candidates; `ensemble = m` refits the `m` best
#' candidates and predicts by their majority vote (ties to the class of the
#' better-ranked members).
#'
#' @param dir The folder holding one folder per dataset.
#' @param datasets Names of datasets to run (default: all folders).
#' @param max_n Skip datasets with more samples than this.
#' @param max_depth,costs The grid: depths `0..max_depth` and the costs `C`.
#' @param threads Threads for the kernels.
#' @param solver `"smo"` or `"kernlab"`: the SVM solver (see Details).
#' @param selection `"paper"` (the collection's validation split, as Arora et
#'   al.) or `"training"` (each fold's training part only; see Details).
#' @param learners The classifiers tried: `"svm"` and/or `"krr"`.
#' @param ridges Kernel ridge regression's ridges, relative to the mean
#'   diagonal of the training kernel.
#' @param ensemble How many of the best candidates vote (1: the best alone).
#' @return A data frame with one row per dataset: `dataset`, `n`, `d`,
#'   `classes`, `depth`, `fixed`, `C`, `validation` (accuracy), `accuracy`
#'   (mean over the 4 test folds), the elapsed seconds spent on the
#'   kernels (`kernel_seconds`) and on fitting classifiers (`svm_seconds`),
#'   `learner` and `ridge` (`NA` for an SVM). With `selection = "training"`
#'   the choice differs between folds: `depth` to `ridge` describe the
#'   configuration chosen most often (the first of ties in fold order),
#'   `validation` is the mean over the folds of the best validation
#'   accuracy, and `choices` lists the best candidate of each fold.
#' @seealso [nt_uci_summary()]
#' @examples
#' # a collection of one dataset in the layout of Fernandez-Delgado et al.
#' root <- file.path(tempdir(), "uci-example")
#' dir.create(file.path(root, "flowers"), recursive = TRUE)
#' x <- round(scale(as.matrix(iris[, 1:4])), 6)
#' rows <- apply(cbind(0:149, x, as.integer(iris$Species) - 1), 1, paste, collapse = "\t")
#' writeLines(c(paste(c("", 1:4, "clase"), collapse = "\t"), rows),
#'            file.path(root, "flowers", "flowers_R.dat"))
#' writeLines(c("n_patrons1=150", "fich1=flowers_R.dat"), file.path(root, "flowers", "flowers.txt"))
#' set.seed(1)
#' half <- sample(150) - 1
#' writeLines(c(paste(half[1:75], collapse = " "), paste(half[76:150], collapse = " ")),
#'            file.path(root, "flowers", "conxuntos.dat"))
#' fold <- rep(1:4, length.out = 150)[sample(150)]
#' writeLines(unlist(lapply(1:4, function(f) c(paste(which(fold != f) - 1, collapse = " "),
#'                                               paste(which(fold == f) - 1, collapse = " ")))),
#'            file.path(root, "flowers", "conxuntos_kfold.dat"))
#' nt_uci_benchmark(root, max_depth = 2, costs = c(0.1, 10))
#' nt_uci_benchmark(root, max_depth = 2, costs = c(0.1, 10), selection = "training",
#'                  learners = c("svm", "krr"), ensemble = 3)
#' @export
nt_uci_benchmark <- function(dir, datasets = NULL, max_n = 5000, max_depth = 4,
                             costs = 10^(-2:4), threads = nt_threads(), solver = c("smo", "kernlab"),
                             selection = c("paper", "training"), learners = "svm",
                             ridges = 10^(-4:1), ensemble = 1) {
  solver <- match.arg(solver)
  selection <- match.arg(selection)
  if (!is.character(dir) || length(dir) != 1L || !dir.exists(dir))
    stop("`dir` must be an existing directory", call. = FALSE)
  max_n <- check_count(max_n, "max_n", lower = 1L)
  max_depth <- check_count(max_depth, "max_depth")
  if (!is.numeric(costs) || !length(costs) || any(!is.finite(costs)) || any(costs <= 0))
    stop("`costs` must be positive numbers", call. = FALSE)
  if (!is.character(learners) || !length(learners) || anyNA(learners) || !all(learners %in% c("svm", "krr")))
    stop("`learners` must name \"svm\" and/or \"krr\"", call. = FALSE)
  if (!is.numeric(ridges) || !length(ridges) || any(!is.finite(ridges)) || any(ridges <= 0))
    stop("`ridges` must be positive numbers", call. = FALSE)
  opts <- list(max_depth = max_depth, costs = sort(costs), threads = threads, solver = solver,
               selection = selection, learners = unique(learners), ridges = ridges,
               ensemble = check_count(ensemble, "ensemble", lower = 1L))
  names <- datasets %||% sort(basename(list.dirs(dir, recursive = FALSE)))
  rows <- lapply(names, function(name) {
    data <- read_uci_dataset(file.path(dir, name), name, max_n)
    if (is.null(data) || nrow(data$x) > max_n) return(NULL)
    uci_run(name, data, opts)
  })
  out <- do.call(rbind, rows)
  if (is.null(out))
    out <- data.frame(dataset = character(), n = integer(), d = integer(), classes = integer(),
                      depth = integer(), fixed = integer(), C = numeric(),
                      validation = numeric(), accuracy = numeric(), kernel_seconds = numeric(),
                      svm_seconds = numeric(), learner = character(), ridge = numeric(),
                      choices = character())
  rownames(out) <- NULL
  out
}

# One dataset's description, data and splits, or NULL when it has a separate
# test file (as Arora et al. skip those) or more than max_n samples.
read_uci_dataset <- function(path, name, max_n = Inf) {
  info_file <- file.path(path, paste0(name, ".txt"))
  if (!file.exists(info_file)) stop(sprintf("`dir` lacks %s", info_file), call. = FALSE)
  lines <- grep("=", readLines(info_file, warn = FALSE), value = TRUE)
  info <- stats::setNames(trimws(sub("^[^=]*=", "", lines)), trimws(sub("=.*$", "", lines)))
  if (!is.na(info["n_patrons2"])) return(NULL)
  # too large by its description: skipped without reading (some large data
  # files are not distributed at all)
  if (!is.na(info["n_patrons1"]) && suppressWarnings(as.numeric(info[["n_patrons1"]])) > max_n) return(NULL)
  data_file <- file.path(path, info[["fich1"]])
  table <- utils::read.table(data_file, header = FALSE, skip = 1L, sep = "\t",
                             colClasses = "numeric", strip.white = TRUE)
  x <- as.matrix(table[, -c(1L, ncol(table)), drop = FALSE])
  y <- factor(table[[ncol(table)]])
  splits <- function(file) lapply(strsplit(trimws(readLines(file.path(path, file), warn = FALSE)), "[[:space:]]+"),
                                  function(v) as.integer(v) + 1L)
  list(x = unname(x), y = y, holdout = splits("conxuntos.dat"), folds = splits("conxuntos_kfold.dat"))
}

uci_run <- function(name, data, opts) {
  started <- proc.time()[["elapsed"]]
  setup <- uci_setup(data, opts)
  paper <- if (opts$selection == "paper")
    choose_candidates(setup$cands, setup$kernel, data$y, data$holdout[[1]], data$holdout[[2]],
                      opts$ensemble, opts$solver)
  per_fold <- lapply(seq_len(length(data$folds) %/% 2L), uci_fold, data = data, setup = setup,
                     opts = opts, paper = paper)
  get <- function(field) vapply(per_fold, `[[`, 1, field)
  accuracy <- vapply(per_fold, function(p) mean(p$pred == as.integer(data$y)[p$test]), 1)
  warn_capped_fits(name, if (is.null(paper)) sum(get("capped")) else paper$capped, sum(get("refit_capped")))
  tops <- get("top")
  main <- setup$cands[unique(tops)[which.max(tabulate(match(tops, unique(tops))))], ]   # most often chosen
  labels <- vapply(tops, function(i) candidate_label(setup$cands[i, ], setup$grid), "")
  kernel_seconds <- setup$seconds()
  data.frame(dataset = name, n = nrow(data$x), d = ncol(data$x), classes = nlevels(data$y),
             depth = setup$grid$depth[main$kernel], fixed = setup$grid$fixed[main$kernel], C = main$C,
             validation = mean(get("validation")), accuracy = mean(accuracy),
             kernel_seconds = kernel_seconds,
             svm_seconds = proc.time()[["elapsed"]] - started - kernel_seconds,
             learner = main$learner, ridge = main$ridge,
             choices = paste(if (is.null(paper)) labels else labels[1], collapse = "; "))
}

# One warning per dataset for the SVM fits that libsvm's iteration limit stopped
warn_capped_fits <- function(name, validation, refits) {
  if (validation + refits == 0) return(invisible())
  warning(sprintf(paste("dataset '%s': %d one-against-one SVM fit(s) stopped at libsvm's iteration limit",
                        "(max(1e7, 100 l) iterations), %d of them in the chosen configurations' refits"),
                  name, validation + refits, refits), call. = FALSE)
}

# The kernels of a dataset and the candidates.
uci_setup <- function(data, opts) {
  source <- uci_kernel_source(data$x, opts$max_depth, opts$threads)
  c(source, list(cands = uci_candidates(nrow(source$grid), opts$costs, opts$ridges, opts$learners)))
}

# Test fold f: the predicted class codes of its test part, from the
# configurations chosen by the paper's split (`paper`) or, when that is
# NULL, on the fold's training part.
uci_fold <- function(f, data, setup, opts, paper = NULL) {
  train <- data$folds[[2L * f - 1L]]
  test <- data$folds[[2L * f]]
  seen <- data$y
  seen[test] <- NA                    # the fold's test labels are never read
  pick <- paper %||% with(training_split(data$holdout, train),
                          choose_candidates(setup$cands, setup$kernel, seen, fit, valid, opts$ensemble, opts$solver))
  preds <- lapply(pick$top, function(i)
    candidate_predict(setup$cands[i, ], setup$kernel, seen, train, test, opts$solver))
  preds <- Filter(Negate(is.null), preds)
  if (!length(preds)) stop("the chosen configurations could not be refitted", call. = FALSE)
  list(test = test, pred = vote(preds, nlevels(data$y)), top = pick$top[1], validation = pick$validation,
       capped = pick$capped, refit_capped = sum(vapply(preds, attr, 1, "capped")))
}


#' Summary statistics of a UCI comparison
#'
#' The five statistics of Fernandez-Delgado et al. (2014) and Arora et al.
#' (2020), computed on the datasets of `results`: for each classifier its
#' average accuracy, its Friedman rank (on each dataset the classifiers are
#' ranked by accuracy, 1 = best, tied classifiers sharing the average of
#' their ranks; the Friedman rank is the mean of a classifier's ranks over
#' the datasets), P90 and P95 (the share of datasets where it reaches at
#' least 90 % or 95 % of the best accuracy any compared classifier reached
#' there) and PMA (the mean of its accuracy divided by that best). A missing
#' entry (`NA`: in the published table, a classifier that failed on a
#' dataset) is skipped: the classifier is neither ranked on that dataset nor
#' counted in its averages, and the others are ranked among themselves.
#'
#' @param results The data frame of [nt_uci_benchmark()] (its `accuracy`
#'   column is the classifier named by `name`).
#' @param others `NULL`, or a data frame with a `dataset` column and one
#'   column of accuracies (as proportions, like `results`) per other
#'   classifier, such as [nt_uci_fd_table()]; only datasets in both are used.
#' @param name The name of `results`' classifier in the output.
#' @return A data frame with one row per classifier, ordered as given:
#'   `classifier`, `accuracy` (average), `friedman_rank`, `p90`, `p95`,
#'   `pma`, and `n`, the number of datasets it was scored on.
#' @examples
#' res <- data.frame(dataset = c("a", "b", "c"), accuracy = c(0.9, 0.8, 0.7))
#' nt_uci_summary(res, data.frame(dataset = c("a", "b", "c"), rf = c(0.85, 0.8, NA)))
#' @export
nt_uci_summary <- function(results, others = NULL, name = "NTK") {
  if (!is.data.frame(results) || !all(c("dataset", "accuracy") %in% names(results)))
    stop("`results` must be a data frame with columns dataset and accuracy", call. = FALSE)
  if (!is.character(name) || length(name) != 1L || is.na(name))
    stop("`name` must be a single string", call. = FALSE)
  if (anyDuplicated(results$dataset)) stop("`results` names a dataset twice", call. = FALSE)
  acc <- stats::setNames(data.frame(results$dataset, results$accuracy), c("dataset", name))
  if (!is.null(others)) {
    if (!is.data.frame(others) || !"dataset" %in% names(others) || ncol(others) < 2L)
      stop("`others` must be a data frame with a dataset column and accuracy columns", call. = FALSE)
    if (name %in% names(others)) stop(sprintf("`others` has a column named `%s` too", name), call. = FALSE)
    acc <- merge(acc, others, by = "dataset", sort = FALSE)
  }
  if (!nrow(acc)) stop("no dataset is common to `results` and `others`", call. = FALSE)
  m <- as.matrix(acc[, -1L, drop = FALSE])
  if (!is.numeric(m)) stop("the accuracy columns must be numeric", call. = FALSE)
  if (any(m < 0 | m > 1, na.rm = TRUE))
    stop("accuracies must be proportions between 0 and 1 (divide percentages by 100)", call. = FALSE)
  best <- apply(m, 1, max, na.rm = TRUE)
  ranks <- t(apply(m, 1, function(a) {
    r <- rep(NA_real_, length(a))
    r[!is.na(a)] <- rank(-a[!is.na(a)], ties.method = "average")
    r
  }))
  if (ncol(m) == 1L) ranks <- t(ranks)
  data.frame(classifier = colnames(m), accuracy = colMeans(m, na.rm = TRUE),
             friedman_rank = colMeans(matrix(ranks, nrow(m)), na.rm = TRUE),
             p90 = colMeans(m >= 0.9 * best, na.rm = TRUE), p95 = colMeans(m >= 0.95 * best, na.rm = TRUE),
             pma = colMeans(m / best, na.rm = TRUE), n = colSums(!is.na(m)), row.names = NULL)
}

#' The published accuracies of 179 classifiers on the UCI collection
#'
#' Reads Fernandez-Delgado et al. (2014)'s table of test accuracies
#' (`fd2014-results.txt` of their data collection: one row per dataset, one
#' column per classifier, percentages, `--` where a classifier failed, then
#' rows of summary statistics, which are dropped) as proportions.
#'
#' Which column is "random forest" depends on the paper: Fernandez-Delgado
#' et al.'s best classifier is `parRF_caret`; the average that Arora et al.
#' (2020) report for random forests on their 90 datasets is that of
#' `rf_caret`. Their Gaussian-kernel SVM is `svm_C`.
#'
#' @param file The path of the table.
#' @return A data frame: `dataset`, then one numeric column of accuracies
#'   in `[0, 1]` per classifier (`NA` where it failed).
#' @examples
#' tab <- tempfile()
#' writeLines(c("problema  svm_C  rf_caret", "iris  96.0  94.7", "zoo  --  92.1",
#'              "-----", "mean  96.0  93.4"), tab)
#' nt_uci_fd_table(tab)
#' @export
nt_uci_fd_table <- function(file) {
  if (!is.character(file) || length(file) != 1L || !file.exists(file))
    stop("`file` must be the path of an existing file", call. = FALSE)
  lines <- readLines(file, warn = FALSE)
  fields <- strsplit(trimws(lines), "[[:space:]]+")
  header <- fields[[1]]
  # the published table appends min, max, mean and std columns after the classifiers
  stats_cols <- header %in% c("min", "max", "mean", "std")
  rows <- fields[-1]
  rows <- rows[lengths(rows) >= length(header) & !grepl("^-+$", vapply(rows, `[`, "", 1L))]
  rows <- rows[!vapply(rows, `[`, "", 1L) %in% c("min", "max", "mean", "std")]
  if (!length(rows)) stop(sprintf("`file` (%s) holds no rows of accuracies", file), call. = FALSE)
  classifiers <- header[-1][!stats_cols[-1]]
  values <- t(vapply(rows, function(r) r[2:length(header)][!stats_cols[-1]], character(length(classifiers))))
  num <- suppressWarnings(matrix(as.numeric(values), nrow(values)))
  bad <- is.na(num) & values != "--"
  if (any(bad))
    stop(sprintf("`file` has an entry that is neither a number nor --: '%s'", values[bad][1]), call. = FALSE)
  out <- data.frame(dataset = vapply(rows, `[`, "", 1L), num / 100, check.names = FALSE)
  names(out) <- c("dataset", classifiers)
  out
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
#'   accuracy of each classifier (`ntk`, `rbf`, `rf`); its attribute
#'   `"splits"` holds every split's accuracies (columns `dataset`, `split`,
#'   `ntk`, `rbf`, `rf`), for the spread between splits.
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
    list(summary = data.frame(dataset = name, n = nrow(x), d = ncol(x), classes = nlevels(y),
                              ntk = mean(acc[1, ]), rbf = mean(acc[2, ]), rf = mean(acc[3, ])),
         splits = data.frame(dataset = name, split = seq_len(splits), t(acc)))
  })
  out <- do.call(rbind, lapply(rows, `[[`, "summary"))
  attr(out, "splits") <- do.call(rbind, lapply(rows, `[[`, "splits"))
  class(out) <- c("nt_uci_comparison", class(out))
  out
}

#' Plot a UCI comparison
#'
#' Bars of each classifier's mean test accuracy per dataset, with whiskers
#' from the lowest to the highest split, so that the spread between splits
#' shows beside the differences between classifiers.
#'
#' @param x The result of [nt_uci_compare()].
#' @param main Title.
#' @param ... Passed to [graphics::barplot()].
#' @return `x`, invisibly.
#' @examples
#' \donttest{
#' cmp <- nt_uci_compare(list(iris = list(x = as.matrix(iris[, 1:4]), y = iris$Species)),
#'                       splits = 2)
#' plot(cmp)
#' }
#' @export
plot.nt_uci_comparison <- function(x, main = NULL, ...) {
  learners <- c("ntk", "rbf", "rf")
  per_split <- attr(x, "splits")
  spread <- function(f) vapply(learners, function(l)
    as.vector(tapply(per_split[[l]], per_split$dataset, f)[x$dataset]), numeric(nrow(x)))
  low <- matrix(spread(min), nrow(x))
  high <- matrix(spread(max), nrow(x))
  splits <- max(per_split$split)
  main <- main %||% sprintf("Mean test accuracy over %d split%s%s", splits,
                            if (splits > 1L) "s" else "", if (splits > 1L) "; whiskers: lowest to highest" else "")
  mids <- graphics::barplot(t(as.matrix(as.data.frame(x)[, learners])), beside = TRUE,
                            names.arg = x$dataset, ylim = c(0, 1.15), ylab = "test accuracy",
                            col = c("#1b9e77", "#d95f02", "#7570b3"),
                            legend.text = c("NTK-SVM", "Gaussian SVM", "random forest"),
                            args.legend = list(x = "top", horiz = TRUE, bty = "n"), main = main,
                            cex.main = 0.9, ...)
  if (splits > 1L) graphics::arrows(mids, t(low), mids, t(high), angle = 90, code = 3, length = 0.03)
  invisible(x)
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
    single <- single_class_prediction(y, tr, te)
    if (!is.null(single)) return(mean(single == as.integer(y)[te]))
    rf <- randomForest::randomForest(x[tr, , drop = FALSE], droplevels(y[tr]), mtry = m, ntree = 500)
    mean(as.character(stats::predict(rf, x[te, , drop = FALSE])) == as.character(y[te]))
  }
  tries <- unique(pmax(1, round(c(sqrt(ncol(x)), ncol(x) / 3, ncol(x)))))
  m <- tries[which.max(vapply(tries, score, 1, tr = v$fit, te = v$valid))]
  score(m, train, test)
}
