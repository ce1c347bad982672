#!/usr/bin/env python3
"""End-to-end check of ray_jobs.py on a private local Ray cluster (run by test_ray.sh).

1. 200 generated PNG images → TFRecord (`prism convert`, one machine).
2. TFRecord → JSONL on Ray in 4 shard tasks; the files equal one machine's `prism convert --shards 4` byte for byte.
3. `ask --batch` over the 200 rows on Ray in 4 shard tasks, SIGKILLing the Ray worker process running one of them
   mid-run; Ray re-runs that task (which resumes the part after its last complete row); the merged answers equal
   one machine's `prism ask --batch` record for record, and the manifest shows the retry.
The Ray head binds 127.0.0.1 with 2 worker slots; it is started as `ray start --head --block` and stopped by its pid.
"""
import argparse
import glob
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time

# A private cluster on the loopback interface: Ray binds 127.0.0.1 only when it takes the node's IP to be the
# loopback one, which it does when it believes it is not building a cluster (read when ray is imported).
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
HERE = os.path.dirname(os.path.abspath(__file__))
RAY_JOBS = os.path.join(HERE, "ray_jobs.py")
QUESTION = "What shapes are in the picture?"


def log(msg):
    print(f"[test_ray {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_images(folder, n, seed=17):
    from PIL import Image, ImageDraw
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    for i in range(n):
        w, h = rng.choice([(96, 96), (128, 96), (112, 140), (160, 120)])
        img = Image.new("RGB", (w, h), tuple(rng.randrange(256) for _ in range(3)))
        d = ImageDraw.Draw(img)
        for _ in range(rng.randint(1, 4)):
            x0, y0 = rng.randrange(w - 20), rng.randrange(h - 20)
            box = [x0, y0, x0 + rng.randint(12, w - x0), y0 + rng.randint(12, h - y0)]
            color = tuple(rng.randrange(256) for _ in range(3))
            (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=color)
        img.save(os.path.join(folder, f"img{i:04d}.png"))


def run(argv, **kw):
    log("$ " + " ".join(argv))
    subprocess.run(argv, check=True, **kw)


def same_tree(a, b, ignore=("manifest.json", ".ray-work")):
    def files(root):
        out = {}
        for dirpath, dirnames, names in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in ignore]
            for n in names:
                if n not in ignore:
                    p = os.path.join(dirpath, n)
                    out[os.path.relpath(p, root)] = open(p, "rb").read()
        return out
    fa, fb = files(a), files(b)
    if fa.keys() != fb.keys():
        raise SystemExit(f"FAIL: {a} and {b} hold different files: {sorted(fa.keys() ^ fb.keys())[:5]}")
    bad = [k for k in fa if fa[k] != fb[k]]
    if bad:
        raise SystemExit(f"FAIL: files differ: {bad[:5]}")
    return len(fa)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_head(work, cpus):
    port = free_port()
    temp = os.path.join(work, "ray")
    os.makedirs(temp, exist_ok=True)
    argv = ["ray", "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
            f"--num-cpus={cpus}", "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
            f"--ray-client-server-port={free_port()}", "--object-store-memory=100000000"]
    log("$ " + " ".join(argv))
    head = subprocess.Popen(argv, stdout=open(os.path.join(work, "ray-head.log"), "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    address = f"127.0.0.1:{port}"
    import ray
    for _ in range(240):
        if head.poll() is not None:
            raise SystemExit(f"FAIL: ray start exited ({head.returncode}); see {work}/ray-head.log")
        try:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
            ok = ray.cluster_resources().get("CPU", 0) >= cpus
            ray.shutdown()
            if ok:
                return head, address
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit("FAIL: the Ray head did not come up in 120 s")


def stop_head(head):
    if head.poll() is None:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prism", required=True)
    ap.add_argument("--work", default=os.environ.get("PRISM_RAY_WORK", "/tmp/prism-ray-test"))
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args()
    prism = os.path.abspath(args.prism)
    work = os.path.abspath(args.work)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    t0 = time.time()
    env = dict(os.environ, CI="1")

    make_images(os.path.join(work, "images"), args.images)
    run([prism, "convert", os.path.join(work, "images"), "-o", os.path.join(work, "tfr"), "--shards", "2", "-q"], env=env)
    tfr = os.path.join(work, "tfr")
    run([prism, "convert", tfr, "-o", os.path.join(work, "one"), "--shards", str(args.shards), "-q"], env=env)
    jsonl = sorted(glob.glob(os.path.join(work, "one", "*.jsonl")))
    ask = ["-p", QUESTION, "--temp", "0", "--max-tokens", str(args.max_tokens)]
    one_answers = os.path.join(work, "one-answers.jsonl")
    run([prism, "ask", "--batch", *jsonl, "-o", one_answers, "--quiet", *ask], env=dict(env, PRISM_THREADS="1"))
    log(f"one machine done in {time.time() - t0:.1f} s")

    head, address = start_head(work, 2)
    try:
        log(f"ray head up at {address} after {time.time() - t0:.1f} s")
        base = [sys.executable, RAY_JOBS, "--address", address, "--prism", prism]
        run(base + ["convert", "--shards", str(args.shards), "-o", os.path.join(work, "ray-jsonl"), tfr], env=env)
        n = same_tree(os.path.join(work, "one"), os.path.join(work, "ray-jsonl"))
        log(f"convert: {n} files equal byte for byte")

        ray_jsonl = sorted(glob.glob(os.path.join(work, "ray-jsonl", "*.jsonl")))
        answers = os.path.join(work, "ray-answers.jsonl")
        argv = base + ["ask", "--shards", str(args.shards), "-o", answers, *ray_jsonl, "--", *ask]
        log("$ " + " ".join(argv))
        job = subprocess.Popen(argv, env=env)
        work_dir = answers + ".parts/.work"
        killed = None
        deadline = time.time() + 600
        while killed is None and job.poll() is None and time.time() < deadline:
            for partial in sorted(glob.glob(os.path.join(work_dir, "shard-*.jsonl.partial"))):
                with open(partial, "rb") as f:
                    rows = f.read().count(b"\n")
                if rows >= 3:   # mid-run: some rows written, most to go
                    shard = os.path.basename(partial).split(".")[0]
                    with open(os.path.join(work_dir, shard + ".attempts")) as f:
                        pid = int(f.read().split()[0])
                    os.kill(pid, signal.SIGKILL)
                    killed = (shard, pid, rows)
                    log(f"killed Ray worker {pid} running {shard} after {rows} rows")
                    break
            time.sleep(0.05)
        if job.wait(timeout=max(1, deadline - time.time())) != 0:
            raise SystemExit(f"FAIL: ray_jobs.py ask exited {job.returncode}")
        if killed is None:
            raise SystemExit("FAIL: no shard was caught mid-run to kill")
        manifest = json.load(open(os.path.splitext(answers)[0] + ".manifest.json"))
        retried = {f"shard-{p['shard']}": p["attempts"] for p in manifest["parts"]}
        if retried[killed[0]] < 2:
            raise SystemExit(f"FAIL: {killed[0]} was not retried: {retried}")
        a, b = open(one_answers, "rb").read(), open(answers, "rb").read()
        rows_a, rows_b = a.splitlines(), b.splitlines()
        if len(rows_a) != args.images or rows_a != rows_b:
            diff = [i for i, (x, y) in enumerate(zip(rows_a, rows_b)) if x != y]
            raise SystemExit(f"FAIL: merged answers differ from the one-machine run ({len(rows_a)} vs {len(rows_b)} rows, "
                             f"first differing rows {diff[:5]})")
        errors = sum(b'"finish_reason":"error"' in r for r in rows_a)
        log(f"ask: {len(rows_a)} rows equal record for record ({errors} error rows); {killed[0]} ran {retried[killed[0]]} times")
    finally:
        stop_head(head)
    log(f"PASS in {time.time() - t0:.1f} s")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
