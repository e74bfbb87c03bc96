#!/usr/bin/env bash
# Issue 19's baseline build measured on this machine with its own bench, so that the figures of today's
# build can be read against the same machine (README, "Where the spine stands": the machines here differ by
# up to 2×). The build is checked out as a temporary git worktree (the checkout needs its history) that uses
# this checkout's node_modules: the baseline's dependencies are a subset of today's, at the same versions.
#
#   scripts/bench-baseline.sh                 the spine's sections (what the README's column shows)
#   scripts/bench-baseline.sh --only http     any options of that build's bench
#   BASELINE_COMMIT=<commit> scripts/…        another build
#
# Its bench is the one of its day: no warm-up before the closed loop, and `--waiting` measured RSS without a GC.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
COMMIT="${BASELINE_COMMIT:-cf1c788}"
[ -d "$ROOT/node_modules" ] || { echo "run npm ci first" >&2; exit 1; }
git -C "$ROOT" cat-file -e "$COMMIT^{commit}" 2>/dev/null || { echo "commit $COMMIT is not in this checkout's history" >&2; exit 1; }

DIR="$(mktemp -d "${TMPDIR:-/tmp}/nexusflow-baseline-XXXXXX")"
cleanup() {
  git -C "$ROOT" worktree remove --force "$DIR" >/dev/null 2>&1 || rm -rf "$DIR"
  git -C "$ROOT" worktree prune
}
trap cleanup EXIT
git -C "$ROOT" worktree add --detach -f "$DIR" "$COMMIT" >/dev/null 2>&1
ln -s "$ROOT/node_modules" "$DIR/node_modules"

if [ "$#" -eq 0 ]; then set -- --only http,visibility,projection,workflows --waiting 0; fi
echo "# baseline build $(git -C "$DIR" log -1 --format='%h %cs') measured with its own bench" >&2
cd "$DIR"
npm run --silent bench -- "$@"
