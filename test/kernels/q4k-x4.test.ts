// The q4_k_x4 layout (Q4_K rows interleaved by four at load) and its matmul against the Q4_K
// reference. Tolerance as in matmul.test.ts: |wasm - ref| <= 1e-5 * S_q per output, S_q = sum_k
// |x_k * w_k| over the quantized activations and the dequantized weights; the 16 x 2 tiles (n >= 6
// with a scratch) unpack the rows back and must give Q4_K's own results bit for bit.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interleaveQ4_K, q4kX4Row } from '../../src/kernels/interleave.js';
import * as ref from '../../src/kernels/reference.js';
import { activationBytes, activationType, Kernels, Q8_K_BYTES, type Arena } from '../../src/kernels/wasm.js';
import { maxRelErr, randn, rng, setup } from './helpers.js';

/** Random Q4_K rows (every nibble and 6-bit scale pattern, modest d and dmin), 4-aligned in a fresh array. */
function randomQ4_K(r: () => number, rows: number, inDim: number): Uint8Array {
  const nsb = (rows * inDim) / 256;
  const b = new Uint8Array(nsb * 144);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  for (let s = 0; s < nsb; s++) {
    const d = ref.f32ToF16(0.002 * (0.5 + r())), dm = ref.f32ToF16(0.004 * (0.5 + r()));
    b.set([d & 0xff, d >> 8, dm & 0xff, dm >> 8], s * 144);
  }
  return b;
}

function interleaved(plain: Uint8Array, rows: number, inDim: number): Uint8Array {
  const x4 = plain.slice();
  interleaveQ4_K(x4, rows, inDim, new Uint8Array(4 * (inDim / 256) * 144));
  return x4;
}

/** Activations of n rows quantized as the kernels read them, and their dequantized values. */
function activations(k: Kernels, arena: Arena, x: Float32Array, n: number, scratch: boolean) {
  const act = activationType('q4_k_x4', n, scratch);
  const at = arena.alloc(activationBytes(act, x.length));
  k.quantizeActivations(act, at, arena.put(x), x.length);
  const bytes = arena.u8(at, activationBytes(act, x.length)).slice();
  return { at, act, values: act === 'q8_0' ? ref.dequantizeQ8_0(bytes, x.length) : ref.dequantizeQ8_K(bytes, x.length) };
}

/** S[j][r] = sum_k |x[j][k] * w[r][k]|. */
function absDot(x: Float32Array, w: Float32Array, n: number, inDim: number, rows: number): Float32Array {
  const s = new Float32Array(n * rows);
  for (let j = 0; j < n; j++) for (let r = 0; r < rows; r++) {
    let a = 0;
    for (let c = 0; c < inDim; c++) a += Math.abs(x[j * inDim + c]! * w[r * inDim + c]!);
    s[j * rows + r] = a;
  }
  return s;
}

describe('q4_k_x4: Q4_K rows interleaved by four', () => {
  it('keeps every byte: each row read back (q4kX4Row) is the original row', () => {
    const r = rng(3);
    for (const [rows, inDim] of [[4, 256], [12, 512], [8, 1280]] as const) {
      const plain = randomQ4_K(r, rows, inDim);
      const x4 = interleaved(plain, rows, inDim);
      assert.notDeepEqual(x4, plain);
      const rowB = (inDim / 256) * 144;
      const row = new Uint8Array(rowB);
      for (let i = 0; i < rows; i++) {
        q4kX4Row(x4, i, inDim, row);
        assert.deepEqual(row, plain.subarray(i * rowB, (i + 1) * rowB), `row ${i} of ${rows} x ${inDim}`);
      }
    }
  });

  it('the kernels\' interleave (interleaveQ4_K in wasm) writes the bytes of the reference', () => {
    const r = rng(4);
    for (const [rows, inDim] of [[4, 256], [16, 768], [8, 1280]] as const) {
      const { k, arena } = setup(4 << 20);
      const plain = randomQ4_K(r, rows, inDim);
      const w = arena.put(plain);
      k.interleaveQ4_K(w, rows, inDim, arena.alloc(Kernels.interleaveTmpBytes(inDim)));
      assert.deepEqual(arena.u8(w, plain.length), interleaved(plain, rows, inDim), `${rows} x ${inDim}`);
    }
  });

  it('rejects matrices that are not whole groups of four rows', () => {
    assert.throws(() => setup().k.interleaveQ4_K(0, 6, 256, 4096), /groups of 4 rows/);
    assert.throws(() => interleaveQ4_K(new Uint8Array(6 * 144), 6, 256, new Uint8Array(4 * 144)), /groups of 4 rows/);
    assert.throws(() => interleaveQ4_K(new Uint8Array(4 * 144), 4, 512, new Uint8Array(8 * 144)), /bytes/);
  });

  // n = 1..5: the Q8_K matvec on pairs of groups (odd group counts: a last group alone); n >= 6 with
  // a scratch: the tiles; rows 4 (one group) to 72, inputs of one to five super-blocks
  const shapes: [n: number, inDim: number, rows: number][] = [
    [1, 256, 4], [1, 512, 8], [1, 1280, 36], [1, 768, 72], [2, 256, 12], [3, 512, 20], [5, 1024, 16], [4, 256, 4],
    [6, 256, 16], [8, 512, 20], [13, 256, 36], [16, 1280, 8], [9, 512, 4],
  ];

  it('matmul: matches the Q4_K reference of the same quantized math (1e-5), and the tiles give Q4_K\'s results exactly', () => {
    const r = rng(5);
    for (const [n, inDim, rows] of shapes) {
      const { k, arena } = setup(4 << 20);
      const plain = randomQ4_K(r, rows, inDim);
      const deq = ref.dequantizeQ4_K(plain, rows * inDim);
      const wx4 = arena.put(interleaved(plain, rows, inDim));
      const wq4 = arena.put(plain);
      const x = randn(r, n * inDim);
      for (const withScratch of [false, true]) {
        const xa = activations(k, arena, x, n, withScratch);
        const sp = withScratch ? arena.alloc(k.qmatmulScratchBytes(n, inDim), 16) : 0;
        if (sp) arena.u8(sp, k.qmatmulScratchBytes(n, inDim)).fill(0xff);
        const got = arena.alloc(n * rows * 4), plainOut = arena.alloc(n * rows * 4);
        k.matmul('q4_k_x4', got, xa.at, wx4, n, inDim, rows, 0, rows, sp);
        k.matmul('q4_k', plainOut, xa.at, wq4, n, inDim, rows, 0, rows, sp);
        const want = new Float32Array(n * rows);
        ref.matmulF32(want, xa.values, deq, n, inDim, rows);
        const err = maxRelErr(arena.f32(got, n * rows), want, absDot(xa.values, deq, n, inDim, rows));
        assert.ok(err <= 1e-5, `n=${n} in=${inDim} rows=${rows} scratch=${withScratch} (${xa.act}): rel err ${err}`);
        if (xa.act === 'q8_0') assert.deepEqual(arena.f32(got, n * rows), arena.f32(plainOut, n * rows), `tiles n=${n} in=${inDim} rows=${rows}`);
      }
    }
  });

  it('matmul: split calls on group boundaries and activation rows alone give the results of one call, bit for bit', () => {
    const r = rng(7);
    const [inDim, rows] = [512, 40];
    const { k, arena } = setup(4 << 20);
    const w = arena.put(interleaved(randomQ4_K(r, rows, inDim), rows, inDim));
    for (const n of [1, 3, 5, 6, 9]) {
      const x = randn(r, n * inDim);
      const xa = activations(k, arena, x, n, true);
      const sp = arena.alloc(k.qmatmulScratchBytes(n, inDim), 16);
      const one = arena.alloc(n * rows * 4), split = arena.alloc(n * rows * 4);
      k.matmul('q4_k_x4', one, xa.at, w, n, inDim, rows, 0, rows, sp);
      const cuts = [0, 4, 12, 16, 28, 40];
      for (let i = 0; i + 1 < cuts.length; i++) k.matmul('q4_k_x4', split, xa.at, w, n, inDim, rows, cuts[i], cuts[i + 1], sp);
      assert.deepEqual(arena.f32(split, n * rows), arena.f32(one, n * rows), `n=${n} split`);
      if (xa.act !== 'q8_k') continue;
      // the Q8_K matvec: each activation row on its own
      const xb = (inDim / 256) * Q8_K_BYTES;
      for (let j = 0; j < n; j++) {
        const part = arena.alloc(rows * 4);
        k.matmul('q4_k_x4', part, xa.at + j * xb, w, 1, inDim, rows, 0, rows, 0);
        assert.deepEqual(arena.f32(part, rows), arena.f32(one + j * rows * 4, rows), `n=${n} row ${j} alone`);
      }
    }
  });

  it('matmul: an inf or nan scale gives what Q4_K gives (non-finite outputs in the same places)', () => {
    const r = rng(11);
    const [inDim, rows] = [512, 8];
    const { k, arena } = setup(4 << 20);
    const plain = randomQ4_K(r, rows, inDim);
    plain.set([0x00, 0x7c], 2 * 144); // row 1, super-block 0: d = +inf
    plain.set([0x01, 0x7e], 13 * 144 + 2); // row 6, super-block 1: dmin = nan
    const wx4 = arena.put(interleaved(plain, rows, inDim)), wq4 = arena.put(plain);
    const xa = activations(k, arena, randn(r, inDim), 1, false);
    const got = arena.alloc(rows * 4), want = arena.alloc(rows * 4);
    k.matmul('q4_k_x4', got, xa.at, wx4, 1, inDim, rows);
    k.matmul('q4_k', want, xa.at, wq4, 1, inDim, rows);
    const finite = (a: Float32Array) => Array.from(a, Number.isFinite);
    assert.deepEqual(finite(arena.f32(got, rows)), finite(arena.f32(want, rows)));
    assert.deepEqual(finite(arena.f32(got, rows)), [true, false, true, true, true, true, false, true]);
  });

  it('reads no byte past a matrix that ends the memory', () => {
    const r = rng(13);
    const [inDim, rows] = [256, 12];
    for (const n of [1, 2]) {
      const { k, arena } = setup(1 << 20);
      const bytes = interleaved(randomQ4_K(r, rows, inDim), rows, inDim);
      const xa = activations(k, arena, randn(r, n * inDim), n, false);
      const want = arena.alloc(n * rows * 4);
      k.matmul('q4_k_x4', want, xa.at, arena.put(bytes), n, inDim, rows);
      const atEnd = k.memory.buffer.byteLength - bytes.length;
      new Uint8Array(k.memory.buffer, atEnd, bytes.length).set(bytes);
      const got = arena.alloc(n * rows * 4);
      k.matmul('q4_k_x4', got, xa.at, atEnd, n, inDim, rows);
      assert.deepEqual(arena.f32(got, n * rows), arena.f32(want, n * rows), `n=${n}`);
    }
  });

  it('rejects row ranges that are not whole groups', () => {
    const { k } = setup();
    assert.throws(() => k.matmul('q4_k_x4', 0, 0, 0, 1, 256, 6), /groups of 4 rows/);
    assert.throws(() => k.matmul('q4_k_x4', 0, 0, 0, 1, 256, 8, 2, 8), /groups of 4 rows/);
  });
});
