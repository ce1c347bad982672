#!/usr/bin/env bash
# Coverage-guided fuzzing of Prism's parsers with libFuzzer (see Tools/fuzz/README.md).
#
#   bash Tools/fuzz/run.sh TARGET SECONDS [libFuzzer flags…]   fuzz one target (builds it first)
#   bash Tools/fuzz/run.sh --all SECONDS                       every target in targets.list, one after another (CI)
#   bash Tools/fuzz/run.sh --repro TARGET FILE…                replay inputs (a crash file, a corpus folder) once
#   bash Tools/fuzz/run.sh --long TARGET [SECONDS] [EXECS]     sessions of SECONDS (600) until EXECS (10^6) are done
#   bash Tools/fuzz/run.sh --list                              the targets
#
# The working corpus grows in .build-fuzz/corpus/TARGET (seeded from the committed Tools/fuzz/corpus/TARGET);
# crashes, leaks, timeouts and out-of-memory inputs land in .build-fuzz/crashes/TARGET/ and make the run fail.
# Every run prints "fuzz TARGET: N execs in S s, 0 crashes" (the numbers Tools/fuzz/README.md records).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=.build-fuzz
FUZZ=Tools/fuzz
list() { grep -v '^\s*#' "$FUZZ/targets.list" | awk 'NF {print $1}'; }
usage() { sed -n '4,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

# libFuzzer settings: input size from the seeds (at least 4 KiB), 10 s per input, 2 GiB RSS,
# ASan without leak checks (long-lived caches look like leaks at exit).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1:handle_abort=1}"
common=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

fuzz_one() {
    local t=$1 seconds=$2; shift 2
    local corpus="$B/corpus/$t" crashes="$B/crashes/$t" log="$B/logs/$t.log"
    mkdir -p "$corpus" "$crashes" "$B/logs"
    local seeds=()
    [ -d "$FUZZ/corpus/$t" ] && seeds=("$FUZZ/corpus/$t")
    local status=0
    "$B/bin/$t" "${common[@]}" -max_total_time="$seconds" -artifact_prefix="$crashes/" "$@" "$corpus" "${seeds[@]}" \
        > "$log" 2>&1 || status=$?
    execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
    execs=${execs:-0}
    local secs=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | awk '{print $2}' | tail -1)
    local found=$(find "$crashes" -type f | wc -l)
    echo "fuzz $t: $execs execs in $seconds s (${secs:-0}/s), corpus $(ls "$corpus" | wc -l) inputs, $found crash files"
    if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
        grep -aE 'ERROR|Fatal error|SUMMARY|panic|==[0-9]+==' "$log" | head -8 >&2 || true
        echo "fuzz $t FAILED (exit $status): log $log, inputs in $crashes/ (replay: bash $FUZZ/run.sh --repro $t $crashes/*)" >&2
        return 1
    fi
}

case "${1:-}" in
    --list) list ;;
    --all)
        [ $# -eq 2 ] || usage
        mapfile -t all < <(list)
        bash "$FUZZ/build.sh" "${all[@]}"
        failed=0
        for t in "${all[@]}"; do fuzz_one "$t" "$2" || failed=1; done
        exit $failed ;;
    --long)
        [ $# -ge 2 ] || usage
        t=$2 seconds=${3:-600} want=${4:-1000000}
        bash "$FUZZ/build.sh" "$t"
        total=0 sessions=0 start=$(date +%s)
        while ((sessions == 0 || total < want)); do
            fuzz_one "$t" "$seconds" || exit 1
            total=$((total + execs)); sessions=$((sessions + 1))
        done
        echo "fuzz $t long run: $total execs in $sessions session(s) of $seconds s ($(( $(date +%s) - start )) s wall), 0 crashes"
        cp "$B/logs/$t.log" "$B/logs/$t.long.log" ;;
    --repro)
        [ $# -ge 3 ] || usage
        t=$2; shift 2
        bash "$FUZZ/build.sh" "$t"
        # libFuzzer runs each file given to it once (folders are expanded here) and stops at the first crash
        mapfile -t files < <(find "$@" -type f | sort)
        exec "$B/bin/$t" "${files[@]}" ;;
    ""|-*) usage ;;
    *)
        [ $# -ge 2 ] || usage
        t=$1 seconds=$2; shift 2
        bash "$FUZZ/build.sh" "$t"
        fuzz_one "$t" "$seconds" "$@" ;;
esac
