#!/usr/bin/env bash
# Runs a representative subset of the tests under valgrind (memcheck) in a
# stock R, failing on any invalid read or write or use of uninitialised
# memory (--error-exitcode). The subset covers every C entry point: fully
# connected kernels with closed-form and tabulated activations, both
# convolutional engines, gradient flow, finite networks, and the direct
# calls with wrong arguments.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(mktemp -d)
trap 'rm -rf "$lib"' EXIT
rm -f src/*.o src/*.so
R CMD INSTALL --no-docs --no-multiarch --library="$lib" . >/dev/null
rm -f src/*.o src/*.so
start=$(date +%s)
R_LIBS="$lib" R --vanilla -q -d "valgrind --error-exitcode=1 --track-origins=yes --quiet" \
  -e 'res <- testthat::test_dir("tests/testthat", package = "ntk", load_package = "installed", filter = "valgrind|closed-forms|c-entry|errors|layers", reporter = "check", stop_on_failure = TRUE)'
echo "valgrind: subset clean in $(( $(date +%s) - start )) s"
