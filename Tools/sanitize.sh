#!/usr/bin/env bash
# The whole test suite under a sanitizer, each in its own build folder (the normal .build is untouched):
#
#   bash Tools/sanitize.sh address     AddressSanitizer on Swift and C (debug: Swift's own bounds and overflow
#                                      checks stay on too), .build-asan
#   bash Tools/sanitize.sh undefined   UBSan on the C targets (Swift has no -sanitize=undefined; its debug
#                                      build traps on overflow, out-of-range indices and bad casts itself),
#                                      any report aborts; .build-ubsan
#
# Extra arguments go to `swift test` (e.g. --filter PrismIOTests). Exit status is the test run's; a sanitizer
# report fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}; shift || true
case "$kind" in
    address)
        path=.build-asan
        flags=(-Xswiftc -sanitize=address -Xcc -fsanitize=address)
        export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}" ;;
    undefined)
        path=.build-ubsan
        rt=$(ls "$(dirname "$(command -v swift)")"/../lib/clang/*/lib/linux/libclang_rt.ubsan_standalone-x86_64.a | head -1)
        [ -f "$rt" ] || { echo "error: no UBSan runtime next to the Swift toolchain's clang" >&2; exit 1; }
        flags=(-Xcc -fsanitize=undefined -Xcc -fno-sanitize-recover=undefined -Xcc -fno-omit-frame-pointer -Xlinker "$rt")
        export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" ;;
    *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
esac
swift build --build-tests --build-path "$path" "${flags[@]}"
swift test --skip-build --build-path "$path" "${flags[@]}" "$@"
