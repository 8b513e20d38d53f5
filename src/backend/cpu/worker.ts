// A worker thread of the CPU backend: instantiates the kernels on its own shared memory and runs
// the jobs the main thread posts (see ops.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { Kernels, type KernelVariant, type WasmMemory, type WasmModule } from '../../kernels/wasm.js';
import { runOp } from './ops.js';
import { serveJobs, type WorkerInit } from './pool.js';

export interface CpuWorkerPayload {
  module: WasmModule;
  memory: WasmMemory;
  variant: KernelVariant;
}

const init = workerData as WorkerInit;
try {
  const { module, memory, variant } = init.payload as CpuWorkerPayload;
  const kernels = new Kernels(module, memory, variant);
  parentPort!.postMessage({ ready: true });
  serveJobs(init, (op, args) => runOp(kernels, op, args));
} catch (e) {
  parentPort!.postMessage({ error: (e as Error).message });
}
