// Single-thread matvec bandwidth of the wasm kernels: GB/s of weight bytes
// streamed per second, next to STREAM-like triad / read-only figures; then
// GFLOP/s of matmul with 16 activation rows.
//
//   npm run bench:kernels   (or: node dist/bench/kernels/matvec.js [--quick] [--cpu] [--variant simd|relaxed])
//
// --cpu times with process.cpuUsage() instead of the wall clock: on a machine
// shared with other work this removes the time the thread spent descheduled
// (it still counts cache and memory-bus contention).
//
// Each measurement cycles through enough copies of the weight matrix that the
// working set (>= 256 MiB) cannot sit in the last-level cache, so the figures
// are DRAM figures. Times are the best of several runs (this machine is shared;
// the best run is the least disturbed one).

import { Arena, compileKernels, createSharedMemory, Kernels, rowBytes, type KernelVariant, type WeightType } from '../../src/kernels/wasm.js';

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
function now(): number {
  if (!cpuClock) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Best seconds per call of f over REPEATS runs of at least MIN_MS each. */
function bestTime(f: () => void): number {
  for (let i = 0; i < 3; i++) f(); // warm up (tier-up to the optimizing compiler)
  let best = Infinity;
  for (let r = 0; r < REPEATS; r++) {
    let n = 0;
    const t0 = now();
    let t = 0;
    do {
      f();
      n++;
      t = now() - t0;
    } while (t < MIN_MS);
    best = Math.min(best, t / n / 1000);
  }
  return best;
}

/** Fills bytes with a deterministic pattern that keeps f16/bf16 scales finite. */
function fillWeights(type: WeightType, ptr: number, rows: number, inDim: number): void {
  const bytes = rowBytes(type, inDim) * rows;
  const u8 = arena.u8(ptr, bytes);
  let s = 12345;
  for (let i = 0; i < bytes; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    u8[i] = s >>> 24;
  }
  const setHalf = (o: number, h: number): void => {
    u8[o] = h & 0xff;
    u8[o + 1] = h >> 8;
  };
  const n = rows * inDim;
  if (type === 'f32') arena.f32(ptr, n).forEach((_, i, a) => (a[i] = ((i * 7919) % 1000) / 1000 - 0.5));
  else if (type === 'bf16' || type === 'f16') for (let i = 0; i < n; i++) setHalf(2 * i, type === 'bf16' ? 0x3c00 + (i % 97) : 0x2c00 + (i % 97));
  else if (type === 'q8_0') for (let b = 0; b < n / 32; b++) setHalf(b * 34, 0x2000);
  else if (type === 'q4_0') for (let b = 0; b < n / 32; b++) setHalf(b * 18, 0x2000);
  else for (let b = 0; b < n / 256; b++) {
    setHalf(b * 144, 0x2000);
    setHalf(b * 144 + 2, 0x2000);
  }
}

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
const types: WeightType[] = ['f32', 'bf16', 'f16', 'q8_0', 'q4_0', 'q4_k'];
for (const type of types) {
  for (const [rowsN, inDim] of shapes) {
    if (type === 'q4_k' && inDim % 256 !== 0) continue;
    const wBytes = rowBytes(type, inDim) * rowsN;
    const copies = Math.max(1, Math.ceil(WORKING_SET / wBytes));
    const ws: number[] = [];
    for (let i = 0; i < copies; i++) {
      const p = arena.alloc(wBytes);
      fillWeights(type, p, rowsN, inDim);
      ws.push(p);
    }
    const x = arena.alloc(inDim * 4);
    arena.f32(x, inDim).forEach((_, i, a) => (a[i] = Math.sin(i)));
    const out = arena.alloc(rowsN * 4);
    let xin = x;
    if (type.startsWith('q')) {
      xin = arena.alloc((inDim / 32) * 34);
      k.quantizeQ8_0(xin, x, inDim);
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
    fillWeights(type, w, rowsN, inDim);
    const x = arena.alloc(n * inDim * 4);
    arena.f32(x, n * inDim).forEach((_, i, a) => (a[i] = Math.sin(i)));
    const out = arena.alloc(n * rowsN * 4);
    let xin = x;
    if (type.startsWith('q')) {
      xin = arena.alloc((n * inDim / 32) * 34);
      k.quantizeQ8_0(xin, x, n * inDim);
    }
    const scratch = type === 'q8_0' || type === 'q4_0' ? arena.alloc(k.qmatmulScratchBytes(n, inDim)) : 0;
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
