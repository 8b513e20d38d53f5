// Conversions and quantizers: wasm vs reference, bit for bit.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from '../../src/formats/ggml-quants.js';
import * as ref from '../../src/kernels/reference.js';
import { KQUANT_SCRATCH_BYTES } from '../../src/kernels/wasm.js';
import { FIXTURES } from '../helpers.js';
import { randn, rng, setup } from './helpers.js';

/** Interesting f32 values: zeros, subnormals, half/bf16 boundaries, inf, nan. */
function edgeValues(): Float32Array {
  const v = [0, -0, 1, -1, 0.5, 65504, 65519.99, 65520, 65536, -65520, 1e-8, 2 ** -24, 2 ** -25, 3 * 2 ** -26, 2 ** -14,
    2 ** -14 - 2 ** -25, 6.1e-5, 1e-45, -1e-45, 1.17549435e-38, 3.4028235e38, Infinity, -Infinity, NaN, 1 + 2 ** -11,
    1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1.00390625, 1.01171875, 2049, 2051, 0.1, 0.2, 1 / 3, 7, 1e5];
  return Float32Array.from(v);
}

describe('half conversions', () => {
  it('f16 -> f32 is exact for all 65536 bit patterns', () => {
    const { k, arena } = setup();
    const n = 65536;
    const src = arena.alloc(n * 2);
    const dst = arena.alloc(n * 4);
    const h = arena.u16(src, n);
    for (let i = 0; i < n; i++) h[i] = i;
    k.f16ToF32(dst, src, n);
    const out = arena.f32(dst, n);
    for (let i = 0; i < n; i++) {
      const want = ref.f16ToF32(i);
      if (Number.isNaN(want)) assert.ok(Number.isNaN(out[i]), `f16 ${i.toString(16)} should be nan`);
      else assert.ok(Object.is(out[i], Math.fround(want)), `f16 ${i.toString(16)}: ${out[i]} != ${want}`);
    }
  });

  it('bf16 -> f32 is exact for all 65536 bit patterns', () => {
    const { k, arena } = setup();
    const n = 65536;
    const src = arena.alloc(n * 2);
    const dst = arena.alloc(n * 4);
    const h = arena.u16(src, n);
    for (let i = 0; i < n; i++) h[i] = i;
    k.bf16ToF32(dst, src, n);
    const out = arena.f32(dst, n);
    for (let i = 0; i < n; i++) {
      const want = ref.bf16ToF32(i);
      if (Number.isNaN(want)) assert.ok(Number.isNaN(out[i]));
      else assert.ok(Object.is(out[i], want), `bf16 ${i.toString(16)}: ${out[i]} != ${want}`);
    }
  });

  it('f32 -> f16 and f32 -> bf16 round to nearest even, matching the reference bit for bit', () => {
    const { k, arena } = setup(4 << 20);
    const r = rng(1);
    const edges = edgeValues();
    const n = 100003;
    const src = arena.alloc(n * 4);
    const x = arena.f32(src, n);
    x.set(edges);
    const bits = new Uint32Array(x.buffer, x.byteOffset, n);
    for (let i = edges.length; i < n; i++) {
      // random bit patterns across the whole f32 range, plus values near half range
      bits[i] = i % 2 === 0 ? Math.floor(r() * 2 ** 32) : ref.f32ToBits((r() - 0.5) * 2 ** (Math.floor(r() * 44) - 26));
    }
    const h = arena.alloc(n * 2);
    const b = arena.alloc(n * 2);
    k.f32ToF16(h, src, n);
    k.f32ToBf16(b, src, n);
    const hv = arena.u16(h, n);
    const bv = arena.u16(b, n);
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      if (Number.isNaN(v)) {
        assert.ok((hv[i]! & 0x7c00) === 0x7c00 && (hv[i]! & 0x3ff) !== 0, 'f16 nan');
        assert.ok((bv[i]! & 0x7f80) === 0x7f80 && (bv[i]! & 0x7f) !== 0, 'bf16 nan');
        continue;
      }
      assert.equal(hv[i], ref.f32ToF16(v), `f16 of ${v}`);
      assert.equal(bv[i], ref.f32ToBf16(v), `bf16 of ${v}`);
    }
  });

  it('reference f16 round trip is the identity on finite halves', () => {
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      assert.equal(ref.f32ToF16(ref.f16ToF32(h)), h);
    }
  });

  it('reference roundings agree with known values', () => {
    assert.equal(ref.f32ToF16(1), 0x3c00);
    assert.equal(ref.f32ToF16(65504), 0x7bff);
    assert.equal(ref.f32ToF16(65520), 0x7c00);
    assert.equal(ref.f32ToF16(2 ** -24), 0x0001);
    assert.equal(ref.f32ToF16(2 ** -25), 0x0000); // tie -> even (0)
    assert.equal(ref.f32ToF16(3 * 2 ** -25), 0x0002); // tie -> even (2)
    assert.equal(ref.f32ToF16(1 + 2 ** -11), 0x3c00); // tie -> even
    assert.equal(ref.f32ToF16(1 + 3 * 2 ** -11), 0x3c02);
    assert.equal(ref.f32ToBf16(1 + 2 ** -8), 0x3f80); // tie -> even
    assert.equal(ref.f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
    assert.equal(ref.f32ToBf16(-2), 0xc000);
    assert.equal(ref.roundAway(2.5), 3);
    assert.equal(ref.roundAway(-2.5), -3);
    assert.equal(ref.roundAway(0.49999997), 0);
  });
});

describe('block quantizers', () => {
  const sizes = [32, 64, 96, 320, 4096];

  for (const [name, quant, deq, bytes] of [
    ['q8_0', ref.quantizeQ8_0, ref.dequantizeQ8_0, ref.Q8_0_BYTES],
    ['q4_0', ref.quantizeQ4_0, ref.dequantizeQ4_0, ref.Q4_0_BYTES],
  ] as const) {
    it(`${name}: wasm quantize matches the ggml reference byte for byte`, () => {
      const { k, arena } = setup();
      const r = rng(name.length * 7);
      for (const n of sizes) {
        const x = randn(r, n, 0.02 + r() * 3);
        // special blocks: zeros, a repeated value, +/- max ties, tiny values
        if (n >= 128) {
          x.fill(0, 0, 32);
          x.fill(1.5, 32, 64);
          x[64] = -2;
          x[70] = 2;
          for (let i = 96; i < 128; i++) x[i] = (i - 112) * 1e-6;
        }
        const src = arena.put(x);
        const dst = arena.alloc((n / 32) * bytes);
        if (name === 'q8_0') k.quantizeQ8_0(dst, src, n);
        else k.quantizeQ4_0(dst, src, n);
        assert.deepEqual(arena.u8(dst, (n / 32) * bytes), quant(x), `${name} n=${n}`);
      }
    });

    it(`${name}: wasm dequantize matches the reference exactly`, () => {
      const { k, arena } = setup();
      const r = rng(3);
      for (const n of sizes) {
        const q = quant(randn(r, n));
        const src = arena.put(q);
        const dst = arena.alloc(n * 4);
        k.dequantize(name, dst, src, n);
        assert.deepEqual(arena.f32(dst, n), deq(q, n));
      }
    });

    it(`${name}: quantization error is within half a step per element`, () => {
      const r = rng(5);
      const x = randn(r, 4096, 0.7);
      const y = deq(quant(x), x.length);
      for (let b = 0; b < x.length / 32; b++) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
        // step = amax/127 (q8_0) or amax/8 (q4_0); the f16 rounding of d adds <= 2^-11 relative
        const step = name === 'q8_0' ? amax / 127 : amax / 8;
        const levels = name === 'q8_0' ? 127 : 8;
        const tol = step / 2 + amax * 2 ** -11 * (1 + 1 / levels) + 1e-12;
        for (let j = 0; j < 32; j++) {
          const e = Math.abs(y[b * 32 + j]! - x[b * 32 + j]!);
          // q4_0 has levels -8..7 (times d = max/-8): values opposite in sign to
          // max beyond 7.5 steps clip to level 7, up to one full step away.
          if (name === 'q4_0' && Math.abs(x[b * 32 + j]!) > 7.5 * step) {
            assert.ok(e <= step + tol, `q4_0 clipped block ${b} elem ${j}: err ${e}`);
            continue;
          }
          assert.ok(e <= tol, `${name} block ${b} elem ${j}: err ${e} > ${tol}`);
        }
      }
    });
  }

  it('q4_k: wasm dequantize matches the reference exactly on random blocks', () => {
    const { k, arena } = setup();
    const r = rng(11);
    for (const nsb of [1, 2, 7]) {
      const q = new Uint8Array(nsb * ref.Q4_K_BYTES);
      for (let i = 0; i < q.length; i++) q[i] = Math.floor(r() * 256);
      for (let b = 0; b < nsb; b++) {
        // finite, modest d and dmin
        const d = ref.f32ToF16((r() + 0.1) * 1e-3);
        const dm = ref.f32ToF16((r() + 0.1) * 1e-3);
        q[b * 144] = d & 0xff;
        q[b * 144 + 1] = d >> 8;
        q[b * 144 + 2] = dm & 0xff;
        q[b * 144 + 3] = dm >> 8;
      }
      const src = arena.put(q);
      const dst = arena.alloc(nsb * 256 * 4);
      k.dequantize('q4_k', dst, src, nsb * 256);
      assert.deepEqual(arena.f32(dst, nsb * 256), ref.dequantizeQ4_K(q, nsb * 256));
    }
  });

  for (const [type, bytes, dOffsets] of [['q5_k', 176, [0, 2]], ['q6_k', 210, [208]]] as const) {
    it(`${type}: wasm dequantize matches the reference exactly on random blocks`, () => {
      const { k, arena } = setup();
      const r = rng(13);
      for (const nsb of [1, 2, 7]) {
        const q = new Uint8Array(nsb * bytes);
        for (let i = 0; i < q.length; i++) q[i] = Math.floor(r() * 256);
        for (let b = 0; b < nsb; b++) {
          for (const o of dOffsets) {
            const d = ref.f32ToF16((r() + 0.1) * 1e-3);
            q[b * bytes + o] = d & 0xff;
            q[b * bytes + o + 1] = d >> 8;
          }
        }
        const src = arena.put(q);
        const dst = arena.alloc(nsb * 256 * 4);
        k.dequantize(type, dst, src, nsb * 256);
        const want = type === 'q5_k' ? ref.dequantizeQ5_K(q, nsb * 256) : ref.dequantizeQ6_K(q, nsb * 256);
        assert.deepEqual(arena.f32(dst, nsb * 256), want);
      }
    });
  }

  it('q4_k / q5_k / q6_k: wasm quantize writes the bytes of ggml\'s reference quantizers', () => {
    // the ggml fixture, then random super-blocks of several scales with the special cases of the
    // searches: all zeros, a constant, one large value, values too small for an f16 scale, a NaN-free
    // mix of signs; the fill pattern shows an output byte left unwritten.
    const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'gguf', 'quants.json'), 'utf8')) as Record<string, string>;
    const fb = (key: string) => new Uint8Array(Buffer.from(fixture[key]!, 'base64'));
    const ib = fb('input_f32');
    const input = new Float32Array(ib.buffer, ib.byteOffset, ib.byteLength / 4);
    const r = rng(31);
    const x = new Float32Array(256 * 24);
    for (let b = 0; b < 24; b++) x.set(randn(r, 256, 10 ** (r() * 8 - 6)), 256 * b);
    x.fill(0, 0, 256);
    x.fill(0.75, 256, 512);
    x[600] = 40;
    for (let i = 768; i < 1024; i++) x[i] = (i % 7 - 3) * 1e-9;
    for (let i = 1024; i < 1280; i++) x[i] = Math.abs(x[i]!);
    for (let i = 1280; i < 1536; i++) x[i] = -Math.abs(x[i]!);
    const { k, arena } = setup();
    const scratch = arena.alloc(KQUANT_SCRATCH_BYTES);
    for (const [type, js, bytes, key] of [
      ['q4_k', quantizeQ4_K, 144, 'q4_k_ggml_ref'], ['q5_k', quantizeQ5_K, 176, 'q5_k_ggml_ref'], ['q6_k', quantizeQ6_K, 210, 'q6_k_ggml_ref'],
    ] as const) {
      for (const [what, v, want] of [['ggml fixture', input, fb(key)], ['random blocks', x, js(x)]] as const) {
        const src = arena.put(v);
        const dst = arena.alloc((v.length / 256) * bytes);
        arena.u8(dst, (v.length / 256) * bytes).fill(0xa5);
        k.quantize(type, dst, src, v.length, scratch);
        assert.deepEqual(arena.u8(dst, (v.length / 256) * bytes), want, `${type}: ${what}`);
      }
    }
  });

  it('block formats reject lengths that are not whole blocks', () => {
    const { k } = setup();
    assert.throws(() => k.quantizeQ8_0(64, 1024, 33), /multiple of the 32-element block/);
    assert.throws(() => k.matmul('q4_0', 0, 64, 128, 1, 48, 4), /multiple of the 32-element block/);
    assert.throws(() => k.matmul('q4_k', 0, 64, 128, 1, 128, 4), /multiple of the 256-element block/);
    assert.throws(() => ref.quantizeQ4_0(new Float32Array(31)), /multiple/);
    assert.throws(() => ref.rowBytes('q8_0', 100), /multiple/);
    assert.equal(ref.rowBytes('q8_0', 128), 136);
    assert.equal(ref.rowBytes('q4_0', 64), 36);
    assert.equal(ref.rowBytes('q4_k', 512), 288);
    assert.equal(ref.rowBytes('q5_k', 512), 352);
    assert.equal(ref.rowBytes('q6_k', 512), 420);
    assert.throws(() => k.matmul('q6_k', 0, 64, 128, 1, 160, 4), /multiple of the 256-element block/);
    assert.throws(() => k.matmulF32Act('q5_k', 0, 64, 128, 1, 160, 4), /multiple of the 256-element block/);
  });
});
