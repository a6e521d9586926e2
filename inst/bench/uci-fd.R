# The exact UCI reproduction (nt_uci_benchmark on the 90 datasets of
# Fernandez-Delgado et al.'s collection, one core) against the authors'
# pipeline (inst/bench/uci-authors.py: numpy kernels, libsvm through
# scikit-learn, one core), the two side by side on the two cores of this
# machine, in the same run; then the ratio of the times, where ours goes
# (kernels, SVM fits, R around them) and whether the two chose alike.
#
#   Rscript inst/bench/uci-fd.R ../shared/uci-fd [N]
#       runs both on the first N datasets in alphabetical order (all 90 by
#       default: about an hour for ours, several for theirs);
#   Rscript inst/bench/uci-fd.R ../shared/uci-fd --stored
#       reports from the stored runs (inst/results/uci-fd.csv and
#       uci-fd-authors.csv) on the datasets both cover.
# Needs bench, and /usr/bin/python3 with numpy and scikit-learn (Debian:
# python3-sklearn) unless --stored.
suppressPackageStartupMessages({ library(ntk); library(bench) })
args <- commandArgs(trailingOnly = TRUE)
fd_dir <- if (length(args) >= 1) args[1] else "../shared/uci-fd"
stored <- length(args) >= 2 && args[2] == "--stored"
stopifnot(dir.exists(fd_dir))

report <- function(ours, theirs, ours_total, theirs_total) {
  m <- merge(ours, theirs, by = "dataset", suffixes = c("", ".authors"))
  fit_s <- m$kernel_seconds + m$svm_seconds
  their_s <- m$kernel_seconds.authors + m$svm_seconds.authors
  same <- m$depth == m$depth.authors & m$fixed == m$fixed.authors & m$C == m$C.authors
  cat(sprintf("%d datasets: ours %.0f s, the authors' pipeline %.0f s: ratio %.2f (goal <= 0.5)\n",
              nrow(m), ours_total, theirs_total, ours_total / theirs_total))
  cat(sprintf("ours: kernels %.0f s, SVM fits %.0f s", sum(m$kernel_seconds), sum(m$svm_seconds)),
      if (ours_total > sum(fit_s)) sprintf(", the rest (reading files, R) %.0f s", ours_total - sum(fit_s)), "\n", sep = "")
  cat(sprintf("theirs: kernels %.0f s, SVM fits %.0f s\n", sum(m$kernel_seconds.authors),
              sum(m$svm_seconds.authors)))
  cat(sprintf("same configuration chosen on %d of %d datasets; test accuracies equal (1e-9) on %d\n",
              sum(same), nrow(m), sum(abs(m$accuracy - m$accuracy.authors) < 1e-9)))
  m$ours_s <- round(fit_s, 1)
  m$authors_s <- round(their_s, 1)
  m$ratio <- round(fit_s / their_s, 2)
  heavy <- m[order(-m$authors_s), c("dataset", "n", "classes", "ours_s", "authors_s", "ratio")]
  print(utils::head(heavy, 12), row.names = FALSE)
}

if (stored) {
  ours <- utils::read.csv("inst/results/uci-fd.csv")
  theirs <- utils::read.csv("inst/results/uci-fd-authors.csv")
  both <- intersect(ours$dataset, theirs$dataset)
  ours <- ours[ours$dataset %in% both, ]
  theirs <- theirs[theirs$dataset %in% both, ]
  report(ours, theirs, sum(ours$kernel_seconds + ours$svm_seconds),
         sum(theirs$kernel_seconds + theirs$svm_seconds))
  quit(save = "no")
}

names <- sort(basename(list.dirs(fd_dir, recursive = FALSE)))
names <- Filter(function(n) !is.null(ntk:::read_uci_dataset(file.path(fd_dir, n), n, 5000)), names)
if (length(args) >= 2) names <- utils::head(names, as.integer(args[2]))
# the authors' pipeline in the background on the other core, on the same datasets
their_dir <- tempfile("uci-authors")
dir.create(their_dir)
for (n in names) file.symlink(normalizePath(file.path(fd_dir, n)), file.path(their_dir, n))
their_csv <- file.path(their_dir, "out.csv")
their_done <- file.path(their_dir, "seconds")
script <- system.file("bench", "uci-authors.py", package = "ntk")
if (!nzchar(script)) script <- "inst/bench/uci-authors.py"
their_start <- Sys.time()          # their end: the time stamp of the marker file
system2("sh", c("-c", shQuote(sprintf(
  "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 %s %s %s > /dev/null && touch %s",
  script, their_dir, their_csv, their_done))), wait = FALSE)
nt_threads(1)
timing <- bench::mark(ours <- suppressWarnings(nt_uci_benchmark(fd_dir, datasets = names, threads = 1)),
                      iterations = 1, check = FALSE, filter_gc = FALSE, memory = FALSE)
while (!file.exists(their_done)) Sys.sleep(5)
report(ours, utils::read.csv(their_csv), as.numeric(timing$median),
       as.numeric(difftime(file.mtime(their_done), their_start, units = "secs")))
