#!/usr/bin/env bash
# `make test`: install what is missing, start the real services, run the checks and every test.
# Ends with the plain line "N passed, N failed" and a non-zero exit status on any failure.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DENO=scripts/deno.sh

"$DENO" --version | head -n 1
scripts/services.sh up
eval "$(scripts/services.sh env)"

status=0
"$DENO" task check || { echo "deno task check failed (fmt, lint or type check)" >&2; status=1; }

report=$(mktemp -d)/junit.xml
"$DENO" test --allow-all --frozen --junit-path="$report" "${@:-tests/}" || status=1

if [ -s "$report" ]; then
  # The <testsuites> element carries the totals of the whole run.
  totals=$(grep -o '<testsuites [^>]*>' "$report" | head -n 1)
  tests=$(sed -n 's/.* tests="\([0-9]*\)".*/\1/p' <<<"$totals")
  failures=$(sed -n 's/.* failures="\([0-9]*\)".*/\1/p' <<<"$totals")
  errors=$(sed -n 's/.* errors="\([0-9]*\)".*/\1/p' <<<"$totals")
  failed=$((${failures:-0} + ${errors:-0}))
  # Ignored tests appear as <skipped/> inside their test case; they did not pass.
  skipped=$(grep -c '<skipped' "$report" || true)
  echo "$((${tests:-0} - failed - skipped)) passed, $failed failed, $skipped skipped"
  [ "${tests:-0}" -gt 0 ] || { echo "no test ran" >&2; status=1; }
else
  echo "0 passed, 1 failed"
  echo "deno test produced no report" >&2
  status=1
fi
exit $status
