#!/usr/bin/env bash
# `make run`: the archiver's main job on this machine with the embedded defaults. Starts a local Kafka (and nothing
# else: the object store is a directory and the index an embedded PostgreSQL, PGlite), sends reproducible mock
# Hopskotch traffic, archives every topic up to its end, and prints where the archive is.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DENO=scripts/deno.sh
DEMO_DIR=${HOUSEKEEPING_DATA_DIR:-$ROOT/.scratch/demo}

scripts/services.sh up kafka
eval "$(scripts/services.sh env)"
export HOUSEKEEPING_DATA_DIR=$DEMO_DIR
# The local broker's PLAINTEXT listener needs no credentials.
unset KAFKA_USERNAME KAFKA_PASSWORD
export KAFKA_SECURITY_PROTOCOL=PLAINTEXT

mkdir -p "$DEMO_DIR"
"$DENO" run -A main.ts mock-hop --count "${DEMO_COUNT:-500}" --seed "${DEMO_SEED:-1}" --topic-prefix demo. \
  --manifest "$DEMO_DIR/manifest.jsonl"
"$DENO" run -A main.ts archive --until-end --group housekeeping-demo
echo
echo "archive: $DEMO_DIR/objects (one .bson object per record), index: $DEMO_DIR/index (embedded PostgreSQL)"
