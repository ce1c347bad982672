#!/usr/bin/env python3
"""One peer workload in its own process (see bench.py): peers.py tf.data|tfrecord read|parse|convert DATASET PATH OUT."""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
peer, workload, dataset, path, out = sys.argv[1:6]


def convert(records):
    """The obvious Python conversion: images to files, everything else into one JSON line."""
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    with open(os.path.join(out, "data.jsonl"), "w") as jsonl:
        for i, record in enumerate(records):
            row = {}
            for key, value in record.items():
                if key == "image/encoded":
                    name = f"images/{i:06d}.jpg"
                    with open(os.path.join(out, name), "wb") as f:
                        f.write(value)
                    row["image"] = name
                elif isinstance(value, bytes):
                    row[key] = value.decode(errors="replace")
                elif isinstance(value, list):
                    row[key] = [v.decode(errors="replace") if isinstance(v, bytes) else v for v in value]
                else:
                    row[key] = value
            jsonl.write(json.dumps(row) + "\n")


# Imports happen before the clock starts: only the workload is timed, printed as seconds on stdout.
if peer == "tf.data":
    import tensorflow as tf
    from bench import SPECS
    spec = SPECS[dataset](tf)
    started = time.perf_counter()
    ds = tf.data.TFRecordDataset(path, buffer_size=1 << 20)
    if workload == "read":
        ds.reduce(0, lambda n, _: n + 1).numpy()
    elif workload == "parse":
        ds.batch(256).map(lambda x: tf.io.parse_example(x, spec)).reduce(0, lambda n, _: n + 1).numpy()
    else:
        def dense(x):
            parsed = tf.io.parse_single_example(x, spec)
            return {k: tf.sparse.to_dense(v) if isinstance(v, tf.SparseTensor) else v for k, v in parsed.items()}

        def plain(v):
            return v.tolist() if hasattr(v, "tolist") and getattr(v, "ndim", 0) > 0 else v.item() if hasattr(v, "item") else v

        def rows():
            for parsed in ds.map(dense).as_numpy_iterator():
                yield {k: plain(v) for k, v in parsed.items()}
        convert(rows())
else:
    from tfrecord import reader
    started = time.perf_counter()
    if workload == "read":
        for _ in reader.tfrecord_iterator(path):
            pass
    elif workload == "parse":
        for _ in reader.tfrecord_loader(path, None):
            pass
    else:
        def rows():
            for record in reader.tfrecord_loader(path, None):
                row = {}
                for k, v in record.items():
                    if not hasattr(v, "dtype"):   # bytes, or a list of bytes
                        row[k] = v
                    elif v.dtype.kind == "u":   # or a single bytes value as a uint8 array
                        row[k] = v.tobytes()
                    else:
                        row[k] = v.tolist()
                yield row
        convert(rows())

print(time.perf_counter() - started)
