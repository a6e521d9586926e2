# Beyond the paper: Arora et al.'s exact protocol (nt_uci_benchmark, their
# grid and validation split, the 4 folds) on the datasets of Fernandez-
# Delgado et al.'s collection with more than 5000 samples that the paper
# skipped and whose data files the collection holds (nine: wall-following,
# page-blocks, ringnorm, twonorm, mushroom, nursery, magic, letter,
# chess-krvk), smallest first, on one thread. Past the memory for a whole
# family of 15 kernels, nt_uci_benchmark computes them one at a time (the
# peak is then one n x n kernel and its copy: 2 x 6.3 GB for chess-krvk's
# 28056 samples). Records per dataset the seconds and the peak resident
# memory of this R process during it (Linux: VmHWM, reset before each).
#
#   Rscript inst/scripts/uci-fd-large.R ../shared/uci-fd inst/results [--no-run]
# Resumable (datasets in the output are kept; --no-run only recomputes the
# summaries from them). Writes uci-fd-large.csv (one
# row per dataset, with seconds and peak_gb), uci-fd-large-summary.csv (the
# five statistics on the paper's 90 datasets, read from uci-fd.csv, and
# those done here) and uci-fd-large-ranks.csv (our accuracy beside the best
# of the published table, rf_caret and svm_C).
suppressPackageStartupMessages(library(ntk))
args <- commandArgs(trailingOnly = TRUE)
fd_dir <- if (length(args) >= 1) args[1] else "../shared/uci-fd"
out_dir <- if (length(args) >= 2) args[2] else "inst/results"
run_more <- !(length(args) >= 3 && args[3] == "--no-run")
stopifnot(dir.exists(fd_dir))
nt_threads(1)
out_file <- file.path(out_dir, "uci-fd-large.csv")

peak_reset <- function() try(writeLines("5", "/proc/self/clear_refs"), silent = TRUE)
peak_gb <- function() {
  status <- readLines("/proc/self/status")
  as.numeric(gsub("[^0-9]", "", grep("^VmHWM", status, value = TRUE))) / 2^20
}

sizes <- vapply(sort(basename(list.dirs(fd_dir, recursive = FALSE))), function(name) {
  lines <- readLines(file.path(fd_dir, name, paste0(name, ".txt")), warn = FALSE)
  get <- function(key) sub(".*=", "", grep(paste0("^", key, "[[:space:]]*="), lines, value = TRUE))
  data_file <- trimws(get("fich1"))
  if (length(get("n_patrons2")) || !length(data_file) || !file.exists(file.path(fd_dir, name, data_file)))
    return(NA_real_)
  as.numeric(get("n_patrons1"))
}, 1)
large <- names(sort(sizes[!is.na(sizes) & sizes > 5000]))
done <- if (file.exists(out_file)) utils::read.csv(out_file) else NULL
for (name in if (run_more) setdiff(large, done$dataset) else character()) {
  gc()
  peak_reset()
  started <- proc.time()[["elapsed"]]
  row <- nt_uci_benchmark(fd_dir, datasets = name, max_n = .Machine$integer.max, threads = 1)
  row$seconds <- proc.time()[["elapsed"]] - started
  row$peak_gb <- peak_gb()
  done <- rbind(done, row)
  utils::write.csv(done, out_file, row.names = FALSE)
  message(format(Sys.time(), "%H:%M:%S "), sprintf("%-16s n = %5d  %.4f  %.0f s  peak %.1f GB", name,
                                                  row$n, row$accuracy, row$seconds, row$peak_gb))
}

# The five statistics on the 90 datasets of the paper and these, against the
# published table (which scores all of them)
paper <- utils::read.csv(file.path(out_dir, "uci-fd.csv"))
all <- rbind(paper[c("dataset", "accuracy")], done[c("dataset", "accuracy")])
fd <- nt_uci_fd_table(file.path(fd_dir, "fd2014-results.txt"))
fd <- fd[fd$dataset %in% all$dataset, ]
summary <- nt_uci_summary(all, fd)
summary$place <- rank(summary$friedman_rank, ties.method = "min")
named <- c("NTK", "rf_caret", "parRF_caret", "svm_C", "svmRadial_caret")
top <- summary$classifier[order(summary$friedman_rank)][1:10]
shown <- summary[summary$classifier %in% union(named, top), ]
utils::write.csv(shown[order(shown$friedman_rank), ], file.path(out_dir, "uci-fd-large-summary.csv"),
                 row.names = FALSE)
best <- apply(as.matrix(fd[match(done$dataset, fd$dataset), -1]), 1, max, na.rm = TRUE)
ranks <- data.frame(dataset = done$dataset, accuracy = done$accuracy, best_fd = best,
                    rf_caret = fd$rf_caret[match(done$dataset, fd$dataset)],
                    svm_C = fd$svm_C[match(done$dataset, fd$dataset)])
utils::write.csv(ranks, file.path(out_dir, "uci-fd-large-ranks.csv"), row.names = FALSE)
