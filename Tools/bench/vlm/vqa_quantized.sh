#!/usr/bin/env bash
# The embedded model's VQA accuracy in bf16 (safetensors) and as Prism-quantised GGUF (Q8_0, Q4_K_M), on the
# 1000-record synthetic test split. Targets: Q8_0 within 0.5 points of bf16, Q4_K_M within 2.
#   bash Tools/bench/vlm/vqa_quantized.sh [WORK_DIR]      (default /tmp/prism-vqa-gguf; about 3 × 1–5 min)
set -euo pipefail
cd "$(dirname "$0")/../../.."
work=${1:-/tmp/prism-vqa-gguf}
mkdir -p "$work"
[ -x .build/release/prism ] || swift build -c release
if ! ls "$work"/scenes/tfrecord/test-*.tfrecord.gz >/dev/null 2>&1; then
    python3 Tools/train/make_dataset.py --out "$work/scenes" --splits test --test 1000
fi
for t in q8_0 q4_k_m; do
    [ -d "$work/$t" ] || .build/release/prism quantize -m Weights/prism-vl-tiny -o "$work/$t" --type "$t"
done
for m in bf16 q8_0 q4_k_m; do
    args=(); [ "$m" = bf16 ] || args=(-m "$work/$m")
    echo "== $m"
    .build/release/prism eval vqa "${args[@]}" --data "$work"/scenes/tfrecord/test-*.tfrecord.gz | tee "$work/vqa-$m.txt"
done
for m in q8_0 q4_k_m; do
    awk -v m=$m 'FNR==1{f++} /^overall/{a[f]=$3} END{printf "%s: overall %.3f vs bf16 %.3f (%+.1f points)\n", m, a[2], a[1], 100*(a[2]-a[1])}' \
        "$work/vqa-bf16.txt" "$work/vqa-$m.txt"
done
