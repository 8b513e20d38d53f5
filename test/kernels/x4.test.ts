// The layouts with rows interleaved by four at load, q4_k_x4, q8_0_x4, q5_0_x4 and q4_0_x4, and
// their matmuls. The last three do the arithmetic of the q8_0 / q5_0 / q4_0 kernels: the same bits
// for every n, with and without a scratch. q4_k_x4's matvec sums in another order: against the Q4_K
// reference of the same quantized math, |wasm - ref| <= 1e-5 * S_q per output (as in
// matmul.test.ts, S_q = sum_k |x_k * w_k| over the quantized activations and dequantized weights);
// its tiles (n >= 6 with a scratch), repacked from the groups, give Q4_K's results bit for bit.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { interleavedRow, interleaveRows, type InterleavedType } from '../../src/kernels/interleave.js';
import { dequantizeQ5_0 } from '../../src/formats/ggml-quants.js';
import * as ref from '../../src/kernels/reference.js';
import { activationBytes, activationType, Kernels, type Arena } from '../../src/kernels/wasm.js';
import { maxRelErr, randn, rng, setup } from './helpers.js';

const X4 = { q4_k: 'q4_k_x4', q8_0: 'q8_0_x4', q5_0: 'q5_0_x4', q4_0: 'q4_0_x4' } as const;
const BLOCK = { q4_k: { values: 256, bytes: 144 }, q8_0: { values: 32, bytes: 34 }, q5_0: { values: 32, bytes: 22 }, q4_0: { values: 32, bytes: 18 } } as const;

/** Random rows of a type: every level and scale pattern, modest d (and Q4_K's dmin). */
function randomRows(type: InterleavedType, r: () => number, rows: number, inDim: number): Uint8Array {
  const { values, bytes } = BLOCK[type], blocks = (rows * inDim) / values;
  const b = new Uint8Array(blocks * bytes);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
  for (let s = 0; s < blocks; s++) {
    const d = ref.f32ToF16((type === 'q4_k' ? 0.002 : 0.0005) * (0.5 + r())), dm = ref.f32ToF16(0.004 * (0.5 + r()));
    b.set(type === 'q4_k' ? [d & 0xff, d >> 8, dm & 0xff, dm >> 8] : [d & 0xff, d >> 8], s * bytes);
  }
  return b;
}

function interleaved(type: InterleavedType, plain: Uint8Array, rows: number, inDim: number): Uint8Array {
  const x4 = plain.slice();
  interleaveRows(type, x4, rows, inDim, new Uint8Array(Kernels.interleaveTmpBytes(type, inDim)));
  return x4;
}

/** Activations of n rows quantized as the kernels read them, and their dequantized values. */
function activations(k: Kernels, arena: Arena, type: InterleavedType, x: Float32Array, n: number, scratch: boolean) {
  const act = activationType(type, n, scratch);
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

for (const type of ['q4_k', 'q8_0', 'q5_0', 'q4_0'] as const) describe(`${X4[type]}: ${type} rows interleaved by four`, () => {
  const { values, bytes: blockBytes } = BLOCK[type];
  const dequantize = (b: Uint8Array, count: number) => (type === 'q4_k' ? ref.dequantizeQ4_K(b, count) : type === 'q8_0' ? ref.dequantizeQ8_0(b, count) : type === 'q4_0' ? ref.dequantizeQ4_0(b, count) : dequantizeQ5_0(b));

  it('keeps every byte: each row read back (interleavedRow) is the original row', () => {
    const r = rng(3);
    for (const [rows, inDim] of [[4, 256], [12, 512], [8, 1280]] as const) {
      const plain = randomRows(type, r, rows, inDim);
      const x4 = interleaved(type, plain, rows, inDim);
      assert.notDeepEqual(x4, plain);
      const rowB = (inDim / values) * blockBytes;
      const row = new Uint8Array(rowB);
      for (let i = 0; i < rows; i++) {
        interleavedRow(type, x4, i, inDim, row);
        assert.deepEqual(row, plain.subarray(i * rowB, (i + 1) * rowB), `row ${i} of ${rows} x ${inDim}`);
      }
    }
  });

  it('the kernels\' interleave (in wasm) writes the bytes of the reference', () => {
    const r = rng(4);
    for (const [rows, inDim] of [[4, 256], [16, 768], [8, 1280]] as const) {
      const { k, arena } = setup(4 << 20);
      const plain = randomRows(type, r, rows, inDim);
      const w = arena.put(plain);
      k.interleave(type, w, rows, inDim, arena.alloc(Kernels.interleaveTmpBytes(type, inDim)));
      assert.deepEqual(arena.u8(w, plain.length), interleaved(type, plain, rows, inDim), `${rows} x ${inDim}`);
    }
  });

  it('rejects matrices that are not whole groups of four rows', () => {
    assert.throws(() => setup().k.interleave(type, 0, 6, 256, 4096), /groups of 4 rows/);
    assert.throws(() => interleaveRows(type, new Uint8Array(6 * 8 * blockBytes), 6, 256, new Uint8Array(4 * 8 * blockBytes)), /groups of 4 rows/);
    assert.throws(() => interleaveRows(type, new Uint8Array(4 * blockBytes), 4, 512, new Uint8Array(64 * blockBytes)), /bytes/);
  });

  // n = 1..7: the matvec on pairs of groups (odd group counts: a last group alone); with a scratch
  // from n = 6 (Q4_K) / 8 (Q8_0): the tiles. Rows 4 (one group) to 72.
  const shapes: [n: number, inDim: number, rows: number][] = [
    [1, 256, 4], [1, 512, 8], [1, 1280, 36], [1, 768, 72], [2, 256, 12], [3, 512, 20], [5, 1024, 16], [4, 256, 4],
    [6, 256, 16], [7, 512, 12], [8, 512, 20], [13, 256, 36], [16, 1280, 8], [9, 512, 4],
  ];

  it(`matmul: ${type !== 'q4_k' ? `the bits of ${type} for every n, with and without a scratch` : 'matches the q4_k reference of the same quantized math (1e-5); its tiles give q4_k\'s bits'}`, () => {
    const r = rng(5);
    for (const [n, inDim, rows] of shapes) {
      const { k, arena } = setup(4 << 20);
      const plain = randomRows(type, r, rows, inDim);
      const deq = dequantize(plain, rows * inDim);
      const wx4 = arena.put(interleaved(type, plain, rows, inDim)), wPlain = arena.put(plain);
      const x = randn(r, n * inDim);
      for (const withScratch of [false, true]) {
        const xa = activations(k, arena, type, x, n, withScratch);
        const sp = withScratch ? arena.alloc(k.qmatmulScratchBytes(n, inDim), 16) : 0;
        if (sp) arena.u8(sp, k.qmatmulScratchBytes(n, inDim)).fill(0xff);
        const got = arena.alloc(n * rows * 4), want = arena.alloc(n * rows * 4);
        k.matmul(X4[type], got, xa.at, wx4, n, inDim, rows, 0, rows, sp);
        k.matmul(type, want, xa.at, wPlain, n, inDim, rows, 0, rows, sp);
        const what = `n=${n} in=${inDim} rows=${rows} scratch=${withScratch} (${xa.act})`;
        if (type !== 'q4_k' || xa.act === 'q8_0') assert.deepEqual(arena.f32(got, n * rows), arena.f32(want, n * rows), what);
        const exact = new Float32Array(n * rows);
        ref.matmulF32(exact, xa.values, deq, n, inDim, rows);
        const err = maxRelErr(arena.f32(got, n * rows), exact, absDot(xa.values, deq, n, inDim, rows));
        assert.ok(err <= 1e-5, `${what}: rel err ${err}`);
      }
    }
  });

  it('matmul: split calls on group boundaries and activation rows alone give the results of one call, bit for bit', () => {
    const r = rng(7);
    const [inDim, rows] = [512, 40];
    const { k, arena } = setup(4 << 20);
    const w = arena.put(interleaved(type, randomRows(type, r, rows, inDim), rows, inDim));
    for (const n of [1, 3, 5, 6, 9]) {
      const xa = activations(k, arena, type, randn(r, n * inDim), n, true);
      const sp = arena.alloc(k.qmatmulScratchBytes(n, inDim), 16);
      const one = arena.alloc(n * rows * 4), split = arena.alloc(n * rows * 4);
      k.matmul(X4[type], one, xa.at, w, n, inDim, rows, 0, rows, sp);
      const cuts = [0, 4, 12, 16, 28, 40];
      for (let i = 0; i + 1 < cuts.length; i++) k.matmul(X4[type], split, xa.at, w, n, inDim, rows, cuts[i], cuts[i + 1], sp);
      assert.deepEqual(arena.f32(split, n * rows), arena.f32(one, n * rows), `n=${n} split`);
      if (xa.act !== activationType(type, 1, false)) continue; // the tiles: the file layout's bits above
      // the matvec: each activation row on its own
      const xb = activationBytes(xa.act, inDim);
      for (let j = 0; j < n; j++) {
        const part = arena.alloc(rows * 4);
        k.matmul(X4[type], part, xa.at + j * xb, w, 1, inDim, rows, 0, rows, 0);
        assert.deepEqual(arena.f32(part, rows), arena.f32(one + j * rows * 4, rows), `n=${n} row ${j} alone`);
      }
    }
  });

  it(`matmul: an inf or nan scale gives what ${type} gives (non-finite outputs in the same places)`, () => {
    const r = rng(11);
    const [inDim, rows] = [512, 8];
    const { k, arena } = setup(4 << 20);
    const plain = randomRows(type, r, rows, inDim);
    const perRow = inDim / values;
    plain.set([0x00, 0x7c], perRow * blockBytes); // row 1, block 0: d = +inf
    plain.set([0x01, 0x7e], (6 * perRow + 1) * blockBytes + (type === 'q4_k' ? 2 : 0)); // row 6, block 1: dmin (else d) = nan
    const wx4 = arena.put(interleaved(type, plain, rows, inDim)), wPlain = arena.put(plain);
    const xa = activations(k, arena, type, randn(r, inDim), 1, false);
    const got = arena.alloc(rows * 4), want = arena.alloc(rows * 4);
    k.matmul(X4[type], got, xa.at, wx4, 1, inDim, rows);
    k.matmul(type, want, xa.at, wPlain, 1, inDim, rows);
    const finite = (a: Float32Array) => Array.from(a, Number.isFinite);
    assert.deepEqual(finite(arena.f32(got, rows)), finite(arena.f32(want, rows)));
    assert.deepEqual(finite(arena.f32(got, rows)), [true, false, true, true, true, true, false, true]);
  });

  it('reads no byte past a matrix that ends the memory', () => {
    const r = rng(13);
    const [inDim, rows] = [256, 12];
    for (const n of [1, 2]) {
      const { k, arena } = setup(1 << 20);
      const bytes = interleaved(type, randomRows(type, r, rows, inDim), rows, inDim);
      const xa = activations(k, arena, type, randn(r, n * inDim), n, false);
      const want = arena.alloc(n * rows * 4);
      k.matmul(X4[type], want, xa.at, arena.put(bytes), n, inDim, rows);
      const atEnd = k.memory.buffer.byteLength - bytes.length;
      new Uint8Array(k.memory.buffer, atEnd, bytes.length).set(bytes);
      const got = arena.alloc(n * rows * 4);
      k.matmul(X4[type], got, xa.at, atEnd, n, inDim, rows);
      assert.deepEqual(arena.f32(got, n * rows), arena.f32(want, n * rows), `n=${n}`);
    }
  });

  it('rejects row ranges that are not whole groups', () => {
    const { k } = setup();
    assert.throws(() => k.matmul(X4[type], 0, 0, 0, 1, 256, 6), /groups of 4 rows/);
    assert.throws(() => k.matmul(X4[type], 0, 0, 0, 1, 256, 8, 2, 8), /groups of 4 rows/);
  });
});
