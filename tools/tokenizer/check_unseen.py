#!/usr/bin/env python3
"""Checks pangu-ts's tokenizer against SentencePiece on models and text the fixtures never had.

Run from the repository root after `npm run build`, with Debian's python3-sentencepiece:
    /usr/bin/python3 tools/tokenizer/check_unseen.py [--strings N] [--keep DIR]

Trains several NEW models (BPE and unigram; identity, nmt_nfkc and nmt_nfkc_cf normalization;
with and without byte fallback and dummy prefix; other seeds and vocabulary sizes) on text unlike
the fixtures' (the "unseen" sentences of corpus.py, docstrings of Python's standard library, random
letters of many scripts), writes each with a Pangu-style tokenizer_config.json into a temporary
directory holding nothing else, makes new test strings, and runs
    node bin/pangu.js tokenize --model DIR --jsonl
comparing every line with the slow HF tokenizer's ids (hf_reference.py). It also
decodes random id sequences with dist/tools/tokenizer/run-decode.js and compares them with the
slow tokenizer's decode. Prints the agreement per model; exits 1 unless everything agrees.
"""

import argparse
import importlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unicodedata

try:
    import sentencepiece as spm
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from corpus import corpus_lines  # noqa: E402
from hf_reference import SlowTokenizer, pangu_style_config  # noqa: E402
from make_fixtures import ADDED, PANGU_CHAT_TEMPLATE, PANGU_USER_DEFINED  # noqa: E402


def stdlib_docstrings(limit=3000):
    """Docstrings of standard-library modules: English prose and code, never in the fixtures."""
    out = []
    for name in ["json", "textwrap", "argparse", "collections", "functools", "itertools", "pathlib", "re", "string",
                 "statistics", "fractions", "decimal", "difflib", "email", "http.client", "urllib.parse", "csv",
                 "heapq", "bisect", "datetime", "calendar", "shutil", "tempfile", "logging", "unittest"]:
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: BLE001
            continue
        for obj in [mod] + [getattr(mod, a, None) for a in dir(mod)]:
            doc = getattr(obj, "__doc__", None)
            if isinstance(doc, str):
                for para in doc.split("\n\n"):
                    if para.strip():
                        out.append(para)
    seen = set()
    uniq = [p for p in out if not (p in seen or seen.add(p))]
    return uniq[:limit]


BLOCKS = [
    (0x0020, 0x007E), (0x00A0, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x0590, 0x05FF), (0x0600, 0x06FF),
    (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x1100, 0x11FF), (0x3000, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFF00, 0xFFEF), (0x1F300, 0x1F6FF), (0x1F900, 0x1F9FF), (0x1D400, 0x1D7FF),
    (0x2000, 0x206F), (0x2460, 0x24FF), (0xFE00, 0xFE0F), (0x0300, 0x036F), (0x20000, 0x2A6DF),
]


def random_text(rng, n):
    out = []
    while len(out) < n:
        r = rng.random()
        if r < 0.15:
            out.append(rng.choice([" ", "  ", "\t", "\n", "\r\n", "   ", "\u3000", "\u00a0"]))
        elif r < 0.2:
            out.append(rng.choice(ADDED + ["[unused", "[unused1", "<s", "</", "[unused99]"]))
        elif r < 0.25:
            out.append(rng.choice(["👨\u200d👩\u200d👧", "👍🏽", "🇫🇷", "❤️", "🏳️\u200d🌈", "e\u0301", "ﬁ", "①", "Ⅻ"]))
        else:
            lo, hi = rng.choice(BLOCKS)
            c = chr(rng.randint(lo, hi))
            if unicodedata.category(c) in ("Cs", "Co", "Cn"):
                continue
            out.append(c)
    return "".join(out)


def test_strings(rng, count):
    sents = corpus_lines(seed=rng.randint(0, 10**9), variant="unseen", n=count // 2)
    docs = stdlib_docstrings()
    rng.shuffle(docs)
    strings = [""] + sents + docs[: count // 4]
    while len(strings) < count:
        strings.append(random_text(rng, rng.randint(1, 60)))
    # a few long ones
    strings.append("".join(docs[:20]))
    strings.append(random_text(rng, 2000))
    return strings


MODELS = [
    ("bpe-identity-dummy", dict(model_type="bpe", vocab_size=1500, byte_fallback=True, normalization_rule_name="identity",
                                add_dummy_prefix=True, remove_extra_whitespaces=False, split_digits=True,
                                allow_whitespace_only_pieces=True), 101),
    ("bpe-identity-nodummy", dict(model_type="bpe", vocab_size=4000, byte_fallback=True, normalization_rule_name="identity",
                                  add_dummy_prefix=False, remove_extra_whitespaces=False, split_digits=True), 202),
    ("bpe-nfkc-unk", dict(model_type="bpe", vocab_size=2500, byte_fallback=False, normalization_rule_name="nmt_nfkc",
                          character_coverage=0.99), 303),
    ("unigram-nfkc-bytes", dict(model_type="unigram", vocab_size=1200, byte_fallback=True, normalization_rule_name="nmt_nfkc"), 404),
    ("unigram-identity", dict(model_type="unigram", vocab_size=2500, normalization_rule_name="identity",
                              remove_extra_whitespaces=True, character_coverage=0.98), 505),
    ("unigram-nfkc-cf", dict(model_type="unigram", vocab_size=1800, normalization_rule_name="nmt_nfkc_cf",
                             add_dummy_prefix=False), 606),
]


def node_cmd():
    """`node bin/pangu.js tokenize`, built by `npm run build`."""
    if not os.path.exists(os.path.join(ROOT, "dist", "src", "cli", "main.js")):
        sys.exit("build first: npm run build")
    return ["node", os.path.join(ROOT, "bin", "pangu.js"), "tokenize"], "node bin/pangu.js tokenize"


def run_jsonl(cmd, lines):
    p = subprocess.run(cmd, input="".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--strings", type=int, default=1500, help="test strings per model")
    ap.add_argument("--keep", help="write the models into this directory instead of a temporary one")
    args = ap.parse_args()

    cmd, cmd_label = node_cmd()
    decode_runner = ["node", os.path.join(ROOT, "dist", "tools", "tokenizer", "run-decode.js")]
    base = args.keep or tempfile.mkdtemp(prefix="pangu-unseen-")
    os.makedirs(base, exist_ok=True)
    print(f"encoder under test: {cmd_label}")
    print(f"sentencepiece {spm.__version__}; models in {base}")

    train_text = corpus_lines(seed=77, variant="unseen", n=8000) + stdlib_docstrings()
    rng0 = random.Random(2024)
    train_text += [random_text(rng0, rng0.randint(5, 30)) for _ in range(300)]

    total = agree = dtotal = dagree = 0
    failures = []
    for name, kw, seed in MODELS:
        spm.set_random_generator_seed(seed)
        f = io.BytesIO()
        rng = random.Random(seed)
        text = list(train_text)
        rng.shuffle(text)
        spm.SentencePieceTrainer.train(sentence_iterator=iter(text), model_writer=f, minloglevel=2,
                                       user_defined_symbols=PANGU_USER_DEFINED, unk_id=0, bos_id=1, eos_id=2,
                                       pad_id=-1, max_sentence_length=100000, num_threads=2,
                                       **{"character_coverage": 0.995, **kw})
        model = f.getvalue()
        d = os.path.join(base, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "tokenizer.model"), "wb") as fh:
            fh.write(model)
        sp = spm.SentencePieceProcessor(model_proto=model)
        config = pangu_style_config(sp, ADDED, PANGU_CHAT_TEMPLATE)
        with open(os.path.join(d, "tokenizer_config.json"), "w", encoding="utf-8") as fh:
            json.dump(config, fh, ensure_ascii=False)
        slow = SlowTokenizer(sp, config)

        strings = test_strings(rng, args.strings)
        expected = [slow.encode(s) for s in strings]
        got = run_jsonl(cmd + ["--model", d, "--jsonl"], strings)
        ok = sum(1 for e, g in zip(expected, got) if e == g) if len(got) == len(expected) else 0
        for s, e, g in zip(strings, expected, got):
            if e != g and len(failures) < 10:
                failures.append((name, s, e, g))

        # decode: random ids, and the ids of the test strings
        n = sp.get_piece_size()
        seqs = [[rng.randrange(n) for _ in range(rng.randint(0, 30))] for _ in range(300)] + expected[:300]
        dexp = [[slow.decode(q), slow.decode(q, skip_special_tokens=True)] for q in seqs]
        dgot = run_jsonl(decode_runner + ["--model", d], seqs)
        dok = sum(1 for e, g in zip(dexp, dgot) if e == g) if len(dgot) == len(dexp) else 0
        for q, e, g in zip(seqs, dexp, dgot):
            if e != g and len(failures) < 20:
                failures.append((name + " decode", q, e, g))

        total += len(strings)
        agree += ok
        dtotal += len(seqs)
        dagree += dok
        print(f"{name:22s} {sp.get_piece_size():5d} pieces  encode {ok}/{len(strings)} ({100.0 * ok / len(strings):.2f}%)"
              f"  decode {dok}/{len(seqs)} ({100.0 * dok / len(seqs):.2f}%)")

    print(f"TOTAL encode {agree}/{total} ({100.0 * agree / total:.2f}%), decode {dagree}/{dtotal} ({100.0 * dagree / dtotal:.2f}%)")
    for name, s, e, g in failures:
        print(f"MISMATCH {name}: {s!r}\n  expected {e}\n  got      {g}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if agree == total and dagree == dtotal else 1


if __name__ == "__main__":
    sys.exit(main())
