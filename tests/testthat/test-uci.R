# A small synthetic collection in the Fernandez-Delgado et al. layout.
write_uci <- function(root, name, n, d, classes, separate_test = FALSE, seed = 1) {
  set.seed(seed)
  dir.create(file.path(root, name), recursive = TRUE)
  y <- rep(seq_len(classes) - 1L, length.out = n)
  x <- matrix(rnorm(n * d), n) + y
  info <- c(paste0("fich1=", name, "_R.dat"), paste0("n_clases=", classes),
            paste0("n_entradas=", d), paste0("n_patrons1=", n),
            paste0("n_patrons_entrena=", n / 2), paste0("n_patrons_valida=", n / 2),
            if (separate_test) "n_patrons2=10")
  writeLines(info, file.path(root, name, paste0(name, ".txt")))
  rows <- apply(cbind(seq_len(n) - 1L, round(x, 6), y), 1, paste, collapse = "\t")
  writeLines(c(paste(c("", paste0("f", seq_len(d)), "clase"), collapse = "\t"), rows),
             file.path(root, name, paste0(name, "_R.dat")))
  idx <- sample(n) - 1L
  half <- n %/% 2
  writeLines(c(paste(idx[1:half], collapse = " "), paste(idx[-(1:half)], collapse = " ")),
             file.path(root, name, "conxuntos.dat"))
  folds <- split(sample(n) - 1L, rep(1:4, length.out = n))
  writeLines(unlist(lapply(folds, function(test) c(paste(setdiff(seq_len(n) - 1L, test), collapse = " "),
                                                    paste(test, collapse = " ")))),
             file.path(root, name, "conxuntos_kfold.dat"))
  list(x = x, y = factor(y), holdout = list(idx[1:half] + 1L, idx[-(1:half)] + 1L),
       folds = lapply(folds, function(test) list(setdiff(seq_len(n), test + 1L), test + 1L)))
}

test_that("nt_uci_benchmark follows the protocol on a synthetic collection", {
  root <- file.path(tempdir(), "uci-test")
  unlink(root, recursive = TRUE)
  a <- write_uci(root, "alpha", 40, 3, 2, seed = 1)
  b <- write_uci(root, "beta", 36, 2, 3, seed = 2)
  write_uci(root, "gamma", 30, 2, 2, separate_test = TRUE)
  write_uci(root, "huge", 60, 2, 2)
  res <- nt_uci_benchmark(root, max_n = 50, max_depth = 2, costs = c(0.1, 10))
  expect_equal(res$dataset, c("alpha", "beta"))           # gamma: test file; huge: > max_n
  expect_equal(res$n, c(40L, 36L)); expect_equal(res$classes, c(2L, 3L))
  # the same choice by an independent loop: one nt_kernel per configuration
  for (set in list(list(a, "alpha"), list(b, "beta"))) {
    data <- set[[1]]; row <- res[res$dataset == set[[2]], ]
    score <- function(k, tr, te, C) {
      m <- kernlab::ksvm(kernlab::as.kernelMatrix(k[tr, tr]), data$y[tr], type = "C-svc",
                         kernel = "matrix", C = C, shrinking = FALSE)
      p <- kernlab::predict(m, kernlab::as.kernelMatrix(k[te, tr][, kernlab::SVindex(m), drop = FALSE]))
      mean(as.character(p) == as.character(data$y[te]))
    }
    xr <- round(data$x, 6)
    grid <- expand.grid(C = c(0.1, 10), fixed = 0:2, depth = 0:2)[, 3:1]
    grid <- grid[grid$fixed <= grid$depth, ]
    val <- apply(grid, 1, function(g)
      score(nt_kernel(nt_fc_arora(g[1], g[2], ncol(xr)), xr)@.Data, data$holdout[[1]],
            data$holdout[[2]], g[3]))
    pick <- grid[which.max(val), ]                           # first of the ties
    expect_equal(c(row$depth, row$fixed, row$C), unname(unlist(pick)))
    expect_equal(row$validation, max(val))
    k <- nt_kernel(nt_fc_arora(pick$depth, pick$fixed, ncol(xr)), xr)@.Data
    expect_equal(row$accuracy, mean(sapply(data$folds, function(f) score(k, f[[1]], f[[2]], pick$C))))
  }
  unlink(root, recursive = TRUE)
})

# An independent implementation of the choice on each fold's training part:
# one nt_kernel per depth and frozen layers, kernlab's ksvm and a direct
# solve() for kernel ridge regression, the m best by validation accuracy
# (ties: kernel order, then the costs, then the ridges) voting.
reference_training_choice <- function(data, costs, ridges, max_depth, m) {
  xr <- round(data$x, 6)
  grid <- expand.grid(fixed = 0:max_depth, depth = 0:max_depth)[, 2:1]
  grid <- grid[grid$fixed <= grid$depth, ]
  kernels <- lapply(seq_len(nrow(grid)), function(r)
    nt_kernel(nt_fc_arora(grid$depth[r], grid$fixed[r], ncol(xr)), xr)@.Data)
  lev <- levels(data$y)
  svm <- function(k, tr, te, C) {
    fit <- kernlab::ksvm(kernlab::as.kernelMatrix(k[tr, tr]), droplevels(data$y[tr]), type = "C-svc",
                         kernel = "matrix", C = C, shrinking = FALSE)
    as.character(kernlab::predict(fit, kernlab::as.kernelMatrix(k[te, tr][, kernlab::SVindex(fit), drop = FALSE])))
  }
  krr <- function(k, tr, te, ridge) {
    cls <- droplevels(data$y[tr])
    target <- sapply(levels(cls), function(l) (cls == l) - 1 / nlevels(cls))
    coef <- solve(k[tr, tr] + diag(ridge * mean(diag(k[tr, tr])), length(tr)), target)
    levels(cls)[max.col(k[te, tr] %*% coef, ties.method = "first")]
  }
  cands <- do.call(rbind, lapply(seq_along(kernels), function(r)
    rbind(data.frame(r = r, type = "svm", value = costs), data.frame(r = r, type = "krr", value = ridges))))
  predict_cand <- function(i, tr, te)
    (if (cands$type[i] == "svm") svm else krr)(kernels[[cands$r[i]]], tr, te, cands$value[i])
  vapply(1:4, function(f) {
    train <- data$folds[[f]][[1]]; test <- data$folds[[f]][[2]]
    fit <- data$holdout[[1]][data$holdout[[1]] %in% train]
    valid <- data$holdout[[2]][data$holdout[[2]] %in% train]
    val <- vapply(seq_len(nrow(cands)), function(i)
      mean(predict_cand(i, fit, valid) == as.character(data$y[valid])), 1)
    top <- order(-val, seq_along(val))[1:m]
    votes <- sapply(top, predict_cand, tr = train, te = test)
    pred <- apply(matrix(votes, length(test)), 1, function(v) {
      counts <- table(factor(v, lev))
      winners <- names(counts)[counts == max(counts)]
      v[v %in% winners][1]                     # a tie: the class of the better-ranked member
    })
    mean(pred == as.character(data$y[test]))
  }, 1)
}

test_that("selection = 'training' chooses on each fold's training part only", {
  root <- file.path(tempdir(), "uci-training")
  unlink(root, recursive = TRUE)
  a <- write_uci(root, "alpha", 48, 3, 2, seed = 3)
  b <- write_uci(root, "beta", 44, 2, 3, seed = 4)
  costs <- c(0.1, 10); ridges <- c(0.01, 1)
  for (m in c(1L, 3L)) {
    res <- nt_uci_benchmark(root, max_depth = 1, costs = costs, ridges = ridges, solver = "kernlab",
                            selection = "training", learners = c("svm", "krr"), ensemble = m)
    expect_equal(res$dataset, c("alpha", "beta"))
    expect_equal(res$accuracy, c(mean(reference_training_choice(a, costs, ridges, 1, m)),
                                 mean(reference_training_choice(b, costs, ridges, 1, m))))
    expect_equal(lengths(strsplit(res$choices, "; ")), c(4L, 4L))
  }
  # the paper's protocol reports its single choice; the default learner is the SVM
  paper <- nt_uci_benchmark(root, max_depth = 1, costs = costs)
  expect_equal(paper$learner, c("svm", "svm"))
  expect_true(all(is.na(paper$ridge)))
  expect_equal(paper$choices, sprintf("svm %d/%d C=%g", paper$depth, paper$fixed, paper$C))
  expect_error(nt_uci_benchmark(root, learners = "rf"), "`learners`")
  expect_error(nt_uci_benchmark(root, ridges = 0), "`ridges`")
  expect_error(nt_uci_benchmark(root, ensemble = 0), "ensemble")
  expect_error(nt_uci_benchmark(root, selection = "test"), "should be one of")
  unlink(root, recursive = TRUE)
})

test_that("a family too large for memory is computed one kernel at a time, with the same results", {
  root <- file.path(tempdir(), "uci-lazy")
  unlink(root, recursive = TRUE)
  write_uci(root, "alpha", 48, 3, 2, seed = 5)
  write_uci(root, "beta", 40, 2, 3, seed = 6)
  x <- matrix(rnorm(48 * 3), 48)
  expect_true(ntk:::uci_kernel_source(x, 2, 1)$together)
  run <- function(...) nt_uci_benchmark(root, max_depth = 2, costs = c(0.1, 10), threads = 1, ...)
  together <- list(run(), run(selection = "training", learners = c("svm", "krr"), ensemble = 2))
  # the family of 6 kernels of 48 x 48 (with the NNGPs, 221 kB) over half the limit
  old <- options(ntk.memory_limit = 3e5)
  on.exit(options(old))
  source <- ntk:::uci_kernel_source(x, 2, 1)
  expect_false(source$together)
  for (r in seq_len(nrow(source$grid)))                    # the family's order and kernels
    expect_equal(source$kernel(r), nt_fc_family(x, max_depth = 2, arora = TRUE)$ntk[[r]]@.Data,
                 tolerance = 1e-12)
  alone <- list(run(), run(selection = "training", learners = c("svm", "krr"), ensemble = 2))
  for (i in 1:2) {
    expect_equal(alone[[i]]$accuracy, together[[i]]$accuracy)
    expect_equal(alone[[i]]$choices, together[[i]]$choices)
  }
  unlink(root, recursive = TRUE)
})

test_that("the training-part protocol never reads a fold's test labels", {
  set.seed(11)
  n <- 160
  y <- factor(rep(c("a", "b"), length.out = n))
  x <- matrix(rnorm(n * 3), n) + 2 * (y == "b")
  idx <- sample(n)
  folds <- split(sample(n), rep(1:4, length.out = n))
  data <- list(x = x, y = y, holdout = list(idx[1:80], idx[81:160]),
               folds = unlist(lapply(folds, function(te) list(setdiff(seq_len(n), te), te)), recursive = FALSE))
  opts <- list(max_depth = 2, costs = c(0.1, 1, 10), threads = 1, solver = "smo", selection = "training",
               learners = c("svm", "krr"), ridges = c(0.01, 0.1, 1), ensemble = 3L)
  setup <- ntk:::uci_setup(data, opts)
  for (f in 1:4) {
    fold <- ntk:::uci_fold(f, data, setup, opts)
    test <- fold$test
    expect_gt(mean(fold$pred == as.integer(y)[test]), 0.9)      # the classes are well separated
    shuffled <- data
    shuffled$y[test] <- sample(shuffled$y[test])
    again <- ntk:::uci_fold(f, shuffled, setup, opts)
    expect_identical(again$pred, fold$pred)                     # the same predictions ...
    expect_identical(again$top, fold$top)                       # ... from the same choice
  }
  # scored against labels shuffled across the whole dataset: chance (1/2),
  # within 4 standard errors of 160 test predictions (0.16)
  data$y <- sample(y)
  acc <- mean(vapply(1:4, function(f) {
    fold <- ntk:::uci_fold(f, data, setup, opts)
    mean(fold$pred == as.integer(data$y)[fold$test])
  }, 1))
  expect_lt(abs(acc - 0.5), 0.16)
})

test_that("the vote of an ensemble breaks ties by rank", {
  expect_equal(ntk:::vote(list(c(1L, 2L, 3L), c(2L, 2L, 1L), c(3L, 1L, 1L)), 3L), c(1L, 2L, 1L))
  expect_equal(ntk:::vote(list(c(2L, 1L)), 2L), c(2L, 1L))
  # rank weights never outvote a majority, whatever the ensemble size
  many <- c(rep(list(1L), 999), rep(list(2L), 1001))
  expect_equal(ntk:::vote(many, 2L), 2L)
  expect_equal(ntk:::vote(c(rep(list(2L), 1000), rep(list(1L), 1000)), 2L), 2L)
})

test_that("nt_uci_summary computes ranks, P90, P95 and PMA as defined", {
  res <- data.frame(dataset = c("a", "b", "c", "d"), accuracy = c(0.90, 0.80, 0.60, 0.50))
  others <- data.frame(dataset = c("a", "b", "c", "e"), rf = c(0.95, 0.80, 0.70, 0.4),
                       svm = c(0.80, 0.70, 0.66, 0.4))
  s <- nt_uci_summary(res, others)
  expect_equal(s$classifier, c("NTK", "rf", "svm"))
  expect_equal(s$n, rep(3L, 3))                             # d and e are not common
  expect_equal(s$accuracy, c(mean(c(0.9, 0.8, 0.6)), mean(c(0.95, 0.8, 0.7)), mean(c(0.8, 0.7, 0.66))))
  # ranks per dataset: a: rf 1, NTK 2, svm 3; b: NTK/rf 1.5, svm 3; c: rf 1, svm 2, NTK 3
  expect_equal(s$friedman_rank, c((2 + 1.5 + 3) / 3, (1 + 1.5 + 1) / 3, (3 + 3 + 2) / 3))
  # best per dataset: 0.95, 0.80, 0.70
  expect_equal(s$pma, c(mean(c(0.9 / 0.95, 1, 0.6 / 0.7)), mean(c(1, 1, 1)),
                        mean(c(0.8 / 0.95, 0.7 / 0.8, 0.66 / 0.7))))
  # ratios to the best: NTK 0.947, 1, 0.857; rf 1, 1, 1; svm 0.842, 0.875, 0.943
  expect_equal(s$p90, c(2 / 3, 1, 1 / 3))
  expect_equal(s$p95, c(1 / 3, 1, 0))
  expect_error(nt_uci_summary(data.frame(x = 1)), "`results` must be")
})

test_that("nt_uci_compare scores the three classifiers on held-out data", {
  set.seed(5)
  keep <- sample(150, 90)
  res <- nt_uci_compare(list(flowers = list(x = as.matrix(iris[keep, 1:4]), y = iris$Species[keep])),
                        splits = 1, costs = c(1, 100))
  expect_equal(res$dataset, "flowers")
  expect_equal(c(res$n, res$d, res$classes), c(90L, 4L, 3L))
  for (col in c("ntk", "rbf", "rf")) expect_gt(res[[col]], 0.8)
  expect_error(nt_uci_compare(list(list(x = 1, y = 1))), "named list")
})

test_that("nt_uci_compare copes with classes missing from a small training part", {
  set.seed(6)
  x <- rbind(matrix(rnorm(40 * 2), 40), matrix(rnorm(2 * 2, 4), 2))
  y <- factor(c(rep(c("a", "b"), 20), "rare", "rare"))
  x[y == "b", 1] <- x[y == "b", 1] + 3
  res <- nt_uci_compare(list(toy = list(x = x, y = y)), splits = 3, costs = 1)
  for (col in c("ntk", "rbf", "rf")) expect_true(res[[col]] >= 0 && res[[col]] <= 1)
  # every split is kept, and the table holds their means
  per_split <- attr(res, "splits")
  expect_equal(per_split$split, 1:3)
  for (col in c("ntk", "rbf", "rf")) expect_equal(res[[col]], mean(per_split[[col]]))
  grDevices::pdf(NULL)
  on.exit(grDevices::dev.off())
  expect_identical(plot(res), res)
})

test_that("nt_uci_datasets offers what the installed packages ship and names what they do not", {
  skip_if_not_installed("mlbench")
  pima <- "PimaIndiansDiabetes" %in% utils::data(package = "mlbench")$results[, "Item"]
  expect_identical("Pima" %in% ntk:::uci_available(), pima)
  expect_true(all(c("iris", "Sonar", "Glass") %in% ntk:::uci_available()))
  if (pima) expect_equal(dim(nt_uci_datasets("Pima")$Pima$x), c(768L, 8L))
  else expect_error(nt_uci_datasets("Pima"), "is not in the installed mlbench")
})

test_that("nt_uci_datasets turns R's UCI data frames into numeric matrices", {
  skip_if_not_installed("mlbench")
  sets <- nt_uci_datasets(c("iris", "Zoo", "BreastCancer", "Vowel", "Ionosphere"))
  expect_named(sets, c("iris", "Zoo", "BreastCancer", "Vowel", "Ionosphere"))
  expect_equal(dim(sets$iris$x), c(150L, 4L))
  # Zoo: 15 logical columns and legs become numbers; 7 classes
  expect_equal(dim(sets$Zoo$x), c(101L, 16L))
  expect_equal(nlevels(sets$Zoo$y), 7L)
  # BreastCancer: 16 rows with NA dropped, Id dropped, ordered factors as numbers
  expect_equal(dim(sets$BreastCancer$x), c(683L, 9L))
  expect_equal(unname(sets$BreastCancer$x[1, 1:3]), c(5, 1, 1))
  expect_equal(dim(sets$Vowel$x), c(990L, 9L))              # the speaker is dropped
  expect_equal(ncol(sets$Ionosphere$x), 33L)                 # V2 is constant
  for (s in sets) expect_true(is.numeric(s$x) && is.factor(s$y) && nrow(s$x) == length(s$y))
  # subsampling keeps the class proportions (to rounding) and every class
  big <- nt_uci_datasets("Vehicle", max_n = 200, seed = 3)$Vehicle
  full <- nt_uci_datasets("Vehicle")$Vehicle
  expect_equal(as.vector(table(big$y)), round(as.vector(table(full$y)) * 200 / 846))
  expect_identical(nt_uci_datasets("Vehicle", max_n = 200, seed = 3), list(Vehicle = big))
  expect_error(nt_uci_datasets("Nope"), "`which`: unknown dataset")
  expect_error(nt_uci_datasets("iris", max_n = 1), "max_n")
})

test_that("nt_uci_summary skips missing entries: no rank, no share of the averages", {
  res <- data.frame(dataset = c("a", "b", "c", "d"), accuracy = c(0.9, 0.6, 0.7, 0.5))
  others <- data.frame(dataset = c("a", "b", "c", "d"), p = c(0.8, NA, 0.7, 0.6),
                       q = c(0.9, 0.8, NA, 0.4), r = c(NA, NA, NA, 0.55))
  s <- nt_uci_summary(res, others)
  # ranks by hand, each dataset among the classifiers it has
  rank_ntk <- c(1.5, 2, 1.5, 3)        # a: tie with q; b: q first; c: tie with p; d: p, r first
  rank_p <- c(3, NA, 1.5, 1)
  rank_q <- c(1.5, 1, NA, 4)
  best <- c(0.9, 0.8, 0.7, 0.6)
  expect_equal(s$friedman_rank, c(mean(rank_ntk), mean(rank_p, na.rm = TRUE), mean(rank_q, na.rm = TRUE), 2))
  expect_equal(s$accuracy, c(0.675, mean(c(0.8, 0.7, 0.6)), mean(c(0.9, 0.8, 0.4)), 0.55))
  expect_equal(s$n, c(4, 3, 3, 1))
  expect_equal(s$pma[1], mean(res$accuracy / best))
  expect_equal(s$p90[2], mean(c(0.8 / 0.9, 1, 1) >= 0.9))
  expect_equal(s$p95[3], mean(c(1, 1, 0.4 / 0.6) >= 0.95))
  expect_error(nt_uci_summary(res, transform(others, p = p * 100)), "proportions")
  expect_error(nt_uci_summary(res, others, name = "p"), "column named `p`")
})

test_that("nt_uci_fd_table reads the published layout as proportions", {
  tab <- tempfile()
  writeLines(c("problema  svm_C  rf_caret\tmin\tmax", "iris  96.0  94.7\t94.7\t96.0",
               "zoo  --  92.1\t92.1\t92.1", "-----", "mean  96.0  93.4\t1\t2"), tab)
  fd <- nt_uci_fd_table(tab)
  expect_identical(names(fd), c("dataset", "svm_C", "rf_caret"))
  expect_identical(fd$dataset, c("iris", "zoo"))
  expect_equal(fd$svm_C, c(0.96, NA))
  expect_equal(fd$rf_caret, c(0.947, 0.921))
  writeLines(c("problema  svm_C", "iris  9x.0"), tab)
  expect_error(nt_uci_fd_table(tab), "neither a number nor --: '9x.0'")
})

test_that("on the real collection: 90 datasets by Arora et al.'s rule, and the published averages", {
  fd_dir <- file.path("..", "..", "..", "shared", "uci-fd")
  if (!dir.exists(fd_dir)) fd_dir <- Sys.getenv("NTK_UCI_FD", "/work/shared/uci-fd")
  skip_if_not(dir.exists(fd_dir), "the UCI collection is not on this machine")
  names <- sort(basename(list.dirs(fd_dir, recursive = FALSE)))
  kept <- Filter(function(n) !is.null(ntk:::read_uci_dataset(file.path(fd_dir, n), n, 5000)), names)
  expect_length(kept, 90L)
  fd <- nt_uci_fd_table(file.path(fd_dir, "fd2014-results.txt"))
  expect_identical(ncol(fd), 180L)
  f90 <- fd[fd$dataset %in% kept, ]
  expect_equal(nrow(f90), 90L)
  # the averages on these 90 that identify the papers' columns (see ?nt_uci_fd_table)
  expect_equal(round(100 * colMeans(f90[c("rf_caret", "parRF_caret", "svm_C")]), 2),
               c(rf_caret = 81.56, parRF_caret = 81.34, svm_C = 81.03))
})

test_that("benchmark helpers handle constant columns and one-class training parts", {
  set.seed(3)
  d <- list(const = list(x = cbind(a = rnorm(60), b = 1), y = factor(rep(c("p", "q"), 30))))
  res <- nt_uci_compare(d, splits = 1)
  expect_true(all(is.finite(unlist(res[c("ntk", "rbf")]))))
  expect_gt(res$ntk, 0.3)
  # two rare cases: some training parts have one class only; each predicts it
  rare <- list(rare = list(x = matrix(rnorm(40), 40), y = factor(c(rep("p", 38), "q", "q"))))
  res <- nt_uci_compare(rare, splits = 2)
  expect_gte(res$ntk, 0.8)
  expect_error(nt_uci_compare(list(one = list(x = matrix(rnorm(10), 10), y = rep("a", 10)))),
               "dataset 'one' has a single class")
})
