// Single-thread Q8_0 / Q4_0 / K-quant integer-path figures: matmul GFLOP/s for n = 16
// and 64 activation rows (prompt processing) and matvec GB/s (n = 1, from
// DRAM), optionally next to another build of the kernels in the same run.
//
//   node dist/bench/kernels/qmatmul.js [--cpu] [--quick] [--variant simd|relaxed] [--base DIR]
//     [--types q8_0,q8_0_x4,q4_0,q4_0_x4,q5_0,q5_0_x4,q4_k,q4_k_x4,q5_k,q6_k] [--no-matvec] [--no-matmul] [--reps N] [--ms MS]
//     [--shapes ROWSxIN,...] [--n N,...]
//
// --base DIR also loads DIR/kernels-<variant>.wasm (e.g. a copy of an older
// build) and times it alternately with the current build, so that both see
// the same machine load. --cpu times with process.cpuUsage().

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bestTimes } from './timing.js';
import { weightCopies } from './weights.js';
import type { InterleavedType } from '../../src/kernels/interleave.js';
import { activationBytes, Arena, compileKernels, createSharedMemory, Kernels, rowBytes, wasmApi, type KernelVariant } from '../../src/kernels/wasm.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const cpuClock = args.includes('--cpu');
const vi = args.indexOf('--variant');
const variant = (vi >= 0 ? args[vi + 1] : 'auto') as KernelVariant | 'auto';
const bi = args.indexOf('--base');
const baseDir = bi >= 0 ? args[bi + 1] : undefined;

const opt = (name: string, d: number): number => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : d);
const MIN_MS = opt('--ms', quick ? 100 : 150);
const REPEATS = opt('--reps', quick ? 3 : 9);
const timed = (fs: (() => void)[]): number[] => bestTimes(fs, { repeats: REPEATS, minMs: MIN_MS, cpuClock });
const WORKING_SET = quick ? 96e6 : 192e6;
const ti = args.indexOf('--types');
const onlyTypes = ti >= 0 ? args[ti + 1]!.split(',') : undefined;
const skipMatvec = args.includes('--no-matvec');
const skipMatmul = args.includes('--no-matmul');
const si = args.indexOf('--shapes');
const shapes = (si >= 0 ? args[si + 1]! : '4096x4096,1280x1280').split(',').map((t) => t.split('x').map(Number) as [number, number]);
const ni = args.indexOf('--n');
const ns = (ni >= 0 ? args[ni + 1]! : '16,64').split(',').map(Number);

const { module, variant: chosen } = await compileKernels(variant);
const memory = createSharedMemory(64 << 20);
const builds: { name: string; k: Kernels }[] = [];
if (baseDir !== undefined) {
  const m = await wasmApi.compile(readFileSync(join(baseDir, `kernels-${chosen}.wasm`)));
  builds.push({ name: 'base', k: new Kernels(m, memory, chosen) });
}
builds.push({ name: 'new', k: new Kernels(module, memory, chosen) });
const arena = new Arena(memory);

type FileQType = 'q8_0' | 'q4_0' | 'q5_0' | 'q4_k' | 'q5_k' | 'q6_k';
type QType = FileQType | 'q8_0_x4' | 'q4_0_x4' | 'q5_0_x4' | 'q4_k_x4';
/** The file type an interleaved layout is made from. */
const FILE_OF: Partial<Record<QType, InterleavedType>> = { q8_0_x4: 'q8_0', q4_0_x4: 'q4_0', q5_0_x4: 'q5_0', q4_k_x4: 'q4_k' };

/** Weight copies of a type; the interleaved layouts (…_x4): their file type's bytes interleaved by the kernels. */
function copiesOf(type: QType, rows: number, inDim: number, workingSet: number): number[] {
  const file = FILE_OF[type];
  const ws = weightCopies(arena, file ?? (type as FileQType), rows, inDim, workingSet);
  if (file) {
    const k = builds[builds.length - 1]!.k;
    const tmp = arena.alloc(Kernels.interleaveTmpBytes(file, inDim));
    for (const w of ws) k.interleave(file, w, rows, inDim, tmp);
  }
  return ws;
}



const lines: string[] = [];
const head = builds.map((b) => b.name).join(' | ');
lines.push(`wasm kernels, variant ${chosen}, 1 thread, node ${process.version}, ${cpuClock ? 'CPU-time' : 'wall-clock'} best of ${REPEATS}`);
lines.push(`| kernel | shape | unit | ${head} |${builds.length > 1 ? ' new / base |' : ''}`);
lines.push(`| --- | --- | --- |${builds.map(() => ' ---: |').join('')}${builds.length > 1 ? ' ---: |' : ''}`);

function report(kernel: string, shape: string, unit: string, vals: number[]): void {
  const ratio = vals.length > 1 ? ` ${(vals[1]! / vals[0]!).toFixed(2)}x |` : '';
  const line = `| ${kernel} | ${shape} | ${unit} | ${vals.map((v) => v.toFixed(2)).join(' | ')} |${ratio}`;
  lines.push(line);
  console.error(line);
}

// The K-quants only when asked for (--types q4_k,q5_k,q6_k).
// (the interleaved layouts only on builds that have them)
const types = (['q8_0', 'q8_0_x4', 'q4_0', 'q4_0_x4', 'q5_0', 'q5_0_x4', 'q4_k', 'q4_k_x4', 'q5_k', 'q6_k'] as QType[])
  .filter((t) => (onlyTypes === undefined ? t === 'q8_0' || t === 'q4_0' : onlyTypes.includes(t)))
  .filter((t) => builds.every(({ k }) => `matmul_${t}` in k.exports));
for (const type of types) {
  // matvec from DRAM
  if (!skipMatvec) {
    const [rowsN, inDim] = [4096, 4096];
    const ws = copiesOf(type, rowsN, inDim, WORKING_SET);
    const copies = ws.length;
    const x = arena.alloc(inDim * 4);
    arena.f32(x, inDim).forEach((_, i, a) => (a[i] = Math.sin(i)));
    // activations as each build's kernels read them (a build from before Q8_K has no kquant_takes_q8_k: Q8_0)
    const readsQ8K = (k: Kernels) => type.includes('_k') && 'kquant_takes_q8_k' in k.exports && k.exports.kquant_takes_q8_k(1, 0) !== 0;
    const xin = builds.map(({ k }) => {
      const act = readsQ8K(k) ? 'q8_k' : 'q8_0';
      const at = arena.alloc(activationBytes(act, inDim));
      builds[builds.length - 1]!.k.quantizeActivations(act, at, x, inDim);
      return at;
    });
    const out = arena.alloc(rowsN * 4);
    const t = timed(builds.map(({ k }, b) => {
      let i = 0;
      return () => k.exports[`matmul_${type}`](out, xin[b]!, ws[i++ % copies]!, 1, inDim, rowsN, 0, rowsN, 0);
    }));
    report(`matvec ${type}`, `${rowsN}x${inDim}`, 'GB/s', t.map((s) => (rowBytes(type, inDim) * rowsN) / s / 1e9));
    arena.reset();
  }
  for (const [rowsN, inDim] of skipMatmul ? [] : shapes) {
    for (const n of ns) {
      const w = copiesOf(type, rowsN, inDim, 0)[0]!;
      const x = arena.alloc(n * inDim * 4);
      arena.f32(x, n * inDim).forEach((_, i, a) => (a[i] = Math.sin(i)));
      const xq = arena.alloc(((n * inDim) / 32) * 34);
      builds[0]!.k.quantizeQ8_0(xq, x, n * inDim);
      const out = arena.alloc(n * rowsN * 4);
      const k = builds[builds.length - 1]!.k;
      const scratch = arena.alloc(k.qmatmulScratchBytes(n, inDim));
      const t = timed(builds.map(({ k }) => () => k.exports[`matmul_${type}`](out, xq, w, n, inDim, rowsN, 0, rowsN, scratch)));
      report(`matmul ${type}`, `n=${n} ${rowsN}x${inDim}`, 'GFLOP/s', t.map((s) => (2 * n * inDim * rowsN) / s / 1e9));
      arena.reset();
    }
  }
}
console.log(lines.join('\n'));
