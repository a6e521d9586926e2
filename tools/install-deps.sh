#!/usr/bin/env bash
# Installs what building, checking and running ntk needs. On Debian (as root)
# the prebuilt r-cran-* packages take seconds; elsewhere install.packages().
set -euo pipefail
r_pkgs="kernlab testthat roxygen2 caret pROC mlbench bench processx future future.apply progressr knitr rmarkdown randomForest e1071"
missing=$(Rscript -e "p <- strsplit('$r_pkgs', ' ')[[1]]; cat(p[!vapply(p, requireNamespace, logical(1), quietly = TRUE)])")
need_tools=""
command -v qpdf >/dev/null 2>&1 || need_tools="$need_tools qpdf"
command -v tidy >/dev/null 2>&1 || need_tools="$need_tools tidy"
command -v valgrind >/dev/null 2>&1 || need_tools="$need_tools valgrind"
command -v pandoc >/dev/null 2>&1 || need_tools="$need_tools pandoc"
if [ -z "$missing" ] && [ -z "$need_tools" ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  debs="$need_tools"
  for p in $missing; do debs="$debs r-cran-$(echo "$p" | tr '[:upper:]' '[:lower:]')"; done
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $debs >/dev/null
else
  [ -z "$missing" ] || Rscript -e "install.packages(strsplit('$missing', ' ')[[1]], repos = 'https://cloud.r-project.org')"
fi
