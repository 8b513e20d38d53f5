// Worker for pool.test.ts: op 1 adds args[1] of a share into slot `share` of a shared counter
// array; op 2 throws; op 3 records each chunk of a phased job (see phasedJob in pool.test.ts);
// op 4 counts each chunk's runs (countChunk).
import { workerData, parentPort } from 'node:worker_threads';
import { serveJobs, type WorkerInit } from '../../src/backend/cpu/pool.js';
import { countChunk, recordChunk } from './pool-chunks.js';

const init = workerData as WorkerInit;
const counters = new Float64Array(init.payload as SharedArrayBuffer);
parentPort!.postMessage({ ready: true });
serveJobs(init, (op, share, args, unit) => {
  if (op === 1) counters[share]! += args[1]!;
  if (op === 2) throw new Error(`bad job in share ${share}`);
  if (op === 3) recordChunk(init.payload as SharedArrayBuffer, init.shares, share, unit);
  if (op === 4) countChunk(init.payload as SharedArrayBuffer, init.shares, share, unit);
});
