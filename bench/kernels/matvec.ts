// Single-thread matvec bandwidth of the wasm kernels: GB/s of weight bytes
// streamed per second, next to STREAM-like triad / read-only figures; then
// GFLOP/s of matmul with 16 activation rows.
//
//   npm run bench:kernels   (or: node dist/bench/kernels/matvec.js [--quick] [--cpu] [--variant simd|relaxed]
//                            [--types q4_k,q5_k,q6_k])
//
// --cpu times with process.cpuUsage() instead of the wall clock: on a machine
// shared with other work this removes the time the thread spent descheduled
// (it still counts cache and memory-bus contention).
//
// Each measurement cycles through enough copies of the weight matrix that the
// working set (>= 256 MiB) cannot sit in the last-level cache, so the figures
// are DRAM figures. Times are the best of several runs (this machine is shared;
// the best run is the least disturbed one).

import { bestTimes } from './timing.js';
import { fillWeights, weightCopies } from './weights.js';

const bestTime = (f: () => void): number => bestTimes([f], { repeats: REPEATS, minMs: MIN_MS, cpuClock })[0]!;
import { activationBytes, activationType, Arena, compileKernels, createSharedMemory, Kernels, rowBytes, type KernelVariant, type QuantWeightType, type WeightType } from '../../src/kernels/wasm.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const cpuClock = args.includes('--cpu');
const vi = args.indexOf('--variant');
const variant = (vi >= 0 ? args[vi + 1] : 'auto') as KernelVariant | 'auto';

const WORKING_SET = quick ? 96e6 : 256e6;
const MIN_MS = quick ? 150 : 400;
const REPEATS = quick ? 3 : 7;

const { module, variant: chosen } = await compileKernels(variant);
const memory = createSharedMemory(64 << 20);
const k = new Kernels(module, memory, chosen);
const arena = new Arena(memory);

/** Milliseconds from the chosen clock. */

interface Row {
  kernel: string;
  shape: string;
  mb: number;
  ms: number;
  gbs: number;
}

const rows: Row[] = [];

// ---- STREAM-like references
{
  const n = 16 << 20; // 64 MiB per array
  const a = arena.alloc(n * 4), b = arena.alloc(n * 4), c = arena.alloc(n * 4);
  arena.f32(b, n).fill(1);
  arena.f32(c, n).fill(2);
  arena.f32(a, n).fill(0);
  const tt = bestTime(() => k.exports.stream_triad(a, b, c, 3, n));
  rows.push({ kernel: 'triad a=b+s*c', shape: `${n}`, mb: (12 * n) / 1e6, ms: tt * 1e3, gbs: (12 * n) / tt / 1e9 });
  const ts = bestTime(() => k.exports.stream_sum(b, n));
  rows.push({ kernel: 'read sum(b)', shape: `${n}`, mb: (4 * n) / 1e6, ms: ts * 1e3, gbs: (4 * n) / ts / 1e9 });
  arena.reset();
}

// ---- matvec per weight type and shape
const shapes: [number, number][] = [[4096, 4096], [5120, 1344], [1344, 5120]];
const ti = args.indexOf('--types');
const types: WeightType[] = ti >= 0 ? args[ti + 1]!.split(',') as WeightType[] : ['f32', 'bf16', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'];
for (const type of types) {
  for (const [rowsN, inDim] of shapes) {
    if (type.endsWith('_k') && inDim % 256 !== 0) continue;
    const wBytes = rowBytes(type, inDim) * rowsN;
    const ws = weightCopies(arena, type, rowsN, inDim, WORKING_SET);
    const copies = ws.length;
    const x = arena.alloc(inDim * 4);
    arena.f32(x, inDim).forEach((_, i, a) => (a[i] = Math.sin(i)));
    const out = arena.alloc(rowsN * 4);
    let xin = x;
    if (type.startsWith('q')) {
      const act = activationType(type as QuantWeightType, 1, false);
      xin = arena.alloc(activationBytes(act, inDim));
      k.quantizeActivations(act, xin, x, inDim);
    }
    let i = 0;
    const t = bestTime(() => k.matmul(type, out, xin, ws[i++ % copies]!, 1, inDim, rowsN));
    rows.push({ kernel: `matvec ${type}`, shape: `${rowsN}x${inDim}`, mb: wBytes / 1e6, ms: t * 1e3, gbs: wBytes / t / 1e9 });
    arena.reset();
  }
}

// ---- activation quantization (once per input vector, shared by all matrices reading it)
{
  const inDim = 4096;
  const x = arena.alloc(inDim * 4);
  arena.f32(x, inDim).forEach((_, i, a) => (a[i] = Math.sin(i)));
  const q = arena.alloc((inDim / 32) * 34);
  const t = bestTime(() => k.exports.quantize_q8_0(q, x, inDim));
  rows.push({ kernel: 'quantize_q8_0 x', shape: `${inDim}`, mb: (inDim * 4) / 1e6, ms: t * 1e3, gbs: (inDim * 4) / t / 1e9 });
  arena.reset();
}

// ---- matmul with n = 16 activation rows (prompt processing): GFLOP/s
const flops: { kernel: string; shape: string; ms: number; gflops: number }[] = [];
{
  const [rowsN, inDim, n] = [4096, 4096, 16];
  for (const type of types) {
    const wBytes = rowBytes(type, inDim) * rowsN;
    const w = arena.alloc(wBytes);
    fillWeights(arena, type, w, rowsN, inDim);
    const x = arena.alloc(n * inDim * 4);
    arena.f32(x, n * inDim).forEach((_, i, a) => (a[i] = Math.sin(i)));
    const out = arena.alloc(n * rowsN * 4);
    let xin = x;
    const scratch = type.startsWith('q') ? arena.alloc(k.qmatmulScratchBytes(n, inDim)) : 0;
    if (type.startsWith('q')) {
      const act = activationType(type as QuantWeightType, n, scratch !== 0);
      xin = arena.alloc(activationBytes(act, n * inDim));
      k.quantizeActivations(act, xin, x, n * inDim);
    }
    const t = bestTime(() => k.matmul(type, out, xin, w, n, inDim, rowsN, 0, rowsN, scratch));
    flops.push({ kernel: `matmul ${type}`, shape: `${n} x ${inDim} -> ${rowsN}`, ms: t * 1e3, gflops: (2 * n * inDim * rowsN) / t / 1e9 });
    arena.reset();
  }
}

console.log(`wasm kernels, variant ${chosen}, 1 thread, node ${process.version}, ${cpuClock ? 'CPU-time' : 'wall-clock'} best of ${REPEATS}${quick ? ' (quick)' : ''}`);
console.log('| kernel | shape (rows x in) | MB streamed | ms / call | GB/s |');
console.log('| --- | --- | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(`| ${r.kernel} | ${r.shape} | ${r.mb.toFixed(1)} | ${r.ms.toFixed(3)} | ${r.gbs.toFixed(2)} |`);
}
console.log('');
console.log('| kernel | n x in -> rows | ms / call | GFLOP/s |');
console.log('| --- | --- | ---: | ---: |');
for (const r of flops) console.log(`| ${r.kernel} | ${r.shape} | ${r.ms.toFixed(2)} | ${r.gflops.toFixed(1)} |`);
