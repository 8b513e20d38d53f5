#!/usr/bin/env python3
"""Expected Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K values from llama.cpp, for test/fixtures/gguf/quants.json.

Independent references used:
  * gguf-py (llama.cpp's pure-numpy gguf package): quantize + dequantize of Q8_0 and Q4_0,
    dequantize of Q4_K, Q5_K, Q6_K (gguf-py has no K-quant quantizer);
  * ggml's C reference quantizers quantize_row_{q8_0,q4_0,q4_K,q5_K,q6_K}_ref and
    dequantize_row_{q4_K,q5_K,q6_K},
    called through ctypes from a built libggml-base.so (optional: --ggml-lib).

Run by hand (CI has neither llama.cpp nor numpy), see tools/gguf/README.md:
  PYTHONPATH=$LLAMA_CPP/gguf-py /usr/bin/python3 tools/gguf/quant_fixtures.py \
      --ggml-lib $LLAMA_CPP/build/bin/libggml-base.so --out test/fixtures/gguf/quants.json
With --big DIR it also writes large random inputs and ggml's outputs as raw files for
tools/gguf/compare-quants.ts (not committed).
"""
import argparse
import base64
import ctypes
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants


def b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a).tobytes()).decode()


def inputs_small() -> np.ndarray:
    """1024 float32 values: 4 rows of 256 with hard cases in the first blocks."""
    rng = np.random.default_rng(20240611)
    x = rng.standard_normal(1024).astype(np.float32)
    x[0:32] = 0.0                                             # all-zero block
    x[32:64] = 0.75                                           # constant block
    x[64:96] = np.linspace(-1, 1, 32, dtype=np.float32)      # symmetric ramp
    x[96:128] = rng.standard_normal(32).astype(np.float32) * 1e-6  # tiny values
    x[128:160] = rng.uniform(0, 3, 32).astype(np.float32)    # all positive (q4_k min = 0)
    x[160:192] = -rng.uniform(0, 3, 32).astype(np.float32)   # all negative
    x[192:224] = 0.0
    x[200] = -5.0                                             # one outlier, negative max for q4_0
    x[224:256] = (np.arange(32, dtype=np.float32) - 15.5) * 127 / 15.5 / 64  # .5 ties after scaling
    x[256:512] *= 40.0                                        # large magnitudes
    x[512:768] = rng.laplace(0, 0.02, 256).astype(np.float32)  # weight-like heavy tails
    return x


def ggml_ref(lib, name: str, x: np.ndarray, block_bytes: int, block_size: int) -> np.ndarray:
    fn = getattr(lib, name)
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    out = np.zeros(x.size // block_size * block_bytes, dtype=np.uint8)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    return out


def ggml_dequant(lib, name: str, q: np.ndarray, n: int) -> np.ndarray:
    fn = getattr(lib, name)
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    out = np.zeros(n, dtype=np.float32)
    fn(q.ctypes.data, out.ctypes.data, n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', required=True)
    ap.add_argument('--ggml-lib')
    ap.add_argument('--big')
    args = ap.parse_args()
    lib = ctypes.CDLL(args.ggml_lib) if args.ggml_lib else None

    x = inputs_small()
    fixture = {'input_f32': b64(x), 'source': 'gguf-py quants.py (numpy)' + (' and ggml *_ref via ctypes' if lib else '')}
    for t, name, bs, bb in [(T.Q8_0, 'q8_0', 32, 34), (T.Q4_0, 'q4_0', 32, 18)]:
        q = quants.quantize(x.reshape(4, 256), t).reshape(-1)
        fixture[f'{name}_gguf_py'] = b64(q)
        fixture[f'{name}_dequant_gguf_py'] = b64(quants.dequantize(q.reshape(4, -1), t).reshape(-1).astype(np.float32))
        if lib:
            ref = ggml_ref(lib, f'quantize_row_{name}_ref', x, bb, bs)
            fixture[f'{name}_ggml_ref'] = b64(ref)
            print(f'{name}: gguf-py vs ggml ref: {int((ref != q).sum())} differing bytes of {q.size}')
    if lib:
        for t, name, bb in [(T.Q4_K, 'q4_K', 144), (T.Q5_K, 'q5_K', 176), (T.Q6_K, 'q6_K', 210)]:
            key = name.lower()
            qk = ggml_ref(lib, f'quantize_row_{name}_ref', x, bb, 256)
            fixture[f'{key}_ggml_ref'] = b64(qk)
            deq = quants.dequantize(qk.reshape(4, -1), t).reshape(-1).astype(np.float32)
            fixture[f'{key}_dequant_gguf_py'] = b64(deq)
            deq_c = ggml_dequant(lib, f'dequantize_row_{name}', qk, x.size)
            print(f'{key}: gguf-py vs ggml dequantize: max abs diff {float(np.abs(deq - deq_c).max())}')
    with open(args.out, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    print(f'wrote {args.out}')

    if args.big:
        if not lib:
            raise SystemExit('--big needs --ggml-lib')
        os.makedirs(args.big, exist_ok=True)
        rng = np.random.default_rng(7)
        n = 1 << 20
        parts = [rng.standard_normal(n // 4), rng.laplace(0, 0.02, n // 4),
                 rng.uniform(-1, 1, n // 4) * 10.0 ** rng.integers(-8, 4, n // 4),
                 np.round(rng.standard_normal(n // 4) * 8) / 8]
        big = np.concatenate(parts).astype(np.float32)
        big.tofile(os.path.join(args.big, 'input.f32'))
        for name, bs, bb in [('q8_0', 32, 34), ('q4_0', 32, 18), ('q4_K', 256, 144), ('q5_K', 256, 176), ('q6_K', 256, 210)]:
            ggml_ref(lib, f'quantize_row_{name}_ref', big, bb, bs).tofile(os.path.join(args.big, f'{name.lower()}.ggml'))
        for t, name in [(T.Q8_0, 'q8_0'), (T.Q4_0, 'q4_0')]:
            quants.quantize(big.reshape(-1, 1024), t).tofile(os.path.join(args.big, f'{name}.gguf_py'))
        print(f'wrote {n} values and their quantizations to {args.big}')


if __name__ == '__main__':
    main()
