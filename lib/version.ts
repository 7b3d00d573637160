// `make binary` and the Dockerfile stamp a copy of this file (scripts/stamp-version.sh) with the git tag or VERSION=;
// the committed value marks a development build run from source.
export const VERSION = "0.0.0-dev";
