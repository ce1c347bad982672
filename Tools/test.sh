#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system libraries, then `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Tools/setup.sh --deps
exec swift test "$@"
