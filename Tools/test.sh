#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system libraries, then `swift test`, then the
# OpenAI-client test of `prism serve` (Tests/Python, official `openai` package from PyPI).
# Under CI (CI=true), or with PRISM_FUZZ_SECONDS=N, every libFuzzer target in Tools/fuzz then runs for 20 s
# (N s) and any crash fails the run (Tools/fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/setup.sh --deps
swift test "$@"
if [ "$#" -eq 0 ]; then
    python3 -c "import openai, pycocotools, numpy" 2>/dev/null || python3 -m pip install -q openai pycocotools numpy
    echo "==> prism serve with the official OpenAI client (Tests/Python/test_serve_openai.py)"
    python3 Tests/Python/test_serve_openai.py
fi
ci=false
case "${CI:-}" in true|1) ci=true ;; esac
if [ -n "${PRISM_FUZZ_SECONDS:-}" ] || $ci; then
    echo "==> fuzzing every target for ${PRISM_FUZZ_SECONDS:-20} s (Tools/fuzz/run.sh --all)"
    bash Tools/fuzz/run.sh --all "${PRISM_FUZZ_SECONDS:-20}"
fi
