#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system libraries, then `swift test`.
# Under CI (CI=true), or with PRISM_FUZZ_SECONDS=N, every libFuzzer target in Tools/fuzz then runs for 30 s
# (N s) and any crash fails the run (Tools/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/setup.sh --deps
swift test "$@"
ci=false
case "${CI:-}" in true|1) ci=true ;; esac
if [ -n "${PRISM_FUZZ_SECONDS:-}" ] || $ci; then
    echo "==> fuzzing every target for ${PRISM_FUZZ_SECONDS:-30} s (Tools/fuzz/run.sh --all)"
    bash Tools/fuzz/run.sh --all "${PRISM_FUZZ_SECONDS:-30}"
fi
