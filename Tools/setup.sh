#!/usr/bin/env bash
# Fresh-machine set-up: installs the Debian packages Prism links against, then builds it in release mode.
#   bash Tools/setup.sh            # packages + release build
#   bash Tools/setup.sh --deps     # packages only (what the test command needs)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas-dev libdnnl-dev libjpeg-dev libpng-dev zlib1g-dev libprotobuf-c-dev protobuf-c-compiler libedit-dev libssl-dev libcurl4 pkg-config)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "==> installing ${missing[*]}"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v swift >/dev/null || { echo "error: swift is not on PATH (Swift 6 toolchain required)" >&2; exit 1; }

if [ "${1:-}" != "--deps" ]; then
    echo "==> swift build -c release"
    swift build -c release
    echo "==> built .build/release/prism"
fi
