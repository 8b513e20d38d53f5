import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Rng } from '../../src/engine/sampler.js';
import {
  decodeToFloat32, dequantizeQ4_0, dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, dequantizeQ8_0, ggmlType, ggmlTypeById,
  quantize, quantizeQ4_0, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K, quantizeQ8_0, tensorByteLength, type BlockDType,
} from '../../src/formats/ggml-quants.js';
import { FIXTURES } from '../helpers.js';

// Written by tools/gguf/quant_fixtures.py from llama.cpp's gguf-py and ggml's C *_ref functions.
const fixture = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'gguf', 'quants.json'), 'utf8')) as Record<string, string>;
const bytes = (key: string) => {
  assert.ok(fixture[key], `fixture has ${key}`);
  return new Uint8Array(Buffer.from(fixture[key]!, 'base64'));
};
const floats = (key: string) => {
  const b = bytes(key);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
};
const input = floats('input_f32');

test('GGML type table: ids, block sizes and bytes per block as in ggml.h', () => {
  const expect: [string, number, number, number][] = [
    ['F32', 0, 1, 4], ['F16', 1, 1, 2], ['Q4_0', 2, 32, 18], ['Q8_0', 8, 32, 34], ['Q4_K', 12, 256, 144],
    ['Q5_K', 13, 256, 176], ['Q6_K', 14, 256, 210], ['BF16', 30, 1, 2],
  ];
  for (const [name, id, bs, ts] of expect) {
    assert.deepEqual(ggmlType(name), { name, id, blockSize: bs, typeSize: ts });
    assert.equal(ggmlTypeById(id)!.name, name);
  }
  assert.equal(ggmlTypeById(4), undefined); // Q4_2: removed from ggml
  assert.equal(tensorByteLength('Q8_0', [3, 64]), 3 * 2 * 34);
  assert.equal(tensorByteLength('Q4_K', [2, 512]), 2 * 2 * 144);
  assert.equal(tensorByteLength('BF16', [5, 7]), 70);
  assert.throws(() => tensorByteLength('Q4_0', [2, 48]), /row of 48 values is not a whole number of Q4_0 blocks \(32 values each\)/);
});

test('Q8_0 and Q4_0 quantize byte for byte like gguf-py and ggml quantize_row_*_ref', () => {
  assert.deepEqual(quantizeQ8_0(input), bytes('q8_0_gguf_py'));
  assert.deepEqual(quantizeQ8_0(input), bytes('q8_0_ggml_ref'));
  assert.deepEqual(quantizeQ4_0(input), bytes('q4_0_gguf_py'));
  assert.deepEqual(quantizeQ4_0(input), bytes('q4_0_ggml_ref'));
});

test('Q4_K quantizes byte for byte like ggml quantize_row_q4_K_ref', () => {
  assert.deepEqual(quantizeQ4_K(input), bytes('q4_k_ggml_ref'));
});

test('Q5_K and Q6_K quantize byte for byte like ggml quantize_row_q5_K_ref / quantize_row_q6_K_ref', () => {
  assert.deepEqual(quantizeQ5_K(input), bytes('q5_k_ggml_ref'));
  assert.deepEqual(quantizeQ6_K(input), bytes('q6_k_ggml_ref'));
  assert.deepEqual(quantize('Q6_K', input), bytes('q6_k_ggml_ref'));
  // An all-zero super-block: all bytes zero (ggml memsets the block).
  assert.deepEqual(quantizeQ6_K(new Float32Array(256)), new Uint8Array(210));
});

test('dequantization equals gguf-py exactly', () => {
  assert.deepEqual(dequantizeQ8_0(bytes('q8_0_gguf_py')), floats('q8_0_dequant_gguf_py'));
  assert.deepEqual(dequantizeQ4_0(bytes('q4_0_gguf_py')), floats('q4_0_dequant_gguf_py'));
  assert.deepEqual(dequantizeQ4_K(bytes('q4_k_ggml_ref')), floats('q4_k_dequant_gguf_py'));
  assert.deepEqual(dequantizeQ5_K(bytes('q5_k_ggml_ref')), floats('q5_k_dequant_gguf_py'));
  assert.deepEqual(dequantizeQ6_K(bytes('q6_k_ggml_ref')), floats('q6_k_dequant_gguf_py'));
  assert.deepEqual(decodeToFloat32('Q6_K', bytes('q6_k_ggml_ref')), floats('q6_k_dequant_gguf_py'));
});

/** Largest |dequantized - x| over each block of `size`, divided by `scaleOf(block)`. */
function worstError(x: Float32Array, back: Float32Array, size: number, scaleOf: (b: Float32Array) => number): number {
  let worst = 0;
  for (let o = 0; o < x.length; o += size) {
    const s = scaleOf(x.subarray(o, o + size));
    let e = 0;
    for (let i = o; i < o + size; i++) e = Math.max(e, Math.abs(back[i]! - x[i]!));
    if (s > 0) worst = Math.max(worst, e / s);
    else assert.equal(e, 0, 'an all-zero block dequantizes to zeros');
  }
  return worst;
}
const amax = (b: Float32Array) => b.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const range = (b: Float32Array) => b.reduce((m, v) => Math.max(m, v), 0) - b.reduce((m, v) => Math.min(m, v), 0);

test('quantization error against float32 stays within the documented bounds', () => {
  const rng = new Rng(3);
  const x = new Float32Array(1 << 16);
  for (let i = 0; i < x.length; i++) {
    // Gaussian-ish weights with a spread of block magnitudes, plus exact zeros.
    const g = (rng.next() + rng.next() + rng.next() - 1.5) * 2;
    x[i] = i % 97 === 0 ? 0 : g * 10 ** (Math.floor(i / 8192) - 5); // 1e-5 .. 1e2
  }
  x.fill(0, 256, 512);
  // The f16 scale d errs by at most 2^-11 d, or 2^-25 absolute once subnormal (d < 2^-14).
  // Q8_0: |e| <= d/2 + 127 |d - f16(d)| with d = amax / 127.
  const q8 = worstError(x, decodeToFloat32('Q8_0', quantize('Q8_0', x)), 32,
    (b) => { const d = amax(b) / 127; return d / 2 + 127 * Math.max(d * 2 ** -11, 2 ** -25); });
  assert.ok(q8 <= 1, `Q8_0 error ${q8} of the bound`);
  // Q4_0: one 4-bit step d = amax / 8 at worst (the largest value of the other sign clamps at +7).
  const q4 = worstError(x, decodeToFloat32('Q4_0', quantize('Q4_0', x)), 32,
    (b) => { const d = amax(b) / 8; return d + 8 * Math.max(d * 2 ** -11, 2 ** -25); });
  assert.ok(q4 <= 1, `Q4_0 error ${q4} of the bound`);
  // Q5_0: likewise one 5-bit step d = amax / 16 (the other sign clamps at +15).
  const q5 = worstError(x, decodeToFloat32('Q5_0', quantize('Q5_0', x)), 32,
    (b) => { const d = amax(b) / 16; return d + 16 * Math.max(d * 2 ** -11, 2 ** -25); });
  assert.ok(q5 <= 1, `Q5_0 error ${q5} of the bound`);
  // Q4_K: no closed form (a searched fit). Measured below 0.047 of each super-block's range
  // (max(x, 0) - min(x, 0)) on 2^20 values of four distributions; the bound tested is one 4-bit
  // step, range / 15, plus the f16 floor of d * sc * q and dmin * m ((63 * 15 + 63) * 2^-25).
  const q4k = worstError(x, decodeToFloat32('Q4_K', quantize('Q4_K', x)), 256, (b) => range(b) / 15 + 1008 * 2 ** -25);
  assert.ok(q4k <= 1, `Q4_K error ${q4k} of the bound`);
  const normal = x.subarray(x.length / 2); // blocks of magnitude >= 1e-1: f16 scales are normal numbers
  const q4kNormal = worstError(normal, decodeToFloat32('Q4_K', quantize('Q4_K', normal)), 256, range);
  assert.ok(q4kNormal <= 0.05, `Q4_K error ${q4kNormal} of the range`);
  // Q5_K: as Q4_K with 5-bit levels: one step range / 31 plus the f16 floor ((63 * 31 + 63) * 2^-25).
  const q5k = worstError(x, decodeToFloat32('Q5_K', quantize('Q5_K', x)), 256, (b) => range(b) / 31 + 2016 * 2 ** -25);
  assert.ok(q5k <= 1, `Q5_K error ${q5k} of the bound`);
  const q5kNormal = worstError(normal, decodeToFloat32('Q5_K', quantize('Q5_K', normal)), 256, range);
  assert.ok(q5kNormal <= 0.025, `Q5_K error ${q5kNormal} of the range`);
  // Q6_K: symmetric levels -32..31 per 16 values, 8-bit scales relative to the super-block's
  // largest: at most one step of the largest scale, amax / 32 of the 256-block (plus the f16 floor).
  const q6k = worstError(x, decodeToFloat32('Q6_K', quantize('Q6_K', x)), 256, (b) => amax(b) / 32 + 128 * 32 * 2 ** -25);
  assert.ok(q6k <= 1, `Q6_K error ${q6k} of the bound`);
  const q6kNormal = worstError(normal, decodeToFloat32('Q6_K', quantize('Q6_K', normal)), 256, amax);
  assert.ok(q6kNormal <= 0.02, `Q6_K error ${q6kNormal} of the amax`); // measured 0.0162
});

test('quantizers refuse partial blocks and dequantizers partial byte blocks', () => {
  for (const t of ['Q8_0', 'Q4_0', 'Q5_0', 'Q4_K', 'Q5_K', 'Q6_K'] as BlockDType[]) {
    assert.throws(() => quantize(t, new Float32Array(16)), /not a whole number of blocks/);
    assert.throws(() => decodeToFloat32(t, new Uint8Array(7)), /not a whole number of \d+-byte blocks/);
  }
});
