// A worker thread of WasmQuantizer: the kernels on the quantizer's shared memory, running the
// pieces of the quantize jobs it claims.
import { parentPort, workerData } from 'node:worker_threads';
import { Kernels } from '../../kernels/wasm.js';
import { serveJobs, type WorkerInit } from './pool.js';
import { quantizePiece, type QuantizeWorkerPayload } from './quantizer.js';

const init = workerData as WorkerInit;
try {
  const { module, memory, variant } = init.payload as QuantizeWorkerPayload;
  const k = new Kernels(module, memory, variant);
  parentPort!.postMessage({ ready: true });
  serveJobs(init, (_op, share, args, unit) => quantizePiece(k, args, init.shares, share, unit));
} catch (e) {
  parentPort!.postMessage({ error: (e as Error).message });
}
