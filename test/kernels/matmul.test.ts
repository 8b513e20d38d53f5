// matmul kernels vs the TypeScript reference.
//
// Tolerances, per output element, relative to S = sum_k |x_k * w_k| (the
// natural scale of f32 rounding in a dot product):
//   f32 / bf16 / f16 weights:                  |wasm - ref| <= 1e-5 * S
//   Q8_0 / Q4_0 / Q5_0 / Q4_K / Q5_K / Q6_K (integer path) against the reference of the same
//   quantized math (the same Q8_0 or, for the K-quants' dots, Q8_K activations): |wasm - ref| <= 1e-5 * S_q
//   f32-activation quantized paths vs f32 matmul of the dequantized W: 1e-5 * S
// and separately the quantization error against plain f32 math is bounded
// (relative RMS over the output on Gaussian data: Q8_0 x Q8_0 < 1.5%,
// Q4_0 x Q8_0 < 15%, Q5_K x Q8_K < 6%, Q6_K x Q8_K < 3%; for Q4_K only the
// Q8_K activation error is measured, < 1.5%).

import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { dequantizeQ5_0, quantizeQ5_0, quantizeQ5_K, quantizeQ6_K } from '../../src/formats/ggml-quants.js';
import * as ref from '../../src/kernels/reference.js';
import { activationBytes, activationType, type Kernels, type PackedWeightType, type QuantWeightType, type WeightType } from '../../src/kernels/wasm.js';
import { FIXTURES } from '../helpers.js';
import { maxRelErr, randn, rng, setup } from './helpers.js';

type Shape = [n: number, inDim: number, rows: number];

const floatShapes: Shape[] = [
  [1, 1, 1], [1, 3, 5], [1, 4, 4], [1, 7, 9], [1, 8, 3], [1, 33, 17], [1, 130, 11], [1, 1000, 37],
  [2, 5, 3], [2, 16, 8], [3, 64, 13], [4, 31, 6], [5, 130, 11], [7, 257, 9], [16, 96, 21],
  [1, 4096, 8], [3, 4099, 5],
];
const quantShapes: Shape[] = [
  [1, 32, 1], [1, 32, 5], [1, 64, 7], [1, 96, 4], [2, 32, 3], [3, 96, 9], [4, 256, 5], [5, 160, 13],
  [9, 64, 6], [1, 4096, 33], [2, 4096, 6], [16, 128, 7], [6, 64, 3], [7, 96, 2], [63, 4096, 3],
  // n > 1 with scratch: 16-row weight tiles with row tails, activation rows not a multiple of 4,
  // and (81 x 6400) two activation chunks
  [8, 64, 16], [12, 96, 37], [13, 256, 20], [4, 160, 35], [81, 6400, 18],
];
// n >= 6 with scratch: the 16 x 2 tiles as for q8_0 / q4_0 above; below, the Q8_K matvec per activation row
const q4kShapes: Shape[] = [
  [1, 256, 1], [1, 256, 5], [2, 512, 7], [3, 768, 4], [1, 4096, 9], [5, 256, 3], [3, 256, 17],
  [4, 256, 5], [6, 256, 19], [7, 512, 5], [8, 256, 16], [12, 512, 37], [13, 256, 20], [81, 6400, 18],
];
const kShapes: Shape[] = [...q4kShapes, [1, 1024, 8], [1, 512, 3], [9, 512, 6]];

/** Random K-quant super-blocks: random bytes with the f16 scales (at dOffsets) set to modest finite values. */
function randomK(r: () => number, nsb: number, bytes: number, dOffsets: number[], scale: number): Uint8Array {
  const b = new Uint8Array(nsb * bytes);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  for (let s = 0; s < nsb; s++) {
    for (const o of dOffsets) {
      const d = ref.f32ToF16(scale * (0.5 + r()));
      b[s * bytes + o] = d & 0xff;
      b[s * bytes + o + 1] = d >> 8;
    }
  }
  return b;
}

/** S[j][r] = sum_k |x[j][k] * w[r][k]| for dequantized w. */
function absDot(x: Float32Array, w: Float32Array, n: number, inDim: number, rows: number): Float32Array {
  const s = new Float32Array(n * rows);
  for (let j = 0; j < n; j++)
    for (let r = 0; r < rows; r++) {
      let a = 0;
      for (let k = 0; k < inDim; k++) a += Math.abs(x[j * inDim + k]! * w[r * inDim + k]!);
      s[j * rows + r] = a;
    }
  return s;
}

/** Random weights of a type, as stored bytes plus the dequantized f32 values. */
function makeWeights(type: Exclude<WeightType, PackedWeightType>, r: () => number, rows: number, inDim: number): { bytes: Uint8Array | Uint16Array | Float32Array; deq: Float32Array } {
  const wf = randn(r, rows * inDim, 0.05);
  switch (type) {
    case 'f32':
      return { bytes: wf, deq: wf };
    case 'bf16': {
      const b = ref.toBf16(wf);
      return { bytes: b, deq: ref.fromBf16(b) };
    }
    case 'f16': {
      const b = ref.toF16(wf);
      return { bytes: b, deq: ref.fromF16(b) };
    }
    case 'q8_0': {
      const b = ref.quantizeQ8_0(wf);
      return { bytes: b, deq: ref.dequantizeQ8_0(b, wf.length) };
    }
    case 'q4_0': {
      const b = ref.quantizeQ4_0(wf);
      return { bytes: b, deq: ref.dequantizeQ4_0(b, wf.length) };
    }
    case 'q5_0': {
      // ggml's quantizer half of the time, else random bytes (every level and fifth bit) with modest d
      let b = quantizeQ5_0(wf);
      if (r() < 0.5) {
        b = new Uint8Array(b.length).map(() => Math.floor(r() * 256));
        for (let i = 0; i < b.length; i += 22) {
          const d = ref.f32ToF16(0.004 * (0.5 + r()));
          b[i] = d & 0xff;
          b[i + 1] = d >> 8;
        }
      }
      return { bytes: b, deq: dequantizeQ5_0(b) };
    }
    case 'q4_k': {
      // random Q4_K blocks (no reference quantizer): random nibbles and 6-bit scales, modest d / dmin
      const nsb = (rows * inDim) / 256;
      const b = new Uint8Array(nsb * 144);
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
      for (let s = 0; s < nsb; s++) {
        const d = ref.f32ToF16(0.002 * (0.5 + r()));
        const dm = ref.f32ToF16(0.004 * (0.5 + r()));
        b[s * 144] = d & 0xff;
        b[s * 144 + 1] = d >> 8;
        b[s * 144 + 2] = dm & 0xff;
        b[s * 144 + 3] = dm >> 8;
      }
      return { bytes: b, deq: ref.dequantizeQ4_K(b, rows * inDim) };
    }
    case 'q5_k': {
      // random bytes half of the time (every bit pattern), else ggml's quantizer on the weights
      const b = r() < 0.5 ? randomK(r, (rows * inDim) / 256, ref.Q5_K_BYTES, [0, 2], 0.001) : quantizeQ5_K(wf);
      return { bytes: b, deq: ref.dequantizeQ5_K(b, rows * inDim) };
    }
    case 'q6_k': {
      // random bytes (int8 scales down to -128) half of the time, else ggml's quantizer
      const b = r() < 0.5 ? randomK(r, (rows * inDim) / 256, ref.Q6_K_BYTES, [208], 0.0002) : quantizeQ6_K(wf);
      return { bytes: b, deq: ref.dequantizeQ6_K(b, rows * inDim) };
    }
  }
}

const refFloat = { f32: ref.matmulF32, bf16: ref.matmulBf16, f16: ref.matmulF16 } as const;
const refQuant = { q8_0: ref.matmulQ8_0, q4_0: ref.matmulQ4_0, q5_0: ref.matmulQ5_0, q4_k: ref.matmulQ4_K, q5_k: ref.matmulQ5_K, q6_k: ref.matmulQ6_K } as const;
const refF32Act = { q8_0: ref.matmulQ8_0F32, q4_0: ref.matmulQ4_0F32, q4_k: ref.matmulQ4_KF32, q5_k: ref.matmulQ5_KF32, q6_k: ref.matmulQ6_KF32 } as const;

describe('matmul, float weights', () => {
  for (const type of ['f32', 'bf16', 'f16'] as const) {
    it(`${type}: wasm matches reference within 1e-5 * sum|x*w| over ${floatShapes.length} shapes`, () => {
      const r = rng(17);
      for (const [n, inDim, rows] of floatShapes) {
        const { k, arena } = setup();
        const x = randn(r, n * inDim);
        const w = makeWeights(type, r, rows, inDim);
        const xp = arena.put(x);
        const wp = arena.put(w.bytes);
        const op = arena.alloc(n * rows * 4);
        k.matmul(type, op, xp, wp, n, inDim, rows);
        const want = new Float32Array(n * rows);
        refFloat[type](want, x, w.bytes as never, n, inDim, rows);
        const err = maxRelErr(arena.f32(op, n * rows), want, absDot(x, w.deq, n, inDim, rows));
        assert.ok(err <= 1e-5, `${type} n=${n} in=${inDim} rows=${rows}: rel err ${err}`);
      }
    });
  }
});

/** x quantized as a matmul of `type` over n rows reads it (activationType): its bytes in the arena, a copy, and the values they stand for. */
function quantizedActivations(k: Kernels, arena: ReturnType<typeof setup>['arena'], type: QuantWeightType, x: Float32Array, n: number, scratch: boolean) {
  const act = activationType(type, n, scratch);
  const bytes = activationBytes(act, x.length);
  const xp = arena.put(x);
  const at = arena.alloc(bytes);
  k.quantizeActivations(act, at, xp, x.length);
  const copy = arena.u8(at, bytes).slice();
  assert.deepEqual(copy, act === 'q8_0' ? ref.quantizeQ8_0(x) : ref.quantizeQ8_K(x), `${act} activation quantization`);
  return { act, at, bytes: copy, values: act === 'q8_0' ? ref.dequantizeQ8_0(copy, x.length) : ref.dequantizeQ8_K(copy, x.length) };
}

describe('matmul, quantized weights (integer path with Q8_0 / Q8_K activations)', () => {
  for (const type of ['q8_0', 'q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k'] as const) {
    const shapes = type === 'q4_k' ? q4kShapes : type === 'q5_k' || type === 'q6_k' ? kShapes : quantShapes;
    it(`${type}: wasm matches the reference of the same quantized math (1e-5)`, () => {
      const r = rng(23);
      for (const [n, inDim, rows] of shapes) {
        const { k, arena } = setup();
        const x = randn(r, n * inDim);
        const w = makeWeights(type, r, rows, inDim);
        const wp = arena.put(w.bytes);
        // the reference of the same quantized math: Q8_0 activations (Q8_0, Q4_0: integer block
        // dots in f64, refQuant), Q8_K ones (the f64 dot of the dequantized activations and weights)
        const reference = (xa: { act: string; bytes: Uint8Array; values: Float32Array }) => {
          const want = new Float32Array(n * rows);
          if (xa.act === 'q8_0') refQuant[type](want, xa.bytes, w.bytes as Uint8Array, n, inDim, rows);
          else ref.matmulF32(want, xa.values, w.deq, n, inDim, rows);
          return want;
        };
        const xa = quantizedActivations(k, arena, type, x, n, false);
        const op = arena.alloc(n * rows * 4);
        k.matmul(type, op, xa.at, wp, n, inDim, rows);
        const err = maxRelErr(arena.f32(op, n * rows), reference(xa), absDot(xa.values, w.deq, n, inDim, rows));
        assert.ok(err <= 1e-5, `${type} n=${n} in=${inDim} rows=${rows} (${xa.act}): rel err ${err}`);
        {
          // the optional scratch changes the speed (and for all but q8_0 the rounding) only
          const xs = quantizedActivations(k, arena, type, x, n, true);
          const sp = arena.alloc(k.qmatmulScratchBytes(n, inDim), 16);
          const op2 = arena.alloc(n * rows * 4);
          arena.u8(sp, k.qmatmulScratchBytes(n, inDim)).fill(0xff);
          k.matmul(type, op2, xs.at, wp, n, inDim, rows, 0, rows, sp);
          if (type === 'q8_0') assert.deepEqual(arena.f32(op2, n * rows), arena.f32(op, n * rows), `${type} n=${n} with scratch`);
          const err2 = maxRelErr(arena.f32(op2, n * rows), reference(xs), absDot(xs.values, w.deq, n, inDim, rows));
          assert.ok(err2 <= 1e-5, `${type} n=${n} in=${inDim} rows=${rows} with scratch (${xs.act}): rel err ${err2}`);
        }
      }
    });

    if (type !== 'q5_0') it(`${type}: f32-activation path matches f32 matmul of the dequantized weights (1e-5)`, () => {
      const r = rng(29);
      for (const [n, inDim, rows] of shapes) {
        const { k, arena } = setup();
        const x = randn(r, n * inDim);
        const w = makeWeights(type, r, rows, inDim);
        const xp = arena.put(x);
        const wp = arena.put(w.bytes);
        const op = arena.alloc(n * rows * 4);
        k.matmulF32Act(type, op, xp, wp, n, inDim, rows);
        const want = new Float32Array(n * rows);
        refF32Act[type](want, x, w.bytes as Uint8Array, n, inDim, rows);
        const err = maxRelErr(arena.f32(op, n * rows), want, absDot(x, w.deq, n, inDim, rows));
        assert.ok(err <= 1e-5, `${type} f32-act n=${n} in=${inDim} rows=${rows}: rel err ${err}`);
      }
    });
  }

  it('reads no byte past a weight that ends the memory (rows not a multiple of 4)', () => {
    const r = rng(37);
    for (const type of ['q8_0', 'q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k'] as const) {
      for (const n of [1, 2]) {
        const [inDim, rows] = [256, 5];
        const { k, arena } = setup(1 << 20);
        const w = makeWeights(type, r, rows, inDim);
        const xa = quantizedActivations(k, arena, type, randn(r, n * inDim), n, false);
        const elsewhere = arena.put(w.bytes);
        const want = arena.alloc(n * rows * 4);
        k.matmul(type, want, xa.at, elsewhere, n, inDim, rows);
        const atEnd = k.memory.buffer.byteLength - w.bytes.length;
        new Uint8Array(k.memory.buffer, atEnd, w.bytes.length).set(w.bytes);
        const got = arena.alloc(n * rows * 4);
        k.matmul(type, got, xa.at, atEnd, n, inDim, rows);
        assert.deepEqual(arena.f32(got, n * rows), arena.f32(want, n * rows), `${type} n=${n}`);
      }
    }
  });

  it('activationType agrees with the kernels (kquant_takes_q8_k)', () => {
    const { k } = setup();
    for (const type of ['q4_k', 'q5_k', 'q6_k'] as const) {
      for (let n = 1; n <= 6; n++) {
        for (const scratch of [0, 16]) {
          const kernels = k.exports.kquant_takes_q8_k(n, scratch) !== 0 ? 'q8_k' : 'q8_0';
          assert.equal(activationType(type, n, scratch !== 0), kernels, `${type} n=${n} scratch=${scratch}`);
        }
      }
    }
  });

  it("quantizeQ8_K: byte for byte ggml's quantize_row_q8_K_ref (test/fixtures/gguf/kquant/q8k-*)", () => {
    // 16 blocks: Gaussian at eight scales, all zero, ties of |max| either way, a lone value,
    // subnormals (iscale overflows: ggml's q are then 0), huge values, halves, near-max values
    const dir = path.join(FIXTURES, 'gguf', 'kquant');
    const input = fs.readFileSync(path.join(dir, 'q8k-input.f32'));
    const x = new Float32Array(input.buffer, input.byteOffset, input.length / 4);
    const ggml = new Uint8Array(fs.readFileSync(path.join(dir, 'q8k-ggml.bin')));
    assert.deepEqual(ref.quantizeQ8_K(x), ggml, 'reference');
    const { k, arena } = setup();
    const xp = arena.put(x);
    const at = arena.alloc(ggml.length);
    k.quantizeQ8_K(at, xp, x.length);
    for (let b = 0; b < x.length / 256; b++) {
      assert.deepEqual(arena.u8(at + b * 292, 292).slice(), ggml.subarray(b * 292, b * 292 + 292), `block ${b}`);
    }
  });

  it('quantization error vs f32 math is bounded (relative RMS of the output)', () => {
    const r = rng(31);
    const [n, inDim, rows] = [4, 1024, 64];
    for (const [type, bound] of [['q8_0', 0.015], ['q4_0', 0.15], ['q4_k', 0.015], ['q5_k', 0.06], ['q6_k', 0.03]] as const) {
      const { k, arena } = setup(4 << 20);
      const x = randn(r, n * inDim);
      let bytes: Uint8Array;
      let wf: Float32Array;
      if (type === 'q4_k') {
        // Q4_K has no quantizer here: take W = its own dequantized values plus
        // the error of the Q8_0 activations only.
        const w = makeWeights('q4_k', r, rows, inDim);
        bytes = w.bytes as Uint8Array;
        wf = w.deq;
      } else {
        wf = randn(r, rows * inDim, 0.05);
        bytes = type === 'q8_0' ? ref.quantizeQ8_0(wf) : type === 'q4_0' ? ref.quantizeQ4_0(wf)
          : type === 'q5_k' ? quantizeQ5_K(wf) : quantizeQ6_K(wf);
      }
      const xa = quantizedActivations(k, arena, type, x, n, false);
      const wp = arena.put(bytes);
      const op = arena.alloc(n * rows * 4);
      k.matmul(type, op, xa.at, wp, n, inDim, rows);
      const exact = new Float32Array(n * rows);
      ref.matmulF32(exact, x, wf, n, inDim, rows);
      const got = arena.f32(op, n * rows);
      let se = 0;
      let ss = 0;
      for (let i = 0; i < n * rows; i++) {
        se += (got[i]! - exact[i]!) ** 2;
        ss += exact[i]! ** 2;
      }
      const rel = Math.sqrt(se / ss);
      assert.ok(rel < bound, `${type}: relative RMS error ${rel} >= ${bound}`);
    }
  });
});

describe('matmul row-range splitting', () => {
  const all = ['f32', 'bf16', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'] as const;
  for (const type of all) {
    it(`${type}: split calls give bit-identical results to one call`, () => {
      const r = rng(37);
      for (const n of [1, 3, 6, 9]) {
        const inDim = type.endsWith('_k') ? 512 : type.startsWith('q') ? 160 : 75;
        const rows = 23;
        const { k, arena } = setup();
        const x = randn(r, n * inDim);
        const w = makeWeights(type, r, rows, inDim);
        let xp = arena.put(x);
        if (type.startsWith('q')) {
          const xq = arena.alloc((n * inDim / 32) * 34);
          k.quantizeQ8_0(xq, xp, n * inDim);
          xp = xq;
        }
        const wp = arena.put(w.bytes);
        const one = arena.alloc(n * rows * 4);
        const split = arena.alloc(n * rows * 4);
        k.matmul(type, one, xp, wp, n, inDim, rows);
        const cuts = [0, 1, 6, 11, 12, 19, 23];
        for (let i = 0; i + 1 < cuts.length; i++) k.matmul(type, split, xp, wp, n, inDim, rows, cuts[i], cuts[i + 1]);
        assert.deepEqual(arena.f32(split, n * rows), arena.f32(one, n * rows), `${type} n=${n}`);
        if (type.startsWith('q')) {
          // with the optional scratch (Q8_0: the same results as without; the others n > 1: their own rounding)
          const sp = arena.alloc(k.qmatmulScratchBytes(n, inDim), 16);
          k.matmul(type, one, xp, wp, n, inDim, rows, 0, rows, sp);
          arena.f32(split, n * rows).fill(0);
          for (let i = 0; i + 1 < cuts.length; i++) k.matmul(type, split, xp, wp, n, inDim, rows, cuts[i], cuts[i + 1], sp);
          assert.deepEqual(arena.f32(split, n * rows), arena.f32(one, n * rows), `${type} n=${n} with scratch`);
        }
        if (type.startsWith('q')) {
          const qt = type as QuantWeightType;
          const xf = arena.put(x);
          k.matmulF32Act(qt, one, xf, wp, n, inDim, rows);
          for (let i = 0; i + 1 < cuts.length; i++) k.matmulF32Act(qt, split, xf, wp, n, inDim, rows, cuts[i], cuts[i + 1]);
          assert.deepEqual(arena.f32(split, n * rows), arena.f32(one, n * rows), `${type} f32-act n=${n}`);
        }
      }
    });
  }

  for (const type of ['f32', 'bf16', 'f16'] as const) {
    it(`${type}: an activation row's outputs do not depend on n (matvec, tiles, chunks; bf16 with and without its scratch)`, () => {
      const r = rng(43);
      for (const inDim of [77, 1040, 4100]) { // tails of 5 and 4 elements; 4100: several chunks of rows
        const rows = 13, n = 37;
        const { k, arena } = setup(64 << 20);
        const x = randn(r, n * inDim);
        const w = makeWeights(type, r, rows, inDim);
        const xp = arena.put(x), wp = arena.put(w.bytes);
        const sp = arena.alloc(Math.max(16, k.floatMatmulScratchBytes(n, inDim)), 16);
        const all = arena.alloc(n * rows * 4);
        for (const scratch of type === 'bf16' ? [0, sp] : [0]) {
          k.matmul(type, all, xp, wp, n, inDim, rows, 0, rows, scratch);
          for (const [j0, m] of [[0, 1], [5, 1], [36, 1], [0, 2], [3, 3], [7, 16], [0, 37]] as const) {
            const part = arena.alloc(m * rows * 4);
            k.matmul(type, part, xp + j0 * inDim * 4, wp, m, inDim, rows, 0, rows, scratch);
            assert.deepEqual(arena.f32(part, m * rows), arena.f32(all + j0 * rows * 4, m * rows), `${type} in=${inDim} rows [${j0}, ${j0 + m}) scratch ${scratch}`);
          }
        }
      }
    });
  }

  for (const type of ['q8_0', 'q4_0', 'q5_0', 'q4_k', 'q5_k', 'q6_k'] as const) {
    it(`${type} with scratch: an activation row's outputs do not depend on n (tile choice, chunks)`, () => {
      const r = rng(41);
      const inDim = 256;
      const rows = 37;
      const { k, arena } = setup();
      const n = 13;
      const x = randn(r, n * inDim);
      const w = makeWeights(type, r, rows, inDim);
      const xp = arena.put(x);
      const xq = arena.alloc((n * inDim / 32) * 34);
      k.quantizeQ8_0(xq, xp, n * inDim);
      const wp = arena.put(w.bytes);
      const sp = arena.alloc(k.qmatmulScratchBytes(n, inDim), 16);
      const all = arena.alloc(n * rows * 4);
      k.matmul(type, all, xq, wp, n, inDim, rows, 0, rows, sp);
      const xb = (inDim / 32) * 34;
      // q8_0 / q4_0: rows alone and in pairs (the matvec kernels) too, which round like the tiles.
      // The K-quants take the tiles from n = 6 on (their matvec reads Q8_K activations).
      const parts: (readonly [number, number])[] = [[0, 8], [3, 10], [2, 6], [7, 6]];
      if (!type.endsWith('_k')) parts.push([2, 3], [5, 4], [9, 4], [0, 2], [0, 1], [6, 1], [12, 1], [4, 5], [1, 7]);
      for (const [j0, m] of parts) {
        const part = arena.alloc(m * rows * 4);
        k.matmul(type, part, xq + j0 * xb, wp, m, inDim, rows, 0, rows, sp);
        assert.deepEqual(arena.f32(part, m * rows), arena.f32(all + j0 * rows * 4, m * rows), `${type} rows [${j0}, ${j0 + m})`);
        if (type.endsWith('_k')) continue;
        // and without a scratch: the matvec kernels on pairs of rows for any n
        k.matmul(type, part, xq + j0 * xb, wp, m, inDim, rows, 0, rows, 0);
        assert.deepEqual(arena.f32(part, m * rows), arena.f32(all + j0 * rows * 4, m * rows), `${type} rows [${j0}, ${j0 + m}) without scratch`);
      }
    });
  }

  it('K-quants: in batches of up to 5 rows (the Q8_K matvec) a row\'s outputs are those it has alone', () => {
    const r = rng(47);
    for (const type of ['q4_k', 'q5_k', 'q6_k'] as const) {
      const [n, inDim, rows] = [5, 512, 37];
      const { k, arena } = setup();
      const w = makeWeights(type, r, rows, inDim);
      const wp = arena.put(w.bytes);
      const xa = quantizedActivations(k, arena, type, randn(r, n * inDim), n, true);
      assert.equal(xa.act, 'q8_k');
      const sp = arena.alloc(k.qmatmulScratchBytes(n, inDim), 16);
      const all = arena.alloc(n * rows * 4);
      k.matmul(type, all, xa.at, wp, n, inDim, rows, 0, rows, sp);
      const xb = (inDim / 256) * 292;
      for (const [j0, m] of [[0, 1], [4, 1], [1, 2], [2, 3]] as const) {
        const part = arena.alloc(m * rows * 4);
        k.matmul(type, part, xa.at + j0 * xb, wp, m, inDim, rows, 0, rows, sp);
        assert.deepEqual(arena.f32(part, m * rows), arena.f32(all + j0 * rows * 4, m * rows), `${type} rows [${j0}, ${j0 + m})`);
      }
    }
  });

  it('rejects bad row ranges', () => {
    const { k } = setup();
    assert.throws(() => k.matmul('f32', 64, 128, 256, 1, 4, 8, 5, 3), /range/);
    assert.throws(() => k.matmul('f32', 64, 128, 256, 1, 4, 8, 0, 9), /range/);
  });
});
