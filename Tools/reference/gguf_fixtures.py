#!/usr/bin/env python3
"""GGUF fixtures from the `gguf` PyPI package (llama.cpp's gguf-py), for Prism's block and reader tests.

    pip install gguf safetensors numpy llama-cpp-python
    python3 Tools/reference/gguf_fixtures.py

Writes
  Tests/PrismCoreTests/Fixtures/quant_blocks.safetensors
      <T>.blocks / <T>.dequantized  random valid blocks of every type Prism reads and gguf-py's dequantisation
      <T>.input / <T>.quantized     float rows and gguf-py's deterministic quantisation (Q8_0, Q4_0, Q5_0)
      <T>.llama_input / <T>.llama_quantized  float rows and llama.cpp's own quantiser (ggml_quantize_chunk from
                                    the llama-cpp-python wheel's libggml-base, no importance matrix) for every type
  Tests/PrismIOTests/Fixtures/gguf/mixed.gguf    written by gguf.GGUFWriter: every metadata value type,
      arrays, and tensors of F32, F16, BF16, Q8_0, Q4_K, Q6_K, I32
  Tests/PrismIOTests/Fixtures/gguf/expected.json the same metadata and each tensor's type, shape and values
"""
import json
import pathlib

import gguf
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize
from safetensors.numpy import save_file

repo = pathlib.Path(__file__).resolve().parents[2]
rng = np.random.default_rng(14)


def random_blocks(qtype, n_blocks):
    """Random bytes, with every f16 scale field replaced by a finite, moderate value."""
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, block_bytes), dtype=np.uint8)
    def f16(n):
        return (rng.standard_normal(n) * 0.05).astype(np.float16).view(np.uint8).reshape(n, 2)
    if qtype in (T.Q4_0, T.Q5_0, T.Q8_0):
        b[:, 0:2] = f16(n_blocks)
    elif qtype in (T.Q4_K, T.Q5_K):
        b[:, 0:2] = f16(n_blocks)
        b[:, 2:4] = f16(n_blocks)
    elif qtype == T.Q6_K:
        b[:, -2:] = f16(n_blocks)
    return b


def quant_inputs(n_blocks):
    """Float rows that exercise the quantisers: normal values at several scales, a zero block, ±extremes,
    and exact halves (rounding ties)."""
    x = (rng.standard_normal((n_blocks, 32)) * rng.uniform(1e-3, 10, size=(n_blocks, 1))).astype(np.float32)
    x[1] = 0
    x[2, 5] = -1e4
    x[3] = np.arange(-16, 16, dtype=np.float32) * 0.5
    x[4] = np.linspace(-127, 127, 32, dtype=np.float32)
    return x.reshape(-1)


tensors = {}
for qtype in (T.Q4_0, T.Q5_0, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K):
    blocks = random_blocks(qtype, 6)
    tensors[f"{qtype.name}.blocks"] = blocks.reshape(-1)
    tensors[f"{qtype.name}.dequantized"] = dequantize(blocks.reshape(-1), qtype).astype(np.float32).reshape(-1)
for qtype in (T.Q8_0, T.Q4_0, T.Q5_0):
    x = quant_inputs(16)
    tensors[f"{qtype.name}.input"] = x
    tensors[f"{qtype.name}.quantized"] = quantize(x.reshape(1, -1), qtype).reshape(-1)
# llama.cpp's quantisers themselves (gguf-py has no K-type quantiser): ggml_quantize_chunk in libggml-base
import ctypes
import os
import llama_cpp
ggml = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
ggml.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_int64, ctypes.c_void_p]
ggml.ggml_quantize_chunk.restype = ctypes.c_size_t
krng = np.random.default_rng(256)
for qtype in (T.Q4_0, T.Q5_0, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K):
    rows, n_per_row = 6, 512
    x = (krng.standard_normal((rows, n_per_row)) * krng.uniform(1e-3, 5, size=(rows, 1))).astype(np.float32)
    x[1, :64] = 0                       # an all-zero sub-block
    x[2] = x[2].astype(np.float16)      # values on a coarse grid (ties)
    x[3, 7] = 300.0                     # an outlier
    block_elems, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
    q = np.zeros(rows * n_per_row // block_elems * block_bytes, dtype=np.uint8)
    ggml.ggml_quantize_chunk(int(qtype), x.ctypes.data, q.ctypes.data, 0, rows, n_per_row, None)
    tensors[f"{qtype.name}.llama_input"] = x.reshape(-1)
    tensors[f"{qtype.name}.llama_quantized"] = q
out = repo / "Tests/PrismCoreTests/Fixtures/quant_blocks.safetensors"
save_file(tensors, str(out), metadata={"command": "python3 Tools/reference/gguf_fixtures.py",
                                       "gguf": gguf.__version__ if hasattr(gguf, "__version__") else "see pip",
                                       "numpy": np.__version__, "llama_cpp_python": llama_cpp.__version__})
print("wrote", out)

# ---- a GGUF file with every value type and a few tensor types --------------------------------------------
gdir = repo / "Tests/PrismIOTests/Fixtures/gguf"
gdir.mkdir(parents=True, exist_ok=True)
w = gguf.GGUFWriter(str(gdir / "mixed.gguf"), "prismtest")
meta = {}
def kv(key, value, add):
    add(key, value)
    meta[key] = value
kv("test.u8", 200, w.add_uint8)
kv("test.i8", -100, w.add_int8)
kv("test.u16", 60000, w.add_uint16)
kv("test.i16", -30000, w.add_int16)
kv("test.u32", 4000000000, w.add_uint32)
kv("test.i32", -2000000000, w.add_int32)
kv("test.u64", 2 ** 40, w.add_uint64)
kv("test.i64", -(2 ** 40), w.add_int64)
kv("test.f32", 0.25, w.add_float32)
kv("test.f64", 1e-300, w.add_float64)
kv("test.bool", True, w.add_bool)
kv("test.string", "héllo, GGUF", w.add_string)
kv("test.strings", ["a", "", "Ġworld", "<|im_end|>"], w.add_array)
kv("test.ints", [1, -2, 3], w.add_array)
kv("test.floats", [0.5, -1.5], w.add_array)

rows = {
    "f32": rng.standard_normal((2, 3)).astype(np.float32),
    "f16": rng.standard_normal((3, 4)).astype(np.float16),
    "i32": np.array([5, -7, 2 ** 30], dtype=np.int32),
}
expected_tensors = {}
for name, a in rows.items():
    w.add_tensor(name, a)
    expected_tensors[name] = {"type": {"f32": "F32", "f16": "F16", "i32": "I32"}[name], "shape": list(a.shape),
                              "values": a.astype(np.float64).reshape(-1).tolist()}
bf = rng.standard_normal((2, 8)).astype(np.float32)
bf_bytes = quantize(bf, T.BF16)
w.add_tensor("bf16", bf_bytes, raw_dtype=T.BF16)
expected_tensors["bf16"] = {"type": "BF16", "shape": [2, 8],
                            "values": dequantize(bf_bytes, T.BF16).astype(np.float64).reshape(-1).tolist()}
for name, qtype, shape in (("q8_0", T.Q8_0, (2, 64)), ("q4_k", T.Q4_K, (1, 256)), ("q6_k.stack", T.Q6_K, (2, 1, 256))):
    n_rows = int(np.prod(shape[:-1]))
    blocks = random_blocks(qtype, n_rows * shape[-1] // gguf.GGML_QUANT_SIZES[qtype][0])
    raw = blocks.reshape(*shape[:-1], -1)
    w.add_tensor(name, raw, raw_dtype=qtype)
    expected_tensors[name] = {"type": qtype.name, "shape": list(shape),
                              "values": dequantize(raw, qtype).astype(np.float64).reshape(-1).tolist()}
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
meta["general.architecture"] = "prismtest"
(gdir / "expected.json").write_text(json.dumps({"metadata": meta, "tensors": expected_tensors}, indent=1))
print("wrote", gdir / "mixed.gguf")
