# How inst/extdata/fashion-mnist-subset.rds was drawn.
#
# Source: Fashion-MNIST (Xiao, Rasul and Vollgraf 2017, MIT licence), as
# Debian's package dataset-fashion-mnist installs it in
# /usr/share/datasets/fashion-mnist (the four idx files of the original
# release). Drawn: 50 training images per class from the 60000 training
# images and 30 test images per class from the 10000 test images, uniformly
# without replacement within each class, with set.seed(20191104); stored as
# the original 28 x 28 grey levels (integers 0-255) in n x 28 x 28 x 1
# integer arrays with their labels as factors.
#
# Run from the package root:
#   Rscript inst/scripts/fashion-subset.R [/usr/share/datasets/fashion-mnist]
args <- commandArgs(trailingOnly = TRUE)
src <- if (length(args)) args[1] else "/usr/share/datasets/fashion-mnist"
classes <- c("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
             "Sneaker", "Bag", "Ankle boot")

read_idx <- function(file) {
  con <- gzfile(file, "rb")
  on.exit(close(con))
  magic <- readBin(con, "integer", 1, 4, endian = "big")
  dims <- readBin(con, "integer", magic %% 256, 4, endian = "big")
  values <- as.integer(readBin(con, "raw", prod(dims)))
  if (length(dims) == 1L) return(values)
  # idx stores each image row by row: reading it as [column, row, image]
  # and permuting gives image x row x column
  aperm(array(values, rev(dims)), 3:1)
}

draw <- function(prefix, per_class) {
  images <- read_idx(file.path(src, paste0(prefix, "-images-idx3-ubyte.gz")))
  labels <- read_idx(file.path(src, paste0(prefix, "-labels-idx1-ubyte.gz")))
  take <- unlist(lapply(0:9, function(k) sort(sample(which(labels == k), per_class))))
  x <- images[take, , , drop = FALSE]
  dim(x) <- c(dim(x), 1L)
  list(x = x, y = factor(classes[labels[take] + 1L], levels = classes), index = take)
}

set.seed(20191104)
subset <- list(train = draw("train", 50), test = draw("t10k", 30),
               source = "Fashion-MNIST (MIT licence), drawn by inst/scripts/fashion-subset.R")
dir.create("inst/extdata", showWarnings = FALSE, recursive = TRUE)
saveRDS(subset, "inst/extdata/fashion-mnist-subset.rds", compress = "xz")
