// Quantizes f32 tensors into GGML block types with the wasm kernels, byte for byte as ggml's
// reference quantizers (and as src/formats/ggml-quants.ts), split by blocks across a pool of
// worker threads on one shared memory: what `pangu convert` runs. The K-quants' searched fits
// cost hundreds of operations per value, so this is where a conversion spends its time.
import * as os from 'node:os';
import { ggmlType, quantize as quantizeReference, type BlockDType } from '../../formats/ggml-quants.js';
import { Arena, compileKernelsSync, createSharedMemory, Kernels, KQUANT_SCRATCH_BYTES, type KernelVariant, type QuantWeightType, type WasmMemory, type WasmModule } from '../../kernels/wasm.js';
import { cut } from './ops.js';
import { ThreadPool, type Unit } from './pool.js';

/** Values per job: the f32 input region (16 MiB) and its output, reused for every job. */
const CHUNK_VALUES = 1 << 22;
/** Pieces of each thread's share, claimed dynamically so that a slower thread gives its rest away. */
const PIECES = 8;

export interface QuantizeWorkerPayload {
  module: WasmModule;
  memory: WasmMemory;
  variant: KernelVariant;
}

/** Argument slots of a job (the same in every share). */
const enum Arg { Type, Dst, Src, Blocks, BlockValues, BlockBytes, Scratch }
const TYPES: readonly QuantWeightType[] = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'];

/** Runs one piece of a quantize job: the blocks of (share, chunk) of the job's args. */
export function quantizePiece(k: Kernels, args: Float64Array, shares: number, share: number, unit: Unit): void {
  const blocks = args[Arg.Blocks]!, parts = shares * unit.chunks, part = share * unit.chunks + unit.chunk;
  const b0 = cut(blocks, parts, part), b1 = cut(blocks, parts, part + 1);
  if (b1 <= b0) return;
  const values = args[Arg.BlockValues]!, bytes = args[Arg.BlockBytes]!;
  k.quantize(TYPES[args[Arg.Type]!]!, args[Arg.Dst]! + b0 * bytes, args[Arg.Src]! + b0 * values * 4, (b1 - b0) * values,
    args[Arg.Scratch]! + unit.participant * KQUANT_SCRATCH_BYTES);
}

export class WasmQuantizer {
  private constructor(
    private readonly pool: ThreadPool, private readonly kernels: Kernels, private readonly memory: WasmMemory,
    private readonly src: number, private readonly dst: number, private readonly scratch: number,
  ) {}

  /** Starts `threads` threads (this one included). */
  static async start(threads = Math.max(1, os.availableParallelism())): Promise<WasmQuantizer> {
    const { module, variant } = compileKernelsSync();
    const memory = createSharedMemory(CHUNK_VALUES * 6 + threads * KQUANT_SCRATCH_BYTES + (1 << 20));
    const arena = new Arena(memory);
    const src = arena.alloc(CHUNK_VALUES * 4);
    const dst = arena.alloc((CHUNK_VALUES / 32) * 34); // the most bytes per value of the block types (Q8_0)
    const scratch = arena.alloc(threads * KQUANT_SCRATCH_BYTES);
    const payload: QuantizeWorkerPayload = { module, memory, variant };
    const pool = await ThreadPool.start(threads, new URL('./quantize-worker.js', import.meta.url), payload);
    return new WasmQuantizer(pool, new Kernels(module, memory, variant), memory, src, dst, scratch);
  }

  /** x (a whole number of blocks) as blocks of dtype. */
  quantize(dtype: BlockDType, x: Float32Array): Uint8Array {
    const type = dtype.toLowerCase() as QuantWeightType;
    if (!TYPES.includes(type)) return quantizeReference(dtype, x); // Q5_0: a plain rounding, no search to spread
    const { blockSize: blockValues, typeSize: blockBytes } = ggmlType(dtype);
    if (x.length % blockValues !== 0) throw new Error(`${dtype}: ${x.length} values are not a whole number of blocks of ${blockValues}`);
    const out = new Uint8Array((x.length / blockValues) * blockBytes);
    const shares = this.pool.shares;
    for (let v0 = 0; v0 < x.length; v0 += CHUNK_VALUES) {
      const n = Math.min(CHUNK_VALUES, x.length - v0);
      new Float32Array(this.memory.buffer, this.src, n).set(x.subarray(v0, v0 + n));
      for (let s = 0; s < shares; s++) {
        const a = this.pool.args(s);
        a[Arg.Type] = TYPES.indexOf(type); a[Arg.Dst] = this.dst; a[Arg.Src] = this.src; a[Arg.Blocks] = n / blockValues;
        a[Arg.BlockValues] = blockValues; a[Arg.BlockBytes] = blockBytes; a[Arg.Scratch] = this.scratch;
      }
      this.pool.run(0, (share, unit) => quantizePiece(this.kernels, this.pool.args(share), shares, share, unit), [PIECES]);
      out.set(new Uint8Array(this.memory.buffer, this.dst, (n / blockValues) * blockBytes), (v0 / blockValues) * blockBytes);
    }
    return out;
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
