#!/usr/bin/env python3
"""Writes the seed corpora in Tools/fuzz/corpus/<target>/ from the test fixtures (run from anywhere; the
committed seeds are this script's output). Seeds are small valid inputs plus a few near misses: libFuzzer
mutates from them, so each should reach deep into its parser."""
import json, pathlib, struct, zlib

root = pathlib.Path(__file__).resolve().parents[2]
fx = root / "Tests"
out = root / "Tools" / "fuzz" / "corpus"


def seed(target, name, data):
    d = out / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def records(path):
    """Payloads of a plain TFRecord file."""
    b, i, out_ = path.read_bytes(), 0, []
    while i + 12 <= len(b):
        (n,) = struct.unpack("<Q", b[i:i + 8])
        out_.append(b[i + 12:i + 12 + n])
        i += 16 + n
    return out_


data = fx / "PrismDataTests" / "Fixtures"
# tfrecord: first byte = mode (0 auto, 1 plain, 2 gzip, 3 zlib; +4 skip corrupt records)
for name, mode in [("prism_examples.tfrecord", 1), ("prism_examples.tfrecord.gz", 2), ("prism_examples.tfrecord.zz", 3),
                   ("prism_sequence.tfrecord", 0), ("tf_zero_length.tfrecord", 4), ("pypi_tfrecord.tfrecord", 0)]:
    seed("tfrecord", name, bytes([mode]) + (data / name).read_bytes())
seed("tfrecord", "corrupt-crc", bytes([5]) + (data / "pypi_tfrecord.tfrecord").read_bytes()[:-3] + b"xyz")

# example: Example and SequenceExample payloads
for k, p in enumerate(records(data / "prism_examples.tfrecord")[:4]):
    seed("example", f"example{k}", p)
for k, p in enumerate(records(data / "prism_sequence.tfrecord")):
    seed("example", f"sequence{k}", p)

# safetensors: whole files
st = fx / "PrismIOTests" / "Fixtures" / "st"
seed("safetensors", "mixed", (st / "mixed.safetensors").read_bytes())
seed("safetensors", "shard1", (st / "sharded" / "model-00001-of-00002.safetensors").read_bytes())
header = json.dumps({"__metadata__": {"format": "pt"}, "x": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 8]}}).encode()
seed("safetensors", "tiny", struct.pack("<Q", len(header)) + header + bytes(8))

# safetensors_index: weight maps over the target's two shards (a.weight, b.bias | c.weight)
good = {"metadata": {"total_size": 40}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
        "b.bias": "model-00001-of-00002.safetensors", "c.weight": "model-00002-of-00002.safetensors"}}
seed("safetensors_index", "good", json.dumps(good))
seed("safetensors_index", "wrong-shard", json.dumps({"weight_map": {"a.weight": "model-00002-of-00002.safetensors"}}))
seed("safetensors_index", "missing-shard", json.dumps({"weight_map": {"a.weight": "model-00003-of-00003.safetensors"}}))
seed("safetensors_index", "fixture", (st / "sharded" / "model.safetensors.index.json").read_bytes())

# config: every model config, the preprocessor, SAM, the chat template, a transcript
vlm = fx / "PrismVLMTests" / "Fixtures"
seed("config", "kimivl", (vlm / "kimivl_tiny" / "config.json").read_bytes())
seed("config", "deepseek", (vlm / "deepseek_tiny" / "config.json").read_bytes())
seed("config", "preprocessor", (vlm / "kimivl_tiny" / "preprocessor_config.json").read_bytes())
seed("config", "sam", (fx / "PrismSAMTests" / "Fixtures" / "tiny-sam" / "config.json").read_bytes())
seed("config", "template", (root / "Prompts" / "kimi_vl_chat.json").read_bytes())
seed("config", "transcript", json.dumps({"system": "Be terse.", "settings": {"temp": 0.2, "top_p": 1, "top_k": 0, "seed": 7,
     "max_tokens": 64}, "turns": [{"role": "user", "text": "hi", "images": ["/a.png"]}, {"role": "assistant", "text": "hello", "images": []}]}))

# tokenizer: tiktoken.model, 0x00, tokenizer_config.json, 0x00, text
tok = fx / "PrismTokenizerTests" / "Fixtures" / "tiny"
text = "Hello, world! It's 2024: 你好 — naïve café <|im_end|> <|media_pad|>\n\n  tabs\tand 123456 numbers"
# the first 320 lines of the tiny model (every byte plus the first merges), its named specials moved to 320…
lines = (tok / "tiktoken.model").read_bytes().split(b"\n")[:320]
named = json.loads((tok / "tokenizer_config.json").read_text())["added_tokens_decoder"]
config = {"added_tokens_decoder": {str(int(k) - 656 + 320): {"content": v["content"]} for k, v in named.items()}}
seed("tokenizer", "tiny320", b"\n".join(lines) + b"\n\0" + json.dumps(config).encode() + b"\0" + text.encode())
base = "".join(f"{__import__('base64').b64encode(bytes([i])).decode()} {i}\n" for i in range(256))
seed("tokenizer", "bytes-only", base.encode() + b"\0" + b'{"added_tokens_decoder": {"256": {"content": "[EOS]"}}}' + b"\0" + b"abc [EOS] d")

# images
img = fx / "PrismIOTests" / "Fixtures" / "images"
for name in ["rgb_q95.jpg", "gray.jpg", "progressive.jpg"]:
    seed("jpeg", name, (img / name).read_bytes())
for name in ["rgb.png", "gray.png", "palette.png", "rgba_opaque.png"]:
    seed("png", name, (img / name).read_bytes())

# repl: command scripts
seed("repl", "session", "/image a.png b.png\ndescribe it\n/set temp 0.7\n/set top_k 3\n/segment 10,20,0\n/save t.json\n/clear\n/load t.json\n/stats\n/help\n")
seed("repl", "multiline", "\"\"\"\nline one\nline two\n\"\"\"\ncontinued \\\nline\n/system Be brief.\nfail now\n/quit\n")
seed("repl", "prompts", "12.5,40\n1,2,0\n0,0,100,50\n/segment 1e3,-2\n/set seed 18446744073709551615\n/set max_tokens 0\n/image 'a b.png' \"c.png\"\n")

# jsonl: rows with every value kind
rows = [
    {"image_id": 7, "caption": "a red star", "boxes": [[0.1, 0.2, 0.5, 0.6]], "classes": ["star"], "score": 0.5},
    {"text": "plain", "label": 3, "flags": [True, False], "nested": {"a": 1}, "empty": [], "none": None},
    {"weights": [1.5, -2, 3e38], "ids": [1, -2, 9007199254740993], "bytes": ["x", "y"]},
]
seed("jsonl", "rows", "\n".join(json.dumps(r) for r in rows) + "\n\n  \n{\"bad\": \n[1,2]\n")
# gguf: the mixed-type fixture (f32, f16, bf16 and block-quantised tensors), truncated in its data section, and a
# tiny tokenizer-only file (byte-level tokens, a control token, merges) built by hand
g = (fx / "PrismIOTests" / "Fixtures" / "gguf" / "mixed.gguf").read_bytes()
seed("gguf", "mixed", g)
seed("gguf", "mixed-truncated", g[: len(g) * 3 // 4])


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_kv_string(k, v):
    return gguf_string(k) + struct.pack("<I", 8) + gguf_string(v)


def gguf_kv_array(k, elem_type, items):
    body = b"".join(gguf_string(i) if elem_type == 8 else struct.pack("<i", i) for i in items)
    return gguf_string(k) + struct.pack("<IIQ", 9, elem_type, len(items)) + body


byte_tokens = [bytes([b]) for b in range(256)]
# GPT-2 byte-level alphabet, as llama.cpp's converter writes the token strings
vis = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
mapping, n = {}, 0
for b in range(256):
    if b in vis:
        mapping[b] = chr(b)
    else:
        mapping[b] = chr(256 + n)
        n += 1
tokens = [mapping[t[0]] for t in byte_tokens] + [mapping[ord("a")] + mapping[ord("b")], "[BOS]", "<|im_end|>"]
types = [1] * 257 + [3, 3]
kv = [gguf_kv_string("general.architecture", "deepseek2"), gguf_kv_string("tokenizer.ggml.model", "gpt2"),
      gguf_kv_string("tokenizer.ggml.pre", "kimi-k2"), gguf_kv_array("tokenizer.ggml.tokens", 8, tokens),
      gguf_kv_array("tokenizer.ggml.token_type", 5, types), gguf_kv_array("tokenizer.ggml.merges", 8, ["a b"])]
seed("gguf", "tokenizer", b"GGUF" + struct.pack("<IQQ", 3, 0, len(kv)) + b"".join(kv))
print("seeds written to", out)
