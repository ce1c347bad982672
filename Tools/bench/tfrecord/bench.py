#!/usr/bin/env python3
"""Throughput of prism vs the PyPI `tfrecord` package vs tf.data on the same files (see run.sh).

Workloads, each timed best-of-N on a warm page cache, single process:
  read+crc    frame every record and check its CRCs. prism: `prism inspect --count`;
              tf.data: TFRecordDataset(...).reduce (C++, checks CRCs); tfrecord: tfrecord_iterator
              (pure Python; it does NOT check CRCs, which only flatters it).
Every tool is timed on the work itself: peers inside their process after imports, prism by its own report.
  read+parse  also parse every tf.Example and read every value. prism: `inspect --count --decode` (a full
              validating parse, ints and floats decoded and summed); tf.data: batch(256) + tf.io.parse_example with
              the known spec; tfrecord: tfrecord_loader (protobuf → numpy).
  convert     TFRecord → JSONL + image files (original bytes). prism: `prism convert`; peers: the obvious
              Python loop over their parsed records (write image, json.dumps the rest).
Prints MB/s for each and prism's speed-up over each peer.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def generate(directory, scale):
    """Two datasets: 'images' (≈100 kB JPEG-like payload per record) and 'small' (a few scalar features)."""
    import numpy as np
    import tensorflow as tf
    rng = np.random.default_rng(0)
    paths = {}
    images = os.path.join(directory, "images.tfrecord")
    with tf.io.TFRecordWriter(images) as w:
        for i in range(int(1000 * scale)):
            blob = b"\xff\xd8\xff\xe0" + rng.bytes(100_000)
            w.write(tf.train.Example(features=tf.train.Features(feature={
                "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[blob])),
                "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"jpeg"])),
                "image/height": tf.train.Feature(int64_list=tf.train.Int64List(value=[480])),
                "image/width": tf.train.Feature(int64_list=tf.train.Int64List(value=[640])),
                "image/object/bbox/xmin": tf.train.Feature(float_list=tf.train.FloatList(value=rng.random(4).tolist())),
                "image/object/class/text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"cat", b"dog", b"cat", b"bird"])),
            })).SerializeToString())
    paths["images"] = images
    small = os.path.join(directory, "small.tfrecord")
    with tf.io.TFRecordWriter(small) as w:
        for i in range(int(100_000 * scale)):
            w.write(tf.train.Example(features=tf.train.Features(feature={
                "id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 10])),
                "score": tf.train.Feature(float_list=tf.train.FloatList(value=[0.5, 0.25, i * 0.001])),
                "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[f"caption number {i}".encode()])),
            })).SerializeToString())
    paths["small"] = small
    return paths


SPECS = {
    "images": lambda tf: {"image/encoded": tf.io.FixedLenFeature([], tf.string), "image/format": tf.io.FixedLenFeature([], tf.string),
                          "image/height": tf.io.FixedLenFeature([], tf.int64), "image/width": tf.io.FixedLenFeature([], tf.int64),
                          "image/object/bbox/xmin": tf.io.VarLenFeature(tf.float32), "image/object/class/text": tf.io.VarLenFeature(tf.string)},
    "small": lambda tf: {"id": tf.io.FixedLenFeature([], tf.int64), "label": tf.io.FixedLenFeature([], tf.int64),
                         "score": tf.io.VarLenFeature(tf.float32), "text": tf.io.FixedLenFeature([], tf.string)},
}


def best(fn, repeat):
    """fn returns its own timing (peers, without interpreter start and imports) or None (timed here)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        own = fn()
        times.append(own if own is not None else time.perf_counter() - t)
    return min(times)


def run(cmd):
    """Runs prism and returns the seconds it reports for the work itself ("… in 0.123 s"), like the peers."""
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ, "CI": "true"}).stdout
    return float(re.search(r" in ([0-9.]+) s", out).group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--prism", required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="dataset size multiplier (1: ≈100 MB + ≈6 MB)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="prism-bench-tfrecord-")
    try:
        paths = generate(work, args.scale)
        results = []
        for name, path in paths.items():
            size = os.path.getsize(path)
            for workload, fns in workloads(name, path, work, args.prism).items():
                for peer, fn in fns.items():
                    seconds = best(fn, args.repeat)
                    results.append((name, workload, peer, size / seconds / 1e6))
        report(results)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def workloads(name, path, work, prism):
    def out(tag):
        d = os.path.join(work, f"out-{tag}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    # The `tfrecord` package and TensorFlow both register tensorflow.Example: each peer runs in a child.
    def child(peer, workload):
        return lambda: float(subprocess.run([sys.executable, __file__.replace("bench.py", "peers.py"), peer, workload, name, path,
                                             out(f"{peer}-{workload}")], check=True, capture_output=True, text=True).stdout.split()[-1])

    return {
        "read+crc": {"prism": lambda: run([prism, "inspect", "--count", path]),
                     "tf.data": child("tf.data", "read"), "tfrecord": child("tfrecord", "read")},
        "read+parse": {"prism": lambda: run([prism, "inspect", "--count", "--decode", path]),
                       "tf.data": child("tf.data", "parse"), "tfrecord": child("tfrecord", "parse")},
        "convert": {"prism": lambda: run([prism, "convert", path, "-o", out("prism-convert"), "--quiet"]),
                    "tf.data": child("tf.data", "convert"), "tfrecord": child("tfrecord", "convert")},
    }


def report(results):
    table = {}
    for name, workload, peer, mbps in results:
        table.setdefault((name, workload), {})[peer] = mbps
    print(f"{'dataset':8} {'workload':11} {'prism MB/s':>11} {'tf.data MB/s':>13} {'tfrecord MB/s':>14} {'× tf.data':>10} {'× tfrecord':>11}")
    for (name, workload), row in table.items():
        p, t, r = row["prism"], row["tf.data"], row["tfrecord"]
        print(f"{name:8} {workload:11} {p:11.0f} {t:13.0f} {r:14.0f} {p / t:10.2f} {p / r:11.2f}")
    print("(MB/s of TFRecord input, process start and imports excluded for every tool;")
    print(" the tfrecord package checks no CRC; convert = TFRecord → JSONL + image files)")


if __name__ == "__main__":
    main()
