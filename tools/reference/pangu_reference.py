#!/usr/bin/env python3
"""Plain PyTorch reference forward pass of Pangu Pro MoE and Pangu Embedded.

Written from /work/shared/pangu/SPEC.md, not from any released modeling code. Every
stored weight (bf16 / f16 / f32) is upcast to float64 and the whole forward pass runs
in float64, so the result is the "exact" answer an engine is compared against.

  PanguProMoE    per layer: RMSNorm -> biased GQA attention (NeoX rope, o_proj bias)
                 -> residual -> RMSNorm -> MoGE (softmax over all experts, top-1 in each
                 of 8 contiguous groups, weight = p (not renormalised) * router_scale[0,e],
                 SwiGLU experts) + ungated shared SwiGLU expert -> residual.
  PanguEmbedded  the same attention, dense SwiGLU MLP (mlp.{gate,up,down}_proj).
  Both:          final RMSNorm (model.norm) and an untied lm_head without bias.

Usage as a library:
    model = load_model(DIR)                  # config.json + safetensors shard(s)
    out = forward(model, [1, 5, 9])          # out["logits"]: float64 [T, vocab]
                                             # out["experts"]: [L][T][8] (MoE only)
As a command:
    python3 pangu_reference.py [logits] --model DIR --tokens 1,5,9   # prints JSON logits
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

import safetensors_io  # noqa: E402

NUM_GROUPS = 8  # MoGE: hard-coded number of expert groups (one top-1 pick per group)


# ----------------------------------------------------------------------------- loading

def shard_files(model_dir):
    """Shard file names of a checkpoint: from the index if present, else model.safetensors."""
    index_path = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index_path):
        with open(index_path) as f:
            index = json.load(f)
        return sorted(set(index["weight_map"].values())), index
    return ["model.safetensors"], None


def load_weights(model_dir):
    """All tensors of a checkpoint as float64 torch tensors (upcast exactly from storage)."""
    files, index = shard_files(model_dir)
    weights = {}
    for fname in files:
        for name, (dtype, shape, raw) in safetensors_io.read_file(os.path.join(model_dir, fname)).items():
            if name in weights:
                raise ValueError(f"tensor {name} appears in more than one shard")
            if index is not None and index["weight_map"].get(name) != fname:
                raise ValueError(f"tensor {name} is in {fname} but the index says {index['weight_map'].get(name)}")
            weights[name] = torch.from_numpy(safetensors_io.to_float64(dtype, shape, raw).copy())
    if index is not None:
        missing = set(index["weight_map"]) - set(weights)
        if missing:
            raise ValueError(f"index lists tensors missing from the shards: {sorted(missing)[:5]}")
    return weights


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        config = json.load(f)
    return {"config": config, "weights": load_weights(model_dir)}


def arch_of(config):
    mt = config.get("model_type", "")
    if mt == "PanguProMoE" or "num_experts" in config:
        return "moe"
    if mt == "PanguEmbedded":
        return "embedded"
    raise ValueError(f"unknown model_type {mt!r}")


# ----------------------------------------------------------------------------- building blocks

def rms_norm(x, weight, eps):
    """x * rsqrt(mean(x^2) + eps) * w, over the last dimension."""
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * weight


def linear(x, weight, bias=None):
    """x W^T (+ b), weight stored [out_features, in_features] as in PyTorch."""
    y = x @ weight.T
    if bias is not None:
        y = y + bias
    return y


def silu(x):
    return x * torch.sigmoid(x)


def swiglu(h, gate_w, up_w, down_w):
    """down(silu(gate(h)) * up(h)), no biases."""
    return linear(silu(linear(h, gate_w)) * linear(h, up_w), down_w)


def rotate_half(x):
    """NeoX layout: (x1, x2) -> (-x2, x1) with x1/x2 the first/second half of each head."""
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


def apply_rope(x, positions, theta):
    """x: [T, heads, head_dim]; inv_freq[i] = theta^(-2i/head_dim), angle = p * inv_freq[i]."""
    head_dim = x.shape[-1]
    i = torch.arange(head_dim // 2, dtype=torch.float64)
    inv_freq = theta ** (-2.0 * i / head_dim)
    angles = positions.to(torch.float64)[:, None] * inv_freq[None, :]  # [T, head_dim/2]
    cos = torch.cat([angles.cos(), angles.cos()], dim=-1)[:, None, :]  # [T, 1, head_dim]
    sin = torch.cat([angles.sin(), angles.sin()], dim=-1)[:, None, :]
    return x * cos + rotate_half(x) * sin


def attention(h, w, prefix, cfg):
    """Biased GQA self-attention with causal mask; query head j uses kv head j // (NH/NKV)."""
    T = h.shape[0]
    nh = cfg["num_attention_heads"]
    nkv = cfg["num_key_value_heads"]
    head_dim = cfg["hidden_size"] // nh
    q = linear(h, w[prefix + "q_proj.weight"], w[prefix + "q_proj.bias"]).view(T, nh, head_dim)
    k = linear(h, w[prefix + "k_proj.weight"], w[prefix + "k_proj.bias"]).view(T, nkv, head_dim)
    v = linear(h, w[prefix + "v_proj.weight"], w[prefix + "v_proj.bias"]).view(T, nkv, head_dim)
    positions = torch.arange(T)
    q = apply_rope(q, positions, cfg["rope_theta"])
    k = apply_rope(k, positions, cfg["rope_theta"])
    group = nh // nkv
    k = k.repeat_interleave(group, dim=1)  # [T, nh, head_dim]: kv head j//group for query head j
    v = v.repeat_interleave(group, dim=1)
    scores = torch.einsum("qhd,khd->hqk", q, k) / math.sqrt(head_dim)  # [nh, T, T]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    scores = scores.masked_fill(~causal, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = torch.einsum("hqk,khd->qhd", probs, v).reshape(T, nh * head_dim)
    return linear(out, w[prefix + "o_proj.weight"], w[prefix + "o_proj.bias"])


def router_logits(h, w, prefix):
    return linear(h, w[prefix + "gate.weight"])  # [T, E], no bias


def moge(h, w, prefix, cfg):
    """Mixture of Grouped Experts. Returns (output [T,H], experts [T][8], router logits [T,E])."""
    E = cfg["num_experts"]
    per_group = E // NUM_GROUPS
    logits = router_logits(h, w, prefix)
    p = torch.softmax(logits, dim=-1)  # over ALL experts
    T = h.shape[0]
    idx_in_group = p.view(T, NUM_GROUPS, per_group).argmax(dim=-1)  # [T, 8]
    chosen = idx_in_group + torch.arange(NUM_GROUPS)[None, :] * per_group  # global expert ids
    scale = w[prefix + "router_scale"][0]  # [E]
    out = torch.zeros_like(h)
    for t in range(T):
        for g in range(NUM_GROUPS):
            e = int(chosen[t, g])
            weight = p[t, e] * scale[e]  # not renormalised
            ep = f"{prefix}experts.{e}."
            out[t] += weight * swiglu(h[t:t + 1], w[ep + "gate_proj.weight"], w[ep + "up_proj.weight"],
                                      w[ep + "down_proj.weight"])[0]
    sp = prefix + "shared_expert."
    out = out + swiglu(h, w[sp + "gate_proj.weight"], w[sp + "up_proj.weight"], w[sp + "down_proj.weight"])
    return out, chosen.tolist(), logits


def dense_mlp(h, w, prefix):
    return swiglu(h, w[prefix + "gate_proj.weight"], w[prefix + "up_proj.weight"], w[prefix + "down_proj.weight"])


# ----------------------------------------------------------------------------- forward

def forward(model, tokens):
    """Full forward pass. Returns {"logits": float64 [T, V], "experts": [L][T][8] or None,
    "router_logits": [L] of float64 [T, E] or None}."""
    cfg = model["config"]
    w = model["weights"]
    arch = arch_of(cfg)
    eps = cfg["rms_norm_eps"]
    if cfg["hidden_size"] % cfg["num_attention_heads"] or cfg["num_attention_heads"] % cfg["num_key_value_heads"]:
        raise ValueError("hidden_size must divide by heads and heads by kv heads")
    tok = torch.tensor(tokens, dtype=torch.long)
    if tok.min() < 0 or tok.max() >= cfg["vocab_size"]:
        raise ValueError("token id out of range")
    x = w["model.embed_tokens.weight"][tok]  # [T, H]
    experts = [] if arch == "moe" else None
    routers = [] if arch == "moe" else None
    for layer in range(cfg["num_hidden_layers"]):
        lp = f"model.layers.{layer}."
        h = rms_norm(x, w[lp + "input_layernorm.weight"], eps)
        x = x + attention(h, w, lp + "self_attn.", cfg)
        h = rms_norm(x, w[lp + "post_attention_layernorm.weight"], eps)
        if arch == "moe":
            out, chosen, rl = moge(h, w, lp + "mlp.", cfg)
            experts.append(chosen)
            routers.append(rl)
        else:
            out = dense_mlp(h, w, lp + "mlp.")
        x = x + out
    x = rms_norm(x, w["model.norm.weight"], eps)
    logits = linear(x, w["lm_head.weight"])
    return {"logits": logits, "experts": experts, "router_logits": routers}


def group_gaps(router_logits_layer):
    """For one layer's router logits [T, E]: the gap between the best and second-best logit
    within each of the 8 groups, as a float64 tensor [T, 8]."""
    T, E = router_logits_layer.shape
    top2 = router_logits_layer.view(T, NUM_GROUPS, E // NUM_GROUPS).topk(2, dim=-1).values
    return top2[..., 0] - top2[..., 1]


def main():
    ap = argparse.ArgumentParser(description="Reference logits of a Pangu checkpoint (float64).")
    ap.add_argument("command", nargs="?", choices=["logits"],
                    help="optional, so that this script can stand in for `pangu logits` in check_cli.py")
    ap.add_argument("--model", required=True, help="checkpoint directory (config.json + safetensors)")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--experts", action="store_true", help="print {logits, experts} instead of the bare logits")
    args = ap.parse_args()
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    out = forward(load_model(args.model), tokens)
    logits = out["logits"].tolist()
    if args.experts:
        json.dump({"logits": logits, "experts": out["experts"]}, sys.stdout)
    else:
        json.dump(logits, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
