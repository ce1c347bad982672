#!/usr/bin/env bash
# Batch benchmarks (Tools/bench/batch/bench.py): `ask --batch` against one question at a time, and ray_jobs.py on
# 2 local Ray workers against 1. Not run in CI. Builds prism in release mode, takes the shared bench lock.
#   Usage: Tools/bench/batch/run.sh ask|ray [--questions N] [--records N] [--repeats N] [--work DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
if [ -z "${PRISM_BIN:-}" ]; then
  (cd "$root" && swift build -c release --product prism >&2)
  PRISM_BIN="$root/.build/release/prism"
fi
exec flock /tmp/prism-bench.lock python3 "$here/bench.py" "$1" --prism "$PRISM_BIN" "${@:2}"
