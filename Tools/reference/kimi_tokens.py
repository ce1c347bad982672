"""Kimi-VL tokenizer pieces shared by the fixture generator and the embedded model's tokenizer trainer
(specs/kimi_vl.md §6): the pre-tokenisation pattern, the special tokens' offsets from num_base_tokens, and
the byte-pair merge loop both use to build small tiktoken-format vocabularies."""
import base64
import collections
import json

# The Kimi-VL / Moonlight / K2 pat_str, alternatives joined with "|" (fancy-regex syntax with `&&`).
PAT_STR = "|".join([
    r"""[\p{Han}]+""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

# Named special tokens at Kimi-VL's offsets from num_base_tokens (163584 + offset in the real model).
NAMED_SPECIALS = {
    0: "[BOS]", 1: "[EOS]", 2: "<|im_end|>", 3: "<|im_user|>", 4: "<|im_assistant|>",
    6: "<|start_header_id|>", 7: "<|end_header_id|>", 9: "[EOT]", 10: "<|im_system|>",
    17: "<|im_middle|>", 18: "<|media_start|>", 19: "<|media_content|>", 20: "<|media_end|>", 21: "<|media_pad|>",
}
NUM_RESERVED = 256
NUM_SPECIAL = NUM_RESERVED + 2   # 256 reserved + 2


def bpe_merge(words, ranks, merges):
    """Greedy byte-pair merging: `merges` times, the most frequent adjacent pair (ties: the shorter token, then
    bytewise order) becomes a new token. `words` counts byte-tuples; `ranks` (bytes → rank) is extended and returned."""
    for _ in range(merges):
        pairs = collections.Counter()
        for w, n in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p[0] + p[1], p[0]))
        merged = best[0] + best[1]
        ranks.setdefault(merged, len(ranks))
        new = collections.Counter()
        for w, n in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(merged)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] += n
        words = new
    return ranks


def write_tokenizer(ranks, out):
    """Writes `tiktoken.model` (base64 token, rank per line) and a Kimi-VL `tokenizer_config.json` naming the
    special tokens from num_base_tokens = len(ranks) upward. Returns num_base_tokens."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "tiktoken.model", "w") as f:
        for tok, r in sorted(ranks.items(), key=lambda kv: kv[1]):
            f.write(f"{base64.b64encode(tok).decode()} {r}\n")
    n = len(ranks)
    named = {n + off: name for off, name in NAMED_SPECIALS.items()}
    config = {
        "added_tokens_decoder": {
            str(i): {"content": name, "lstrip": False, "normalized": False, "rstrip": False,
                     "single_word": False, "special": True}
            for i, name in sorted(named.items())
        },
        "additional_special_tokens": ["<|im_end|>", "<|im_user|>", "<|im_assistant|>", "<|start_header_id|>",
                                      "<|end_header_id|>", "[EOT]", "<|im_system|>", "<|im_middle|>",
                                      "<|media_start|>", "<|media_content|>", "<|media_end|>", "<|media_pad|>"],
        "bos_token": "[BOS]", "eos_token": "[EOS]", "pad_token": "[EOS]", "unk_token": "[EOS]",
        "clean_up_tokenization_spaces": False, "model_max_length": 1048576,
        "tokenizer_class": "TikTokenTokenizer",
        "auto_map": {"AutoTokenizer": ["tokenization_moonshot.TikTokenTokenizer", None]},
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    return n
