#!/usr/bin/env python3
"""Independent check of the pangu-ts engine against the float64 PyTorch reference.

For every case below it makes a NEW random checkpoint (sizes and seeds the committed
fixtures never had) in a temporary directory, runs

    node bin/pangu.js logits --model DIR --tokens a,b,c        (from the repo root)

which must print ONE JSON array on stdout (per position, an array of vocab float logits),
and compares it with the reference: max |engine - reference| <= --tol (default 1e-3).
Prints a table line per case; exits 1 if any case fails, 2 if the engine cannot be run.

Usage:
    python3 tools/reference/check_cli.py [--repo .] [--only moe] [--keep] [--tol 1e-3]
"""

import argparse
import json
import math
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _python_env  # noqa: E402

_python_env.ensure_torch()

# name, make_checkpoint arguments, number of tokens.
# Fixture sizes were: moe-tiny (seed 1, hidden 120/10 heads/2 kv, 64 experts, 2 layers, vocab 512)
# and embedded-tiny (seed 2, hidden 96/8/2, intermediate 200, 3 layers, vocab 512).
CASES = [
    ("moe-bf16-hd20-e16", dict(arch="moe", seed=1001, dtype="bf16", shards=3, vocab=300, hidden=160, heads=8,
                               kv_heads=2, layers=3, experts=16, moe_intermediate=24, shared_intermediate=40), 9),
    ("moe-bf16-e32-gqa5", dict(arch="moe", seed=1002, dtype="bf16", shards=5, vocab=257, hidden=80, heads=10,
                               kv_heads=2, layers=2, experts=32, moe_intermediate=12, shared_intermediate=32), 14),
    ("moe-bf16-e64-long", dict(arch="moe", seed=1005, dtype="bf16", shards=4, vocab=640, hidden=128, heads=8,
                               kv_heads=1, layers=2, experts=64, moe_intermediate=20, shared_intermediate=72), 33),
    ("moe-f16-mha", dict(arch="moe", seed=1003, dtype="f16", shards=2, vocab=211, hidden=64, heads=4,
                         kv_heads=4, layers=2, experts=24, moe_intermediate=16, shared_intermediate=48), 7),
    ("moe-f32-e64", dict(arch="moe", seed=1004, dtype="f32", shards=2, vocab=190, hidden=96, heads=6,
                         kv_heads=3, layers=1, experts=64, moe_intermediate=8, shared_intermediate=24), 5),
    ("emb-bf16-hd20", dict(arch="embedded", seed=2001, dtype="bf16", shards=4, vocab=333, hidden=100, heads=5,
                           kv_heads=1, layers=4, intermediate=136), 11),
    ("emb-bf16-gqa4", dict(arch="embedded", seed=2004, dtype="bf16", shards=2, vocab=700, hidden=128, heads=16,
                           kv_heads=4, layers=2, intermediate=320), 21),
    ("emb-f16", dict(arch="embedded", seed=2002, dtype="f16", shards=2, vocab=270, hidden=72, heads=6,
                     kv_heads=2, layers=2, intermediate=144), 6),
    ("emb-f32-mha", dict(arch="embedded", seed=2003, dtype="f32", shards=3, vocab=260, hidden=64, heads=4,
                         kv_heads=4, layers=3, intermediate=160), 8),
]
# Opt-in (--single-file): an unsharded checkpoint, model.safetensors without an index.
SINGLE_FILE_CASE = ("emb-bf16-single-file", dict(arch="embedded", seed=2005, dtype="bf16", shards=1, vocab=150,
                                                 hidden=48, heads=4, kv_heads=2, layers=2, intermediate=64), 5)


def case_tokens(seed, vocab, n):
    """Deterministic token ids: bos, the extreme ids 0 and vocab-1, then random ones."""
    r = random.Random(seed * 31 + 7)
    toks = [1, vocab - 1, 0] + [r.randrange(vocab) for _ in range(max(0, n - 3))]
    return toks[:n]


def to_argv(params, out, tokens):
    argv = ["--out", out, "--tokens", ",".join(map(str, tokens)), "--quiet"]
    for k, v in params.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return argv


def compare(engine_out, expected):
    """Returns (max_abs_err, argmax agreement count, problem or None)."""
    if not isinstance(engine_out, list):
        return None, 0, f"stdout JSON is a {type(engine_out).__name__}, not an array"
    if len(engine_out) != len(expected):
        return None, 0, f"{len(engine_out)} positions, expected {len(expected)}"
    worst, agree = 0.0, 0
    for p, (row, ref_row) in enumerate(zip(engine_out, expected)):
        if not isinstance(row, list) or len(row) != len(ref_row):
            n = len(row) if isinstance(row, list) else type(row).__name__
            return None, 0, f"position {p}: {n} logits, expected {len(ref_row)}"
        for v in row:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                return None, 0, f"position {p}: non-finite or non-numeric logit {v!r}"
        err = max(abs(a - b) for a, b in zip(row, ref_row))
        worst = max(worst, err)
        if max(range(len(row)), key=row.__getitem__) == max(range(len(ref_row)), key=ref_row.__getitem__):
            agree += 1
    return worst, agree, None


def run_case(name, params, ntok, args, tmp, engine_cmd):
    import make_checkpoint

    d = os.path.join(tmp, name)
    tokens = case_tokens(params["seed"], params["vocab"], ntok)
    info = make_checkpoint.make(make_checkpoint.parse_args(to_argv(params, d, tokens)))
    with open(os.path.join(d, "expected.json")) as f:
        expected = json.load(f)
    cmd = engine_cmd + ["logits", "--model", d, "--tokens", ",".join(map(str, tokens))]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, cwd=args.repo, capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return info, None, None, time.time() - t0, f"engine timed out after {args.timeout}s: {shlex.join(cmd)}"
    except OSError as e:
        return info, None, None, time.time() - t0, f"cannot start engine ({e}): {shlex.join(cmd)}"
    secs = time.time() - t0
    if proc.returncode != 0:
        text = proc.stderr if proc.stderr.strip() else proc.stdout
        tail = "\n".join(line for line in text[-1500:].splitlines() if line.strip())
        return info, None, None, secs, f"engine exited with {proc.returncode}: {shlex.join(cmd)}\n{tail}"
    try:
        out = json.loads(proc.stdout)
    except json.JSONDecodeError as e:
        return info, None, None, secs, f"stdout is not one JSON array ({e}); stdout starts: {proc.stdout[:300]!r}"
    err, agree, problem = compare(out, expected["logits"])
    return info, err, agree, secs, problem


def main():
    ap = argparse.ArgumentParser(description="Compare `pangu logits` with the float64 PyTorch reference.")
    ap.add_argument("--repo", default=os.getcwd(), help="repository root holding bin/pangu.js (default: cwd)")
    ap.add_argument("--engine", default="node bin/pangu.js",
                    help="engine command prefix, run from --repo (default: 'node bin/pangu.js')")
    ap.add_argument("--tol", type=float, default=1e-3, help="max abs logit error allowed (default 1e-3)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per engine run")
    ap.add_argument("--only", default=None, help="run only cases whose name contains this")
    ap.add_argument("--single-file", action="store_true",
                    help="add a case with one unsharded model.safetensors (no index)")
    ap.add_argument("--keep", action="store_true", help="keep the generated checkpoints and print where")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    args = ap.parse_args()

    cases = CASES + ([SINGLE_FILE_CASE] if args.single_file else [])
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    if args.list:
        for name, params, ntok in cases:
            print(name, ntok, "tokens", json.dumps(params))
        return 0
    if not cases:
        print("no case matches --only", file=sys.stderr)
        return 2

    args.repo = os.path.abspath(args.repo)
    engine_cmd = shlex.split(args.engine)
    if not engine_cmd:
        print("--engine is empty", file=sys.stderr)
        return 2
    if shutil.which(engine_cmd[0]) is None and not os.path.exists(os.path.join(args.repo, engine_cmd[0])):
        print(f"cannot find '{engine_cmd[0]}' on PATH", file=sys.stderr)
        return 2
    if args.engine == "node bin/pangu.js" and not os.path.exists(os.path.join(args.repo, "bin", "pangu.js")):
        print(f"{args.repo}/bin/pangu.js not found: pass --repo (the pangu-ts checkout)", file=sys.stderr)
        return 2
    tmp = tempfile.mkdtemp(prefix="pangu-check-")
    failures = 0
    header = f"{'case':<22} {'arch':<8} {'dtype':<5} {'shards':>6} {'T':>3} {'vocab':>5} " \
             f"{'|logit|max':>10} {'min_gap':>9} {'max_err':>10} {'argmax':>7} {'secs':>6}  result"
    print(header)
    print("-" * len(header))
    try:
        for name, params, ntok in cases:
            try:
                info, err, agree, secs, problem = run_case(name, params, ntok, args, tmp, engine_cmd)
            except Exception as e:  # a bug while generating is a failure of this case, not a crash
                failures += 1
                print(f"{name:<22} ERROR generating the checkpoint: {type(e).__name__}: {e}")
                continue
            ok = problem is None and err <= args.tol
            failures += 0 if ok else 1
            gap = "-" if info["min_router_gap"] is None else f"{info['min_router_gap']:.2e}"
            errs = "-" if err is None else f"{err:.3e}"
            agr = "-" if agree is None or err is None else f"{agree}/{ntok}"
            result = "PASS" if ok else (f"FAIL (max_err > {args.tol:g})" if problem is None
                                        else "FAIL: " + problem.splitlines()[0])
            print(f"{name:<22} {params['arch']:<8} {params['dtype']:<5} {params['shards']:>6} {ntok:>3} "
                  f"{params['vocab']:>5} {info['logit_absmax']:>10.3f} {gap:>9} {errs:>10} {agr:>7} "
                  f"{secs:>6.1f}  {result}")
            if problem and "\n" in problem:
                for line in problem.splitlines()[1:]:
                    print("    " + line)
            sys.stdout.flush()
    finally:
        if args.keep:
            print(f"\ncheckpoints kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{len(cases) - failures}/{len(cases)} cases passed (tolerance {args.tol:g})")
    if failures and args.engine == "node bin/pangu.js" and not os.path.isdir(os.path.join(args.repo, "dist")):
        print(f"note: {args.repo}/dist is missing; build the engine first (npm install / npm run build)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
