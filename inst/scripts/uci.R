# The UCI comparison of vignettes/uci.Rmd at full size: NTK-SVM, Gaussian
# SVM and random forest (nt_uci_compare) on the 14 UCI datasets of
# nt_uci_datasets() (at most 1000 rows each, subsampled within classes),
# 4 seeded 75/25 splits per dataset. Writes inst/results/uci.csv.
#
# Run from the package root (after installing ntk), about 30 minutes on one
# core:   Rscript inst/scripts/uci.R inst/results
suppressPackageStartupMessages(library(ntk))
args <- commandArgs(trailingOnly = TRUE)
out_dir <- if (length(args)) args[1] else "inst/results"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)
nt_threads(1)

data <- nt_uci_datasets(max_n = 1000)
rows <- lapply(names(data), function(name) {
  started <- proc.time()[["elapsed"]]
  row <- nt_uci_compare(data[name], splits = 4)
  row$seconds <- proc.time()[["elapsed"]] - started
  message(format(Sys.time(), "%H:%M:%S "), name, sprintf(" %.3f %.3f %.3f", row$ntk, row$rbf, row$rf))
  row
})
table <- do.call(rbind, rows)
write.csv(table, file.path(out_dir, "uci.csv"), row.names = FALSE)
writeLines(paste("R", getRversion(), "ntk", packageVersion("ntk"), "kernlab",
                 packageVersion("kernlab"), "randomForest", packageVersion("randomForest"),
                 format(Sys.time())), file.path(out_dir, "uci-info.txt"))
