// A worker thread of the CPU backend: instantiates the kernels on every participant's shared memory
// and runs the shares of the jobs the main thread posts that it claims (see ops.ts, pool.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { Kernels, type KernelVariant, type WasmMemory, type WasmModule } from '../../kernels/wasm.js';
import { jobContext, runOp } from './ops.js';
import { argViews, serveJobs, type WorkerInit } from './pool.js';

export interface CpuWorkerPayload {
  module: WasmModule;
  /** Every participant's memory: a worker may take over another participant's share. */
  memories: WasmMemory[];
  variant: KernelVariant;
}

const init = workerData as WorkerInit;
try {
  const { module, memories, variant } = init.payload as CpuWorkerPayload;
  const ctx = jobContext(memories.map((memory) => new Kernels(module, memory, variant)), argViews(init.shared, init.shares));
  parentPort!.postMessage({ ready: true });
  serveJobs(init, (op, share, _args, unit) => runOp(ctx, op, share, unit));
} catch (e) {
  parentPort!.postMessage({ error: (e as Error).message });
}
