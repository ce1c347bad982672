#!/usr/bin/env bash
# End-to-end test of Tools/distributed/ray_jobs.py on a private Ray head (127.0.0.1, 2 worker slots): convert a
# 200-image dataset and ask a question of every image over 4 shard tasks, SIGKILL one Ray worker mid-run, and
# require the outputs to equal one machine's byte for byte (see test_ray.py). Needs `pip install ray pillow`.
# Not in CI: Ray's start-up alone takes tens of seconds on 2 loaded cores (README, "Batch jobs on a cluster").
#   Usage: Tools/distributed/test_ray.sh [--keep] [--work DIR]      PRISM_BIN=… to use an existing binary
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
if [ -z "${PRISM_BIN:-}" ]; then
  (cd "$root" && swift build -c release --product prism >&2)
  PRISM_BIN="$root/.build/release/prism"
fi
exec python3 "$here/test_ray.py" --prism "$PRISM_BIN" "$@"
