#!/usr/bin/env python3
"""Self-check of the reference tooling (no engine needed).

1. The safetensors writer round-trips: random tensors of every dtype are written, the file
   is parsed back (header length, 8-byte alignment, space padding, offsets, sorted layout)
   and the bytes and values compared.
2. bf16 storage is the f32 rounded to nearest even, checked against an independent
   integer implementation on the raw bits.
3. Generated sharded checkpoints (MoE and Embedded): the index matches the shards exactly
   (every tensor in exactly the shard the index names, total_size = sum of tensor bytes,
   shard names model-0000k-of-0000N), the tensors follow layer order across shards, the
   names are those of SPEC.md, and expected.json agrees with a fresh reference run.
4. Reference sanity: rope/attention basics and MoGE picks one expert per group.

Usage: python3 tools/reference/selfcheck.py [--fixtures]   (--fixtures: also check the
committed fixtures in test/fixtures/models/ against a fresh reference run)
"""

import argparse
import json
import os
import re
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import _python_env  # noqa: E402

_python_env.ensure_torch()

import numpy as np  # noqa: E402
import torch  # noqa: E402

import make_checkpoint  # noqa: E402
import pangu_reference as ref  # noqa: E402
import safetensors_io  # noqa: E402

FAILURES = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILURES.append(msg)


def bf16_bits_rne(f32):
    """Independent RNE f32 -> bf16 on the integer bits (finite inputs)."""
    u = np.asarray(f32, dtype=np.float32).view(np.uint32).astype(np.uint64)
    lsb = (u >> 16) & 1
    return ((u + 0x7FFF + lsb) >> 16).astype(np.uint16)


def check_roundtrip(tmp):
    rng = np.random.default_rng(7)
    tensors, values = {}, {}
    for name, dtype, shape in [("b.bf16", "bf16", (3, 5)), ("a.f16", "f16", (7,)), ("c.f32", "f32", (2, 3, 4)),
                               ("z.scalarish", "f32", (1, 1)), ("m.odd", "bf16", (1, 3))]:
        t = torch.from_numpy(rng.standard_normal(shape))
        st, shp, raw, back = make_checkpoint.store(t, dtype)
        tensors[name] = (st, shp, raw)
        values[name] = back
    path = os.path.join(tmp, "rt.safetensors")
    nbytes = safetensors_io.write_file(path, tensors)
    check(nbytes == sum(len(v[2]) for v in tensors.values()), "writer reports the tensor byte count")
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    check((8 + n) % 8 == 0, "header length keeps the data 8-byte aligned")
    header_text = blob[8:8 + n].decode("utf-8")
    check(header_text == header_text.rstrip(" ") + " " * (len(header_text) - len(header_text.rstrip(" "))),
          "header padded with spaces only")
    header = json.loads(header_text)
    check(header.get("__metadata__") == {"format": "pt"}, "__metadata__ is {format: pt}")
    names = sorted(k for k in header if k != "__metadata__")
    offs = [header[k]["data_offsets"] for k in names]
    check(offs[0][0] == 0 and all(offs[i][1] == offs[i + 1][0] for i in range(len(offs) - 1))
          and offs[-1][1] == len(blob) - 8 - n, "tensors back to back in sorted-name order")
    back = safetensors_io.read_file(path)
    check(set(back) == set(tensors), "same tensor names read back")
    for name in tensors:
        d, s, raw = back[name]
        same = (d, tuple(s), raw) == (tensors[name][0], tuple(tensors[name][1]), tensors[name][2])
        vals = torch.from_numpy(safetensors_io.to_float64(d, s, raw))
        check(same and torch.equal(vals, values[name]), f"round-trip of {name} ({d}{list(s)})")
    # bf16 rounding against an independent implementation, including ties
    x = rng.standard_normal(10000).astype(np.float32)
    k = np.arange(1, 200, dtype=np.uint32) << 16
    ties = np.concatenate([k | 0x8000, (k + 0x3F800000) | 0x8000, (k + 0x3F800000) | 0x7FFF,
                           (k + 0x3F800000) | 0x8001]).view(np.float32)  # ties both ways, near-ties
    x = np.concatenate([x, ties, -ties])
    _, _, raw, _ = make_checkpoint.store(torch.from_numpy(x.astype(np.float64)), "bf16")
    check(np.array_equal(np.frombuffer(raw, dtype="<u2"), bf16_bits_rne(x)), "bf16 = f32 rounded to nearest even")
    # a corrupted header must be rejected
    bad = os.path.join(tmp, "bad.safetensors")
    open(bad, "wb").write(blob[:-2])
    try:
        safetensors_io.read_file(bad)
        check(False, "truncated file rejected")
    except ValueError:
        check(True, "truncated file rejected")


SPEC_NAMES = [
    r"model\.embed_tokens\.weight", r"model\.norm\.weight", r"lm_head\.weight",
    r"model\.layers\.\d+\.(input|post_attention)_layernorm\.weight",
    r"model\.layers\.\d+\.self_attn\.[qkvo]_proj\.(weight|bias)",
]
MOE_NAMES = [r"model\.layers\.\d+\.mlp\.gate\.weight", r"model\.layers\.\d+\.mlp\.router_scale",
             r"model\.layers\.\d+\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight",
             r"model\.layers\.\d+\.mlp\.shared_expert\.(gate|up|down)_proj\.weight"]
EMB_NAMES = [r"model\.layers\.\d+\.mlp\.(gate|up|down)_proj\.weight",
             r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq"]


def check_checkpoint(d, label, fresh=True):
    cfg = json.load(open(os.path.join(d, "config.json")))
    arch = ref.arch_of(cfg)
    index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
    wm = index["weight_map"]
    files = sorted(set(wm.values()))
    n = len(files)
    check(files == [f"model-{k:05d}-of-{n:05d}.safetensors" for k in range(1, n + 1)], f"{label}: shard names")
    on_disk = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    check(on_disk == files, f"{label}: shards on disk = shards in index")
    seen, total, order = {}, 0, []
    for f in files:
        hdr, meta, _ = safetensors_io.read_header(os.path.join(d, f))
        safetensors_io.read_file(os.path.join(d, f))  # validates offsets
        for name, info in hdr.items():
            seen.setdefault(name, []).append(f)
            total += info["data_offsets"][1] - info["data_offsets"][0]
    check(all(len(v) == 1 for v in seen.values()), f"{label}: every tensor in exactly one shard")
    check({k: v[0] for k, v in seen.items()} == wm, f"{label}: index weight_map matches the shards")
    check(index["metadata"]["total_size"] == total, f"{label}: metadata.total_size = {total} = sum of tensor bytes")
    pats = SPEC_NAMES + (MOE_NAMES if arch == "moe" else EMB_NAMES)
    check(all(any(re.fullmatch(p, k) for p in pats) for k in wm), f"{label}: all tensor names as in SPEC.md")
    # layer order across shards: the shard number never decreases with the layer number
    def layer_of(k):
        m = re.match(r"model\.layers\.(\d+)\.", k)
        return int(m.group(1)) if m else None
    shard_no = {f: i for i, f in enumerate(files)}
    by_layer = {}
    for k, f in wm.items():
        if layer_of(k) is not None:
            by_layer.setdefault(layer_of(k), []).append(shard_no[f])
    L = cfg["num_hidden_layers"]
    ok = all(max(by_layer[i]) <= min(by_layer[i + 1]) for i in range(L - 1))
    ok = ok and shard_no[wm["model.embed_tokens.weight"]] == 0 and shard_no[wm["lm_head.weight"]] == n - 1
    check(ok, f"{label}: tensors spread over shards in layer order")
    # count of tensors
    if arch == "moe":
        per_layer = 8 + 2 + 2 + 3 * cfg["num_experts"] + 3
    else:
        per_layer = 8 + 1 + 3 + 2
    check(len(wm) == 3 + L * per_layer, f"{label}: {len(wm)} tensors")
    w = ref.load_weights(d)
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = H // nh
    shapes_ok = (tuple(w["model.layers.0.self_attn.k_proj.weight"].shape) == (nkv * hd, H)
                 and tuple(w["lm_head.weight"].shape) == (cfg["vocab_size"], H))
    if arch == "moe":
        shapes_ok = shapes_ok and tuple(w["model.layers.0.mlp.router_scale"].shape) == (1, cfg["num_experts"])
    else:
        hdr, _, _ = safetensors_io.read_header(os.path.join(d, wm["model.layers.0.self_attn.rotary_emb.inv_freq"]))
        info = hdr["model.layers.0.self_attn.rotary_emb.inv_freq"]
        shapes_ok = shapes_ok and info["dtype"] == "F32" and info["shape"] == [hd // 2]
    check(shapes_ok, f"{label}: tensor shapes")
    exp = json.load(open(os.path.join(d, "expected.json")))
    if fresh:
        out = ref.forward({"config": cfg, "weights": w}, exp["tokens"])
        err = float((out["logits"] - torch.tensor(exp["logits"], dtype=torch.float64)).abs().max())
        check(err == 0.0, f"{label}: expected.json logits reproduce exactly (max err {err})")
        if arch == "moe":
            check(out["experts"] == exp["experts"], f"{label}: expected.json experts reproduce")
            gaps = min(float(ref.group_gaps(r).min()) for r in out["router_logits"])
            check(gaps >= 1e-3 and abs(gaps - exp["min_router_gap"]) < 1e-12,
                  f"{label}: min router gap {gaps:.6g} >= 1e-3 and recorded")
            per = cfg["num_experts"] // 8
            check(all(sorted(e // per for e in tok) == list(range(8)) for lay in exp["experts"] for tok in lay),
                  f"{label}: one expert per group for every token")


def numpy_incremental_forward(cfg, w, tokens):
    """A second, deliberately different implementation (numpy, token by token with a KV cache,
    explicit loops over heads and groups) used to cross-check pangu_reference.forward."""
    W = {k: v.numpy() for k, v in w.items()}
    H, nh, nkv = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd, eps, theta = H // nh, cfg["rms_norm_eps"], cfg["rope_theta"]
    moe = "num_experts" in cfg

    def norm(x, g):
        return x / np.sqrt(np.mean(x * x) + eps) * g

    def rope(v, pos):  # v: [hd], pairs (i, i + hd/2)
        out = v.copy()
        for i in range(hd // 2):
            a = pos * theta ** (-2.0 * i / hd)
            c, s = np.cos(a), np.sin(a)
            out[i] = v[i] * c - v[i + hd // 2] * s
            out[i + hd // 2] = v[i + hd // 2] * c + v[i] * s
        return out

    def ffn(h, p):
        g, u = W[p + "gate_proj.weight"] @ h, W[p + "up_proj.weight"] @ h
        return W[p + "down_proj.weight"] @ (g / (1 + np.exp(-g)) * u)

    cache = [([], []) for _ in range(cfg["num_hidden_layers"])]
    logits, experts = [], [[] for _ in cache]
    for pos, t in enumerate(tokens):
        x = W["model.embed_tokens.weight"][t].copy()
        for layer, (kc, vc) in enumerate(cache):
            p = f"model.layers.{layer}."
            h = norm(x, W[p + "input_layernorm.weight"])
            proj = {n: W[p + f"self_attn.{n}_proj.weight"] @ h + W[p + f"self_attn.{n}_proj.bias"] for n in "qkv"}
            kc.append([rope(proj["k"][j * hd:(j + 1) * hd], pos) for j in range(nkv)])
            vc.append([proj["v"][j * hd:(j + 1) * hd] for j in range(nkv)])
            att = np.zeros(H)
            for head in range(nh):
                kvh = head // (nh // nkv)
                q = rope(proj["q"][head * hd:(head + 1) * hd], pos)
                sc = np.array([q @ kc[s][kvh] for s in range(pos + 1)]) / np.sqrt(hd)
                pr = np.exp(sc - sc.max())
                pr /= pr.sum()
                att[head * hd:(head + 1) * hd] = sum(pr[s] * vc[s][kvh] for s in range(pos + 1))
            x = x + W[p + "self_attn.o_proj.weight"] @ att + W[p + "self_attn.o_proj.bias"]
            h = norm(x, W[p + "post_attention_layernorm.weight"])
            if moe:
                r = W[p + "mlp.gate.weight"] @ h
                pr = np.exp(r - r.max())
                pr /= pr.sum()
                per = cfg["num_experts"] // 8
                out, chosen = ffn(h, p + "mlp.shared_expert."), []
                for g in range(8):
                    e = g * per + int(np.argmax(pr[g * per:(g + 1) * per]))
                    chosen.append(e)
                    out = out + pr[e] * W[p + "mlp.router_scale"][0, e] * ffn(h, p + f"mlp.experts.{e}.")
                experts[layer].append(chosen)
            else:
                out = ffn(h, p + "mlp.")
            x = x + out
        logits.append(W["lm_head.weight"] @ norm(x, W["model.norm.weight"]))
    return np.array(logits), (experts if moe else None)


def check_second_implementation(d, label):
    m = ref.load_model(d)
    exp = json.load(open(os.path.join(d, "expected.json")))
    logits, experts = numpy_incremental_forward(m["config"], m["weights"], exp["tokens"])
    err = float(np.abs(logits - np.array(exp["logits"])).max())
    check(err < 1e-9, f"{label}: independent numpy KV-cache implementation agrees (max err {err:.2e})")
    if experts is not None:
        check(experts == exp["experts"], f"{label}: independent implementation picks the same experts")


def check_reference_basics():
    # rope at position 0 is the identity; rope preserves norms
    x = torch.randn(3, 2, 12, dtype=torch.float64)
    y = ref.apply_rope(x, torch.arange(3), 16e6)
    check(torch.allclose(y[0], x[0]) and torch.allclose(y.norm(dim=-1), x.norm(dim=-1)), "rope: identity at p=0, norm kept")
    # NeoX layout: pair (i, i + hd/2) rotated by p * theta^(-2i/hd)
    hd, theta, p, i = 12, 10000.0, 5, 2
    ang = p * theta ** (-2 * i / hd)
    x = torch.zeros(6, 1, hd, dtype=torch.float64)
    x[5, 0, i] = 1.0
    y = ref.apply_rope(x, torch.arange(6), theta)[5, 0]
    check(abs(y[i] - np.cos(ang)) < 1e-12 and abs(y[i + hd // 2] - np.sin(ang)) < 1e-12, "rope: NeoX half pairing")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", action="store_true", help="also check the committed fixtures")
    args = ap.parse_args()
    check_reference_basics()
    with tempfile.TemporaryDirectory() as tmp:
        check_roundtrip(tmp)
        moe = os.path.join(tmp, "moe")
        make_checkpoint.make(make_checkpoint.parse_args(
            ["--arch", "moe", "--out", moe, "--seed", "5", "--shards", "4", "--hidden", "48", "--heads", "4",
             "--kv-heads", "2", "--experts", "16", "--moe-intermediate", "8", "--shared-intermediate", "24",
             "--vocab", "200", "--layers", "3", "--quiet"]))
        check_checkpoint(moe, "moe 4 shards")
        check_second_implementation(moe, "moe 4 shards")
        emb = os.path.join(tmp, "emb")
        make_checkpoint.make(make_checkpoint.parse_args(
            ["--arch", "embedded", "--out", emb, "--seed", "6", "--shards", "3", "--hidden", "40", "--heads", "4",
             "--kv-heads", "1", "--intermediate", "56", "--vocab", "150", "--layers", "3", "--dtype", "f16",
             "--quiet"]))
        check_checkpoint(emb, "embedded 3 shards f16")
        check_second_implementation(emb, "embedded 3 shards f16")
    if args.fixtures:
        root = os.path.join(HERE, "..", "..", "test", "fixtures", "models")
        for name in sorted(os.listdir(root)):
            check_checkpoint(os.path.join(root, name), f"fixture {name}")
            check_second_implementation(os.path.join(root, name), f"fixture {name}")
    print(f"\n{len(FAILURES)} failure(s)")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()
