// Row / element-wise ops and attention vs the TypeScript reference.
// Tolerances (f32 math against the f64 reference):
//   rmsnorm, add, mul, axpy, scale:  1e-5 relative to |want| (+1e-30)
//   softmax, swiglu:                 1e-5 relative (exp is a ~2 ulp polynomial)
//   rope:                            1e-5 * (|x_j| + |x_j+half|) per element
//   attention:                       1e-5 * max |v| per element

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ref from '../../src/kernels/reference.js';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../../src/formats/dtype.js';
import { attentionScratchBytes } from '../../src/kernels/wasm.js';
import { rmsnormRows } from '../../src/backend/host.js';
import { randn, rng, setup } from './helpers.js';

function relErr(got: Float32Array, want: Float32Array, floor = 1e-30): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / Math.max(Math.abs(want[i]!), floor);
    if (!(e <= m)) m = e;
  }
  return m;
}

describe('row ops', () => {
  it('rmsnorm over dims with tails, row ranges, and in place', () => {
    const r = rng(41);
    for (const dim of [1, 3, 4, 7, 8, 9, 31, 64, 127, 1000, 4096, 5120]) {
      const rows = 5;
      const { k, arena } = setup();
      const x = randn(r, rows * dim, 2);
      const w = randn(r, dim);
      const xp = arena.put(x);
      const wp = arena.put(w);
      const op = arena.alloc(rows * dim * 4);
      k.rmsnorm(op, xp, wp, dim, 1e-6, 0, 2);
      k.rmsnorm(op, xp, wp, dim, 1e-6, 2, rows);
      const want = new Float32Array(rows * dim);
      ref.rmsnorm(want, x, w, dim, 1e-6, 0, rows);
      assert.ok(relErr(arena.f32(op, rows * dim), want) <= 1e-5, `dim ${dim}`);
      k.rmsnorm(xp, xp, wp, dim, 1e-6, 0, rows); // in place
      assert.deepEqual(arena.f32(xp, rows * dim), arena.f32(op, rows * dim));
    }
  });

  it('rmsnorm_f64 computes what the host backends compute (float64), to the last bit but for rare f32 rounding ties', () => {
    const r = rng(42);
    for (const dim of [1, 3, 4, 7, 9, 64, 1000, 1280, 2048, 5120]) {
      const rows = 6;
      const { k, arena } = setup();
      const x = randn(r, rows * dim, 3);
      const w = randn(r, dim);
      const xp = arena.put(x), wp = arena.put(w), op = arena.alloc(rows * dim * 4);
      k.rmsnormF64(op, xp, wp, dim, 1e-6, 0, 2);
      k.rmsnormF64(op, xp, wp, dim, 1e-6, 2, rows);
      const want = new Float32Array(rows * dim);
      rmsnormRows(want, x, rows, w, 1e-6);
      const got = arena.f32(op, rows * dim);
      // The f64 sum of squares runs in another order: it may move a result across an f32 rounding
      // boundary, by one ulp (2^-23 relative), rarely; anything else is a bug.
      let differ = 0;
      for (let i = 0; i < want.length; i++) {
        if (got[i] === want[i]) continue;
        differ++;
        assert.ok(Math.abs(got[i]! - want[i]!) <= Math.abs(want[i]!) * 2 ** -23, `dim ${dim}, element ${i}: ${got[i]} vs ${want[i]}`);
      }
      assert.ok(differ <= Math.max(1, want.length / 1000), `dim ${dim}: ${differ} of ${want.length} differ`);
    }
  });

  it('softmax is stable and matches the reference, incl. large / -inf inputs', () => {
    const r = rng(43);
    for (const len of [1, 2, 3, 4, 5, 8, 13, 100, 1023, 32000]) {
      const rows = 3;
      const { k, arena } = setup(1 << 20);
      const x = randn(r, rows * len, 5);
      x[0] = 1000; // stability: huge logits
      if (len > 3) x[len + 1] = -Infinity; // masked entry in row 1
      const xp = arena.put(x);
      k.softmax(xp, len, 0, 1);
      k.softmax(xp, len, 1, rows);
      const want = Float32Array.from(x);
      ref.softmax(want, len, 0, rows);
      const got = arena.f32(xp, rows * len);
      // relative error on entries that are not negligible, absolute on the rest
      for (let i = 0; i < got.length; i++) {
        const tol = 1e-5 * Math.max(Math.abs(want[i]!), 1e-30) + 1e-38;
        assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `len ${len} [${i}]: ${got[i]} vs ${want[i]}`);
      }
      for (let rr = 0; rr < rows; rr++) {
        let s = 0;
        for (let i = 0; i < len; i++) s += got[rr * len + i]!;
        assert.ok(Math.abs(s - 1) < 1e-5, `row sum ${s}`);
      }
    }
  });

  it('rope_neox matches the reference for any even head_dim and far positions', () => {
    const r = rng(47);
    for (const [nHeads, headDim, p0] of [[1, 2, 0], [2, 6, 3], [3, 10, 17], [4, 64, 1000], [2, 128, 0], [8, 128, 32000], [5, 80, 123456], [2, 96, 5], [1, 130, 77]] as const) {
      const rows = 3;
      const { k, arena } = setup();
      const x = randn(r, rows * nHeads * headDim);
      const inv = ref.ropeInvFreq(headDim, 10000);
      const xp = arena.put(x);
      const fp = arena.put(inv);
      k.ropeNeox(xp, fp, nHeads, headDim, p0, 0, 1);
      k.ropeNeox(xp, fp, nHeads, headDim, p0, 1, rows);
      const want = Float32Array.from(x);
      ref.ropeNeox(want, inv, nHeads, headDim, p0, 0, rows);
      const got = arena.f32(xp, x.length);
      const half = headDim / 2;
      for (let i = 0; i < x.length; i++) {
        const j = i % headDim;
        const pair = j < half ? i + half : i - half;
        const tol = 1e-5 * (Math.abs(x[i]!) + Math.abs(x[pair]!)) + 1e-30;
        assert.ok(Math.abs(got[i]! - want[i]!) <= tol, `H=${nHeads} hd=${headDim} p0=${p0} [${i}]: ${got[i]} vs ${want[i]}`);
      }
    }
    const { k } = setup();
    assert.throws(() => k.ropeNeox(64, 128, 1, 7, 0, 0, 1), /even/);
  });

  it('ropeInvFreq follows theta^(-2i/d)', () => {
    const f = ref.ropeInvFreq(8, 10000);
    assert.deepEqual(Array.from(f), [1, 10000 ** -0.25, 10000 ** -0.5, 10000 ** -0.75].map(Math.fround));
  });
});

describe('element-wise ops', () => {
  it('swiglu, add, mul, axpy, scale for counts with tails', () => {
    const r = rng(53);
    for (const count of [1, 3, 4, 5, 17, 1024, 1031]) {
      const { k, arena } = setup();
      const g = randn(r, count, 4);
      g[0] = -100; // silu saturates to -0
      if (count > 2) g[1] = 90; // exp(-g) underflows
      const u = randn(r, count);
      const gp = arena.put(g);
      const up = arena.put(u);
      const op = arena.alloc(count * 4);
      const want = new Float32Array(count);

      k.swiglu(op, gp, up, count);
      ref.swiglu(want, g, u, count);
      assert.ok(relErr(arena.f32(op, count), want) <= 1e-5, `swiglu ${count}`);

      k.add(op, gp, up, count);
      ref.add(want, g, u, count);
      assert.deepEqual(arena.f32(op, count), want);

      k.mul(op, gp, up, count);
      ref.mul(want, g, u, count);
      assert.deepEqual(arena.f32(op, count), want);

      k.scale(op, gp, 0.37, count);
      ref.scale(want, g, Math.fround(0.37), count);
      assert.ok(relErr(arena.f32(op, count), want) <= 1e-6, `scale ${count}`);

      // axpy: y + alpha*x can cancel, so compare against |y| + |alpha*x|
      const y = randn(r, count);
      const yp = arena.put(y);
      k.axpy(yp, gp, -1.25, count);
      const y0 = Float32Array.from(y);
      ref.axpy(y, g, -1.25, count);
      const got = arena.f32(yp, count);
      for (let i = 0; i < count; i++) {
        const tol = 1e-6 * (Math.abs(y0[i]!) + Math.abs(1.25 * g[i]!));
        assert.ok(Math.abs(got[i]! - y[i]!) <= tol, `axpy ${count} [${i}]`);
      }
    }
  });
});

describe('attention', () => {
  const cases = [
    // n, p0, nHeads, nKv, headDim
    [1, 0, 1, 1, 4],
    [1, 5, 2, 1, 8],
    [3, 0, 4, 2, 16],
    [4, 7, 4, 4, 20],
    [2, 3, 6, 2, 21],
    [1, 100, 8, 2, 64],
    [5, 40, 4, 1, 128],
    [2, 9, 2, 2, 130],
    [1, 300, 2, 1, 80],
    [2, 6, 12, 2, 12], // groups of 6: batches of 4 + 2
    [1, 17, 5, 1, 7], // group of 5: 4 + 1, head_dim < 8
    [1, 50, 6, 2, 32], // one row, groups of 3: four lanes, the last repeated
    // prompt rows in blocks of four: whole blocks, and a last block of 1, 2 or 3 rows
    [9, 0, 4, 2, 16],
    [6, 11, 10, 2, 128],
    [7, 3, 5, 1, 36], // head_dim: 8 + 8 + 8 + 8 + 4
    [11, 0, 2, 1, 13], // head_dim: 8 + 4 + 1
    [40, 25, 3, 3, 8], // V blocks of 32 positions, several per row
  ] as const;

  it('causal GQA matches the reference (1e-5 * max|v|)', () => {
    const r = rng(59);
    for (const [n, p0, nHeads, nKv, headDim] of cases) {
      const { k, arena } = setup(4 << 20);
      const T = p0 + n;
      const q = randn(r, n * nHeads * headDim);
      const kc = randn(r, T * nKv * headDim);
      const vc = randn(r, T * nKv * headDim);
      const qp = arena.put(q), kp = arena.put(kc), vp = arena.put(vc);
      const op = arena.alloc(q.length * 4);
      const sp = arena.alloc(attentionScratchBytes(p0, n, nHeads));
      k.attention({ out: op, q: qp, k: kp, v: vp, scratch: sp, n, p0, nHeads, nKv, headDim });
      const want = new Float32Array(q.length);
      ref.attention(want, q, kc, vc, n, p0, nHeads, nKv, headDim, 1 / Math.sqrt(headDim), 0, nHeads);
      let vmax = 0;
      for (const e of vc) vmax = Math.max(vmax, Math.abs(e));
      const got = arena.f32(op, q.length);
      for (let i = 0; i < want.length; i++) {
        assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * vmax, `case ${[n, p0, nHeads, nKv, headDim]} [${i}]: ${got[i]} vs ${want[i]}`);
      }
    }
  });

  for (const [kv, toBits, fromBits] of [['f16', f32ToF16, f16ToF32], ['bf16', f32ToBf16, bf16ToF32]] as const) {
    it(`an ${kv} KV cache gives the reference on K/V rounded to ${kv} (1e-5 * max|v|)`, () => {
      const r = rng(67);
      for (const [n, p0, nHeads, nKv, headDim] of cases) {
        const { k, arena } = setup(4 << 20);
        const T = p0 + n;
        const q = randn(r, n * nHeads * headDim);
        const kc = randn(r, T * nKv * headDim), vc = randn(r, T * nKv * headDim);
        const kh = Uint16Array.from(kc, toBits), vh = Uint16Array.from(vc, toBits);
        const qp = arena.put(q);
        const kp = arena.put(new Uint8Array(kh.buffer)), vp = arena.put(new Uint8Array(vh.buffer));
        const op = arena.alloc(q.length * 4);
        const sp = arena.alloc(attentionScratchBytes(p0, n, nHeads));
        k.attention({ out: op, q: qp, k: kp, v: vp, scratch: sp, n, p0, nHeads, nKv, headDim, kv });
        const want = new Float32Array(q.length);
        ref.attention(want, q, Float32Array.from(kh, fromBits), Float32Array.from(vh, fromBits), n, p0, nHeads, nKv, headDim, 1 / Math.sqrt(headDim), 0, nHeads);
        let vmax = 0;
        for (const e of vc) vmax = Math.max(vmax, Math.abs(e));
        const got = arena.f32(op, q.length);
        for (let i = 0; i < want.length; i++) {
          assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * vmax, `${kv} case ${[n, p0, nHeads, nKv, headDim]} [${i}]: ${got[i]} vs ${want[i]}`);
        }
      }
    });
  }

  it('splitting by head range gives bit-identical results; causality holds', () => {
    const r = rng(61);
    const [n, p0, nHeads, nKv, headDim] = [3, 4, 6, 3, 24];
    const { k, arena } = setup();
    const T = p0 + n;
    const q = randn(r, n * nHeads * headDim);
    const kc = randn(r, (T + 2) * nKv * headDim); // two extra "future" rows
    const vc = randn(r, (T + 2) * nKv * headDim);
    const qp = arena.put(q), kp = arena.put(kc), vp = arena.put(vc);
    const one = arena.alloc(q.length * 4);
    const split = arena.alloc(q.length * 4);
    const sp = arena.alloc(attentionScratchBytes(p0, n, nHeads));
    const base = { q: qp, k: kp, v: vp, scratch: sp, n, p0, nHeads, nKv, headDim };
    k.attention({ ...base, out: one });
    k.attention({ ...base, out: split, h0: 0, h1: 1 });
    k.attention({ ...base, out: split, h0: 1, h1: 4 }); // crosses a KV group boundary
    k.attention({ ...base, out: split, h0: 4, h1: 6 });
    const before = arena.f32(one, q.length).slice();
    assert.deepEqual(arena.f32(split, q.length), before);
    // changing cache rows at positions >= p0+n (the future) must not change anything
    arena.f32(kp + T * nKv * headDim * 4, 2 * nKv * headDim).fill(50);
    arena.f32(vp + T * nKv * headDim * 4, 2 * nKv * headDim).fill(50);
    k.attention({ ...base, out: one });
    assert.deepEqual(arena.f32(one, q.length), before);
    assert.throws(() => k.attention({ ...base, out: one, nKv: 4 }), /multiple/);
  });

  it('one row, heads taken four at a time: any split by head range gives the same bits', () => {
    // groups of 5 (Pangu Pro MoE's 40 / 8): sets of 4 + 1 heads, and sets cut by the range's ends
    const r = rng(71);
    const [n, p0, nHeads, nKv, headDim] = [1, 37, 10, 2, 24];
    const { k, arena } = setup();
    const q = randn(r, n * nHeads * headDim);
    const kc = randn(r, (p0 + n) * nKv * headDim), vc = randn(r, (p0 + n) * nKv * headDim);
    const qp = arena.put(q), kp = arena.put(kc), vp = arena.put(vc);
    const one = arena.alloc(q.length * 4), split = arena.alloc(q.length * 4);
    const sp = arena.alloc(attentionScratchBytes(p0, n, nHeads));
    const base = { q: qp, k: kp, v: vp, scratch: sp, n, p0, nHeads, nKv, headDim };
    k.attention({ ...base, out: one });
    for (const [h0, h1] of [[0, 3], [3, 7], [7, 8], [8, 10]]) k.attention({ ...base, out: split, h0, h1 });
    assert.deepEqual(arena.f32(split, q.length), arena.f32(one, q.length));
    const want = new Float32Array(q.length);
    ref.attention(want, q, kc, vc, n, p0, nHeads, nKv, headDim, 1 / Math.sqrt(headDim), 0, nHeads);
    const got = arena.f32(one, q.length), vmax = vc.reduce((m, e) => Math.max(m, Math.abs(e)), 0);
    for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-5 * vmax, `[${i}]: ${got[i]} vs ${want[i]}`);
  });
});
