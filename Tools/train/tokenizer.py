#!/usr/bin/env python3
"""A small byte-level BPE in Kimi-VL's tiktoken format, trained on the QA text of the train stream.

    python3 Tools/train/tokenizer.py --out Weights/prism-vl-tiny

Writes tiktoken.model (one `base64(bytes) rank` line per mergeable token: the 256 bytes, then the merges in
order) and tokenizer_config.json with Kimi-VL's special tokens at Kimi-VL's offsets from num_base_tokens
(specs/kimi_vl.md §6: [BOS] = n+0, [EOS] = n+1, <|im_end|> = n+2, … <|media_pad|> = n+21; 256 reserved + 2),
as PrismTokenizer and tokenization_moonshot.py load it. Pre-tokenisation is the spec's pat_str.
Every number 0–999 gets its own token first (ranks 256…), so a pixel coordinate is one token.
"""
import argparse
import base64
import collections
import json
import pathlib
import sys

import numpy as np
import regex

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import qa       # noqa: E402
import scenes   # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))
from kimi_tokens import NAMED_SPECIALS, NUM_SPECIAL, PAT_STR, bpe_merge, write_tokenizer  # noqa: E402  (shared with the fixture generator)
EXTRA_TEXT = ("You are a helpful assistant", "system", "user", "assistant", "image",
              "Describe the image.", "What is in the picture?")


def scene_text(i, seed=1000):
    from make_dataset import SCENE
    rng = np.random.default_rng((seed, i, 7))
    scene = scenes.make_scene(rng, **SCENE)
    out = []
    for t in qa.TYPES:
        q = qa.generate(scene, rng, t)
        if q:
            out += [q[0], q[1]]
    return out


def corpus(count):
    """Question and answer text of `count` train-stream scenes (every question type each)."""
    from multiprocessing import Pool
    with Pool() as pool:
        return list(EXTRA_TEXT) + [t for texts in pool.map(scene_text, range(count), chunksize=32) for t in texts]


def train_bpe(texts, merges):
    words = collections.Counter()
    for t in texts:
        for piece in regex.findall("(?V1)" + PAT_STR, t):
            words[tuple(bytes([b]) for b in piece.encode())] += 1
    ranks = {bytes([i]): i for i in range(256)}
    # numbers first: every 1–3 digit group is one token, so a pixel coordinate is a single token
    for v in range(1000):
        s = str(v).encode()
        for k in range(2, len(s) + 1):
            ranks.setdefault(s[:k], len(ranks))
    words = collections.Counter({(b"".join(w),) if b"".join(w).isdigit() else w: n for w, n in words.items()})
    return bpe_merge(words, ranks, merges)


class Tokenizer:
    """tiktoken over the files written above, with the Kimi chat template (Prompts/kimi_vl_chat.json)."""

    def __init__(self, folder):
        import tiktoken
        folder = pathlib.Path(folder)
        # parsed here: tiktoken's load_tiktoken_bpe caches files by path, and would read a stale copy
        ranks = {base64.b64decode(tok): int(rank) for tok, rank in
                 (line.split() for line in (folder / "tiktoken.model").read_text().splitlines() if line)}
        self.n = len(ranks)
        cfg = json.loads((folder / "tokenizer_config.json").read_text())
        named = {v["content"]: int(k) for k, v in cfg["added_tokens_decoder"].items()}
        specials = {f"<|reserved_token_{i}|>": i for i in range(self.n, self.n + NUM_SPECIAL)}
        for name, i in named.items():
            specials.pop(f"<|reserved_token_{i}|>", None)
            specials[name] = i
        self.enc = tiktoken.Encoding("prism-vl-tiny", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=specials)
        self.special = named
        self.im_end, self.media_pad = named["<|im_end|>"], named["<|media_pad|>"]
        self.eos = named["[EOS]"]

    def encode(self, text):
        return self.enc.encode(text, allowed_special="all")

    def decode(self, ids):
        return self.enc.decode(ids)

    def prompt(self, question, image_tokens):
        """Token ids of the rendered single-image user turn + generation prompt (spec §4, §6)."""
        text = ("<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>"
                "<|im_user|>user<|im_middle|><|media_start|>image<|media_content|>"
                + "<|media_pad|>" * image_tokens + "<|media_end|>" + question + "<|im_end|>"
                "<|im_assistant|>assistant<|im_middle|>")
        return self.encode(text)

    def follow_up(self, question):
        """Token ids of a later user turn (no image) + generation prompt, to follow an answer and its <|im_end|>."""
        return self.encode("<|im_user|>user<|im_middle|>" + question + "<|im_end|><|im_assistant|>assistant<|im_middle|>")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--scenes", type=int, default=2000, help="train scenes whose QA text trains the merges")
    ap.add_argument("--merges", type=int, default=400)
    a = ap.parse_args()
    texts = corpus(a.scenes)
    ranks = train_bpe(texts, a.merges)
    n = write_tokenizer(ranks, a.out)
    tok = Tokenizer(a.out)
    lengths = []
    for t in texts[:2000]:
        ids = tok.encode(t)
        assert tok.decode(ids) == t
        lengths.append(len(ids))
    print(f"num_base_tokens {n} (vocab with specials {n + NUM_SPECIAL}); mean {np.mean(lengths):.1f} tokens per "
          f"question/answer; e.g. {[tok.decode([i]) for i in tok.encode(texts[10])]}")


if __name__ == "__main__":
    main()
