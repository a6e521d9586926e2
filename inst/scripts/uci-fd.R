# Arora et al. (2020)'s exact UCI protocol (nt_uci_benchmark) on the 90
# datasets of Fernandez-Delgado et al. (2014)'s collection with at most 5000
# samples and no separate test file, on one thread; then the five summary
# statistics against the published table of 179 classifiers.
#
# Run from the package root after installing ntk, with the collection's
# folder (read in place, never copied):
#   Rscript inst/scripts/uci-fd.R ../shared/uci-fd inst/results
# About 45 minutes on one core (the seconds columns of the output say where;
# measured while the authors' pipeline ran on the other core). Datasets already in the output file are kept, so
# an interrupted run resumes. Writes:
#   uci-fd.csv          one row per dataset: the chosen configuration, the
#                       validation and test accuracies, seconds spent
#   uci-fd-ranks.csv    our rank among the 180 classifiers on each dataset
#                       and our accuracy over the best of them (computed
#                       from the published table; no published number is stored)
#   uci-fd-summary.csv  the five statistics for NTK and every classifier of
#                       the table that is shown in vignettes/uci.Rmd
#   uci-fd-info.txt     R, package versions, machine, total time
suppressPackageStartupMessages(library(ntk))
args <- commandArgs(trailingOnly = TRUE)
fd_dir <- if (length(args) >= 1) args[1] else "../shared/uci-fd"
out_dir <- if (length(args) >= 2) args[2] else "inst/results"
stopifnot(dir.exists(fd_dir))
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
nt_threads(1)
out_file <- file.path(out_dir, "uci-fd.csv")

done <- if (file.exists(out_file)) utils::read.csv(out_file) else NULL
names <- sort(basename(list.dirs(fd_dir, recursive = FALSE)))
started <- proc.time()[["elapsed"]]
for (name in setdiff(names, done$dataset)) {
  row <- nt_uci_benchmark(fd_dir, datasets = name, threads = 1)
  if (!nrow(row)) next                      # skipped by the rule (size, test file)
  done <- rbind(done, row)
  utils::write.csv(done[order(done$dataset), ], out_file, row.names = FALSE)
  message(format(Sys.time(), "%H:%M:%S "), sprintf("%-28s %.4f  (%.0f s)", name, row$accuracy,
                                                  row$kernel_seconds + row$svm_seconds))
}
done <- done[order(done$dataset), ]
stopifnot(nrow(done) == 90L)

fd <- nt_uci_fd_table(file.path(fd_dir, "fd2014-results.txt"))
fd <- fd[fd$dataset %in% done$dataset, ]
summary <- nt_uci_summary(done, fd)
# NTK, the random forests and SVMs the papers name, and the best ten by rank
named <- c("NTK", "rf_caret", "parRF_caret", "svm_C", "svmRadial_caret", "svmPoly_caret")
top <- summary$classifier[order(summary$friedman_rank)][1:10]
summary$place <- rank(summary$friedman_rank, ties.method = "min")   # 1 = best of all 180
shown <- summary[summary$classifier %in% union(named, top), ]
shown <- shown[order(shown$friedman_rank), ]
utils::write.csv(shown, file.path(out_dir, "uci-fd-summary.csv"), row.names = FALSE)

m <- merge(done[c("dataset", "accuracy")], fd, by = "dataset")
acc <- as.matrix(m[, -1])
rank_ntk <- apply(acc, 1, function(a) rank(-a[!is.na(a)], ties.method = "average")[1])
ranks <- data.frame(dataset = m$dataset, accuracy = m$accuracy, rank = rank_ntk,
                    of = rowSums(!is.na(acc)), over_best = m$accuracy / apply(acc, 1, max, na.rm = TRUE))
utils::write.csv(ranks, file.path(out_dir, "uci-fd-ranks.csv"), row.names = FALSE)

seconds <- sum(done$kernel_seconds + done$svm_seconds)
writeLines(c(sprintf("R %s, ntk %s, kernlab %s; %s", getRversion(), utils::packageVersion("ntk"),
                     utils::packageVersion("kernlab"), format(Sys.time())),
             sprintf("one thread; %d datasets; %.0f s in all (kernels %.0f s, SVMs %.0f s)",
                     nrow(done), seconds, sum(done$kernel_seconds), sum(done$svm_seconds)),
             sprintf("this run: %.0f s", proc.time()[["elapsed"]] - started),
             utils::capture.output(utils::sessionInfo())),
           file.path(out_dir, "uci-fd-info.txt"))
