#!/usr/bin/env python3
"""Checks a tokenizer made by `pangu train-tokenizer` against Google's sentencepiece.

Run from the repository root after `npm run build`, with Debian's python3-sentencepiece:
    /usr/bin/python3 tools/train/check_tokenizer.py --model DIR [--text FILE] [--strings N] [--json OUT]

1. sentencepiece loads DIR/tokenizer.model (the protobuf our writer made) and reports the expected
   layout: BPE, byte fallback, <unk>/<s>/</s> at 0/1/2, Pangu's user-defined specials as
   USER_DEFINED pieces, identity normalization.
2. For N strings (paragraphs and random slices of --text, the fixtures' hard cases: whitespace
   runs, CJK, emoji, code, specials such as [unused9]; random Unicode), the ids of
       node bin/pangu.js tokenize --model DIR --jsonl
   must equal the slow Hugging Face tokenizer's (tools/tokenizer/hf_reference.py, which encodes
   with sentencepiece), and plain sentencepiece must decode its own ids back to the text.
3. Random id sequences and the strings' ids decode identically (dist/tools/tokenizer/run-decode.js).
Prints the agreement; with --json writes it to OUT; exits 1 unless everything agrees.
"""

import argparse
import json
import os
import random
import subprocess
import sys

try:
    import sentencepiece as spm
except ImportError:
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tools", "tokenizer"))
from hf_reference import SlowTokenizer  # noqa: E402
from make_fixtures import TEST_STRINGS  # noqa: E402

SCRIPTS = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x4E00, 0x4F00), (0x3040, 0x30FF),
           (0x1F300, 0x1F64F), (0x600, 0x6FF)]


def random_unicode(rng, n):
    out = []
    for _ in range(n):
        r = rng.random()
        if r < 0.15:
            out.append(rng.choice([" ", " ", "  ", "\n", "\t"]))
        elif r < 0.2:
            out.append(rng.choice(["[unused9]", "[unused10]", "[unused16]", "[unused17]", "<s>", "</s>", "<unk>"]))
        else:
            lo, hi = rng.choice(SCRIPTS)
            out.append(chr(rng.randint(lo, hi)))
    return "".join(out)


def strings(text, rng, count):
    paras = [p.strip() for p in text.split("\n\n") if p.strip()]
    out = list(TEST_STRINGS)
    while len(out) < count:
        r = rng.random()
        if r < 0.4 and paras:
            out.append(rng.choice(paras))
        elif r < 0.75 and paras:
            p = rng.choice(paras)
            i = rng.randrange(len(p))
            out.append(p[i:i + rng.randint(1, 80)])
        elif r < 0.85 and paras:
            a, b = rng.choice(paras), rng.choice(paras)
            out.append(a[:40] + rng.choice(["[unused9]", " [unused10] ", "\n\n", "   ", "\t"]) + b[:40])
        else:
            out.append(random_unicode(rng, rng.randint(1, 40)))
    return out[:count]


def run_jsonl(cmd, lines):
    p = subprocess.run(cmd, input="".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                       capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {p.stderr.strip()}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="directory with tokenizer.model and tokenizer_config.json")
    ap.add_argument("--text", help="text file to draw test strings from")
    ap.add_argument("--strings", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    if not os.path.exists(os.path.join(ROOT, "dist", "src", "cli", "main.js")):
        sys.exit("build first: npm run build")

    with open(os.path.join(args.model, "tokenizer.model"), "rb") as fh:
        proto = fh.read()
    sp = spm.SentencePieceProcessor(model_proto=proto)
    with open(os.path.join(args.model, "tokenizer_config.json"), encoding="utf-8") as fh:
        config = json.load(fh)
    n = sp.get_piece_size()
    layout = {
        "pieces": n,
        "unk_bos_eos": [sp.unk_id(), sp.bos_id(), sp.eos_id()],
        "byte_pieces": sum(1 for i in range(n) if sp.is_byte(i)),
        "user_defined": [sp.id_to_piece(i) for i in range(n) if sp.id_to_piece(i).startswith("[unused")][:3] + ["..."],
        "unused9_10_16_17_ids": [sp.piece_to_id(f"[unused{k}]") for k in (9, 10, 16, 17)],
        "hello_world": sp.encode("Hello world", out_type=str),
    }
    assert layout["unk_bos_eos"] == [0, 1, 2], layout
    assert layout["byte_pieces"] == 256, layout
    assert sp.is_unknown(0) and sp.is_control(1) and sp.is_control(2)
    assert sp.encode("a[unused9]b", out_type=str)[1] == "[unused9]", "user-defined symbols are atomic"
    print(f"sentencepiece {spm.__version__} loads {args.model}/tokenizer.model: {json.dumps(layout, ensure_ascii=False)}")

    rng = random.Random(args.seed)
    text = open(args.text, encoding="utf-8").read() if args.text else ""
    test = strings(text, rng, args.strings)
    slow = SlowTokenizer(sp, config)
    expected = [slow.encode(s) for s in test]
    got = run_jsonl(["node", os.path.join(ROOT, "bin", "pangu.js"), "tokenize", "--model", args.model, "--jsonl"], test)
    enc_ok = sum(1 for e, g in zip(expected, got) if e == g) if len(got) == len(expected) else 0
    # sentencepiece's own round trip (identity normalization, byte fallback: lossless).
    rt_ok = sum(1 for s in test if sp.decode(sp.encode(s)) == s)
    seqs = [[rng.randrange(n) for _ in range(rng.randint(0, 30))] for _ in range(500)] + expected[:500]
    dexp = [[slow.decode(q), slow.decode(q, skip_special_tokens=True)] for q in seqs]
    dgot = run_jsonl(["node", os.path.join(ROOT, "dist", "tools", "tokenizer", "run-decode.js"), "--model", args.model], seqs)
    dec_ok = sum(1 for e, g in zip(dexp, dgot) if e == g) if len(dgot) == len(dexp) else 0
    tokens = sum(len(e) - 1 for e in expected)
    chars = sum(len(s) for s in test)
    result = {
        "sentencepiece_version": spm.__version__,
        "model": os.path.relpath(args.model, ROOT),
        "layout": layout,
        "encode_agree": [enc_ok, len(test)],
        "sentencepiece_roundtrip": [rt_ok, len(test)],
        "decode_agree": [dec_ok, len(seqs)],
        "chars_per_token": round(chars / max(1, tokens), 3),
    }
    print(f"encode (pangu tokenize vs slow HF tokenizer on sentencepiece): {enc_ok}/{len(test)}")
    print(f"sentencepiece decode(encode(s)) == s: {rt_ok}/{len(test)}")
    print(f"decode (run-decode.js vs slow HF tokenizer): {dec_ok}/{len(seqs)}")
    shown = 0
    for s, e, g in zip(test, expected, got):
        if e != g and shown < 10:
            shown += 1
            print(f"MISMATCH {s!r}\n  expected {e}\n  got      {g}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(result, fh, ensure_ascii=False, indent=2)
            fh.write("\n")
    return 0 if enc_ok == len(test) and dec_ok == len(seqs) else 1


if __name__ == "__main__":
    sys.exit(main())
