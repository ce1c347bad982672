#!/usr/bin/env python3
"""Prism against llama.cpp (llama-cpp-python from PyPI) on the same GGUF files, in the same run.

    CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF" \\
        pip install llama-cpp-python gguf numpy          # AVX-512 machines: add -DGGML_AVX512=ON … (see README)
    swift build -c release
    python3 Tools/bench/vlm/bench.py --work /data/vlm-bench --layers 4 --types q4_k_m q8_0

Steps (files are kept in --work and reused):
  1. a random Kimi-VL-A3B checkpoint of the full shape with --layers blocks (Tools/make_random_checkpoint.py);
  2. Prism's files:      prism quantize -m CKPT -o WORK/prism --type T;
  3. llama.cpp's files:  llama_convert.py (the converter's layout via gguf-py) + llama_model_quantize;
  4. (a) the two files compared tensor by tensor, and Prism's greedy tokens on each;
     (b) llama.cpp loads Prism's file and generates (greedy, from token ids);
     (c) prompt processing and generation speed of both engines on both files, one after the other, holding
         /tmp/prism-bench.lock (flock) so no other benchmark overlaps, with `uptime` before and after.
Prints a table and writes WORK/results.json.
"""
import argparse
import fcntl
import json
import os
import pathlib
import subprocess
import sys
import time

import numpy as np

repo = pathlib.Path(__file__).resolve().parents[3]
prism = repo / ".build/release/prism"


def run(cmd, **kw):
    print("$", " ".join(map(str, cmd)), flush=True)
    return subprocess.run(list(map(str, cmd)), check=True, **kw)


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def prompt_ids(n, vocab):
    # the ids `prism bench vlm` prefills
    return [(i * 7919 + 13) % min(vocab, 100_000) for i in range(n)]


def compare_files(a, b):
    """Tensor-by-tensor: same names, types, shapes and bytes?"""
    import gguf
    ra, rb = gguf.GGUFReader(str(a)), gguf.GGUFReader(str(b))
    ta = {t.name: t for t in ra.tensors}
    tb = {t.name: t for t in rb.tensors}
    same = differ = 0
    notes = []
    for name in sorted(set(ta) | set(tb)):
        if name not in ta or name not in tb:
            notes.append(f"{name}: only in {'prism' if name in ta else 'llama.cpp'}")
            differ += 1
            continue
        x, y = ta[name], tb[name]
        if x.tensor_type != y.tensor_type or list(x.shape) != list(y.shape):
            notes.append(f"{name}: {x.tensor_type.name}{list(x.shape)} vs {y.tensor_type.name}{list(y.shape)}")
            differ += 1
        elif np.array_equal(np.asarray(x.data).view(np.uint8), np.asarray(y.data).view(np.uint8)):
            same += 1
        else:
            notes.append(f"{name}: {x.tensor_type.name} bytes differ")
            differ += 1
    return same, differ, notes[:10]


def llama_run(path, prompt, n_gen, threads):
    """Load, prefill `prompt` (token ids), then greedy-generate n_gen tokens; times from wall clock."""
    from llama_cpp import Llama
    t0 = time.time()
    llm = Llama(model_path=str(path), n_ctx=len(prompt) + n_gen + 16, n_batch=512, n_threads=threads,
                n_threads_batch=threads, logits_all=False, verbose=False)
    load = time.time() - t0
    llm.eval(prompt); llm.reset()                           # warm-up with the whole prompt, as Prism's bench does
    t0 = time.time()
    llm.eval(prompt)
    pp = time.time() - t0
    import llama_cpp

    def last_logits():
        # with logits_all=False, llama-cpp-python 0.3.x leaves `scores` zero (every argmax was token 0); the context's
        # own last row is what llama.cpp computed
        row = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(llm.n_vocab(),))
    ids = []
    for i in range(4 + n_gen):
        if i == 4:
            t0 = time.time()
        nxt = int(np.argmax(last_logits()))
        ids.append(nxt)
        llm.eval([nxt])
    tg = (time.time() - t0) / n_gen
    del llm
    return {"load_s": load, "prefill_tok_s": len(prompt) / pp, "decode_tok_s": 1 / tg, "greedy_ids": ids}


def prism_run(path, n_prompt, n_gen, extra=()):
    out = subprocess.run([str(prism), "bench", "vlm", "-m", str(path), "--json", "--prompt-tokens", str(n_prompt),
                          "--decode-tokens", str(n_gen), *extra], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="folder for the checkpoint and GGUF files (tens of GB)")
    ap.add_argument("--checkpoint", help="use this checkpoint instead of writing a random one")
    ap.add_argument("--layers", type=int, default=4, help="blocks of the full A3B shape (27 = the whole model)")
    ap.add_argument("--types", nargs="+", default=["q4_k_m", "q8_0"])
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prism-files-only", action="store_true",
                    help="skip llama.cpp's converter and files (it needs an F16 copy of the checkpoint: 33 GB at 27 "
                         "layers); llama.cpp still runs on Prism's files")
    a = ap.parse_args()
    work = pathlib.Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    ck = pathlib.Path(a.checkpoint) if a.checkpoint else work / f"a3b-{a.layers}l"
    if not (ck / "config.json").exists():
        run([sys.executable, repo / "Tools/make_random_checkpoint.py", "--preset", "full", "--layers", a.layers,
             "--tokenizer", repo / "Weights/prism-vl-tiny", "--out", ck])
    vocab = json.loads((ck / "config.json").read_text())["text_config"]["vocab_size"]
    prompt = prompt_ids(a.prompt_tokens, vocab)
    files = {}
    for t in a.types:
        pdir = work / "prism" / t
        if not any(pdir.glob("*.gguf")):
            run([prism, "quantize", "-m", ck, "-o", pdir, "--type", t])
        lfile = None if a.prism_files_only else work / "llama" / f"llama-{t.upper()}.gguf"
        if lfile and not lfile.exists():
            run([sys.executable, pathlib.Path(__file__).parent / "llama_convert.py", ck, work / "llama", "--types", t])
        files[t] = (next(f for f in pdir.glob("*.gguf") if not f.name.startswith("mmproj-")), lfile)
    os.environ["PRISM_THREADS"] = str(a.threads)
    lock = open("/tmp/prism-bench.lock", "w")
    print("waiting for /tmp/prism-bench.lock …", flush=True)
    fcntl.flock(lock, fcntl.LOCK_EX)
    results = {"uptime_before": uptime(), "cpu": open("/proc/cpuinfo").read().split("model name")[1].split("\n")[0].strip(" :\t"),
               "layers": a.layers, "threads": a.threads, "types": {}}
    for t, (pfile, lfile) in files.items():
        r = {"prism_file": str(pfile), "llama_file": str(lfile) if lfile else None, "file_bytes": pfile.stat().st_size}
        if lfile:
            r["tensors_identical"], r["tensors_different"], r["differences"] = compare_files(pfile, lfile)
        # (a) Prism on its own file and on llama.cpp's; (b)+(c) llama.cpp on both
        r["prism_on_prism"] = prism_run(pfile, a.prompt_tokens, a.decode_tokens)
        if lfile:
            r["prism_on_llama"] = prism_run(lfile, a.prompt_tokens, a.decode_tokens, ["--paths", "0"])
        r["llama_on_prism"] = llama_run(pfile, prompt, a.decode_tokens, a.threads)
        if lfile:
            r["llama_on_llama"] = llama_run(lfile, prompt, a.decode_tokens, a.threads)
            r["prism_same_tokens_on_both_files"] = r["prism_on_prism"]["greedy_ids"] == r["prism_on_llama"]["greedy_ids"]
        pp = r["prism_on_prism"]["greedy_ids"]
        lp = r["llama_on_prism"]["greedy_ids"]
        r["llama_vs_prism_first_token_agreement"] = next((i for i, (x, y) in enumerate(zip(pp, lp)) if x != y), len(pp))
        results["types"][t] = r
    results["uptime_after"] = uptime()
    fcntl.flock(lock, fcntl.LOCK_UN)
    (work / "results.json").write_text(json.dumps(results, indent=1))

    print(f"\n{results['cpu']} · {a.threads} threads · {a.layers} of 27 layers")
    print(f"before: {results['uptime_before']}\nafter:  {results['uptime_after']}")
    for t, r in results["types"].items():
        pp_, pl_, lp_, ll_ = r["prism_on_prism"], r.get("prism_on_llama"), r["llama_on_prism"], r.get("llama_on_llama")
        print(f"\n{t}: {r['file_bytes'] / 1e9:.2f} GB", end="")
        if r["llama_file"]:
            print(f"; tensors identical to llama.cpp's file: {r['tensors_identical']} (different: "
                  f"{r['tensors_different']}) {r['differences']}")
            print(f"  Prism greedy tokens identical on both files: {r['prism_same_tokens_on_both_files']}", end="; ")
        else:
            print(" (Prism's file only)\n ", end="")
        print(f"llama.cpp follows Prism's greedy tokens for {r['llama_vs_prism_first_token_agreement']} steps")
        print(f"  {'':22} {'prefill tok/s':>14} {'decode tok/s':>13} {'load s':>7}")
        for label, x in (("Prism, Prism file", pp_), ("Prism, llama.cpp file", pl_),
                         ("llama.cpp, Prism file", lp_), ("llama.cpp, own file", ll_)):
            if x is None:
                continue
            print(f"  {label:22} {x['prefill_tok_s']:14.2f} {x['decode_tok_s']:13.2f} {x.get('load_s', x.get('load_seconds', 0)):7.2f}")
        print(f"  Prism decode roofline {pp_['roofline_tok_s']:.2f} tok/s ({pp_['bytes_per_token'] / 1e9:.3f} GB/token at "
              f"{pp_['read_bandwidth_gbs']:.1f} GB/s): {100 * pp_['decode_fraction_of_roofline']:.0f}%; "
              f"peak RSS {pp_['peak_rss_bytes'] / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
