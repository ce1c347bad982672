#!/usr/bin/env python3
"""TFRecord fixtures for Tests/PrismDataTests, written by TensorFlow and by the PyPI `tfrecord` package.

    python3 Tools/reference/tfrecord_fixtures.py generate   # writes Tests/PrismDataTests/Fixtures/*
    python3 Tools/reference/tfrecord_fixtures.py verify     # TF + `tfrecord` read the prism_*.tfrecord* files

`generate` writes records with tf.io.TFRecordWriter (none / GZIP / ZLIB) and with tfrecord.TFRecordWriter,
plus expected.json: every record's features as {"kind", "values"} (bytes base64, int64 as decimal strings,
floats as float32 values widened to double, so they compare exactly).

The prism_*.tfrecord* files are written by Prism itself (PRISM_WRITE_FIXTURES=1 swift test --scratch-path
.build-data --filter FixtureTests/testWritePrismFixtures); `verify` then checks that TensorFlow and the
`tfrecord` package read them with exactly the features in expected.json.

TensorFlow and `tfrecord` both register tensorflow.Example in the protobuf pool, so the `tfrecord` package
parts run in a child process (`python3 ... tfrecord-pkg generate|verify`).
Only for fixture generation: tests never run Python.
"""
import base64
import json
import os
import struct
import subprocess
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "PrismDataTests", "Fixtures")


def tiny_images():
    """A 4×3 JPEG and PNG, made with TF so they are real files with the right magic."""
    import tensorflow as tf
    pixels = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3) * 7
    jpeg = tf.io.encode_jpeg(pixels, quality=90).numpy()
    png = tf.io.encode_png(pixels).numpy()
    return jpeg, png


def example_records(jpeg, png):
    """Plain dicts {key: (kind, values)}: the single source of truth for TF-written fixtures."""
    f32 = lambda xs: [float(np.float32(x)) for x in xs]
    return [
        {   # an Object Detection API style record
            "image/encoded": ("bytes", [jpeg]),
            "image/format": ("bytes", [b"jpeg"]),
            "image/height": ("int64", [4]),
            "image/width": ("int64", [3]),
            "image/filename": ("bytes", [b"cat_0001.jpg"]),
            "image/source_id": ("bytes", [b"0001"]),
            "image/object/bbox/xmin": ("float", f32([0.1, 0.5])),
            "image/object/bbox/xmax": ("float", f32([0.4, 0.9])),
            "image/object/bbox/ymin": ("float", f32([0.2, 0.25])),
            "image/object/bbox/ymax": ("float", f32([0.7, 1.0])),
            "image/object/class/label": ("int64", [1, 2]),
            "image/object/class/text": ("bytes", [b"cat", "ch\u00e2t \u732b".encode()]),
        },
        {   # image-text pair with a PNG
            "image/encoded": ("bytes", [png]),
            "image/format": ("bytes", [b"png"]),
            "image/height": ("int64", [4]),
            "image/width": ("int64", [3]),
            "question": ("bytes", [b"What colour is the square?"]),
            "answer": ("bytes", [b"grey"]),
        },
        {   # edge values: extremes, negatives, empty lists, empty and binary bytes
            "int_extremes": ("int64", [0, -1, 2**63 - 1, -(2**63), 300]),
            "floats": ("float", f32([0.0, -0.0, 1e-30, -2.5, 3.4028234e38, 1.17549435e-38])),
            "empty_floats": ("float", []),
            "empty_ints": ("int64", []),
            "empty_bytes": ("bytes", []),
            "blobs": ("bytes", [b"", b"\x00\xff\x80binary", b"x" * 300]),
            "label": ("int64", [7]),
        },
        {},  # an Example with no features at all
        {   # many small features
            **{f"f{i:03d}": ("int64", list(range(i % 5))) for i in range(40)},
            "caption": ("bytes", ["unicode \u2713 caption".encode()]),
        },
    ]


def sequence_records():
    f32 = lambda xs: [float(np.float32(x)) for x in xs]
    return [
        {
            "context": {"video/id": ("bytes", [b"clip-1"]), "length": ("int64", [3])},
            "feature_lists": {
                "frames/score": [("float", f32([0.5])), ("float", f32([0.25, 0.125])), ("float", [])],
                "frames/token": [("int64", [1, 2]), ("int64", [3])],
            },
        },
        {"context": {}, "feature_lists": {"empty_steps": []}},
    ]


def tf_feature(kind, values):
    """kind None: a Feature with no kind set."""
    import tensorflow as tf
    if kind is None:
        return tf.train.Feature()
    if kind == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    if kind == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def tf_example(record):
    import tensorflow as tf
    return tf.train.Example(features=tf.train.Features(
        feature={k: tf_feature(kind, v) for k, (kind, v) in record.items()}))


def tf_sequence_example(record):
    import tensorflow as tf
    return tf.train.SequenceExample(
        context=tf.train.Features(feature={k: tf_feature(kind, v) for k, (kind, v) in record["context"].items()}),
        feature_lists=tf.train.FeatureLists(feature_list={
            k: tf.train.FeatureList(feature=[tf_feature(kind, v) for kind, v in steps])
            for k, steps in record["feature_lists"].items()}))


def json_feature(kind, values):
    if kind == "bytes":
        values = [base64.b64encode(v).decode() for v in values]
    elif kind == "int64":
        values = [str(int(v)) for v in values]
    else:
        values = [float(v) for v in values]
    return {"kind": kind, "values": values}


def json_example(record):
    return {k: json_feature(kind, v) for k, (kind, v) in sorted(record.items())}


def json_sequence(record):
    return {"context": json_example(record["context"]),
            "feature_lists": {k: [json_feature(kind, v) for kind, v in steps]
                              for k, steps in sorted(record["feature_lists"].items())}}


def feature_from_proto(feature):
    which = feature.WhichOneof("kind")
    if which == "float_list":
        return ("float", [float(x) for x in feature.float_list.value])
    if which == "int64_list":
        return ("int64", [int(x) for x in feature.int64_list.value])
    return ("bytes", list(feature.bytes_list.value))


def example_from_proto(example):
    return json_example({k: feature_from_proto(f) for k, f in example.features.feature.items()})


def sequence_from_proto(seq):
    return json_sequence({
        "context": {k: feature_from_proto(f) for k, f in seq.context.feature.items()},
        "feature_lists": {k: [feature_from_proto(f) for f in fl.feature] for k, fl in seq.feature_lists.feature_list.items()},
    })


# MARK: - generate

def generate():
    import tensorflow as tf
    os.makedirs(FIXTURES, exist_ok=True)
    jpeg, png = tiny_images()
    examples = example_records(jpeg, png)
    sequences = sequence_records()
    expected = {
        "generator": "Tools/reference/tfrecord_fixtures.py generate",
        "versions": {"tensorflow": tf.__version__, "numpy": np.__version__},
        "files": {},
    }
    for name, compression in [("tf_examples.tfrecord", None), ("tf_examples.tfrecord.gz", "GZIP"),
                              ("tf_examples.tfrecord.zz", "ZLIB")]:
        options = tf.io.TFRecordOptions(compression_type=compression) if compression else None
        with tf.io.TFRecordWriter(os.path.join(FIXTURES, name), options=options) as writer:
            for record in examples:
                writer.write(tf_example(record).SerializeToString())
        expected["files"][name] = {"type": "example", "writer": "tf.io.TFRecordWriter",
                                   "compression": (compression or "none").lower(),
                                   "records": [json_example(r) for r in examples]}
    with tf.io.TFRecordWriter(os.path.join(FIXTURES, "tf_sequence.tfrecord")) as writer:
        for record in sequences:
            writer.write(tf_sequence_example(record).SerializeToString())
    expected["files"]["tf_sequence.tfrecord"] = {"type": "sequence", "writer": "tf.io.TFRecordWriter",
                                                 "compression": "none",
                                                 "records": [json_sequence(r) for r in sequences]}
    # A zero-length record between two Examples: legal framing, and an empty payload is an empty Example.
    with tf.io.TFRecordWriter(os.path.join(FIXTURES, "tf_zero_length.tfrecord")) as writer:
        writer.write(tf_example(examples[1]).SerializeToString())
        writer.write(b"")
        writer.write(tf_example(examples[2]).SerializeToString())
    expected["files"]["tf_zero_length.tfrecord"] = {"type": "example", "writer": "tf.io.TFRecordWriter",
                                                    "compression": "none",
                                                    "records": [json_example(examples[1]), {}, json_example(examples[2])]}

    child = subprocess.run([sys.executable, __file__, "tfrecord-pkg", "generate"], check=True,
                           capture_output=True, text=True)
    expected["files"].update(json.loads(child.stdout)["files"])
    expected["versions"].update(json.loads(child.stdout)["versions"])
    with open(os.path.join(FIXTURES, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(FIXTURES, n)) for n in os.listdir(FIXTURES))
    print(f"wrote {len(os.listdir(FIXTURES))} files, {total} bytes, to {FIXTURES}")


def tfrecord_pkg_generate():
    """Child process: write with the `tfrecord` package (its own protobuf classes, its own CRC)."""
    import importlib.metadata
    import tfrecord
    records = [
        {"image/encoded": (b"\x89PNG\r\n\x1a\nnot-really-a-png", "byte"), "label": (3, "int"),
         "score": ([0.5, 0.75], "float"), "text": (b"written by the tfrecord package", "byte")},
        {"label": ([-4, 5, 6], "int"), "score": (1.5, "float")},
    ]
    path = os.path.join(FIXTURES, "pypi_tfrecord.tfrecord")
    writer = tfrecord.TFRecordWriter(path)
    for r in records:
        writer.write(r)
    writer.close()

    def normalise(record):
        out = {}
        for k, (v, kind) in record.items():
            values = v if isinstance(v, list) else [v]
            out[k] = ({"byte": "bytes", "int": "int64", "float": "float"}[kind],
                      [float(np.float32(x)) for x in values] if kind == "float" else values)
        return json_example(out)

    print(json.dumps({"versions": {"tfrecord": importlib.metadata.version("tfrecord")},
                      "files": {"pypi_tfrecord.tfrecord": {"type": "example", "writer": "tfrecord.TFRecordWriter",
                                                           "compression": "none",
                                                           "records": [normalise(r) for r in records]}}}))


# MARK: - verify

def verify():
    """TensorFlow reads what Prism wrote; then the `tfrecord` package does (child process)."""
    import tensorflow as tf
    expected = json.load(open(os.path.join(FIXTURES, "expected.json")))["files"]
    failures = 0
    for name, compression, source, kind in prism_files():
        path = os.path.join(FIXTURES, name)
        dataset = tf.data.TFRecordDataset(path, compression_type=compression)
        parse = tf.train.SequenceExample.FromString if kind == "sequence" else tf.train.Example.FromString
        convert = sequence_from_proto if kind == "sequence" else example_from_proto
        got = [convert(parse(r.numpy())) for r in dataset]
        ok = got == expected[source]["records"]
        failures += not ok
        print(f"tf.data        {name}: {len(got)} records, {'identical' if ok else 'DIFFERENT'} to {source}")
    child = subprocess.run([sys.executable, __file__, "tfrecord-pkg", "verify"], capture_output=True, text=True)
    print(child.stdout, end="")
    if child.returncode != 0:
        print(child.stderr, end="")
    failures += child.returncode != 0
    sys.exit(1 if failures else 0)


def prism_files():
    return [("prism_examples.tfrecord", "", "tf_examples.tfrecord", "example"),
            ("prism_examples.tfrecord.gz", "GZIP", "tf_examples.tfrecord", "example"),
            ("prism_examples.tfrecord.zz", "ZLIB", "tf_examples.tfrecord", "example"),
            ("prism_sequence.tfrecord", "", "tf_sequence.tfrecord", "sequence")]


def tfrecord_pkg_verify():
    import tfrecord
    from tfrecord import example_pb2, reader
    expected = json.load(open(os.path.join(FIXTURES, "expected.json")))["files"]
    failures = 0
    for name, compression, source, kind in prism_files():
        if compression == "ZLIB":
            continue  # the tfrecord package reads only plain and gzip files
        path = os.path.join(FIXTURES, name)
        # The package never checks CRCs (tf.data above does); its iterator yields payloads in a reused buffer.
        parse = example_pb2.SequenceExample.FromString if kind == "sequence" else example_pb2.Example.FromString
        convert = sequence_from_proto if kind == "sequence" else example_from_proto
        got = [convert(parse(bytes(r)))
               for r in reader.tfrecord_iterator(path, compression_type="gzip" if compression else None)]
        ok = got == expected[source]["records"]
        failures += not ok
        print(f"tfrecord (PyPI) {name}: {len(got)} records, {'identical' if ok else 'DIFFERENT'} to {source}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    args = sys.argv[1:]
    if args == ["generate"]:
        generate()
    elif args == ["verify"]:
        verify()
    elif args == ["tfrecord-pkg", "generate"]:
        tfrecord_pkg_generate()
    elif args == ["tfrecord-pkg", "verify"]:
        tfrecord_pkg_verify()
    else:
        sys.exit(__doc__)
