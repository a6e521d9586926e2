#!/usr/bin/env bash
# Summarises an R CMD check: prints the test counts as 'N passed, N failed'
# and fails unless the check had no ERROR and no WARNING.
set -u
dir=$1; status=$2
log="$dir/00check.log"
rout="$dir/tests/testthat.Rout"
[ -f "$rout" ] || rout="$dir/tests/testthat.Rout.fail"
if [ -f "$rout" ]; then
  line=$(grep -E '^\[ FAIL [0-9]+ \| WARN [0-9]+ \| SKIP [0-9]+ \| PASS [0-9]+ \]' "$rout" | tail -1)
  fail=$(echo "$line" | sed -E 's/.*FAIL ([0-9]+).*/\1/')
  pass=$(echo "$line" | sed -E 's/.*PASS ([0-9]+).*/\1/')
  skip=$(echo "$line" | sed -E 's/.*SKIP ([0-9]+).*/\1/')
  [ -n "$line" ] && echo "tests: $pass passed, $fail failed, $skip skipped"
fi
if [ "$status" != 0 ] || grep -qE '^\* .*(ERROR|WARNING)$|^(ERROR|WARNING)' "$log"; then
  echo "R CMD check reported errors or warnings:"
  grep -E -A15 'ERROR|WARNING' "$log" | head -80
  exit 1
fi
grep -E 'NOTE' "$log" || true
echo "R CMD check: no errors, no warnings"
