// Rewritten by `make binary` / `make container` (scripts/stamp-version.sh) from the git tag or VERSION=.
export const VERSION = "0.0.0-dev";
