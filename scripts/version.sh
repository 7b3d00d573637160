#!/usr/bin/env bash
# The release version rules, in one place: the Makefile asks this script and prints what it answers, so that
# `make -n push GITHUB_REF=...` shows the exact docker commands and a bad version stops make before anything runs.
#
#   scripts/version.sh release VERSION GITHUB_REF  the release version X.Y.Z from either (both given: they must agree)
#   scripts/version.sh build VERSION GITHUB_REF    the version to stamp: the release version when VERSION or a tag
#                                                  ref is given, else `git describe` of the current directory's
#                                                  repository (a branch ref such as refs/heads/main is ignored)
#   scripts/version.sh tags X.Y.Z                  the image tags a release pushes, space separated
#
# Conventions (docs/deployment.md, "Releases"):
#   0.0.0      the development deployment                  pushes 0.0.0
#   0.8.Z      container and devops experiments            pushes 0.8.Z 0.8
#   X.Y.Z X>=1 releases; the newest 1.x is production      pushes X.Y.Z X.Y X
# Anything else is refused: pre-release suffixes (X.Y and X would move to an untested build), leading zeros, missing
# parts, and the 0.Y.Z versions no deployment follows. Empty arguments mean "not given". Errors are one line on
# stderr (make shows $(shell) output on one line) and exit status 1.
set -euo pipefail

CONVENTIONS="0.0.0 (development), 0.8.Z (container/devops experiments) or X.Y.Z with X >= 1 (releases)"
REF_FORMS="housekeeping-X.Y.Z, refs/tags/housekeeping-X.Y.Z, vX.Y.Z or refs/tags/vX.Y.Z"

die() {
  printf '%s\n' "$*" >&2
  exit 1
}

# check_release WHAT TEXT: TEXT is a release version that follows the conventions, or die saying why not.
check_release() {
  local what=$1 v=$2 n='(0|[1-9][0-9]*)'
  if [[ $v =~ ^$n\.$n\.$n$ ]]; then
    local major=${BASH_REMATCH[1]} minor=${BASH_REMATCH[2]}
    # No leading zeros, so a major other than "0" is 1 or more (compared as text: no integer overflow).
    if [ "$major" != 0 ] || [ "$v" = 0.0.0 ] || [ "$minor" = 8 ]; then return 0; fi
    die "$what: version $v follows no convention: use $CONVENTIONS"
  fi
  case $v in
  "") die "$what: empty version; expected X.Y.Z, one of $CONVENTIONS" ;;
  v[0-9]*) die "$what: version '$v' has a leading v: give VERSION=${v#v} (tags are vX.Y.Z, versions X.Y.Z)" ;;
  *[0-9]-* | *[0-9]+*)
    die "$what: version '$v' has a pre-release or build suffix: releases are X.Y.Z only, because X.Y and X" \
      "would move to it; try an experiment as 0.8.Z"
    ;;
  esac
  if [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]]; then die "$what: version '$v' needs three numbers, X.Y.Z"; fi
  if [[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then die "$what: version '$v' has a leading zero: write X.Y.Z as plain numbers"; fi
  die "$what: '$v' is not a version: expected X.Y.Z, one of $CONVENTIONS"
}

# from_ref REF: the version a release ref names.
from_ref() {
  local ref=$1
  if [[ $ref =~ ^(refs/tags/)?(housekeeping-|v)([^/]*)$ ]]; then
    local version=${BASH_REMATCH[3]}
    check_release "GITHUB_REF=$ref" "$version"
    printf '%s\n' "$version"
    return
  fi
  die "GITHUB_REF=$ref is not a release tag: expected $REF_FORMS"
}

# release VERSION REF: prints the release version; at least one must be given.
release() {
  local version=$1 ref=$2 from
  if [ -n "$ref" ]; then
    from=$(from_ref "$ref")
    if [ -n "$version" ] && [ "$version" != "$from" ]; then
      die "VERSION=$version and GITHUB_REF=$ref disagree: give one of them"
    fi
    printf '%s\n' "$from"
  elif [ -n "$version" ]; then
    check_release "VERSION" "$version"
    printf '%s\n' "$version"
  else
    die "no release version: give GITHUB_REF=housekeeping-X.Y.Z (or VERSION=X.Y.Z), one of $CONVENTIONS"
  fi
}

# describe: laptop builds without VERSION/GITHUB_REF. On a release tag X.Y.Z; after one X.Y.Z-N-gSHA; without any
# tag 0.0.0-dev-gSHA; -dirty when the work tree has changes; 0.0.0-dev outside a git checkout. Only characters that
# are valid in a docker tag, so the same string names the local image.
describe() {
  local d
  if d=$(git describe --tags --match 'v[0-9]*' --match 'housekeeping-[0-9]*' --dirty 2>/dev/null); then
    d=${d#v}
    printf '%s\n' "${d#housekeeping-}"
  elif d=$(git describe --always --abbrev=7 --dirty 2>/dev/null); then
    printf '0.0.0-dev-g%s\n' "$d"
  else
    printf '0.0.0-dev\n'
  fi
}

tags() {
  local v=$1
  check_release "tags" "$v"
  local major=${v%%.*} minor=${v%.*}
  if [ "$v" = 0.0.0 ]; then
    echo "$v"
  elif [ "$major" = 0 ]; then
    # `0` would be shared by the development deployment and the experiments, so it is never pushed.
    echo "$v $minor"
  else
    echo "$v $minor $major"
  fi
}

usage="usage: scripts/version.sh release|build VERSION GITHUB_REF | tags X.Y.Z"
case ${1:-} in
release)
  [ $# -eq 3 ] || die "$usage"
  release "$2" "$3"
  ;;
build)
  [ $# -eq 3 ] || die "$usage"
  # CI sets GITHUB_REF for branches too (refs/heads/main): only a ref that looks like a tag names a version.
  if [ -n "$2" ] || [[ $3 == refs/tags/* || $3 =~ ^(housekeeping-|v)[0-9] ]]; then release "$2" "$3"; else describe; fi
  ;;
tags)
  [ $# -eq 2 ] || die "$usage"
  tags "$2"
  ;;
*) die "$usage" ;;
esac
