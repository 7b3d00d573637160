#!/usr/bin/env bash
# Stamps the version `housekeeping --version` prints:
#
#   scripts/stamp-version.sh VERSION [FILE]   FILE defaults to lib/version.ts of this checkout
#   scripts/stamp-version.sh                  lib/version.ts of this checkout, with the version from $VERSION /
#                                             $GITHUB_REF / git describe (scripts/version.sh build)
#
# `make binary` stamps a staged copy and the Dockerfile its own copy of the sources, so the committed file keeps its
# development stamp and a build never leaves the work tree modified. Only the string literal of the
# `export const VERSION = "...";` line changes; the rest of the file is kept as it is.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

die() {
  printf 'stamp-version.sh: %s\n' "$*" >&2
  exit 1
}

[ $# -le 2 ] || die "usage: scripts/stamp-version.sh [VERSION [FILE]]"
if [ $# -ge 1 ]; then version=$1; else version=$("$ROOT/scripts/version.sh" build "${VERSION:-}" "${GITHUB_REF:-}"); fi
file=${2:-$ROOT/lib/version.ts}

# The value lands in a TypeScript string literal and in docker tags: allow only what both take safely.
[[ $version =~ ^[0-9A-Za-z][0-9A-Za-z._-]*$ ]] ||
  die "version '$version' may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit"
line='^export const VERSION = "[^"]*";$'
[ "$(grep -c "$line" "$file")" = 1 ] || die "$file has no single line matching: $line"

stamped=$(sed "s/$line/export const VERSION = \"$version\";/" "$file")
printf '%s\n' "$stamped" >"$file" # in place: keeps the file's mode and owner
printf 'stamped %s into %s\n' "$version" "$file" >&2
