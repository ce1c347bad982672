#!/usr/bin/env bash
# TFRecord throughput of `prism` against the PyPI `tfrecord` package and tf.data, on the same generated files.
# Not run in CI. Installs its peers into a virtualenv (reusing system packages when present), builds prism in
# release mode, then runs bench.py.   Usage: Tools/bench/tfrecord/run.sh [--scale N] [--keep]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="${PRISM_BENCH_VENV:-${TMPDIR:-/tmp}/prism-bench-tfrecord-venv}"
if [ ! -x "$venv/bin/python" ]; then python3 -m venv --system-site-packages "$venv"; fi
"$venv/bin/python" - <<'PY' || "$venv/bin/pip" install --quiet tensorflow-cpu tfrecord crc32c numpy
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(m) for m in ("tensorflow", "tfrecord", "crc32c", "numpy")) else 1)
PY
(cd "$root" && swift build -c release --scratch-path "${PRISM_SCRATCH:-.build-data}" --product prism >&2)
prism="$root/${PRISM_SCRATCH:-.build-data}/release/prism"
exec "$venv/bin/python" "$here/bench.py" --prism "$prism" "$@"
