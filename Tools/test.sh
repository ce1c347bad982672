#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system libraries, then `swift test`, then the
# OpenAI-client test of `prism serve` (Tests/Python, official `openai` package from PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/setup.sh --deps
swift test "$@"
if [ "$#" -eq 0 ]; then
    python3 -c "import openai, pycocotools, numpy" 2>/dev/null || python3 -m pip install -q openai pycocotools numpy
    echo "==> prism serve with the official OpenAI client (Tests/Python/test_serve_openai.py)"
    python3 Tests/Python/test_serve_openai.py
fi
