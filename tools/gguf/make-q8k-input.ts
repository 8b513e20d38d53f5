// Writes the f32 input of test/fixtures/gguf/kquant/q8k-ggml.bin (see the README there): 16 blocks
// of 256 values for ggml's Q8_K activation quantizer. Gaussian blocks at several scales, then the
// edge cases: all zero, a tie of |max| with either sign first, a lone value, subnormals, huge
// values, halves that round to even, and values a hair below and above the max.
//
//   node dist/tools/gguf/make-q8k-input.js OUT.f32
import * as fs from 'node:fs';
import { randn, rng } from '../../test/kernels/helpers.js';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: make-q8k-input OUT.f32\n');
  process.exit(2);
}
const r = rng(2026);
const blocks: Float32Array[] = [];
for (const scale of [1, 1e-3, 1e3, 0.02, 7, 1e-6, 1e6, 1]) blocks.push(randn(r, 256, scale));
const block = (f: (i: number) => number) => Float32Array.from({ length: 256 }, (_, i) => f(i));
blocks.push(block(() => 0));
blocks.push(block((i) => (i === 7 ? -3 : i === 9 ? 3 : Math.sin(i))));
blocks.push(block((i) => (i === 7 ? 3 : i === 9 ? -3 : Math.sin(i))));
blocks.push(block((i) => (i === 100 ? -0.25 : 0)));
blocks.push(block((i) => (i % 3 === 0 ? 1e-40 * (i - 128) : 0)));
blocks.push(block((i) => 1e30 * Math.cos(i)));
blocks.push(block((i) => (i === 0 ? 127 : (i % 2 ? 0.5 : -0.5) + (i % 5) - 2)));
blocks.push(block((i) => (i === 3 ? 1 : 1 - 2 ** -20 * (i % 7))));
const all = new Float32Array(blocks.length * 256);
blocks.forEach((b, i) => all.set(b, i * 256));
fs.writeFileSync(out, Buffer.from(all.buffer));
