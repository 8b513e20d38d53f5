// A worker thread of the training matmuls (gemm.ts): instantiates the kernels on the shared memory
// and computes its share of the output columns of each product the main thread posts.
import { parentPort, workerData } from 'node:worker_threads';
import { serveJobs, type WorkerInit } from '../backend/cpu/pool.js';
import { Kernels } from '../kernels/wasm.js';
import { OP_MATMUL, type GemmWorkerPayload } from './gemm.js';

const init = workerData as WorkerInit;
try {
  const { module, memory, variant } = init.payload as GemmWorkerPayload;
  const kernels = new Kernels(module, memory, variant);
  parentPort!.postMessage({ ready: true });
  serveJobs(init, (op, _share, a) => {
    if (op !== OP_MATMUL) throw new Error(`gemm worker: unknown op ${op}`);
    kernels.exports.matmul_f32(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!);
  });
} catch (e) {
  parentPort!.postMessage({ error: (e as Error).message });
}
