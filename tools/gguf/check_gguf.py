#!/usr/bin/env python3
"""Independent check of a GGUF file written by `pangu convert`, with llama.cpp's gguf-py.

  1. gguf-py's GGUFReader parses the file (magic, version, metadata, tensor infos, alignment)
     and every tensor's data lies inside the file;
  2. with --hf DIR, every tensor is compared with the Hugging Face checkpoint it came from
     (safetensors read with numpy, no torch needed): F32/F16/BF16 exactly (after the same
     rounding), Q8_0/Q4_0 by re-quantizing the checkpoint with gguf-py and comparing bytes,
     Q4_K by dequantizing with gguf-py and bounding the error.

Run by hand (CI has neither llama.cpp nor numpy), see tools/gguf/README.md:
  PYTHONPATH=$LLAMA_CPP/gguf-py /usr/bin/python3 tools/gguf/check_gguf.py FILE.gguf [--hf DIR]
Exits non-zero on any mismatch.
"""
import argparse
import json
import os
import re
import sys

import numpy as np
from gguf import GGUFReader, GGMLQuantizationType as T, quants
from gguf.constants import GGUFValueType


def read_safetensors(dir_: str) -> dict:
    """name -> float32 numpy array, from model.safetensors or the shards of the index."""
    index = os.path.join(dir_, 'model.safetensors.index.json')
    files = sorted(set(json.load(open(index))['weight_map'].values())) if os.path.exists(index) else ['model.safetensors']
    out = {}
    for f in files:
        raw = np.memmap(os.path.join(dir_, f), mode='r')
        n = int(np.frombuffer(raw[:8], dtype='<u8')[0])
        header = json.loads(bytes(raw[8:8 + n]))
        base = 8 + n
        for name, e in header.items():
            if name == '__metadata__':
                continue
            b, end = e['data_offsets']
            buf = np.asarray(raw[base + b:base + end])
            if e['dtype'] == 'F32':
                a = buf.view('<f4')
            elif e['dtype'] == 'F16':
                a = buf.view('<f2').astype(np.float32)
            elif e['dtype'] == 'BF16':
                a = (buf.view('<u2').astype(np.uint32) << 16).view(np.float32)
            else:
                raise SystemExit(f'{f}: {name}: dtype {e["dtype"]} not handled')
            out[name] = a.reshape(e['shape'])
    return out


LAYER = {
    'attn_norm.weight': 'input_layernorm.weight', 'ffn_norm.weight': 'post_attention_layernorm.weight',
    'attn_q.weight': 'self_attn.q_proj.weight', 'attn_q.bias': 'self_attn.q_proj.bias',
    'attn_k.weight': 'self_attn.k_proj.weight', 'attn_k.bias': 'self_attn.k_proj.bias',
    'attn_v.weight': 'self_attn.v_proj.weight', 'attn_v.bias': 'self_attn.v_proj.bias',
    'attn_output.weight': 'self_attn.o_proj.weight', 'attn_output.bias': 'self_attn.o_proj.bias',
    'ffn_gate.weight': 'mlp.gate_proj.weight', 'ffn_up.weight': 'mlp.up_proj.weight', 'ffn_down.weight': 'mlp.down_proj.weight',
    'ffn_gate_inp.weight': 'mlp.gate.weight', 'ffn_down_exps.scale': 'mlp.router_scale',
    'ffn_gate_shexp.weight': 'mlp.shared_expert.gate_proj.weight', 'ffn_up_shexp.weight': 'mlp.shared_expert.up_proj.weight',
    'ffn_down_shexp.weight': 'mlp.shared_expert.down_proj.weight',
}
GLOBAL = {'token_embd.weight': 'model.embed_tokens.weight', 'output_norm.weight': 'model.norm.weight', 'output.weight': 'lm_head.weight'}


def hf_value(name: str, hf: dict) -> np.ndarray:
    """The checkpoint's values for a GGUF tensor, stacked for expert tensors (numpy order)."""
    if name in GLOBAL:
        return hf[GLOBAL[name]]
    m = re.match(r'blk\.(\d+)\.(.+)$', name)
    if not m:
        raise KeyError(name)
    layer, rest = m.groups()
    e = re.match(r'ffn_(gate|up|down)_exps\.weight$', rest)
    if e:
        j, experts = 0, []
        while f'model.layers.{layer}.mlp.experts.{j}.{e.group(1)}_proj.weight' in hf:
            experts.append(hf[f'model.layers.{layer}.mlp.experts.{j}.{e.group(1)}_proj.weight'])
            j += 1
        return np.stack(experts)
    v = hf[f'model.layers.{layer}.{LAYER[rest]}']
    return v.reshape(-1) if rest == 'ffn_down_exps.scale' else v


def field_value(f):
    if f.types[0] == GGUFValueType.ARRAY:
        return f'[{len(f.data)} x {f.types[1].name}]'
    v = f.contents()
    return repr(v)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('file')
    ap.add_argument('--hf', help='the Hugging Face checkpoint directory the file was converted from')
    ap.add_argument('--quiet', action='store_true')
    args = ap.parse_args()

    r = GGUFReader(args.file)  # raises on anything gguf-py cannot parse
    size = os.path.getsize(args.file)
    print(f'{args.file}: gguf-py read it: {len(r.fields)} metadata fields, {len(r.tensors)} tensors, '
          f'alignment {r.alignment}, data at offset {r.data_offset}')
    if not args.quiet:
        for k, f in r.fields.items():
            if not k.startswith('GGUF.'):
                print(f'  {k} = {field_value(f)}')
    bad = 0
    for t in r.tensors:
        end = t.data_offset + t.n_bytes
        if end > size or (t.data_offset - r.data_offset) % r.alignment:
            print(f'  ERROR {t.name}: data [{t.data_offset}, {end}) misplaced (file {size} bytes)')
            bad += 1
    if not args.hf:
        return 1 if bad else 0

    hf = read_safetensors(args.hf)
    stats = {}
    for t in r.tensors:
        ref = hf_value(t.name, hf).astype(np.float32)
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        if ref.shape != shape:
            print(f'  ERROR {t.name}: shape {shape}, checkpoint {ref.shape}')
            bad += 1
            continue
        qt = T(t.tensor_type)
        ok, note = True, ''
        if qt == T.F32:
            ok = np.array_equal(np.asarray(t.data).reshape(shape), ref)
        elif qt == T.F16:
            ok = np.array_equal(np.asarray(t.data).reshape(shape), ref.astype(np.float16))
        elif qt == T.BF16:
            mine = np.asarray(t.data).reshape(-1)
            theirs = quants.quantize(ref.reshape(-1, shape[-1]), T.BF16).reshape(-1)
            ok = np.array_equal(mine, theirs)
        elif qt in (T.Q8_0, T.Q4_0):
            theirs = quants.quantize(ref.reshape(-1, shape[-1]), qt).reshape(-1)
            ok = np.array_equal(np.asarray(t.data).reshape(-1), theirs)
            note = 'bytes = gguf-py quantize'
        elif qt == T.Q4_K:
            deq = quants.dequantize(np.asarray(t.data).reshape(-1, 144), qt).reshape(-1, 256)
            x = ref.reshape(-1, 256)
            rng = np.maximum(x.max(axis=1), 0) - np.minimum(x.min(axis=1), 0)
            err = np.abs(deq - x).max(axis=1)
            worst = float(np.max(err / np.where(rng > 0, rng, 1)))
            ok = worst <= 1 / 15
            note = f'gguf-py dequantize, worst error {worst:.4f} of the super-block range'
        else:
            note = 'type not checked'
        stats[qt.name] = stats.get(qt.name, 0) + 1
        if not ok:
            print(f'  ERROR {t.name} ({qt.name}): differs from the checkpoint')
            bad += 1
        elif note and not args.quiet:
            print(f'  ok {t.name} ({qt.name}) {note}')
    print(f'compared {len(r.tensors)} tensors with {args.hf} ({stats}): {"all match" if not bad else f"{bad} MISMATCHES"}')
    return 1 if bad else 0


if __name__ == '__main__':
    sys.exit(main())
