#!/usr/bin/env python3
"""Fixtures for PrismTokenizer, computed by the `tiktoken` library (the reference Kimi-VL's tokenizer wraps).

    python3 Tools/reference/tokenizer_fixtures.py   # writes Tests/PrismTokenizerTests/Fixtures/...

Needs `tiktoken` (PyPI) and `regex`. Never run in CI; the outputs are committed (small):
  tiny/tiktoken.model        a small byte-level BPE (256 bytes + MERGES merges trained here on a fixed text)
  tiny/tokenizer_config.json Kimi-VL's special tokens at Kimi-VL's offsets from num_base_tokens (spec §6)
  tiny/expected.json         encodings of many strings by tiktoken.Encoding with the spec's pat_str, using the
                             Kimi tokenizer's Python-side chunking (400 000 chars, 25 000 (non-)space runs)
  splits.json                the pre-tokenisation regex splits of tricky strings as tiktoken (Rust fancy-regex)
                             makes them; Python `regex` (V1, for `&&`) agreement is reported on stdout (it
                             differs only on scalars whose Unicode data changed after tiktoken's Unicode 16,
                             e.g. U+0295 ʕ, Ll in 16 and Lo in 17)
  unicode_classes.json       which code points tiktoken's regex engine puts in each character class the pattern
                             uses (ranges), so the Swift scanner's classifier is checked on all of Unicode
It also prints the Script=Han ranges tiktoken uses, for Sources/PrismTokenizer/PreTokenizer.swift.
"""
import collections
import json
import pathlib
import platform
import random
import sys

import regex
import tiktoken

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIX = ROOT / "Tests/PrismTokenizerTests/Fixtures"
MERGES = 400

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from kimi_tokens import NAMED_SPECIALS, NUM_RESERVED, PAT_STR, bpe_merge, write_tokenizer  # noqa: E402  (shared with Tools/train)

TRAINING_TEXT = """
The quick brown fox jumps over the lazy dog. A vision-language model reads images and text together:
it looks at the picture, then answers the question about it. We're testing the tokenizer, and it's
important that every byte round-trips. They'll say the model can't see, but it DOES see; I'M SURE it'd work.
Describe the image. What is in the picture? There are two cats sitting on a red sofa near the window.
The weather today is sunny with a high of 23 degrees and a low of 14 degrees. In 2024, 1,234,567 people
visited the museum; the ticket cost $12.50 (about 11.60 EUR).
你好，世界！这是一个测试。视觉语言模型可以理解图像和文本。请描述这张图片。今天天气很好，我们去公园散步吧。
图片里有两只猫坐在红色的沙发上。机器学习和深度学习是人工智能的重要分支。
日本語のテキストも少し入れます。これはペンです。東京は日本の首都です。カタカナとひらがなと漢字。
한국어 문장도 있습니다. 안녕하세요, 반갑습니다.
Ünïcödé façade café naïve résumé — “quotes” and ‘single’ … ellipsis; emoji 😀👍🏽🇯🇵 and ∑ ∫ √ ≠ ≤ ≥.
func encode(_ text: String, allowSpecial: Bool = true) -> [Int] {
    var ids: [Int] = []
    for piece in split(text) { ids += bpe(piece) }
    return ids
}
def train(words, merges=400):
    for i in range(merges):
        pairs = collections.Counter()
        if not pairs:
            break
    return {"vocab": vocab, "merges": merges}
    if (x < 10 && y >= 20) || z != 0 { print("hello, world\\n"); }
<div class="image"><img src="cat.png" alt="a cat"></div>
"""


def pretokenize(text):
    # training only; the fixtures below use tiktoken's own splitting
    return regex.findall("(?V1)" + PAT_STR, text)


def train_bpe(text, merges):
    words = collections.Counter(tuple(bytes([b]) for b in p.encode()) for p in pretokenize(text * 3))
    ranks = {bytes([i]): i for i in range(256)}
    return bpe_merge(words, ranks, merges)


def split_whitespaces_or_nonwhitespaces(s, max_len):
    # copy of tokenization_moonshot.py's helper (Python str.isspace, code-point lengths)
    cur_len, cur_space, start = 0, (s[0].isspace() if s else False), 0
    for i in range(len(s)):
        now_space = s[i].isspace()
        if cur_space ^ now_space:
            cur_len, cur_space = 1, now_space
        else:
            cur_len += 1
            if cur_len > max_len:
                yield s[start:i]
                start, cur_len = i, 1
    yield s[start:]


def kimi_encode(enc, text, allow_special):
    # tokenization_moonshot.py TikTokenTokenizer.encode
    ids = []
    for i in range(0, len(text), 400_000):
        for sub in split_whitespaces_or_nonwhitespaces(text[i:i + 400_000], 25_000):
            if allow_special:
                ids += enc.encode(sub, allowed_special="all")
            else:
                ids += enc.encode(sub, disallowed_special=())
    return ids


def tiktoken_splits(text):
    """The regex pieces tiktoken makes: every substring of `text` is a token, so each piece is one token."""
    data = text.encode()
    ranks = {bytes([i]): i for i in range(256)}
    for i in range(len(data)):
        for j in range(i + 2, len(data) + 1):
            ranks.setdefault(data[i:j], len(ranks))
    enc = tiktoken.Encoding("splits", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens={})
    pieces = [enc.decode_single_token_bytes(t) for t in enc.encode_ordinary(text)]
    assert b"".join(pieces) == data, "tiktoken dropped unmatched text"
    return [p.decode() for p in pieces]


def class_members(pattern):
    """Code points that tiktoken's engine matches with a one-character pattern (unmatched text is dropped)."""
    enc = tiktoken.Encoding("cls", pat_str=pattern, mergeable_ranks={bytes([i]): i for i in range(256)},
                            special_tokens={})
    out = []
    for base in range(0, 0x110000, 0x10000):
        s = "".join(chr(c) for c in range(base, base + 0x10000) if not 0xD800 <= c < 0xE000)
        out.append(enc.decode_bytes(enc.encode_ordinary(s)).decode())
    return sorted(ord(c) for c in "".join(out))


def ranges(points):
    r = []
    for c in points:
        if r and r[-1][1] == c - 1:
            r[-1][1] = c
        else:
            r.append([c, c])
    return r


def split_cases():
    rng = random.Random(7)
    cases = [
        "Hello world", "Hello, world!", "  leading spaces", "trailing spaces   ", "tabs\tand\tnewlines\n\nend",
        "I'm here. You're there. It's THEIR'S. WE'LL GO. SHE'D. I'VE. they'Re", "don't DON'T DoN'T o'clock 'tis",
        "x'S y'T z'RE w'VE v'M u'LL t'D", "Kelvin 'K and long s 'ſ and 'ſt",
        "123 4567 89012345 1,234,567.89 3.14159", "٣٤٥٦٧ ①②③④ ⅠⅡⅢⅣⅤ ½¾ 𝟘𝟙𝟚𝟛𝟜", "abc123def 12ab 1a2b3c",
        "你好世界hello世界world你好", "中文English混合text测试", "你好，世界！这是一个测试。", "東京タワーとスカイツリー",
        "日本語のテキスト、カタカナ・ひらがな々〆〇", "한국어 문장도 있습니다.", "ไทยภาษา สวัสดีครับ", "Ελληνικά ΚΕΦΑΛΑΙΑ μικρά",
        "Русский ТЕКСТ текст", "עברית ושפה", "العربية والنص", "हिन्दी पाठ", "ǅungla ǈudi Ǌemac", "ʰʲʷ ˈstress ˌsec",
        "e\u0301 cafe\u0301 A\u0301BC \u0301\u0302x  \u0301 \u0301A ͣ", "\u0301\u0301\u0301", " \u0301ABC", "a\u0308\u0301bc",
        "emoji 😀👍🏽🇯🇵 👨‍👩‍👧‍👦 ❤️ !!!", "😀😀 😀\n😀", "   \n\n   \n  x", "\r\n\r\n  \r\n", "a\n\nb\r\n\tc",
        "line1\nline2\r\nline3\rline4", "  \u3000  \u00a0 x \u2003y\u2028z\u2029", "end with newline\n", "end with spaces  ",
        "\n", " ", "  ", "a", "'", "'s", "...", "!!!\n\n", " !!!\n\n ", "$12.50 (about) [x] {y} <z> #tag @user",
        "if (x < 10 && y >= 20) || z != 0 {\n    print(\"hi\\n\");\n}\n", "def f(x):\n\treturn x**2  # square\n",
        "<div class=\"image\"><img src=\"cat.png\"></div>", "path/to/file_name-v2.txt", "C'EST L'ÉTÉ, n'est-ce pas?",
        "ABCdef ABC DEF abcDEF aBc", "HTTPServer XMLHttpRequest iPhone eBay McDonald's", "ﬁﬂ ǲ Ⅻ ⓐⓑ Ⓐ",
        "\x00\x01\x1f\x7f control", "\u200b\u200c\u200d\ufeff zero widths", "ℝ ℂ ℕ ∀x∈ℝ: x²≥0", "a.b,c;d:e!f?g",
        "你好 hello 你好\n你好", "世界123世界", "漢字's 中'S", "々〆 〇一", "カ゚ ゕ", "\U00020000\U0002A6DF\U00030000",
        "mixed  \t  whitespace\t\t\n \n", "x\u0085y", "tab\t\tx", "\x1c\x1d\x1e\x1f sep", "ꙮ ߷ ᪥ ᯾",
    ]
    alphabet = ("abcXYZ'sStTrRvVmMlLdD 0123456789\n\r\t\u3000.,!?-_/\\\"'()你好世界の日本カタ한국ไทยé\u0301ʰǅ😀🇯🇵①½"
                "\u00a0\u2028ſ、。・ー々〆〇\u302a\u0295ªº\u2160\u00b2\u200d\ufe0f\x0b\x0c\x85")
    for _ in range(200):
        n = rng.randint(1, 24)
        cases.append("".join(rng.choice(alphabet) for _ in range(n)))
    return cases


def encode_cases():
    rng = random.Random(11)
    cases = [(t, True) for t in split_cases()]
    cases += [(TRAINING_TEXT, True), (TRAINING_TEXT.upper(), True)]
    cases += [
        ("<|im_user|>user<|im_middle|>Hello<|im_end|>", True),
        ("<|im_user|>user<|im_middle|>Hello<|im_end|>", False),
        ("[BOS]text[EOS] [EOT]<|im_system|>", True),
        ("<|media_start|>image<|media_content|><|media_pad|><|media_end|>Describe the image.", True),
        (f"<|reserved_token_{5}|> <|reserved_token_{8}|>", True),
        ("<|im_end <|im_end|x <|im_end|>> [BOS", True),
        ("<|im_end|><|im_end|>", False),
    ]
    # long runs: the Python-side chunking into ≤25 000-char runs of (non-)whitespace changes the splits
    cases.append(("ab" * 12_600 + " tail", True))
    cases.append(("x " + " " * 25_010 + "y", True))
    words = ["the", "model", "image", "你好", "世界", "cat's", "DOG", "123456", "!", "\n", "  ", "😀", "é"]
    for _ in range(20):
        cases.append(("".join(rng.choice(words) + rng.choice(["", " ", ""]) for _ in range(rng.randint(1, 40))), True))
    return cases


def main():
    tiny = FIX / "tiny"
    tiny.mkdir(parents=True, exist_ok=True)

    ranks = train_bpe(TRAINING_TEXT, MERGES)
    n = write_tokenizer(ranks, tiny)
    named = {n + off: name for off, name in NAMED_SPECIALS.items()}
    specials = {named.get(i, f"<|reserved_token_{i}|>"): i for i in range(n, n + NUM_RESERVED + 2)}

    enc = tiktoken.Encoding("tiny", pat_str=PAT_STR, mergeable_ranks=ranks, special_tokens=specials)
    expected = {
        "generator": f"Tools/reference/tokenizer_fixtures.py; tiktoken {tiktoken.__version__}, "
                     f"Python {platform.python_version()}",
        "num_base_tokens": n,
        "special_tokens": {name: i for name, i in specials.items() if i in named},
        "cases": [{"text": t, "allow_special": a, "ids": kimi_encode(enc, t, a)} for t, a in encode_cases()],
    }
    for c in expected["cases"]:
        assert enc.decode(c["ids"]) == c["text"]
    (tiny / "expected.json").write_text(json.dumps(expected, ensure_ascii=False) + "\n")

    splits, disagree = [], 0
    for text in split_cases():
        pieces = tiktoken_splits(text)
        if regex.findall("(?V1)" + PAT_STR, text) != pieces:
            disagree += 1
            print("python regex (V1) splits differently:", repr(text))
        splits.append({"text": text, "pieces": pieces})
    header = json.dumps({"generator": f"Tools/reference/tokenizer_fixtures.py; tiktoken {tiktoken.__version__}",
                         "pattern": PAT_STR}, ensure_ascii=False)[:-1]
    lines = ",\n".join(json.dumps(c, ensure_ascii=False) for c in splits)
    (FIX / "splits.json").write_text(f'{header}, "cases": [\n{lines}\n]}}\n')
    print(f"{len(splits)} split cases, Python regex V1 disagrees on {disagree}")

    classes = {
        "han": r"\p{Han}",
        "letter": r"\p{L}",
        "number": r"\p{N}",
        "space": r"\s",
        "upper": r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]",
        "lower": r"[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]",
    }
    table = {name: ranges(class_members(p)) for name, p in classes.items()}
    (FIX / "unicode_classes.json").write_text(json.dumps({
        "generator": f"Tools/reference/tokenizer_fixtures.py; tiktoken {tiktoken.__version__}",
        "patterns": classes, "ranges": table}) + "\n")
    print("Script=Han ranges:", ", ".join(f"0x{a:X}...0x{b:X}" for a, b in table["han"]))
    print(f"num_base_tokens {n}; {len(expected['cases'])} encode cases")


if __name__ == "__main__":
    main()
