#!/usr/bin/env bash
# Builds libFuzzer binaries for the fuzz targets: bash Tools/fuzz/build.sh [TARGET…] (default: every target in
# targets.list). Output: .build-fuzz/bin/<target>.
#
# How: SwiftPM builds the library targets into their own build folder with coverage and AddressSanitizer
# instrumentation (-sanitize=fuzzer,address; C targets -fsanitize=fuzzer-no-link,address), in the debug
# configuration so Swift's overflow and bounds checks stay on. Each target file is then compiled and linked by
# swiftc with Support.swift, those object files and the system libraries; libFuzzer supplies main().
set -euo pipefail
cd "$(dirname "$0")/../.."
B=.build-fuzz
FUZZ=Tools/fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
    mapfile -t targets < <(grep -v '^\s*#' "$FUZZ/targets.list" | awk 'NF {print $1}')
fi

# 1. the libraries (incremental after the first time)
flags=(--build-path "$B" -Xswiftc -sanitize=fuzzer,address -Xswiftc -O -Xcc -fsanitize=fuzzer-no-link,address)
mkdir -p "$B"
for lib in PrismChat PrismData; do
    if ! swift build "${flags[@]}" --target "$lib" > "$B/build-$lib.log" 2>&1; then
        grep -E 'error' "$B/build-$lib.log" | head -20 >&2
        echo "error: building $lib for fuzzing failed (log: $B/build-$lib.log)" >&2
        exit 1
    fi
done
D="$B/debug"

# 2. what every fuzz binary compiles and links against
libs=(PrismCore PrismIO PrismTokenizer PrismVLM PrismSAM PrismChat PrismData CPrismKernels CCRC32C CExampleWire CExampleProto CImageCodecs)
objects=()
for l in "${libs[@]}"; do objects+=("$D/$l.build"/*.o); done
cflags=()
for m in "$D"/*.build/module.modulemap Sources/C*/module.modulemap; do [ -f "$m" ] && cflags+=(-Xcc "-fmodule-map-file=$m"); done
for i in Sources/C*/include; do cflags+=(-Xcc "-I$i"); done
for f in $(pkg-config --cflags-only-I libpng libjpeg zlib libprotobuf-c openblas 2>/dev/null); do cflags+=(-Xcc "$f"); done
read -r -a ldflags <<< "$(pkg-config --libs openblas libjpeg libpng zlib libprotobuf-c) -ldnnl -lcrypto"

# 3. one binary per target
mkdir -p "$B/bin"
for t in "${targets[@]}"; do
    src="$FUZZ/targets/$t.swift"
    [ -f "$src" ] || { echo "error: no $src (see $FUZZ/targets.list)" >&2; exit 1; }
    out="$B/bin/$t"
    if [ -x "$out" ] && [ -z "$(find "$src" "$FUZZ/Support.swift" "${objects[@]}" -newer "$out" -print -quit)" ]; then
        continue   # up to date
    fi
    echo "==> fuzz target $t"
    rm -f "$out"
    swiftc -sanitize=fuzzer,address -O -parse-as-library -module-name "fuzz_$t" -I "$D/Modules" "${cflags[@]}" \
        "$FUZZ/Support.swift" "$src" "${objects[@]}" "${ldflags[@]}" -o "$out" 2>&1 | grep -v 'warning: Cannot export' || true
    [ -x "$out" ] || { echo "error: building $t failed" >&2; exit 1; }
done
