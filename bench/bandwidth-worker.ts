// Worker of bandwidth.ts: runs the STREAM-like kernels on its share of the arrays.
import { parentPort, workerData } from 'node:worker_threads';
import { Kernels, type WasmMemory, type WasmModule, type KernelVariant } from '../src/kernels/wasm.js';
import { serveJobs, type WorkerInit } from '../src/backend/cpu/pool.js';
import { runBandwidthOp } from './bandwidth.js';

const init = workerData as WorkerInit;
const { module, memories, variant } = init.payload as { module: WasmModule; memories: WasmMemory[]; variant: KernelVariant };
const kernels = memories.map((m) => new Kernels(module, m, variant));
parentPort!.postMessage({ ready: true });
serveJobs(init, (op, share, args) => runBandwidthOp(kernels[share]!, op, args));
