#!/usr/bin/env python3
"""TFRecord → JSONL → TFRecord through `prism convert`, checked by TensorFlow; and `prism index` against tfrecord2idx.

    python3 Tools/reference/tfrecord_roundtrip.py generate          # writes Tests/PrismDataTests/Fixtures/roundtrip_*
    python3 Tools/reference/tfrecord_roundtrip.py check --prism .build/release/prism

`generate` writes, with TensorFlow (tf.io.TFRecordWriter), the files the Swift tests round-trip on
(ConvertRoundTripTests): tf.Examples in the Object Detection API layout (boxes, labels, UTF-8 class names,
instance masks), one with no objects (empty lists of every kind), one of extreme values (int64 min/max, float32
max / min normal / min subnormal, -0.0, NaN, ±inf, non-UTF-8 bytes, control characters, NUL), a Feature with no
kind; and tf.SequenceExamples with the same kinds of values in context and feature lists, empty steps and an empty
feature list. (TensorFlow serialises feature maps in hash order, so the bytes differ from run to run; the values
do not.)

`check` converts those files (and the older tf_*.tfrecord fixtures) TFRecord → JSONL → TFRecord with the prism
binary, then has TensorFlow read the result and requires, record by record:
  * the protos to hold exactly the original values (kinds and values; floats compared by their bits), and
  * tf.io.parse_single_example / parse_single_sequence_example, with a spec built from the JSONL's schema.json,
    to give tensors bit-identical to the same parse of the original.
It also checks that every JSONL column holds a list in every row (with pyarrow when installed: each column reads
as one list type), that `prism index` writes the bytes tfrecord2idx writes, and that the `tfrecord` package reads a
gzip file by shards through a prism index (offsets of decompressed bytes). Exits non-zero on any difference.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tfrecord_fixtures import tf_example, tf_sequence_example   # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "PrismDataTests", "Fixtures")
I64_MIN, I64_MAX = -(2 ** 63), 2 ** 63 - 1
F32 = lambda x: float(np.float32(x))


def tiny_png(seed, h=4, w=3, channels=1):
    import tensorflow as tf
    pixels = (np.arange(h * w * channels, dtype=np.uint8).reshape(h, w, channels) * (seed + 3)) % 2
    return tf.io.encode_png(pixels).numpy()


def tiny_jpeg():
    import tensorflow as tf
    pixels = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(4, 3, 3) * 7
    return tf.io.encode_jpeg(pixels, quality=90).numpy()


def example_records():
    """{key: (kind, values)}; kind None: a Feature with no kind set."""
    nan, inf = float("nan"), float("inf")
    return [
        {   # Object Detection API layout (create_coco_tf_record.py / create_pascal_tf_record.py)
            "image/encoded": ("bytes", [tiny_jpeg()]),
            "image/format": ("bytes", [b"jpeg"]),
            "image/height": ("int64", [4]),
            "image/width": ("int64", [3]),
            "image/filename": ("bytes", ["猫と犬.jpg".encode()]),
            "image/source_id": ("bytes", [b"000000397133"]),
            "image/key/sha256": ("bytes", [b"4c5b7f0e"]),
            "image/object/bbox/xmin": ("float", [F32(0.1), F32(0.5)]),
            "image/object/bbox/xmax": ("float", [F32(0.4), F32(0.9)]),
            "image/object/bbox/ymin": ("float", [F32(0.2), F32(0.25)]),
            "image/object/bbox/ymax": ("float", [F32(0.7), F32(1.0)]),
            "image/object/class/label": ("int64", [17, 18]),
            "image/object/class/text": ("bytes", ["chat".encode(), "chien 🐕".encode()]),
            "image/object/difficult": ("int64", [0, 1]),
            "image/object/truncated": ("int64", [0, 0]),
            "image/object/view": ("bytes", [b"Frontal", b"Left"]),
            "image/object/is_crowd": ("int64", [0, 0]),
            "image/object/area": ("float", [F32(123.5), F32(4096.0)]),
            "image/object/mask": ("bytes", [tiny_png(0), tiny_png(1)]),
        },
        {   # no objects: every list empty, of each kind
            "image/encoded": ("bytes", [tiny_png(2, channels=3)]),
            "image/format": ("bytes", [b"png"]),
            "image/height": ("int64", [4]),
            "image/width": ("int64", [3]),
            "image/object/bbox/xmin": ("float", []),
            "image/object/bbox/xmax": ("float", []),
            "image/object/bbox/ymin": ("float", []),
            "image/object/bbox/ymax": ("float", []),
            "image/object/class/label": ("int64", []),
            "image/object/class/text": ("bytes", []),
            "image/object/mask": ("bytes", []),
        },
        {   # extremes
            "ints": ("int64", [I64_MIN, I64_MAX, -1, 0, 1, 2 ** 53 + 1]),
            "floats": ("float", [F32(3.4028234663852886e38), F32(-3.4028234663852886e38), F32(1.1754943508222875e-38),
                                 F32(1.401298464324817e-45), -0.0, 0.0, nan, inf, -inf, F32(1e-30), F32(0.1), F32(16777217.0)]),
            "texts": ("bytes", ["ascii".encode(), "ünïcödé ✓ 漢字 𝄞".encode(), b'quote " backslash \\ slash /',
                                b"line\nbreak\ttab\rreturn\x00nul\x1f\x7f", b""]),
            "binary": ("bytes", [b"\xff\xfe\x00\x80", bytes(range(256))]),
            "one_int": ("int64", [I64_MAX]),
            "one_float": ("float", [nan]),
            "no_kind": (None, []),
            "ключ/ü": ("int64", [42]),
        },
        {},   # no features at all
    ]


def sequence_records():
    nan, inf = float("nan"), float("inf")
    return [
        {
            "context": {"video/id": ("bytes", ["clip-ü-1".encode()]), "length": ("int64", [I64_MAX]),
                        "fps": ("float", [F32(29.97)]), "labels": ("int64", [])},
            "feature_lists": {
                "frames/score": [("float", [F32(0.5), -0.0]), ("float", []), ("float", [nan, inf, -inf, F32(3.4028234663852886e38)])],
                "frames/token": [("int64", [I64_MIN, I64_MAX]), ("int64", []), ("int64", [7])],
                "frames/caption": [("bytes", ["ein Hund 🐕".encode()]), ("bytes", [b"\xff\x00binary"]), ("bytes", [])],
                "frames/none": [],
            },
        },
        {
            "context": {},
            "feature_lists": {"frames/score": [("float", [F32(1.0)])], "frames/token": [("int64", [])]},
        },
    ]


def generate():
    import tensorflow as tf
    os.makedirs(FIXTURES, exist_ok=True)
    with tf.io.TFRecordWriter(os.path.join(FIXTURES, "roundtrip_examples.tfrecord")) as writer:
        for record in example_records():
            writer.write(tf_example(record).SerializeToString())
    with tf.io.TFRecordWriter(os.path.join(FIXTURES, "roundtrip_sequence.tfrecord")) as writer:
        for record in sequence_records():
            writer.write(tf_sequence_example(record).SerializeToString())
    print(f"wrote roundtrip_examples.tfrecord, roundtrip_sequence.tfrecord with TensorFlow {tf.__version__}")


# MARK: - check

def values(feature):
    """(kind, values) with floats as bit patterns, so NaN == NaN and -0.0 != 0.0."""
    which = feature.WhichOneof("kind")
    if which == "float_list":
        return ("float", [struct.unpack("<I", struct.pack("<f", x))[0] for x in feature.float_list.value])
    if which == "int64_list":
        return ("int64", list(feature.int64_list.value))
    return ("bytes", list(feature.bytes_list.value))   # bytes_list, or no kind (read as empty bytes, as TF does)


def proto_values(payload, sequence):
    import tensorflow as tf
    if sequence:
        s = tf.train.SequenceExample.FromString(payload)
        return ({k: values(f) for k, f in s.context.feature.items()},
                {k: [values(f) for f in fl.feature] for k, fl in s.feature_lists.feature_list.items()})
    return {k: values(f) for k, f in tf.train.Example.FromString(payload).features.feature.items()}


def spec(schema):
    """tf.io parse specs from a prism schema.json: FixedLen where the length is fixed and always present."""
    import tensorflow as tf
    dtype = {"int64": tf.int64, "float": tf.float32, "bytes": tf.string}
    context, lists = {}, {}
    for column in schema["columns"]:
        kind = dtype[column["kind"]]
        if column["section"] == "context":
            fixed = column.get("fixed_length")
            always = column["present"] == schema["records"]
            context[column["tf_key"]] = tf.io.FixedLenFeature([fixed], kind) if fixed and always else tf.io.VarLenFeature(kind)
        else:
            lists[column["tf_key"]] = tf.io.VarLenFeature(kind)
    return context, lists


def parsed_tensors(payload, schema, sequence):
    import tensorflow as tf
    context, lists = spec(schema)

    def plain(t):
        if isinstance(t, tf.SparseTensor):
            return ("sparse", t.indices.numpy().tolist(), bits(t.values.numpy()), t.dense_shape.numpy().tolist())
        return ("dense", bits(t.numpy()), list(t.shape))

    def bits(a):
        return a.view(np.uint32).tolist() if a.dtype == np.float32 else a.tolist()

    if sequence:
        c, fl = tf.io.parse_single_sequence_example(payload, context_features=context, sequence_features=lists)
        return ({k: plain(v) for k, v in c.items()}, {k: plain(v) for k, v in fl.items()})
    return {k: plain(v) for k, v in tf.io.parse_single_example(payload, context).items()}


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True)


def check(prism):
    import tensorflow as tf
    failures = 0
    work = tempfile.mkdtemp(prefix="prism-roundtrip-")
    try:
        cases = [("roundtrip_examples.tfrecord", False), ("roundtrip_sequence.tfrecord", True),
                 ("tf_examples.tfrecord", False), ("tf_sequence.tfrecord", True), ("tf_zero_length.tfrecord", False)]
        for name, sequence in cases:
            source = os.path.join(FIXTURES, name)
            jsonl, back = os.path.join(work, name + "-jsonl"), os.path.join(work, name + "-back")
            run([prism, "convert", source, "-o", jsonl, "--quiet"])
            run([prism, "convert", os.path.join(jsonl, "data.jsonl"), "-o", back, "--quiet"])
            schema = json.load(open(os.path.join(jsonl, "data.schema.json")))
            original = [r.numpy() for r in tf.data.TFRecordDataset(source)]
            result = [r.numpy() for r in tf.data.TFRecordDataset(os.path.join(back, "data-00000-of-00001.tfrecord"))]
            same_protos = len(original) == len(result) and all(
                proto_values(a, sequence) == proto_values(b, sequence) for a, b in zip(original, result))
            same_tensors = len(original) == len(result) and all(
                parsed_tensors(a, schema, sequence) == parsed_tensors(b, schema, sequence) for a, b in zip(original, result))
            rows = [json.loads(line) for line in open(os.path.join(jsonl, "data.jsonl"))]
            lists = all(all(isinstance(v, list) for v in columns(row, sequence)) for row in rows)
            ok = same_protos and same_tensors and lists
            failures += not ok
            print(f"{name:28} {len(original)} records: protos {'identical' if same_protos else 'DIFFERENT'}, "
                  f"TF parse {'identical' if same_tensors else 'DIFFERENT'}, "
                  f"every column a list: {'yes' if lists else 'NO'}")
            failures += arrow_check(os.path.join(jsonl, "data.jsonl"), name)
        failures += index_check(prism, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("all identical" if failures == 0 else f"{failures} FAILED")
    sys.exit(1 if failures else 0)


def columns(row, sequence):
    if not sequence:
        return list(row.values())
    return list(row["context"].values()) + [step for steps in row["feature_lists"].values() for step in [steps] + steps]


def arrow_check(path, name):
    """With pyarrow, every column of a tf.Example JSONL must read as a single list type."""
    try:
        import pyarrow.json as pj
    except ImportError:
        return 0
    if "sequence" in name:
        return 0
    try:
        table = pj.read_json(path)
    except Exception as error:   # noqa: BLE001 — report any reader failure as a failed check
        print(f"{'':28} pyarrow cannot read it: {error}")
        return 1
    types = {f.name: str(f.type) for f in table.schema}
    bad = {k: t for k, t in types.items() if not t.startswith("list<")}
    print(f"{'':28} pyarrow: {len(types)} columns, {'all list types' if not bad else 'NOT LISTS: ' + str(bad)}")
    return 1 if bad else 0


def index_check(prism, work):
    """`prism index` against tfrecord2idx, and a gzip file read by shards with the `tfrecord` package."""
    import gzip
    failures = 0
    source = os.path.join(FIXTURES, "tf_examples.tfrecord")
    mine, theirs = os.path.join(work, "mine.tfindex"), os.path.join(work, "theirs.tfindex")
    run([prism, "index", source, "-o", mine])
    child = subprocess.run([sys.executable, "-c", "import sys; from tfrecord.tools.tfrecord2idx import create_index; "
                            "create_index(sys.argv[1], sys.argv[2])", source, theirs], capture_output=True, text=True)
    if child.returncode != 0:
        print("tfrecord2idx unavailable:", child.stderr.strip().splitlines()[-1:])
        return 1
    same = open(mine, "rb").read() == open(theirs, "rb").read()
    failures += not same
    print(f"prism index vs tfrecord2idx: {'identical' if same else 'DIFFERENT'} ({len(open(mine).readlines())} records)")
    # gzip: offsets count decompressed bytes, which the tfrecord package seeks by.
    gz = os.path.join(work, "examples.tfrecord.gz")
    with open(source, "rb") as f, gzip.open(gz, "wb") as g:
        g.write(f.read())
    run([prism, "index", gz])
    code = ("import sys; from tfrecord import reader\n"
            "path, index = sys.argv[1], sys.argv[2]\n"
            "full = [bytes(r) for r in reader.tfrecord_iterator(path, compression_type='gzip')]\n"
            "parts = [bytes(r) for i in range(3) for r in reader.tfrecord_iterator(path, index, (i, 3), compression_type='gzip')]\n"
            "print(len(full), full == parts)")
    child = subprocess.run([sys.executable, "-c", code, gz, gz + ".tfindex"], capture_output=True, text=True)
    ok = child.returncode == 0 and child.stdout.split() [1:] == ["True"]
    failures += not ok
    print(f"tfrecord package, gzip file by 3 shards through the prism index: {'identical' if ok else 'DIFFERENT ' + child.stderr[-300:]}")
    return failures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["generate", "check"])
    parser.add_argument("--prism", default=os.path.join(ROOT, ".build", "release", "prism"))
    args = parser.parse_args()
    generate() if args.mode == "generate" else check(args.prism)
