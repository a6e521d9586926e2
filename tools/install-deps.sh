#!/usr/bin/env bash
# Installs what building, checking and running ntk needs. On Debian (as root)
# the prebuilt r-cran-* packages take seconds; elsewhere install.packages().
# The tidymodels and mlr3 packages the integration tests use are not all in
# Debian (and Debian's checkmate is older than mlr3 needs): those come from
# CRAN, built from source (about 9 minutes on 2 cores, measured 2026-12-02).
set -euo pipefail
r_pkgs="kernlab testthat roxygen2 caret pROC mlbench bench processx future future.apply progressr knitr rmarkdown randomForest e1071 recipes rsample ranger R6 rlang scales data.table"
cran_pkgs="parsnip dials tune workflows yardstick mlr3 paradox mlr3misc mlr3learners"
repos="https://cloud.r-project.org"
missing=$(Rscript -e "p <- strsplit('$r_pkgs', ' ')[[1]]; cat(p[!vapply(p, requireNamespace, logical(1), quietly = TRUE)])")
need_tools=""
command -v qpdf >/dev/null 2>&1 || need_tools="$need_tools qpdf"
command -v tidy >/dev/null 2>&1 || need_tools="$need_tools tidy"
command -v valgrind >/dev/null 2>&1 || need_tools="$need_tools valgrind"
command -v pandoc >/dev/null 2>&1 || need_tools="$need_tools pandoc"
if [ -n "$missing" ] || [ -n "$need_tools" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    debs="$need_tools"
    for p in $missing; do debs="$debs r-cran-$(echo "$p" | tr '[:upper:]' '[:lower:]')"; done
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $debs >/dev/null
  else
    [ -z "$missing" ] || Rscript -e "install.packages(strsplit('$missing', ' ')[[1]], repos = '$repos')"
  fi
fi
# From CRAN: what is missing, with checkmate first when it predates 2.3.0
# (mlr3measures needs its assert_permutation()).
Rscript -e "
p <- strsplit('$cran_pkgs', ' ')[[1]]
need <- p[!vapply(p, requireNamespace, logical(1), quietly = TRUE)]
if (!requireNamespace('checkmate', quietly = TRUE) || utils::packageVersion('checkmate') < '2.3.0')
  need <- c('checkmate', need)
if (length(need)) {
  utils::install.packages(need, repos = '$repos', Ncpus = max(1L, parallel::detectCores()))
  bad <- need[!vapply(need, requireNamespace, logical(1), quietly = TRUE)]
  if (length(bad)) stop('could not install from CRAN: ', paste(bad, collapse = ', '))
}"
