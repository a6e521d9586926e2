#!/usr/bin/env bash
# Builds ntk with AddressSanitizer and UndefinedBehaviorSanitizer into a
# private library and runs the whole test suite with the sanitizer runtimes
# preloaded into a stock R. Any report fails the run (abort on the first
# error, no recovery). Leak detection is off: R itself frees nothing at exit,
# so LeakSanitizer would report R's own allocations; valgrind.sh looks at
# memory errors again from another angle.
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(mktemp -d)
flags=$(mktemp)
trap 'rm -rf "$lib" "$flags"' EXIT
cat > "$flags" <<'MK'
CFLAGS = -g -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS = -fsanitize=address,undefined
MK
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
rm -f src/*.o src/*.so
R_MAKEVARS_USER="$flags" R CMD INSTALL --no-docs --no-multiarch --library="$lib" . >/dev/null
rm -f src/*.o src/*.so
start=$(date +%s)
# The tidymodels and mlr3 integration files run no C code of their own
# beyond the other files' and load dozens of other packages' compiled code,
# whose reports would not be ours: they run in R CMD check only.
R_LIBS="$lib" Rscript -e 'res <- testthat::test_dir("tests/testthat", package = "ntk", load_package = "installed", reporter = "check", stop_on_failure = TRUE, filter = "tidymodels|mlr3|image-rows", invert = TRUE)'
echo "sanitizers: test suite (less the tidymodels and mlr3 files) clean in $(( $(date +%s) - start )) s"
