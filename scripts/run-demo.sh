#!/usr/bin/env bash
# `make run`: the archiver's main job on this machine with the embedded defaults. Starts a local Kafka (and nothing
# else: the object store is a directory and the index an embedded PostgreSQL, PGlite), sends reproducible mock
# Hopskotch traffic, archives the demo topics up to their end, then shows the status, the verify result and where
# everything is. Running it again sends the same records again: the archive keeps one copy and counts receipts.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DENO=scripts/deno.sh
DEMO_DIR=${DEMO_DIR:-$ROOT/.scratch/demo}
PREFIX=demo.

scripts/services.sh up kafka
brokers=$(scripts/services.sh env | sed -n 's/^export KAFKA_BROKERS=//p' | tr -d "'\"")
[ -n "$brokers" ] || { echo "run-demo: scripts/services.sh env printed no KAFKA_BROKERS" >&2; exit 1; }

# The demo runs on the embedded defaults whatever this shell holds: settings that would send it to another Kafka,
# S3 bucket or PostgreSQL (left over from `eval "$(scripts/services.sh env)"`, say) are dropped for its commands.
while read -r name; do unset "$name"; done < <(compgen -e | grep -E \
  '^(KAFKA_|S3_|AWS_|PG|DATABASE_URL$|HOUSEKEEPING_|HOP_AUTH_FILE$|VETO_FILE$|LOG_LEVEL$|HTTP_PORT$)' || true)
export KAFKA_BROKERS=$brokers KAFKA_SECURITY_PROTOCOL=PLAINTEXT HOUSEKEEPING_DATA_DIR=$DEMO_DIR
mkdir -p "$DEMO_DIR"
# Only the demo topics: every other topic on this broker (other tests' leftovers) and the demo heartbeat are vetoed.
export VETO_FILE=$DEMO_DIR/veto.yaml
printf 'topics: ["%ssys.heartbeat"]\npatterns: ["(?!%s).*"]\n' "$PREFIX" "${PREFIX//./\\\\.}" >"$VETO_FILE"
# The group belongs to this demo directory: a new directory starts a new group, which reads the topics from the
# beginning, so the index and the group's offsets never disagree.
[ -s "$DEMO_DIR/group" ] || echo "housekeeping-demo-$(date +%s)-$RANDOM" >"$DEMO_DIR/group"
export KAFKA_GROUP_ID
KAFKA_GROUP_ID=$(cat "$DEMO_DIR/group")

hk() { "$DENO" run --allow-all --frozen main.ts "$@"; }

echo "== mock-hop: ${DEMO_COUNT:-500} records of test traffic (seed ${DEMO_SEED:-1}) to ${PREFIX}* topics =="
LOG_LEVEL=warn hk mock-hop --count "${DEMO_COUNT:-500}" --seed "${DEMO_SEED:-1}" --topic-prefix "$PREFIX" \
  --manifest "$DEMO_DIR/manifest.jsonl"
echo
echo "== archive --until-end (its log: $DEMO_DIR/archive.log) =="
# The log is JSON lines for machines; mock-hop's clashes and malformed records show up in it as warnings, by design.
# Text indexed for every demo topic, so that the search page finds words and shows snippets.
if ! hk archive --until-end --index-text "${PREFIX//./\\.}.*" 2>"$DEMO_DIR/archive.log"; then
  tail -n 40 "$DEMO_DIR/archive.log" >&2
  echo "run-demo: archive failed; its whole log is $DEMO_DIR/archive.log" >&2
  exit 1
fi
echo "done"

echo
echo "== status (index: messages per topic; Kafka: the group's lag) =="
hk status
echo
echo "== verify (every index row against its object, and the store for orphans) =="
hk verify --quiet
objects=$(find "$DEMO_DIR/objects" -name '*.bson' | wc -l)
uuid=$(sed -n '/"vetoed":false/{s/.*"uuid":"\([0-9a-f-]\{36\}\)".*/\1/p;q}' "$DEMO_DIR/manifest.jsonl")
cat <<EOF

Archived into $DEMO_DIR:
  objects  $DEMO_DIR/objects  ($objects BSON objects, one per distinct record)
  index    $DEMO_DIR/index    (embedded PostgreSQL, PGlite)
  sent     $DEMO_DIR/manifest.jsonl  (what mock-hop sent, one JSON line per record)

Try next (the same settings: HOUSEKEEPING_DATA_DIR=$DEMO_DIR):
  HOUSEKEEPING_DATA_DIR=$DEMO_DIR scripts/deno.sh run -A main.ts inspect ${uuid:-<uuid>}
  HOUSEKEEPING_DATA_DIR=$DEMO_DIR KAFKA_BROKERS=$brokers KAFKA_SECURITY_PROTOCOL=PLAINTEXT \\
    scripts/deno.sh run -A main.ts restore --dry-run --topic ${PREFIX}gcn.circular --to-prefix restored.
  HOUSEKEEPING_DATA_DIR=$DEMO_DIR PUBLIC_TOPICS='${PREFIX//./\\.}.*' scripts/deno.sh run -A main.ts serve \\
    --http-port 8080   # then open http://localhost:8080/ in a browser: topics, messages, search, downloads
EOF
