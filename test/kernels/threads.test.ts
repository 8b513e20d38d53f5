// Two worker threads instantiate the same compiled module on the same
// shared memory and each computes half of the rows of a matmul / half of the
// heads of an attention call; the result must equal one single-threaded call.

import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Worker } from 'node:worker_threads';
import * as ref from '../../src/kernels/reference.js';
import { attentionScratchBytes, compileKernels, createSharedMemory, Arena, Kernels } from '../../src/kernels/wasm.js';
import { randn, rng } from './helpers.js';

// Worker body (eval'd, CommonJS): import the loader, build a Kernels on the
// posted module + memory, run the posted job, report back.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.wasmJs).then(({ Kernels }) => {
  const k = new Kernels(workerData.module, workerData.memory, workerData.variant);
  for (const job of workerData.jobs) {
    if (job.kind === 'matmul') k.matmul(job.type, job.out, job.x, job.w, job.n, job.inDim, job.rows, job.r0, job.r1);
    else k.attention(job.args);
  }
  parentPort.postMessage('done');
}).catch((e) => { throw e; });
`;

function runWorker(data: object): Promise<void> {
  return new Promise((resolve, reject) => {
    const w = new Worker(workerSource, { eval: true, workerData: data });
    w.once('message', () => resolve());
    w.once('error', reject);
  });
}

it('two workers sharing one memory produce the single-call result', async () => {
  const { module, variant } = await compileKernels();
  const memory = createSharedMemory(8 << 20);
  const arena = new Arena(memory);
  const k = new Kernels(module, memory, variant);
  const r = rng(71);
  const wasmJs = new URL('../../src/kernels/wasm.js', import.meta.url).href;

  // matmul q4_0 (matvec) and bf16 (n = 3)
  const inDim = 512, rows = 77;
  const x = randn(r, 3 * inDim);
  const xp = arena.put(x);
  const xq = arena.alloc((3 * inDim / 32) * 34);
  k.quantizeQ8_0(xq, xp, 3 * inDim);
  const wq = arena.put(ref.quantizeQ4_0(randn(r, rows * inDim, 0.05)));
  const wb = arena.put(ref.toBf16(randn(r, rows * inDim, 0.05)));
  const one = [arena.alloc(rows * 4), arena.alloc(3 * rows * 4)];
  const split = [arena.alloc(rows * 4), arena.alloc(3 * rows * 4)];
  k.matmul('q4_0', one[0]!, xq, wq, 1, inDim, rows);
  k.matmul('bf16', one[1]!, xp, wb, 3, inDim, rows);

  // attention: 8 query heads over 2 KV heads, head_dim 64, 37 cached positions
  const [n, p0, nHeads, nKv, headDim] = [2, 35, 8, 2, 64];
  const T = p0 + n;
  const q = arena.put(randn(r, n * nHeads * headDim));
  const kc = arena.put(randn(r, T * nKv * headDim));
  const vc = arena.put(randn(r, T * nKv * headDim));
  const att1 = arena.alloc(n * nHeads * headDim * 4);
  const att2 = arena.alloc(n * nHeads * headDim * 4);
  const base = { q, k: kc, v: vc, n, p0, nHeads, nKv, headDim };
  k.attention({ ...base, out: att1, scratch: arena.alloc(attentionScratchBytes(p0, n, nHeads)) });

  const half = (lo: boolean) => {
    const r0 = lo ? 0 : 38, r1 = lo ? 38 : rows;
    const h0 = lo ? 0 : 3, h1 = lo ? 3 : nHeads; // split inside a KV group
    return [
      { kind: 'matmul', type: 'q4_0', out: split[0], x: xq, w: wq, n: 1, inDim, rows, r0, r1 },
      { kind: 'matmul', type: 'bf16', out: split[1], x: xp, w: wb, n: 3, inDim, rows, r0, r1 },
      { kind: 'attention', args: { ...base, out: att2, h0, h1, scratch: arena.alloc(attentionScratchBytes(p0, n, h1 - h0)) } },
    ];
  };
  const jobs = [half(true), half(false)];
  await Promise.all(jobs.map((j) => runWorker({ wasmJs, module, memory, variant, jobs: j })));

  assert.deepEqual(arena.f32(split[0]!, rows), arena.f32(one[0]!, rows));
  assert.deepEqual(arena.f32(split[1]!, 3 * rows), arena.f32(one[1]!, 3 * rows));
  assert.deepEqual(arena.f32(att2, n * nHeads * headDim), arena.f32(att1, n * nHeads * headDim));
});
