#!/usr/bin/env python3
"""Write a small random Pangu checkpoint in the released layout, plus expected.json.

Output directory contents:
  config.json                       PanguProMoE or PanguEmbedded config (sizes changed)
  model-0000k-of-0000N.safetensors  shards, tensors spread in layer (module) order
  model.safetensors.index.json      {"metadata": {"total_size"}, "weight_map"} like the real one
                                    (with --shards 1: a single model.safetensors and no index,
                                    as Hugging Face writes unsharded checkpoints)
  expected.json                     {"tokens", "logits" [T][V], and for MoE "experts" [L][T][8]
                                     and "min_router_gap"}, computed by pangu_reference.py in
                                     float64 from the tensors read back from disk.

Weights: linear N(0, 1/sqrt(in_features)) (std), norm weights 1 + N(0, 0.1), biases N(0, 0.1),
router_scale U(0.5, 1.5), embeddings N(0, 1). Values are drawn in float64, rounded to float32
and then (if asked) to bf16/f16 with round-to-nearest-even, before the reference sees them.

MoE routing is made unambiguous for the given tokens: every group's best and second-best
router logits must differ by at least --min-gap (default 1e-3); a layer that violates this
gets its router (mlp.gate.weight) redrawn from a seed derived from (seed, layer, attempt).
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _python_env  # noqa: E402

_python_env.ensure_torch()

import torch  # noqa: E402

import pangu_reference as ref  # noqa: E402
import safetensors_io  # noqa: E402

TORCH_DTYPE = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}
ST_DTYPE = {"bf16": "BF16", "f16": "F16", "f32": "F32"}
CONFIG_DTYPE = {"bf16": "bfloat16", "f16": "float16", "f32": "float32"}
REAL_EOS = 45892  # [unused10], the chat eos of the real models


# ----------------------------------------------------------------------------- storage helpers

def store(t64, dtype):
    """Round a float64 tensor to the stored dtype (via float32, round-to-nearest-even).
    Returns (safetensors dtype, shape, raw little-endian bytes, float64 view of the stored values)."""
    t32 = t64.to(torch.float32)
    if dtype == "f32":
        stored = t32
        raw = stored.numpy().astype("<f4").tobytes()
    elif dtype == "f16":
        stored = t32.to(torch.float16)
        raw = stored.numpy().astype("<f2").tobytes()
    elif dtype == "bf16":
        stored = t32.to(torch.bfloat16)  # RNE on the f32 bits
        raw = stored.view(torch.int16).numpy().astype("<i2").tobytes()
    else:
        raise ValueError(dtype)
    return ST_DTYPE[dtype], tuple(t64.shape), raw, stored.to(torch.float64)


def derived_seed(seed, layer, attempt):
    """Deterministic seed for the router of `layer` on redraw `attempt` (0 = first draw)."""
    return (seed * 1_000_003 + (layer + 1) * 7_919 + attempt * 104_729 + 17) % (2 ** 62)


# ----------------------------------------------------------------------------- configs

def make_config(a):
    eos = REAL_EOS if REAL_EOS < a.vocab else 2
    if a.arch == "embedded":
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "embedded_config_template.json")
        with open(path) as f:
            cfg = json.load(f)
        cfg.update({
            "hidden_size": a.hidden, "intermediate_size": a.intermediate,
            "num_attention_heads": a.heads, "num_hidden_layers": a.layers,
            "num_key_value_heads": a.kv_heads, "vocab_size": a.vocab,
            "eos_token_id": eos, "torch_dtype": CONFIG_DTYPE[a.dtype],
        })
        return cfg
    return {
        "architectures": ["PanguProMoEForCausalLM"],
        "model_type": "PanguProMoE",
        "vocab_size": a.vocab,
        "hidden_size": a.hidden,
        "num_hidden_layers": a.layers,
        "num_attention_heads": a.heads,
        "num_key_value_heads": a.kv_heads,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-05,
        "rope_theta": 16000000.0,
        "max_position_embeddings": 131072,
        "tie_word_embeddings": False,
        "num_experts": a.experts,
        "num_experts_per_tok": ref.NUM_GROUPS,
        "moe_intermediate_size": a.moe_intermediate,
        "shared_expert_intermediate_size": a.shared_intermediate,
        "router_aux_loss_coef": 0.001,
        "torch_dtype": CONFIG_DTYPE[a.dtype],
        "bos_token_id": 1,
        "eos_token_id": eos,
        "pad_token_id": 0,
    }


# ----------------------------------------------------------------------------- random weights

class Drawer:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def normal(self, shape, std, mean=0.0):
        return torch.randn(*shape, generator=self.g, dtype=torch.float64) * std + mean

    def uniform(self, shape, lo, hi):
        return torch.rand(*shape, generator=self.g, dtype=torch.float64) * (hi - lo) + lo


def linear_w(d, out_f, in_f):
    return d.normal((out_f, in_f), 1.0 / math.sqrt(in_f))


def router_weight(seed, layer, attempt, experts, hidden):
    return linear_w(Drawer(derived_seed(seed, layer, attempt)), experts, hidden)


def draw_weights(a, cfg):
    """Ordered list of (name, float64 tensor) in module order (the order used for sharding)."""
    d = Drawer(a.seed)
    H, V = a.hidden, a.vocab
    hd = H // a.heads
    kvd = a.kv_heads * hd
    out = [("model.embed_tokens.weight", d.normal((V, H), 1.0))]
    for i in range(a.layers):
        p = f"model.layers.{i}."
        for proj, o in (("q", H), ("k", kvd), ("v", kvd), ("o", H)):
            out.append((p + f"self_attn.{proj}_proj.weight", linear_w(d, o, H)))
            out.append((p + f"self_attn.{proj}_proj.bias", d.normal((o,), 0.1)))
        if a.arch == "embedded":
            # like the real checkpoint (engines ignore it); computed the way HF computes it, in f32
            inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
            out.append((p + "self_attn.rotary_emb.inv_freq", inv.to(torch.float64)))
            for proj, (o, inn) in (("gate", (a.intermediate, H)), ("up", (a.intermediate, H)),
                                   ("down", (H, a.intermediate))):
                out.append((p + f"mlp.{proj}_proj.weight", linear_w(d, o, inn)))
        else:
            out.append((p + "mlp.gate.weight", router_weight(a.seed, i, 0, a.experts, H)))
            out.append((p + "mlp.router_scale", d.uniform((1, a.experts), 0.5, 1.5)))
            for e in range(a.experts):
                M = a.moe_intermediate
                out.append((p + f"mlp.experts.{e}.gate_proj.weight", linear_w(d, M, H)))
                out.append((p + f"mlp.experts.{e}.up_proj.weight", linear_w(d, M, H)))
                out.append((p + f"mlp.experts.{e}.down_proj.weight", linear_w(d, H, M)))
            S = a.shared_intermediate
            out.append((p + "mlp.shared_expert.gate_proj.weight", linear_w(d, S, H)))
            out.append((p + "mlp.shared_expert.up_proj.weight", linear_w(d, S, H)))
            out.append((p + "mlp.shared_expert.down_proj.weight", linear_w(d, H, S)))
        out.append((p + "input_layernorm.weight", d.normal((H,), 0.1, 1.0)))
        out.append((p + "post_attention_layernorm.weight", d.normal((H,), 0.1, 1.0)))
    out.append(("model.norm.weight", d.normal((H,), 0.1, 1.0)))
    out.append(("lm_head.weight", linear_w(d, V, H)))
    return out


# ----------------------------------------------------------------------------- sharding

def split_shards(sizes, n):
    """Contiguous split of tensors (given their byte sizes, in module order) into n non-empty
    shards of roughly equal bytes. Returns the shard index (0-based) of every tensor."""
    count = len(sizes)
    if n > count:
        raise ValueError(f"cannot spread {count} tensors over {n} shards")
    total = sum(sizes)
    mids, c = [], 0
    for s in sizes:
        mids.append(c + s / 2)
        c += s
    bounds = [0]
    for k in range(1, n):
        b = next((i for i, m in enumerate(mids) if m >= k * total / n), count)
        b = max(b, bounds[-1] + 1)           # every shard non-empty
        b = min(b, count - (n - k))          # leave at least one tensor per later shard
        bounds.append(b)
    bounds.append(count)
    assign = []
    for k in range(n):
        assign += [k] * (bounds[k + 1] - bounds[k])
    return assign


def write_checkpoint(out_dir, ordered, stored, n_shards):
    """ordered: names in module order; stored: name -> (dtype, shape, raw). Returns total bytes."""
    sizes = [len(stored[name][2]) for name in ordered]
    total = sum(sizes)
    if n_shards == 1:
        safetensors_io.write_file(os.path.join(out_dir, "model.safetensors"), stored)
        return total
    assign = split_shards(sizes, n_shards)
    files = [f"model-{k + 1:05d}-of-{n_shards:05d}.safetensors" for k in range(n_shards)]
    weight_map = {}
    for k, fname in enumerate(files):
        part = {name: stored[name] for name, s in zip(ordered, assign) if s == k}
        safetensors_io.write_file(os.path.join(out_dir, fname), part)
        for name in part:
            weight_map[name] = fname
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        f.write(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return total


# ----------------------------------------------------------------------------- main

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description="Write a random Pangu checkpoint and its reference logits.")
    ap.add_argument("--arch", choices=["moe", "embedded"], default="moe")
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shards", type=int, default=2)
    ap.add_argument("--dtype", choices=["bf16", "f16", "f32"], default="bf16")
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--hidden", type=int, default=None, help="default 120 (moe) / 96 (embedded)")
    ap.add_argument("--heads", type=int, default=None, help="default 10 (moe) / 8 (embedded)")
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=200, help="embedded: dense MLP width")
    ap.add_argument("--experts", type=int, default=64, help="moe: multiple of 8")
    ap.add_argument("--moe-intermediate", type=int, default=16)
    ap.add_argument("--shared-intermediate", type=int, default=64)
    ap.add_argument("--tokens", default=None,
                    help="comma-separated token ids (default: 1 then 11 ids drawn from the seed)")
    ap.add_argument("--min-gap", type=float, default=1e-3, help="moe: required top-2 router logit gap")
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if a.hidden is None:
        a.hidden = 120 if a.arch == "moe" else 96
    if a.heads is None:
        a.heads = 10 if a.arch == "moe" else 8
    errors = []
    if a.hidden % a.heads:
        errors.append("--hidden must be a multiple of --heads (head_dim = hidden / heads)")
    elif (a.hidden // a.heads) % 2:
        errors.append("head_dim must be even for rope")
    if a.heads % a.kv_heads:
        errors.append("--heads must be a multiple of --kv-heads")
    if a.arch == "moe" and (a.experts <= 0 or a.experts % ref.NUM_GROUPS):
        errors.append("--experts must be a positive multiple of 8 (MoGE groups)")
    if a.arch == "moe" and a.experts // ref.NUM_GROUPS < 2:
        errors.append("--experts must be at least 16 so that every group has a choice")
    if a.shards < 1:
        errors.append("--shards must be >= 1")
    if a.tokens is None:
        g = torch.Generator().manual_seed(a.seed + 99991)
        a.tokens = [1] + torch.randint(0, a.vocab, (11,), generator=g).tolist()
    else:
        a.tokens = [int(t) for t in a.tokens.split(",") if t.strip()]
    if not a.tokens or min(a.tokens) < 0 or max(a.tokens) >= a.vocab:
        errors.append("--tokens must be non-empty ids in [0, vocab)")
    if errors:
        ap.error("; ".join(errors))
    return a


def make(a):
    os.makedirs(a.out, exist_ok=True)
    cfg = make_config(a)
    drawn = draw_weights(a, cfg)
    ordered = [name for name, _ in drawn]
    stored, weights = {}, {}
    for name, t64 in drawn:
        dtype = "f32" if name.endswith("rotary_emb.inv_freq") else a.dtype  # inv_freq is F32 in the real file
        st, shape, raw, back = store(t64, dtype)
        stored[name] = (st, shape, raw)
        weights[name] = back
    model = {"config": cfg, "weights": weights}

    min_gap = None
    redraws = 0
    if a.arch == "moe":
        attempts = [0] * a.layers
        layer = 0
        out = ref.forward(model, a.tokens)
        while layer < a.layers:
            gap = float(ref.group_gaps(out["router_logits"][layer]).min())
            if gap >= a.min_gap:
                layer += 1
                continue
            attempts[layer] += 1
            redraws += 1
            if attempts[layer] > 200:
                raise RuntimeError(f"layer {layer}: no router with gap >= {a.min_gap} after 200 redraws")
            name = f"model.layers.{layer}.mlp.gate.weight"
            st, shape, raw, back = store(router_weight(a.seed, layer, attempts[layer], a.experts, a.hidden), a.dtype)
            stored[name] = (st, shape, raw)
            weights[name] = back
            out = ref.forward(model, a.tokens)  # later layers see a changed input: rescan from here
        min_gap = min(float(ref.group_gaps(r).min()) for r in out["router_logits"])

    total = write_checkpoint(a.out, ordered, stored, a.shards)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        f.write(json.dumps(cfg, indent=2) + "\n")

    # The expected values come from what was actually written, read back from disk.
    disk = ref.forward(ref.load_model(a.out), a.tokens)
    mem = ref.forward(model, a.tokens)
    if not torch.equal(disk["logits"], mem["logits"]) or disk["experts"] != mem["experts"]:
        raise RuntimeError("reference on the written files differs from the in-memory weights")
    expected = {"tokens": a.tokens, "logits": disk["logits"].tolist()}
    if a.arch == "moe":
        expected["experts"] = disk["experts"]
        expected["min_router_gap"] = min_gap
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump(expected, f)
        f.write("\n")

    lg = disk["logits"]
    info = {"dir": a.out, "arch": a.arch, "dtype": a.dtype, "shards": a.shards, "tensor_bytes": total,
            "logit_std": float(lg.std()), "logit_absmax": float(lg.abs().max()),
            "min_router_gap": min_gap, "router_redraws": redraws}
    if not a.quiet:
        print(json.dumps(info))
    return info


if __name__ == "__main__":
    make(parse_args())
