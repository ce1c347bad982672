#!/usr/bin/env python3
"""Run `prism convert` or `prism ask|segment --batch` over N exact shards as Ray tasks.

Prism grows no scheduler of its own: each shard is one Ray task that runs the prism CLI as worker I of N
(`--shard-index I --shard-count N`, the record numbering every prism worker shares), so N tasks together write
exactly what one machine writes. Ray places the tasks, and re-runs a task whose worker process or node was lost
(max_retries); a task whose prism run fails on its data (exit status 1) is not retried, and the job stops.

  ray_jobs.py [--address auto | --local CPUS] [--prism PATH] convert --shards N -o OUT_DIR INPUT… [-- CONVERT_ARGS…]
  ray_jobs.py [...] ask     --shards N -o answers.jsonl INPUT… -- -p "What is in the picture?" [ASK_ARGS…]
  ray_jobs.py [...] segment --shards N -o masks.jsonl   INPUT… [-- SEGMENT_ARGS…]

Atomic parts. Every task writes into a folder of its own and publishes with rename(2), so a retried task never
duplicates or half-writes a part:
  convert: prism writes its shard into OUT/.ray-work/shard-I/attempt-… (itself atomically); the task then
           renames each output into OUT (the data file last).
  ask/segment: prism appends to OUT.parts/.work/shard-I.jsonl.partial and renames it when complete; a retried
           task resumes that file after its last complete row (--resume), then renames it to
           OUT.parts/<stem>-0000I-of-0000N.jsonl.
The prism process dies with its Ray worker (PR_SET_PDEATHSIG), so a lost worker leaves no writer behind.

Final step (on the driver): the input records are counted independently of the workers; every part must hold
exactly its slice (ask/segment: rows numbered lo, lo+1, …, hi-1; convert: hi-lo records), the slices must tile
0..total; then ask/segment parts are concatenated into OUT (temp, then rename) and a manifest is written:
OUT/manifest.json (convert) or OUT's stem + .manifest.json, with every part's path, records, bytes and SHA-256.

Paths (inputs, outputs, the prism binary) must be the same on every node: a shared filesystem or volume.
"""
import argparse
import ctypes
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
import zlib

if "--local" in sys.argv[1:sys.argv.index("--") if "--" in sys.argv else None]:
    # Ray binds its servers to 127.0.0.1 only when the node's IP is the loopback one, which it picks when it
    # believes it is not building a cluster; this must be set before ray is imported.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
import ray  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------
# Shards: the same arithmetic as PrismData's ShardSlice (records index*total/count ..< (index+1)*total/count).


def shard_range(index, count, total):
    return index * total // count, (index + 1) * total // count


def part_name(stem, index, count, suffix):
    width = max(5, len(str(count)))
    return f"{stem}-{index:0{width}d}-of-{count:0{width}d}{suffix}"


# ---------------------------------------------------------------------------------------------------------------
# Counting records without the workers: JSONL non-blank lines, TFRecord frames (plain, gzip or zlib).


def is_jsonl(path):
    return path.lower().endswith((".jsonl", ".json"))


def expand_inputs(inputs):
    """Folders stand for the TFRecord files in them, sorted (as prism does)."""
    out = []
    for p in inputs:
        if os.path.isdir(p):
            names = sorted(n for n in os.listdir(p)
                           if ".tfrecord" in n.lower() and not n.lower().endswith((".partial", ".tfindex")))
            if not names:
                sys.exit(f"error: {p}: no .tfrecord files in this folder")
            out += [os.path.join(p, n) for n in names]
        elif os.path.exists(p):
            out.append(p)
        else:
            sys.exit(f"error: {p}: no such file or folder")
    return out


def open_stream(path):
    with open(path, "rb") as f:
        head = f.read(2)
    if head == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if len(head) == 2 and head[0] & 0x0F == 8 and (head[0] << 8 | head[1]) % 31 == 0:
        return ZlibReader(path)
    return open(path, "rb")


class ZlibReader:
    def __init__(self, path):
        self.f, self.z, self.buf = open(path, "rb"), zlib.decompressobj(), b""

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.f.read(1 << 20)
            if not chunk:
                self.buf += self.z.flush()
                break
            self.buf += self.z.decompress(chunk)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def close(self):
        self.f.close()


def count_records(path):
    if is_jsonl(path):
        n = 0
        with open(path, "rb") as f:
            for line in f:
                if line.strip(b" \t\r\n"):
                    n += 1
        return n
    n = 0
    f = open_stream(path)
    try:
        while True:
            header = f.read(12)
            if not header:
                return n
            if len(header) < 12:
                raise SystemExit(f"error: {path}: truncated record header at record {n}")
            length = int.from_bytes(header[:8], "little")
            if hasattr(f, "seek") and not isinstance(f, gzip.GzipFile):
                f.seek(length + 4, os.SEEK_CUR)
            else:
                f.read(length + 4)
            n += 1
    finally:
        f.close()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Tasks


def _die_with_parent():
    """In the prism child: get SIGKILL when the Ray worker that started it dies, so no orphan keeps writing."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os._exit(137)


def run_prism(argv, threads, log_path):
    env = dict(os.environ, PRISM_THREADS=str(threads), CI="1")
    with open(log_path, "ab") as log:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=log, env=env,
                              preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
    if proc.returncode != 0:
        with open(log_path, "rb") as f:
            tail = f.read().decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(argv[:3])} … shard failed (exit {proc.returncode}): {' | '.join(tail)}")
    return proc.stdout.decode(errors="replace")


def note_attempt(work, index):
    """One line per attempt (pid, host): the manifest reports retries, and tests find the worker to kill."""
    with open(os.path.join(work, f"shard-{index}.attempts"), "a") as f:
        f.write(f"{os.getpid()} {socket.gethostname()} {time.time():.3f}\n")


@ray.remote(max_retries=3, retry_exceptions=False)
def convert_shard(prism, inputs, out_dir, index, count, extra, threads):
    work = os.path.join(out_dir, ".ray-work")
    os.makedirs(work, exist_ok=True)
    note_attempt(work, index)
    attempt = os.path.join(work, f"shard-{index}", f"attempt-{uuid.uuid4().hex[:12]}")
    shutil.rmtree(os.path.dirname(attempt), ignore_errors=True)  # an earlier attempt's leftovers
    os.makedirs(attempt)
    out = run_prism([prism, "convert", *inputs, "-o", attempt, "--shard-index", str(index), "--shard-count", str(count),
                     "--quiet", *extra], threads, os.path.join(work, f"shard-{index}.log"))
    # Publish: folders (images) first, then side files, then the data files; each rename is atomic.
    names = sorted(os.listdir(attempt), key=lambda n: (not os.path.isdir(os.path.join(attempt, n)),
                                                        n.endswith((".jsonl", ".tfrecord", ".gz", ".zz")), n))
    published = []
    for name in names:
        src, dst = os.path.join(attempt, name), os.path.join(out_dir, name)
        if os.path.isdir(src):
            for root, _, files in os.walk(src):
                rel = os.path.relpath(root, attempt)
                os.makedirs(os.path.join(out_dir, rel), exist_ok=True)
                for f in sorted(files):
                    os.replace(os.path.join(root, f), os.path.join(out_dir, rel, f))
                    published.append(os.path.join(rel, f))
        else:
            os.replace(src, dst)
            published.append(name)
    shutil.rmtree(os.path.dirname(attempt), ignore_errors=True)
    match = re.search(r"wrote (\d+) records", out)
    return {"shard": index, "files": published, "reported_records": int(match.group(1)) if match else None}


@ray.remote(max_retries=3, retry_exceptions=False)
def batch_shard(prism, command, inputs, parts_dir, final_name, index, count, extra, threads):
    work = os.path.join(parts_dir, ".work")
    os.makedirs(work, exist_ok=True)
    note_attempt(work, index)
    target = os.path.join(work, f"shard-{index}.jsonl")
    # ask's -o is the output file; segment's -o is a folder and --prefix the file's stem
    out = ["-o", target] if command == "ask" else ["-o", work, "--prefix", f"shard-{index}"]
    # --resume: a retry continues the lost attempt's OUTPUT.partial after its last complete row
    run_prism([prism, command, "--batch", *inputs, *out, "--shard-index", str(index), "--shard-count", str(count),
               "--resume", "--quiet", *extra], threads, os.path.join(work, f"shard-{index}.log"))
    os.replace(target, os.path.join(parts_dir, final_name))
    return {"shard": index, "files": [final_name]}


# ---------------------------------------------------------------------------------------------------------------
# Checks, merge, manifest


def check_rows(path, lo, hi):
    """The part's rows are records lo..hi-1, in order, each once."""
    expected = lo
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            record = json.loads(line).get("record")
            if record != expected:
                raise SystemExit(f"error: {path}:{n}: record {record}, expected {expected} (shard covers {lo}..{hi - 1})")
            expected += 1
    if expected != hi:
        raise SystemExit(f"error: {path}: ends at record {expected - 1}, but the shard covers {lo}..{hi - 1}")
    return hi - lo


def atomic_write(path, write):
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Arguments after -- go to the prism command unchanged.")
    ap.add_argument("--address", default="auto", help="Ray cluster to join (default: auto, the running cluster; starts nothing)")
    ap.add_argument("--local", type=int, metavar="CPUS",
                    help="start a private local Ray head on 127.0.0.1 with CPUS worker slots instead (testing)")
    ap.add_argument("--prism", default=os.environ.get("PRISM_BIN", "prism"),
                    help="prism binary, the same path on every node (default: $PRISM_BIN or prism on PATH)")
    ap.add_argument("--cpus-per-task", type=int, default=1, help="Ray CPUs per shard task (also PRISM_THREADS) (default 1)")
    ap.add_argument("--collect", action="store_true",
                    help="run nothing: check and merge parts already written (e.g. by the Kubernetes Indexed Job)")
    sub = ap.add_subparsers(dest="command", required=True)
    for name in ("convert", "ask", "segment"):
        p = sub.add_parser(name)
        p.add_argument("--shards", type=int, required=True, help="number of shard tasks (N)")
        p.add_argument("-o", "--output", required=True,
                       help="convert: output folder; ask/segment: the merged JSONL (parts in OUTPUT.parts/)")
        p.add_argument("inputs", nargs="+", help="input files (or folders of TFRecord files)")
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1:]
    args = ap.parse_args(argv)
    if args.shards < 1:
        sys.exit("error: --shards must be at least 1")
    prism = os.path.abspath(shutil.which(args.prism) or args.prism)
    if not args.collect and not os.path.exists(prism):
        sys.exit(f"error: {args.prism}: prism binary not found (build it, or pass --prism PATH)")
    inputs = [os.path.abspath(p) for p in expand_inputs(args.inputs)]
    if any(map(is_jsonl, inputs)) and not all(map(is_jsonl, inputs)):
        sys.exit("error: the inputs mix JSONL and TFRecord files: give one kind")
    output = os.path.abspath(args.output)

    started = time.time()
    total = sum(count_records(p) for p in inputs)
    n = args.shards
    ranges = [shard_range(i, n, total) for i in range(n)]
    stem = os.path.splitext(os.path.basename(output))[0]
    parts_dir = output + ".parts"
    work = os.path.join(output, ".ray-work") if args.command == "convert" else os.path.join(parts_dir, ".work")
    os.makedirs(output if args.command == "convert" else parts_dir, exist_ok=True)

    task_seconds = None
    if not args.collect:
        if args.local:
            ray.init(num_cpus=args.local, include_dashboard=False, _node_ip_address="127.0.0.1",
                     object_store_memory=100 << 20, log_to_driver=False, configure_logging=False)
        else:
            ray.init(address=args.address, log_to_driver=False, configure_logging=False)
        submitted = time.time()
        if args.command == "convert":
            futures = [convert_shard.options(num_cpus=args.cpus_per_task).remote(
                prism, inputs, output, i, n, extra, args.cpus_per_task) for i in range(n)]
        else:
            futures = [batch_shard.options(num_cpus=args.cpus_per_task).remote(
                prism, args.command, inputs, parts_dir, part_name(stem, i, n, ".jsonl"), i, n, extra, args.cpus_per_task)
                for i in range(n)]
        pending, done_count = list(futures), 0
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                shard = ray.get(done[0])["shard"]
                done_count += 1
                print(f"shard {shard} done ({done_count}/{n}, {time.time() - started:.1f} s)", file=sys.stderr)
        except ray.exceptions.RayTaskError as e:
            for f in pending:
                ray.cancel(f, force=True)
            sys.exit(f"error: {getattr(e, 'cause', None) or e}")
        task_seconds = round(time.time() - submitted, 3)

    # The final check: every part holds exactly its slice; the slices tile 0..total.
    parts = []
    if args.command == "convert":
        names = sorted(os.path.relpath(os.path.join(d, f), output) for d, dirs, files in os.walk(output)
                       for f in files if ".ray-work" not in d and f != "manifest.json")
        for i, (lo, hi) in enumerate(ranges):
            tag = re.compile(rf"-{i:05d}-of-{n:05d}(\.|/)")
            files = [f for f in names if tag.search(f)]
            data = [f for f in files if re.search(r"\.(jsonl|tfrecord)(\.gz|\.zz)?$", f)]
            if not data:
                sys.exit(f"error: {output}: no output of shard {i} (…-{i:05d}-of-{n:05d}.*)")
            records = sum(count_records(os.path.join(output, f)) for f in data)
            if records != hi - lo:
                sys.exit(f"error: shard {i} wrote {records} records, but its slice has {hi - lo} ({lo}..{hi - 1})")
            parts.append({"shard": i, "records": records, "range": [lo, hi], "attempts": attempts(work, i),
                          "files": [{"path": f, "bytes": os.path.getsize(os.path.join(output, f)),
                                     "sha256": sha256(os.path.join(output, f))} for f in files]})
        manifest_path = os.path.join(output, "manifest.json")
    else:
        paths = [os.path.join(parts_dir, part_name(stem, i, n, ".jsonl")) for i in range(n)]
        for i, (path, (lo, hi)) in enumerate(zip(paths, ranges)):
            if not os.path.exists(path):
                sys.exit(f"error: {path}: the part of shard {i} is missing")
            parts.append({"shard": i, "records": check_rows(path, lo, hi), "range": [lo, hi], "attempts": attempts(work, i),
                          "files": [{"path": os.path.relpath(path, os.path.dirname(output)), "bytes": os.path.getsize(path),
                                     "sha256": sha256(path)}]})

        def merge(f):
            for path in paths:
                with open(path, "rb") as part:
                    shutil.copyfileobj(part, f)
        atomic_write(output, merge)
        manifest_path = os.path.splitext(output)[0] + ".manifest.json"
    covered = sum(p["records"] for p in parts)
    assert covered == total, (covered, total)
    manifest = {
        "command": args.command, "prism": prism, "arguments": extra, "inputs": inputs, "input_records": total,
        "shards": n, "parts": parts, "task_seconds": task_seconds, "seconds": round(time.time() - started, 3),
    }
    if args.command != "convert":
        manifest["output"] = {"path": os.path.basename(output), "records": total, "bytes": os.path.getsize(output),
                              "sha256": sha256(output)}
    atomic_write(manifest_path, lambda f: f.write((json.dumps(manifest, indent=2) + "\n").encode()))
    retried = sum(p["attempts"] > 1 for p in parts)
    print(f"{args.command}: {total} records in {n} shards checked ({retried} retried) in {time.time() - started:.1f} s; "
          f"manifest {manifest_path}", file=sys.stderr)


def attempts(work, index):
    try:
        with open(os.path.join(work, f"shard-{index}.attempts")) as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


if __name__ == "__main__":
    main()
