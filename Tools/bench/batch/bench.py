#!/usr/bin/env python3
"""Batch benchmarks, each a ratio against a baseline measured in the same run (run.sh takes the bench lock).

ask:  `prism ask --batch` over N questions (default 1000: 250 generated scenes × 4 phrasings) with the embedded
      model, the engine batching --batch-size rows, against the same command with --batch-size 1, which asks one
      question at a time through the same engine (model loaded once in both). Also reports how many answers agree.
ray:  ray_jobs.py on a private 127.0.0.1 Ray head with 2 worker slots against one with 1 slot, on a conversion
      that takes ≥ 30 s on one worker (JSONL-built TFRecords re-sharded to gzip TFRecords, --shards 8). Task time
      only: from submission to the last shard, read from the manifest (a head's start-up is not counted).
"""
import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "Tools", "distributed"))
QUESTIONS = ["What color is the largest shape?", "How many shapes are there?", "Describe the image.",
             "Is there a circle?"]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def load():
    return open("/proc/loadavg").read().split()[:3]


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "?"


def scenes(folder, n, seed=5):
    from PIL import Image, ImageDraw
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n):
        w, h = rng.choice([(224, 224), (256, 192), (192, 256)])
        img = Image.new("RGB", (w, h), tuple(rng.randrange(40, 256) for _ in range(3)))
        d = ImageDraw.Draw(img)
        for _ in range(rng.randint(1, 5)):
            s = rng.randint(20, 80)
            x0, y0 = rng.randrange(w - s), rng.randrange(h - s)
            color = tuple(rng.randrange(256) for _ in range(3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)([x0, y0, x0 + s, y0 + s], fill=color)
        img.save(os.path.join(folder, f"scene{i:04d}.png"))


def bench_ask(args):
    work = os.path.join(args.work, "ask")
    os.makedirs(work, exist_ok=True)
    images = args.questions // len(QUESTIONS)
    rows = os.path.join(work, "rows.jsonl")
    if not os.path.exists(rows) or sum(1 for _ in open(rows)) != images * len(QUESTIONS):   # another --questions
        scenes(os.path.join(work, "images"), images)
        with open(rows, "w") as f:
            for i in range(images):
                for j, q in enumerate(QUESTIONS):
                    f.write(json.dumps({"id": f"{i}-{j}", "image": f"images/scene{i:04d}.png", "question": q}) + "\n")
    common = [args.prism, "ask", "--batch", rows, "--question-key", "question", "--id-key", "id", "--temp", "0",
              "--max-tokens", str(args.max_tokens), "--quiet"] + (["-m", args.model] if args.model else [])
    results = {}
    for rep in range(args.repeats):
        for name, extra in (("batched", ["--batch-size", str(args.batch_size)]), ("one by one", ["--batch-size", "1"])):
            out = os.path.join(work, f"{name.replace(' ', '-')}-{os.path.basename(args.model or 'embedded')}.jsonl")
            before = load()
            t = time.time()
            subprocess.run(common + extra + ["-o", out], check=True, env=dict(os.environ, CI="1"))
            seconds = time.time() - t
            tokens = sum(json.loads(l).get("completion_tokens", 0) for l in open(out))
            results.setdefault(name, []).append((seconds, tokens))
            log(f"{name}: {args.questions} questions in {seconds:.1f} s ({args.questions / seconds:.2f} q/s, "
                f"{tokens / seconds:.1f} tok/s), load {before} → {load()}")
    # context, not the target's baseline: a `prism ask` process per question (load, prefill, answer, exit), as a
    # user without --batch would ask, on the first --process-sample questions
    sample = [json.loads(l) for l in open(rows)][:args.process_sample]
    t = time.time()
    for r in sample:
        subprocess.run([args.prism, "ask", "--image", os.path.join(work, r["image"]), "-p", r["question"], "--temp", "0",
                        "--max-tokens", str(args.max_tokens)] + (["-m", args.model] if args.model else []),
                       check=True, capture_output=True)
    per_process = (time.time() - t) / max(1, len(sample))
    tag = os.path.basename(args.model or "embedded")
    a = [json.loads(l) for l in open(os.path.join(work, f"batched-{tag}.jsonl"))]
    b = [json.loads(l) for l in open(os.path.join(work, f"one-by-one-{tag}.jsonl"))]
    same = sum(x.get("answer") == y.get("answer") for x, y in zip(a, b))
    best = {k: min(s for s, _ in v) for k, v in results.items()}
    answered = sum(r.get("completion_tokens", 0) for r in a) / max(1, len(a))
    prompt = sum(r.get("prompt_tokens", 0) for r in a) / max(1, len(a))
    print(f"ask --batch, {args.questions} questions, model {args.model or 'embedded prism-vl-tiny'}, max {args.max_tokens} tokens "
          f"(mean {prompt:.0f} prompt, {answered:.1f} answer tokens), batch size {args.batch_size}, CPU {cpu_name()}")
    for k, v in results.items():
        print(f"  {k:11s}: " + ", ".join(f"{s:.1f} s ({args.questions / s:.2f} q/s)" for s, _ in v))
    print(f"  speed-up (best of each): {best['one by one'] / best['batched']:.2f}×; answers identical: {same}/{len(a)}")
    if sample:
        print(f"  context: one `prism ask` process per question: {1 / per_process:.2f} q/s over the first {len(sample)} "
              f"questions, {per_process * args.questions / best['batched']:.1f}× slower than the batched run")


def start_head(work, cpus):
    import test_ray
    return test_ray.start_head(work, cpus)


def bench_ray(args):
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import test_ray
    work = os.path.join(args.work, "ray")
    os.makedirs(work, exist_ok=True)
    tfr = os.path.join(work, f"tfr-{args.records}")        # per size: --records must not reuse another size's data
    if not os.path.isdir(tfr):
        rows = os.path.join(work, "rows.jsonl")
        rng = random.Random(3)
        words = ["circle", "square", "red", "blue", "green", "large", "small", "left", "right", "above", "below"]
        with open(rows, "w") as f:
            for i in range(args.records):
                f.write(json.dumps({"id": i, "caption": " ".join(rng.choice(words) for _ in range(24)),
                                    "xmin": [round(rng.random(), 4) for _ in range(16)],
                                    "labels": [rng.randrange(80) for _ in range(16)]}) + "\n")
        subprocess.run([args.prism, "convert", rows, "-o", tfr, "--shards", "8", "-q"], check=True)
        os.remove(rows)
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(tfr, "*")))
    results = {}
    for rep in range(args.repeats):
        for cpus in (1, 2):
            head, address = test_ray.start_head(os.path.join(work, f"head{cpus}"), cpus)
            try:
                out = os.path.join(work, f"out{cpus}")
                shutil.rmtree(out, ignore_errors=True)
                before = load()
                subprocess.run([sys.executable, os.path.join(ROOT, "Tools", "distributed", "ray_jobs.py"), "--address",
                                address, "--prism", args.prism, "convert", "--shards", "8", "-o", out, tfr, "--",
                                "--to", "tfrecord", "--compression", "gzip", "--compression-level", "9"],
                               check=True, env=dict(os.environ, CI="1"))
                seconds = json.load(open(os.path.join(out, "manifest.json")))["task_seconds"]
                results.setdefault(cpus, []).append(seconds)
                log(f"{cpus} worker(s): {seconds:.1f} s ({size / seconds / 1e6:.1f} MB/s in), load {before} → {load()}")
            finally:
                test_ray.stop_head(head)
    print(f"ray_jobs.py convert, {args.records} records ({size / 1e6:.0f} MB TFRecord → gzip -9, 8 shards), CPU {cpu_name()}")
    for k, v in results.items():
        print(f"  {k} worker{'s' if k > 1 else ''}: " + ", ".join(f"{s:.1f} s" for s in v))
    print(f"  speed-up (best of each): {min(results[1]) / min(results[2]):.2f}×")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("what", choices=["ask", "ray"])
    ap.add_argument("--prism", required=True)
    ap.add_argument("--work", default="/tmp/prism-bench-batch")
    ap.add_argument("--questions", type=int, default=1000)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", help="ask: model directory (default: the embedded Weights/prism-vl-tiny)")
    ap.add_argument("--process-sample", type=int, default=100, help="ask: questions asked with one process each (0: skip)")
    ap.add_argument("--records", type=int, default=1200000)   # ≥ 30 s on one worker here
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    args.prism = os.path.abspath(args.prism)
    print(f"load before: {load()}")
    {"ask": bench_ask, "ray": bench_ray}[args.what](args)
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()
