# UCI datasets that R packages ship, as the list(x, y) that nt_uci_compare() takes.

uci_sources <- list(
  iris = list(package = "datasets", object = "iris", class = "Species"),
  Sonar = list(package = "mlbench", object = "Sonar", class = "Class"),
  Ionosphere = list(package = "mlbench", object = "Ionosphere", class = "Class"),
  Pima = list(package = "mlbench", object = "PimaIndiansDiabetes", class = "diabetes"),
  BreastCancer = list(package = "mlbench", object = "BreastCancer", class = "Class", drop = "Id"),
  Glass = list(package = "mlbench", object = "Glass", class = "Type"),
  Vehicle = list(package = "mlbench", object = "Vehicle", class = "Class"),
  Vowel = list(package = "mlbench", object = "Vowel", class = "Class", drop = "V1"),
  Zoo = list(package = "mlbench", object = "Zoo", class = "type"),
  Satellite = list(package = "mlbench", object = "Satellite", class = "classes"),
  Letter = list(package = "mlbench", object = "LetterRecognition", class = "lettr"),
  DNA = list(package = "mlbench", object = "DNA", class = "Class"),
  musk = list(package = "kernlab", object = "musk", class = "Class"),
  spam = list(package = "kernlab", object = "spam", class = "type")
)

#' UCI datasets from R packages
#'
#' Assembles UCI classification datasets shipped by base R (`iris`), mlbench
#' (Sonar, Ionosphere, PimaIndiansDiabetes, BreastCancer, Glass, Vehicle,
#' Vowel, Zoo, Satellite, LetterRecognition, DNA) and kernlab (musk, spam) as
#' the numeric matrices and factors that [nt_uci_compare()] takes. Rows with
#' missing values are dropped; logical columns and factors with numeric
#' levels become numbers, other factors indicator columns; identifiers
#' (BreastCancer's `Id`, Vowel's speaker) are dropped, and so are constant
#' columns. Datasets with more than `max_n` rows are subsampled within each
#' class (proportionally, at least one row per class) with `seed`.
#'
#' mlbench 2.1-11 (which mlr3 requires) no longer ships PimaIndiansDiabetes:
#' `"Pima"` then gives an error that says so, and the default leaves it out.
#'
#' @param which Names of datasets (see Details; `"Pima"` is
#'   PimaIndiansDiabetes, `"Letter"` LetterRecognition); by default all that
#'   the installed packages ship.
#' @param max_n Largest number of rows kept per dataset.
#' @param seed Seed of the subsampling (the global random state is restored).
#' @return A named list of `list(x = numeric matrix, y = factor)`.
#' @examples
#' if (requireNamespace("mlbench", quietly = TRUE)) {
#'   str(nt_uci_datasets(c("iris", "Glass")))
#' }
#' @export
nt_uci_datasets <- function(which = uci_available(), max_n = 1000, seed = 1) {
  if (!is.character(which) || !length(which) || anyNA(which))
    stop("`which` must name datasets", call. = FALSE)
  unknown <- setdiff(which, names(uci_sources))
  if (length(unknown))
    stop(sprintf("`which`: unknown dataset(s) %s; known: %s", paste(unknown, collapse = ", "),
                 paste(names(uci_sources), collapse = ", ")), call. = FALSE)
  max_n <- check_count(max_n, "max_n", lower = 2L)
  seed <- check_count(seed, "seed")
  out <- lapply(which, function(name) {
    src <- uci_sources[[name]]
    set <- uci_numeric(load_uci_frame(src), src$class, src$drop)
    keep <- with_seed(seed, stratified_subsample(set$y, max_n))
    list(x = set$x[keep, , drop = FALSE], y = droplevels(set$y[keep]))
  })
  stats::setNames(out, which)
}

# The datasets of uci_sources that the installed packages ship.
uci_available <- function() {
  names(uci_sources)[vapply(uci_sources, uci_shipped, logical(1))]
}

uci_shipped <- function(src) {
  requireNamespace(src$package, quietly = TRUE) &&
    src$object %in% utils::data(package = src$package)$results[, "Item"]
}

load_uci_frame <- function(src) {
  if (!requireNamespace(src$package, quietly = TRUE))
    stop(sprintf("dataset '%s' needs the %s package", src$object, src$package), call. = FALSE)
  if (!uci_shipped(src))
    stop(sprintf("dataset '%s' is not in the installed %s %s (mlbench removed PimaIndiansDiabetes in 2.1-11)",
                 src$object, src$package, format(utils::packageVersion(src$package))), call. = FALSE)
  env <- new.env()
  utils::data(list = src$object, package = src$package, envir = env)
  get(src$object, envir = env)
}

# Numeric features and the class factor of a data frame.
uci_numeric <- function(df, class, drop = NULL) {
  df <- df[stats::complete.cases(df), setdiff(names(df), drop), drop = FALSE]
  y <- factor(df[[class]])
  columns <- lapply(setdiff(names(df), class), function(name) {
    v <- df[[name]]
    if (is.logical(v)) return(stats::setNames(data.frame(as.numeric(v)), name))
    if (is.factor(v) || is.character(v)) {
      values <- suppressWarnings(as.numeric(as.character(v)))
      if (!anyNA(values)) return(stats::setNames(data.frame(values), name))
      v <- factor(v)
      return(stats::setNames(as.data.frame(outer(as.character(v), levels(v), "==") + 0),
                             paste0(name, levels(v))))
    }
    stats::setNames(data.frame(as.numeric(v)), name)
  })
  x <- as.matrix(do.call(cbind, columns))
  x <- x[, apply(x, 2, stats::sd) > 0, drop = FALSE]
  list(x = x, y = y)
}

# Row indices: all rows, or at most max_n drawn within each class in
# proportion to its size (at least one per class).
stratified_subsample <- function(y, max_n) {
  if (length(y) <= max_n) return(seq_along(y))
  by_class <- split(seq_along(y), y, drop = TRUE)
  quota <- pmax(1L, round(lengths(by_class) * max_n / length(y)))
  sort(unlist(Map(function(rows, k) rows[sample.int(length(rows), k)], by_class, quota),
              use.names = FALSE))
}
