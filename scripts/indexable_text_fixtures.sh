#!/usr/bin/env bash
# Regenerates tests/testdata/indexable_text/fixtures.json: archive-core's own text extraction (v1.3.0,
# archive/decision_api.py Decider.get_data_format + get_indexable_text, with hop-client 0.13.0, fastavro, xmltodict
# and libmagic, as archive-ingest runs it) over the cases of scripts/indexable_text_cases.ts. Not run by the tests.
#
#   scripts/indexable_text_fixtures.sh ARCHIVE_CORE_DIR
#
# ARCHIVE_CORE_DIR: a checkout of scimma/archive-core at v1.3.0 (git archive v1.3.0 | tar -x -C DIR). Needs
# Python >= 3.12 (PYTHON, default python3.12) and libmagic (Debian: libmagic1); the virtual environment lives in
# ${HK_FIXTURE_VENV:-/tmp/housekeeping-indexable-text-venv} and is never committed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CORE=${1:?usage: $0 ARCHIVE_CORE_DIR}
CORE=$(cd "$CORE" && pwd)
[ -f "$CORE/archive/decision_api.py" ] || { echo "$CORE is not an archive-core checkout" >&2; exit 1; }
VENV=${HK_FIXTURE_VENV:-/tmp/housekeeping-indexable-text-venv}
if [ ! -x "$VENV/bin/python" ]; then
  "${PYTHON:-python3.12}" -m venv "$VENV"
  "$VENV/bin/pip" install -q "hop-client==0.13.0" "$CORE"
fi
CASES=$(mktemp)
trap 'rm -f "$CASES"' EXIT
"$ROOT/scripts/deno.sh" run --allow-read --frozen "$ROOT/scripts/indexable_text_cases.ts" > "$CASES"
"$VENV/bin/python" "$ROOT/scripts/indexable_text_fixtures.py" "$CORE" "$CASES" \
  > "$ROOT/tests/testdata/indexable_text/fixtures.json"
echo "wrote $ROOT/tests/testdata/indexable_text/fixtures.json" >&2
