// The fast CPU backend: WebAssembly SIMD kernels on worker threads.
//
// Weights are split into shards, each in its own WebAssembly memory (wasm32: at most 4 GiB each, so
// S shards hold up to S x 4 GiB), one shard per thread by default and more for larger models.
// Every operation has one share per shard; the threads (the main thread and the workers) claim the
// shares (see pool.ts). A shard holds its part of every weight:
//   - a Linear [out, in]: a contiguous range of its rows on every shard;
//   - a dense SwiGLU: a slice of the intermediate dimension on every shard (gate/up rows and
//     the matching down columns), whose partial outputs the main thread sums;
//   - an expert: whole, on the shard of its group (MoGE: groups spread evenly, so every
//     shard runs the same number of experts for every token);
//   - the KV cache: a range of kv heads on every shard, with their query heads' attention.
// Activations stay in main-thread Float32Arrays; inputs are copied into each shard's memory
// before a job and outputs gathered after it (a few KB per op when generating). When generating,
// a decoder layer runs as one job (decoderLayers), the residual stream kept in every shard's memory
// from layer to layer: the main thread posts a job per layer and little else.
import * as os from 'node:os';
import type { AttentionBlock, AttentionSegment, AttentionShape, AttentionTensors, Backend, Embedding, ExpertPlacement, FeedForwardBlock, HostTensor, KVStore, LayerBlock, Linear, MogeBlock, SwiGLU } from '../backend.js';
import { HostActivations } from '../host.js';
import { f32ToBf16, f32ToF16 } from '../../formats/dtype.js';
import { decodeToFloat32 } from '../../formats/ggml-quants.js';
import { FormatError } from '../../formats/safetensors.js';
import { Arena, attentionScratchBytes, compileKernels, createSharedMemory, Kernels, KV_TYPES, rowBytes, type KernelVariant, type KVType, type WasmMemory, type WasmModule, type WeightType } from '../../kernels/wasm.js';
import { AK_SLOT, chunkAlign, cut, DIR_WORDS, isQuantized, jobContext, LayerSlot, Op, PHASES_OF, q8kBytes, ROW_ALIGN, runOp, SCRATCH_BYTES_SLOT, SCRATCH_SLOT, SEGMENT_WORDS, TASK_WORDS, WEIGHT_TYPES, XK_SLOT, type JobContext } from './ops.js';
import { ThreadPool, type PoolStats, type Unit } from './pool.js';
import { blockBytes, blockOf, EncodeScratch, encodeBlockInto, TYPE_OF } from './weights.js';
import { interleavedRow, type InterleavedType } from '../../kernels/interleave.js';
import type { CpuWorkerPayload } from './worker.js';

export type QuantType = 'q8_0' | 'q4_0';

export interface CpuBackendOptions {
  /** Threads, the main thread included (default: the machine's available parallelism). */
  threads?: number;
  /** Weight shards, each in its own memory of at most 4 GiB (default: one per thread). */
  shards?: number;
  /** Quantize float matrices at load (the router stays in float). */
  quant?: QuantType;
  variant?: KernelVariant | 'auto';
  /** Run each attention block as one job per shard (default true; false: composed from the primitives). */
  fuseAttention?: boolean;
  /** Route MoGE layers inside the experts' job when generating (default true; false: the model routes). */
  fuseMoge?: boolean;
  /**
   * Run each decoder layer as one job when generating, the residual stream and the norms inside it
   * (default true, where the attention and the feed-forward are fused; false: a job per block).
   */
  fuseLayers?: boolean;
  /** Matrices up to this many bytes live whole on shard 0 and run on the main thread (default SMALL_MATRIX_BYTES). */
  smallMatrixBytes?: number;
  /**
   * Element type of the KV cache: f32 (default, exact), or f16 / bf16 (half the memory and the bytes
   * attention streams; f16 keeps 11 bits of mantissa and converts in 7 operations per 4 values,
   * bf16 keeps 8 and converts in one shift).
   */
  kvType?: KVType;
  /** Weight bytes per chunk of a generation step's matrix products (default CHUNK_BYTES; 0: one chunk per share, no stealing). */
  chunkBytes?: number;
  /**
   * Keep Q4_K, Q8_0, Q5_0 and Q4_0 matrices with their rows interleaved by four, q4_k_x4 / q8_0_x4
   * / q5_0_x4 / q4_0_x4 (default true): the matvec reads four rows per load
   * (src/kernels/assembly/matmul_x4.ts). false: as in the file.
   */
  interleave?: boolean;
}

interface Shard {
  index: number;
  arena: Arena;
  /** A kernel instance on this shard's memory, for the main thread's shares. */
  kernels: Kernels;
  /** Named I/O buffers: byte offset and size. */
  /** The region that an operation's inputs, outputs and scratch are cut from, afresh for each operation. */
  io: { ptr: number; bytes: number; used: number };
}

/** One shard's rows [r0, r1) of a matrix. */
interface RowShard { p: number; ptr: number; r0: number; r1: number }

interface CpuLinear extends Linear {
  type: WeightType;
  bias?: Float32Array;
  shards: RowShard[];
}

/** A shard's slice [i0, i1) of a SwiGLU's intermediate dimension (all of it for an expert). */
interface MlpSlice { p: number; i0: number; i1: number; gate: number; up: number; down: number }

interface CpuSwiGLU extends SwiGLU {
  type: WeightType;     // gate and up
  downType: WeightType;
  slices: MlpSlice[];   // one per shard for dense MLPs; one in all for an expert
}

interface KVPart { p: number; kv0: number; kv1: number; k: number; v: number }

/** A decoder layer taken whole (see decoderLayers): its blocks, and per shard its norms' weights and o_proj's bias (0: none) in that shard's memory. */
interface CpuLayerBlock extends LayerBlock {
  attention: CpuAttentionBlock;
  moge: CpuMogeBlock | null;
  mlp: CpuSwiGLU | null;
  vectors: { input: number; post: number; oBias: number }[];
  eps: number;
  /** The widest input of its matrices (for the matmul scratch). */
  widest: number;
  /** Its arguments as the last step of a new shape wrote them (see decoderLayers). */
  args: LayerArgs | null;
}

/** What decoderLayers wrote for a layer, to write again as it was for the next steps of that shape. */
interface LayerArgs {
  /** The step's shape: its rows, its segments, the positions the attention's scratch holds. */
  n: number;
  segments: number;
  positions: number;
  phases: number[];
  /** Per shard: its I/O region and how much of it the step cut (the pointers below point into it). */
  io: { ptr: number; used: number }[];
  /** Per shard: every argument slot. */
  args: Float64Array[];
  /** Weight bytes the setup counted. */
  bytes: number;
}

/** Per shard, the buffers [STEP_ROWS, hidden] of the decoder layers' residual stream (see ops.ts LayerSlot). */
interface LayerIO { hidden: number; shards: { x: number; h: number; f: number; t: number; t2: number }[]; sum: Float32Array }

/** An op's input: a host array that each shard gets a copy of, or where it already is in each shard's memory. */
type Input = Float32Array | readonly number[];

interface CpuKVStore extends KVStore {
  kvHeads: number;
  headDim: number;
  /** Element type of K and V. */
  kv: KVType;
  parts: KVPart[];
}

/** A shard's heads of an attention block: kv heads [kv0, kv1), their query heads' q/k/v rows and o_proj columns. */
interface AttentionPart {
  p: number; kv0: number; kv1: number;
  /** o_proj: columns of this part's heads, or (oRows) the output rows [o0, o1) over every head. */
  q: number; k: number; v: number; o: number; o0: number; o1: number;
  /** f32 bias slices in the shard's memory (0: none). */
  qBias: number; kBias: number; vBias: number;
  /** Weight bytes of this part, for the bandwidth counter. */
  bytes: number;
}

interface CpuAttentionBlock extends AttentionBlock {
  hidden: number;
  q: WeightType; k: WeightType; v: WeightType; o: WeightType;
  parts: AttentionPart[];
  /**
   * o_proj cut by output rows instead of by the parts' head columns: those columns do not fall on
   * o's block boundaries (e.g. 5 heads of 128 against Q4_K's 256). Each part then gathers every
   * part's attention output before its rows of o_proj.
   */
  oRows: boolean;
  oBias?: Float32Array;
}

/** A MoGE layer taken whole: shard p routes groups p, p + S, ... (whose experts it holds). */
interface CpuMogeBlock extends MogeBlock {
  hidden: number;
  gate: CpuLinear;
  /** router_scale in shard 0's memory. */
  scale: number;
  mlps: readonly CpuSwiGLU[];
  shared: CpuSwiGLU | null;
  /** Per shard: its directory of the experts it holds, then its slice of the shared expert (DIR_WORDS each). */
  dirs: number[];
  /** Per shard: its groups' picks per token. */
  picks: number[];
  /** The widest expert's intermediate size. */
  widest: number;
  /** Weight bytes of each expert, and of the shared expert's slices. */
  expertBytes: Float64Array;
  sharedBytes: number;
}

interface CpuEmbedding extends Embedding {
  dtype: HostTensor['dtype'];
  /** The table in JS; absent when it is tied to an output projection stored as is (rows in `tied`). */
  bytes?: Uint8Array;
  tied?: CpuLinear;
}

/** Bytes of a SwiGLU slice of `inter` intermediate units. */
function mlpBytes(m: CpuSwiGLU, inter: number): number {
  return 2 * rowBytes(m.type, m.hidden) * inter + rowBytes(m.downType, inter) * m.hidden;
}

/**
 * Matrices up to this size live whole on shard 0 and run on the main thread alone: a hand-off to
 * the spinning workers costs a few microseconds, about what streaming this many bytes does. (The
 * MoE router, 64 x 1280 bf16, 160 KB, is split: generation ran 1.04-1.08x faster in an A/B.)
 */
const SMALL_MATRIX_BYTES = 32 * 1024;

/** Bytes of `count` activations quantized to Q8_0 (34-byte blocks of 32, rounded up), with slack. */
function q8Bytes(count: number): number {
  return Math.ceil(count / 32) * 34 + 64;
}

/** The layout each type is interleaved into (rows by four at load: CpuBackendOptions.interleave), and back. */
const INTERLEAVED: Record<InterleavedType, WeightType> = { q4_k: 'q4_k_x4', q8_0: 'q8_0_x4', q5_0: 'q5_0_x4', q4_0: 'q4_0_x4' };
const INTERLEAVED_OF: Partial<Record<WeightType, InterleavedType>> = { q4_k_x4: 'q4_k', q8_0_x4: 'q8_0', q5_0_x4: 'q5_0', q4_0_x4: 'q4_0' };

/** [0, total) cut into `parts` contiguous ranges, boundaries on multiples of `align`. */
export function splitRange(total: number, parts: number, align = 1): [number, number][] {
  return Array.from({ length: parts }, (_, p): [number, number] => [cut(total, parts, p, align), cut(total, parts, p + 1, align)]);
}

/**
 * Weight bytes of one chunk of a generation step's matrix products. Chunks this small let a
 * thread that finishes early take over the rest of a slower one's share (on a shared machine the
 * threads stream at unequal speeds from one job to the next); the claim costs well under a
 * microsecond, the chunk about 20.
 */
const CHUNK_BYTES = 256 * 1024;
/** Chunks of a share in prompt processing: each chunk repacks the activations again, so fewer. */
const PROMPT_CHUNKS = 4;
/**
 * The most rows a generation step has (one token of each of a few sequences): up to this many,
 * matrix products are cut by bytes, MoGE routes inside the job and a decoder layer is one job.
 */
const STEP_ROWS = 4;
const MAX_CHUNKS = 64;

export class CpuBackend extends HostActivations implements Backend {
  readonly name: string;
  private readonly shards: Shard[];
  /** Bytes of weights the matmuls have streamed since the last reset (for bandwidth figures). */
  weightBytesRead = 0;
  /** Bytes of weights held: wasm memories plus embedding tables and small vectors in JS. */
  weightBytes = 0;
  /** Bytes of KV caches allocated. */
  kvBytes = 0;
  readonly quant: QuantType | undefined;

  /** 0 .. shards-1, for the ops whose every shard adds a partial output. */
  private readonly allShards: readonly number[];
  private readonly fuseAttention: boolean;
  private readonly fuseMoge: boolean;
  private readonly fuseLayers: boolean;
  /** The width of the layer blocks (0: none yet), and their residual buffers, made when first used. */
  private layerHidden = 0;
  private layerIO: LayerIO | null = null;
  private readonly smallMatrixBytes: number;
  private readonly chunkBytes: number;
  private readonly interleave: boolean;
  readonly kvType: KVType;
  /** Reusable buffers for converting weights as they are placed. */
  private readonly encodeScratch = new EncodeScratch();
  /** What this thread sees of a job: every shard's kernels and every share's arguments. */
  private readonly ctx: JobContext;
  /** Where in shard 0's memory each vector() lives. */
  private readonly vectorAt = new WeakMap<Float32Array, number>();
  /** A row of a tied embedding kept interleaved (q4_k_x4, ...), put back in order (grown as needed). */
  private embedRowBytes = new Uint8Array(0);
  /** Matrices placed as Linears, by tensor: a tied embedding then reads its rows from the shards. */
  private readonly placed = new WeakMap<HostTensor, CpuLinear>();

  private constructor(private readonly pool: ThreadPool, module: WasmModule, memories: WasmMemory[],
    readonly variant: KernelVariant, opts: CpuBackendOptions) {
    super();
    this.shards = memories.map((memory, index) => ({
      index, arena: new Arena(memory), kernels: new Kernels(module, memory, variant), io: { ptr: 0, bytes: 0, used: 0 },
    }));
    this.allShards = this.shards.map((p) => p.index);
    this.ctx = jobContext(this.shards.map((p) => p.kernels), this.shards.map((_, p) => pool.args(p)));
    this.quant = opts.quant;
    this.fuseAttention = opts.fuseAttention ?? true;
    this.fuseMoge = opts.fuseMoge ?? true;
    this.fuseLayers = opts.fuseLayers ?? true;
    this.smallMatrixBytes = opts.smallMatrixBytes ?? SMALL_MATRIX_BYTES;
    this.chunkBytes = opts.chunkBytes ?? CHUNK_BYTES;
    this.interleave = opts.interleave ?? true;
    this.kvType = opts.kvType ?? 'f32';
    this.name = `cpu (wasm ${variant}, ${pool.participants} threads${memories.length > pool.participants ? `, ${memories.length} shards` : ''}${this.quant ? `, ${this.quant}` : ''}${this.kvType !== 'f32' ? `, ${this.kvType} KV cache` : ''})`;
  }

  static async create(opts: CpuBackendOptions = {}): Promise<CpuBackend> {
    const threads = opts.threads ?? os.availableParallelism();
    const shards = opts.shards ?? threads;
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`threads must be an integer in [1, 256], got ${threads}`);
    if (!Number.isInteger(shards) || shards < threads || shards > 1024) throw new RangeError(`shards must be an integer in [threads, 1024], got ${shards}`);
    if (opts.chunkBytes !== undefined && !(Number.isFinite(opts.chunkBytes) && opts.chunkBytes >= 0)) throw new RangeError(`chunkBytes must be a number >= 0, got ${opts.chunkBytes}`);
    if (opts.kvType !== undefined && !KV_TYPES.includes(opts.kvType)) throw new RangeError(`kvType must be one of ${KV_TYPES.join(', ')}, got ${JSON.stringify(opts.kvType)}`);
    const { module, variant } = await compileKernels(opts.variant ?? 'auto');
    const memories = Array.from({ length: shards }, () => createSharedMemory(1 << 20));
    const payload: CpuWorkerPayload = { module, memories, variant };
    const pool = await ThreadPool.start(threads, new URL('./worker.js', import.meta.url), payload, shards);
    return new CpuBackend(pool, module, memories, variant, opts);
  }

  /** Shards a model of `weightBytes` needs with `threads` threads: a multiple of threads, each shard under 3.5 GiB. */
  static shardsFor(weightBytes: number, threads: number): number {
    return threads * Math.max(1, Math.ceil(weightBytes / (threads * 3.5 * 2 ** 30)));
  }

  get threads(): number {
    return this.pool.participants;
  }

  /** Jobs handed to the threads and the main thread's time waiting for them, since creation. */
  get poolStats(): Readonly<PoolStats> {
    return this.pool.stats;
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** Bytes of wasm memory in use in each shard. */
  memoryUse(): number[] {
    return this.shards.map((p) => p.arena.used);
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  // ------------------------------------------------------------------ weights

  /** The storage type of a matrix: its own, or the load-time quantization when it applies. */
  private storageType(t: HostTensor, inDim: number, quantize: boolean): WeightType {
    const own = TYPE_OF[t.dtype];
    if (quantize && this.quant && (own === 'f32' || own === 'bf16' || own === 'f16') && inDim % 32 === 0) return this.quant;
    if (own) return own;
    if (t.dtype === 'F64') return 'f32';
    throw new FormatError(t.name, `dtype ${t.dtype} is not supported by the cpu backend`);
  }

  /**
   * The layout a matrix of `type` is kept in when every block of it placed has whole groups of four
   * rows (each count of rows given, and each first row, a multiple of 4): Q4_K, Q8_0, Q5_0, Q4_0 interleaved.
   */
  private layout(type: WeightType, ...rowCounts: number[]): WeightType {
    if (!this.interleave || !rowCounts.every((n) => n % 4 === 0)) return type;
    return INTERLEAVED[type as InterleavedType] ?? type;
  }

  /**
   * Places rows [r0, r1), columns [c0, c1) of matrix t [rows, cols] as `type` in shard p's memory,
   * read (and converted or quantized) straight into it: no copy of the tensor is left behind.
   */
  private place(p: number, t: HostTensor, type: WeightType, r0: number, r1: number, c0: number, c1: number): number {
    const bytes = blockBytes(type, r0, r1, c0, c1);
    this.weightBytes += bytes;
    const arena = this.shards[p]!.arena;
    let ptr: number;
    try {
      ptr = arena.alloc(bytes);
    } catch (e) {
      throw new RangeError(`weight shard ${p} is full after ${(this.weightBytes / 2 ** 30).toFixed(2)} GiB of weights: ` +
        `each of the ${this.shards.length} shards holds at most 4 GiB; use more shards (${(e as Error).message})`);
    }
    const grouped = INTERLEAVED_OF[type];
    encodeBlockInto(t, grouped ?? type, r0, r1, c0, c1, arena.u8(ptr, bytes), this.encodeScratch);
    if (grouped) {
      // four rows' bytes of scratch, on top of the arena and given back at once
      const mark = arena.mark();
      this.shards[p]!.kernels.interleave(grouped, ptr, r1 - r0, c1 - c0, arena.alloc(Kernels.interleaveTmpBytes(grouped, c1 - c0)));
      arena.reset(mark);
    }
    return ptr;
  }

  /** Places a small float32 vector (a bias slice) in shard p's memory. */
  private placeFloats(p: number, values: Float32Array): number {
    this.weightBytes += values.byteLength;
    const ptr = this.shards[p]!.arena.alloc(values.byteLength);
    new Float32Array(this.shards[p]!.arena.memory.buffer, ptr, values.length).set(values);
    return ptr;
  }

  private matrixShape(t: HostTensor): [number, number] {
    if (t.shape.length !== 2) throw new FormatError(t.name, `expected a 2-D matrix, got shape ${JSON.stringify(t.shape)}`);
    return [t.shape[0]!, t.shape[1]!];
  }

  /** The storage type of a projection: small matrices with few outputs (the MoE router) stay in float, routing decisions are sensitive. */
  private projectionType(weight: HostTensor): WeightType {
    const [out, inDim] = this.matrixShape(weight);
    return this.storageType(weight, inDim, out > 256);
  }

  private linearOf(weight: HostTensor, bias: HostTensor | undefined, stored: WeightType): CpuLinear {
    const [out, inDim] = this.matrixShape(weight);
    const type = this.layout(stored, out);
    // A small matrix stays whole on shard 0 and runs on the main thread: cheaper than a hand-off.
    const ranges = rowBytes(type, inDim) * out <= this.smallMatrixBytes ? [[0, out] as const] : splitRange(out, this.shards.length, INTERLEAVED_OF[type] ? 4 : 1);
    const shards = ranges.map(([r0, r1], p) => ({ p, r0, r1, ptr: this.place(p, weight, type, r0, r1, 0, inDim) }));
    const lin: CpuLinear = { inFeatures: inDim, outFeatures: out, type, shards };
    if (bias) {
      if (bias.shape.length !== 1 || bias.shape[0] !== out) throw new FormatError(bias.name, `bias shape ${JSON.stringify(bias.shape)} does not match ${out} outputs`);
      lin.bias = decodeToFloat32(bias.dtype, bias.bytes);
    }
    this.placed.set(weight, lin);
    return lin;
  }

  linear(weight: HostTensor, bias?: HostTensor): Linear {
    return this.linearOf(weight, bias, this.projectionType(weight));
  }

  attentionBlock(t: AttentionTensors, shape: AttentionShape): AttentionBlock | null {
    if (!this.fuseAttention) return null;
    const { heads, kvHeads, headDim } = shape;
    const group = heads / kvHeads, hidden = t.q.shape[1]!;
    // every block placed below has a multiple of headDim rows (q, k, v, o by columns: hidden; o by rows: ROW_ALIGN)
    const types = {
      q: this.layout(this.projectionType(t.q), headDim, hidden), k: this.layout(this.projectionType(t.k), headDim, hidden),
      v: this.layout(this.projectionType(t.v), headDim, hidden), o: this.layout(this.projectionType(t.o), headDim, hidden),
    };
    const ranges = splitRange(kvHeads, this.shards.length);
    // o_proj is cut by columns (each shard's heads) when the cuts fall on its block boundaries,
    // else by output rows (every shard then needs all heads' outputs: each has some heads).
    const oRows = ranges.some(([kv0]) => (kv0 * group * headDim) % blockOf(types.o) !== 0);
    if (oRows && ranges.some(([kv0, kv1]) => kv1 === kv0)) return null;
    const oRanges = splitRange(hidden, this.shards.length, ROW_ALIGN);
    const width = heads * headDim;
    const bias = (p: number, b: HostTensor | undefined, r0: number, r1: number) =>
      b ? this.placeFloats(p, decodeToFloat32(b.dtype, b.bytes).subarray(r0, r1)) : 0;
    const parts = ranges.map(([kv0, kv1], p): AttentionPart => {
      const q0 = kv0 * group * headDim, q1 = kv1 * group * headDim, k0 = kv0 * headDim, k1 = kv1 * headDim;
      if (kv1 === kv0) return { p, kv0, kv1, q: 0, k: 0, v: 0, o: 0, o0: 0, o1: 0, qBias: 0, kBias: 0, vBias: 0, bytes: 0 };
      const [o0, o1] = oRows ? oRanges[p]! : [0, hidden];
      return {
        p, kv0, kv1,
        q: this.place(p, t.q, types.q, q0, q1, 0, hidden),
        k: this.place(p, t.k, types.k, k0, k1, 0, hidden),
        v: this.place(p, t.v, types.v, k0, k1, 0, hidden),
        o: oRows ? this.place(p, t.o, types.o, o0, o1, 0, width) : this.place(p, t.o, types.o, 0, hidden, q0, q1),
        o0, o1,
        qBias: bias(p, t.qBias, q0, q1), kBias: bias(p, t.kBias, k0, k1), vBias: bias(p, t.vBias, k0, k1),
        bytes: rowBytes(types.q, hidden) * (q1 - q0) + (rowBytes(types.k, hidden) + rowBytes(types.v, hidden)) * (k1 - k0) +
          (oRows ? rowBytes(types.o, width) * (o1 - o0) : rowBytes(types.o, q1 - q0) * hidden),
      };
    });
    const block: CpuAttentionBlock = { shape, hidden, ...types, parts, oRows };
    if (t.oBias) block.oBias = decodeToFloat32(t.oBias.dtype, t.oBias.bytes);
    return block;
  }

  /** A vector (a norm's weight, ...) lives in shard 0's memory, where rmsnorm runs; the array returned views it. */
  vector(t: HostTensor): Float32Array {
    const values = decodeToFloat32(t.dtype, t.bytes);
    const ptr = this.placeFloats(0, values);
    const view = this.f32(0, ptr, values.length);
    this.vectorAt.set(view, ptr);
    return view;
  }

  embedding(t: HostTensor): Embedding {
    const [vocab, dim] = this.matrixShape(t);
    const tied = this.placed.get(t);
    // Tied word embeddings whose output projection keeps the table's own type: one copy, in the shards.
    if (tied && (INTERLEAVED_OF[tied.type] ?? tied.type) === TYPE_OF[t.dtype]) {
      const e: CpuEmbedding = { vocab, dim, dtype: t.dtype, tied };
      return e;
    }
    const e: CpuEmbedding = { vocab, dim, dtype: t.dtype, bytes: t.bytes };
    this.weightBytes += t.bytes.byteLength;
    return e;
  }

  mlp(gate: HostTensor, up: HostTensor, down: HostTensor, placement?: ExpertPlacement): SwiGLU {
    const [inter, hidden] = this.matrixShape(gate);
    // gate / up blocks: [0, inter) or multiples of 32 rows; down: all `hidden` rows
    const type = this.layout(this.storageType(gate, hidden, true), inter);
    const downType = this.layout(this.storageType(down, inter, true), hidden);
    const ranges: [number, number][] = placement
      ? [[0, inter]]
      : splitRange(inter, this.shards.length, Math.max(blockOf(downType), 32));
    const owner = (i: number) => (placement ? placement.group % this.shards.length : i);
    const slices = ranges.map(([i0, i1], i): MlpSlice => {
      const p = owner(i);
      return {
        p, i0, i1,
        gate: this.place(p, gate, type, i0, i1, 0, hidden),
        up: this.place(p, up, type, i0, i1, 0, hidden),
        down: this.place(p, down, downType, 0, hidden, i0, i1),
      };
    });
    const m: CpuSwiGLU = { hidden, intermediate: inter, type, downType, slices };
    return m;
  }

  kvStore(maxSeq: number, kvHeads: number, headDim: number): KVStore {
    const parts = splitRange(kvHeads, this.shards.length).map(([kv0, kv1], p): KVPart => {
      const bytes = maxSeq * (kv1 - kv0) * headDim * (this.kvType === 'f32' ? 4 : 2);
      const arena = this.shards[p]!.arena;
      this.kvBytes += 2 * bytes;
      return { p, kv0, kv1, k: arena.alloc(bytes), v: arena.alloc(bytes) };
    });
    const store: CpuKVStore = { maxSeq, kvHeads, headDim, kv: this.kvType, parts };
    return store;
  }

  // ------------------------------------------------------------------ I/O between the main thread and the shards

  /** `bytes` in shard p's memory for the current operation (the name says what it holds). */
  private buf(p: number, name: string, bytes: number): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`I/O buffer ${name}: bad size ${bytes}`);
    const { arena, io } = this.shards[p]!;
    let at = (io.used + 63) & ~63;
    if (at + bytes > io.bytes) {
      // A larger region for this operation and the next ones: in place when nothing was allocated
      // after it (the usual case), else a new one, leaving the old one behind (what this
      // operation already cut from it stays valid; growth is geometric, so rare).
      const size = Math.max(2 * io.bytes, at + bytes + 4096, 1 << 16);
      if (!arena.extendLast(io.ptr, io.bytes, size)) {
        io.ptr = arena.alloc(size);
        at = 0;
      }
      io.bytes = size;
    }
    io.used = at + bytes;
    return io.ptr + at;
  }

  /** Starts an operation: its I/O buffers are cut from the start of each shard's I/O region again. */
  private beginOp(): void {
    for (const shard of this.shards) shard.io.used = 0;
  }

  private f32(p: number, ptr: number, count: number): Float32Array {
    return new Float32Array(this.shards[p]!.arena.memory.buffer, ptr, count);
  }

  /** Points every shard's scratch slots at a matmul scratch for each thread, big enough for n rows of inDim. */
  private scratchFor(n: number, inDim: number): void {
    const k = this.shards[0]!.kernels;
    const bytes = n > 1 ? (Math.max(k.qmatmulScratchBytes(n, Math.ceil(inDim / 32) * 32), k.floatMatmulScratchBytes(n, inDim)) + 15) & ~15 : 0;
    for (let p = 0; p < this.shards.length; p++) {
      const ptr = bytes > 0 ? this.buf(p, 'qscratch', bytes * this.pool.participants) : 0;
      // both blocks of arguments: a decoder layer's feed-forward runs on the second (same scratch, later phases)
      const a = this.ctx.args[p]!, f = this.ctx.ffn!.args[p]!;
      a[SCRATCH_SLOT] = f[SCRATCH_SLOT] = ptr;
      a[SCRATCH_BYTES_SLOT] = f[SCRATCH_BYTES_SLOT] = bytes;
    }
  }

  /**
   * Runs op's share of every shard, phase f cut into chunks[f] chunks per share (this thread takes
   * share 0, then whatever the workers have not claimed).
   */
  private run(op: Op, chunks: readonly number[] = this.oneChunk(op)): void {
    this.pool.run(op, (share, unit) => runOp(this.ctx, op, share, unit), chunks);
  }

  /** Runs op's share of shard 0 here, every phase in one chunk (small matrices: no hand-off). */
  private runHere(op: Op): void {
    const unit: Unit = { phase: 0, chunk: 0, chunks: 1, participant: 0 };
    for (; unit.phase < PHASES_OF[op]; unit.phase++) runOp(this.ctx, op, 0, unit);
  }

  private oneChunk(op: Op): number[] {
    return new Array<number>(PHASES_OF[op]).fill(1);
  }

  /** Chunks per share for a phase whose largest share streams `bytes` of weights over n rows. */
  private chunksFor(bytes: number, n: number): number {
    if (this.pool.participants === 1 || this.chunkBytes === 0) return 1;
    return n <= STEP_ROWS ? Math.min(MAX_CHUNKS, Math.max(1, Math.ceil(bytes / this.chunkBytes))) : PROMPT_CHUNKS;
  }

  // ------------------------------------------------------------------ operations

  embed(out: Float32Array, ids: ArrayLike<number>, table: Embedding): void {
    const { dtype, bytes, tied, dim, vocab } = table as CpuEmbedding;
    const rowBytesOf = bytes ? bytes.byteLength / vocab : rowBytes(tied!.type, dim);
    const grouped = tied && INTERLEAVED_OF[tied.type];
    if (grouped && this.embedRowBytes.length < rowBytesOf) this.embedRowBytes = new Uint8Array(rowBytesOf);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!(id >= 0 && id < vocab)) throw new RangeError(`token id ${id} is outside the vocabulary (0..${vocab - 1})`);
      let row: Uint8Array;
      if (bytes) row = bytes.subarray(id * rowBytesOf, (id + 1) * rowBytesOf);
      else {
        const s = tied!.shards.find((r) => id >= r.r0 && id < r.r1)!;
        const rows = this.shards[s.p]!.arena.u8(s.ptr, (s.r1 - s.r0) * rowBytesOf);
        if (grouped) interleavedRow(grouped, rows, id - s.r0, dim, (row = this.embedRowBytes.subarray(0, rowBytesOf)));
        else row = rows.subarray((id - s.r0) * rowBytesOf, (id - s.r0 + 1) * rowBytesOf);
      }
      out.set(decodeToFloat32(dtype, row), i * dim);
    }
  }

  matmul(out: Float32Array, x: Float32Array, n: number, w: Linear): void {
    this.project([out], x, n, [w]);
  }

  project(outs: readonly Float32Array[], x: Float32Array, n: number, ws: readonly Linear[]): void {
    this.beginOp();
    const lins = ws as readonly CpuLinear[];
    const inDim = lins[0]!.inFeatures;
    // Argument slot of each row shard: shard p lists the matrices it holds a part of.
    const slot = new Map<RowShard, number>();
    let mostBytes = 0;
    for (let p = 0; p < this.shards.length; p++) {
      const a = this.pool.args(p);
      let count = 0, bytes = 0;
      for (const lin of lins) {
        const s = lin.shards.find((r) => r.p === p);
        if (!s || s.r1 === s.r0) continue;
        bytes += rowBytes(lin.type, inDim) * (s.r1 - s.r0);
        if (8 + 4 * count >= AK_SLOT) throw new Error(`project: ${lins.length} matrices overrun the argument slots`);
        slot.set(s, count);
        a[5 + 4 * count] = WEIGHT_TYPES.indexOf(lin.type);
        a[6 + 4 * count] = s.ptr;
        a[7 + 4 * count] = s.r1 - s.r0;
        a[8 + 4 * count] = this.buf(p, `out${count}`, n * (s.r1 - s.r0) * 4);
        count++;
      }
      this.weightBytesRead += bytes;
      mostBytes = Math.max(mostBytes, bytes);
      a[4] = count;
      if (count === 0) continue;
      const xp = this.buf(p, 'x', n * inDim * 4);
      this.f32(p, xp, n * inDim).set(x.subarray(0, n * inDim));
      a[0] = n; a[1] = inDim; a[2] = xp; a[3] = this.buf(p, 'xq', q8Bytes(n * inDim));
      a[XK_SLOT] = this.buf(p, 'xk', q8kBytes(n * inDim));
    }
    this.scratchFor(n, inDim);
    if (lins.every((lin) => lin.shards.length === 1 && lin.shards[0]!.p === 0)) this.runHere(Op.Matmuls);
    else this.run(Op.Matmuls, [1, this.chunksFor(mostBytes, n)]);
    lins.forEach((lin, j) => {
      const out = outs[j]!, m = lin.outFeatures;
      for (const s of lin.shards) {
        const rows = s.r1 - s.r0;
        if (rows === 0) continue;
        const src = this.f32(s.p, this.pool.args(s.p)[8 + 4 * slot.get(s)!]!, n * rows);
        for (let i = 0; i < n; i++) out.set(src.subarray(i * rows, (i + 1) * rows), i * m + s.r0);
      }
      if (lin.bias) for (let i = 0; i < n; i++) for (let r = 0; r < m; r++) out[i * m + r]! += lin.bias[r]!;
    });
  }

  selfAttention(out: Float32Array, h: Float32Array, n: number, segments: readonly AttentionSegment[], block: AttentionBlock): void {
    this.beginOp();
    const b = block as CpuAttentionBlock, hidden = b.hidden;
    const { busy, chunks } = this.attentionArgs(this.ctx, h, n, segments, b);
    this.scratchFor(n, Math.max(hidden, b.shape.heads * b.shape.headDim));
    this.run(Op.SelfAttention, [1, chunks[0], 1, chunks[1]]);
    if (b.oRows) {
      for (const { p, o0, o1 } of b.parts) {
        const rows = o1 - o0, src = this.f32(p, this.pool.args(p)[25]!, n * rows);
        for (let i = 0; i < n; i++) out.set(src.subarray(i * rows, (i + 1) * rows), i * hidden + o0);
      }
    } else {
      this.sumPartials(out, n * hidden, busy, (p) => this.pool.args(p)[25]!);
    }
    if (b.oBias) for (let i = 0; i < n; i++) for (let c = 0; c < hidden; c++) out[i * hidden + c]! += b.oBias[c]!;
  }

  /**
   * Every shard's arguments of the SelfAttention op (see ops.ts selfAttention) in ctx, over the
   * input h: copied into each shard, or (an array of pointers) already there. Returns the shards
   * with heads, and the chunks of the q/k/v and o_proj phases.
   */
  private attentionArgs(ctx: JobContext, h: Input, n: number, segments: readonly AttentionSegment[], b: CpuAttentionBlock,
    positions?: number): { busy: number[]; chunks: [number, number] } {
    const { heads, kvHeads, headDim, ropeTheta } = b.shape;
    const group = heads / kvHeads, hidden = b.hidden;
    const busy: number[] = [];
    const kv = KV_TYPES.indexOf(segments.length > 0 ? (segments[0]!.kv as CpuKVStore).kv : 'f32');
    for (const part of b.parts) {
      const { p, kv0, kv1 } = part;
      const a = ctx.args[p]!;
      const hLocal = (kv1 - kv0) * group, qd = hLocal * headDim, kvd = (kv1 - kv0) * headDim;
      a[4] = hLocal;
      if (hLocal === 0) continue;
      busy.push(p);
      this.weightBytesRead += part.bytes;
      const tableP = this.buf(p, 'attn.segments', segments.length * SEGMENT_WORDS * 4);
      const longest = this.segmentTable(part, tableP, segments);
      a[0] = n; a[1] = hidden; a[2] = this.input(p, h, n * hidden); a[3] = this.buf(p, 'xq', q8Bytes(n * hidden));
      a[XK_SLOT] = this.buf(p, 'xk', q8kBytes(n * hidden));
      a[5] = kv1 - kv0; a[6] = headDim; a[7] = ropeTheta;
      a[8] = WEIGHT_TYPES.indexOf(b.q); a[9] = part.q; a[10] = part.qBias;
      a[11] = WEIGHT_TYPES.indexOf(b.k); a[12] = part.k; a[13] = part.kBias;
      a[14] = WEIGHT_TYPES.indexOf(b.v); a[15] = part.v; a[16] = part.vBias;
      a[17] = WEIGHT_TYPES.indexOf(b.o); a[18] = part.o;
      a[19] = this.buf(p, 'attn.q', n * qd * 4);
      a[20] = this.buf(p, 'attn.k', n * kvd * 4);
      a[21] = this.buf(p, 'attn.v', n * kvd * 4);
      // o_proj's input: this part's heads (y), or with oRows every part's heads (yAll, which the
      // parts fill in phase 2), quantized in yq / yk as o reads it
      const width = heads * headDim, oIn = b.oRows ? width : qd;
      a[22] = this.buf(p, 'attn.y', n * qd * 4);
      a[23] = this.buf(p, 'attn.yq', q8Bytes(n * oIn));
      a[AK_SLOT] = this.buf(p, 'attn.yk', q8kBytes(n * oIn));
      a[24] = this.buf(p, 'attn.scratch', attentionScratchBytes(positions ?? longest, 0, hLocal));
      a[25] = this.buf(p, 'attn.out', n * (b.oRows ? part.o1 - part.o0 : hidden) * 4);
      a[26] = segments.length; a[27] = tableP; a[28] = kv;
      a[29] = b.oRows ? 1 : 0; a[30] = width; a[31] = kv0 * group * headDim; a[33] = part.o1 - part.o0;
      a[32] = b.oRows ? this.buf(p, 'attn.yAll', n * width * 4) : 0;
    }
    // q/k/v and o_proj are cut into chunks by the bytes of the largest part (o_proj by rows: one
    // chunk per share, which first quantizes the gathered heads).
    let qkvBytes = 0, oBytes = 0;
    for (const part of b.parts) {
      const qd = (part.kv1 - part.kv0) * group * headDim;
      const o = b.oRows ? rowBytes(b.o, heads * headDim) * (part.o1 - part.o0) : rowBytes(b.o, qd) * hidden;
      oBytes = Math.max(oBytes, o);
      qkvBytes = Math.max(qkvBytes, part.bytes - o);
    }
    return { busy, chunks: [this.chunksFor(qkvBytes, n), b.oRows ? 1 : this.chunksFor(oBytes, n)] };
  }

  /**
   * The SelfAttention op's table of segments for a part with heads (SEGMENT_WORDS each: start, n,
   * pos0, its K and V cache in the part's shard) at tableP; returns the most positions any reaches.
   */
  private segmentTable(part: AttentionPart, tableP: number, segments: readonly AttentionSegment[]): number {
    const u32 = this.shards[part.p]!.kernels.views().u32;
    let longest = 0;
    segments.forEach(({ start, n: m, pos0, kv }, i) => {
      const cache = (kv as CpuKVStore).parts[part.p]!, at = tableP / 4 + i * SEGMENT_WORDS;
      if (cache.kv0 !== part.kv0 || cache.kv1 !== part.kv1) throw new Error('KV store and attention block split the kv heads differently');
      u32[at] = start; u32[at + 1] = m; u32[at + 2] = pos0; u32[at + 3] = cache.k; u32[at + 4] = cache.v;
      longest = Math.max(longest, pos0 + m);
    });
    return longest;
  }

  /** Shard p's copy of an input of `count` floats: the host array copied into its I/O region, or the pointer given for p. */
  private input(p: number, x: Input, count: number): number {
    if (!(x instanceof Float32Array)) return x[p]!;
    const ptr = this.buf(p, 'x', count * 4);
    this.f32(p, ptr, count).set(x.subarray(0, count));
    return ptr;
  }

  attention(out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, cache: KVStore,
    n: number, pos0: number, heads: number, kvHeads: number, headDim: number): void {
    this.beginOp();
    const store = cache as CpuKVStore;
    const group = heads / kvHeads;
    for (const part of store.parts) {
      const { p, kv0, kv1 } = part;
      const kvLocal = kv1 - kv0, hLocal = kvLocal * group;
      const a = this.pool.args(p);
      a[7] = hLocal;
      if (kvLocal === 0) continue;
      // K/V rows of this shard's heads go straight into its cache (as f16 / bf16 bits in such a
      // cache); its query heads into q.
      const mem = this.shards[p]!.arena.memory.buffer, len = store.maxSeq * kvLocal * headDim;
      const kc = store.kv === 'f32' ? new Float32Array(mem, part.k, len) : new Uint16Array(mem, part.k, len);
      const vc = store.kv === 'f32' ? new Float32Array(mem, part.v, len) : new Uint16Array(mem, part.v, len);
      const half = store.kv === 'bf16' ? f32ToBf16 : f32ToF16;
      const put = (cacheRows: Uint16Array | Float32Array, rows: Float32Array, at: number) => {
        if (cacheRows instanceof Float32Array) cacheRows.set(rows, at);
        else for (let j = 0; j < rows.length; j++) cacheRows[at + j] = half(rows[j]!);
      };
      const qp = this.buf(p, 'q', n * hLocal * headDim * 4);
      const ql = this.f32(p, qp, n * hLocal * headDim);
      for (let i = 0; i < n; i++) {
        const src = (i * kvHeads + kv0) * headDim, dst = (pos0 + i) * kvLocal * headDim;
        put(kc, k.subarray(src, src + kvLocal * headDim), dst);
        put(vc, v.subarray(src, src + kvLocal * headDim), dst);
        const qs = (i * heads + kv0 * group) * headDim;
        ql.set(q.subarray(qs, qs + hLocal * headDim), i * hLocal * headDim);
      }
      a[0] = this.buf(p, 'attn.out', n * hLocal * headDim * 4); a[1] = qp; a[2] = part.k; a[3] = part.v;
      a[4] = this.buf(p, 'attn.scratch', attentionScratchBytes(pos0, n, hLocal)); a[5] = n; a[6] = pos0;
      a[8] = kvLocal; a[9] = headDim; a[10] = 1 / Math.sqrt(headDim); a[11] = KV_TYPES.indexOf(store.kv);
    }
    for (let p = store.parts.length; p < this.shards.length; p++) this.pool.args(p)[7] = 0;
    this.run(Op.Attention);
    for (const { p, kv0, kv1 } of store.parts) {
      const hLocal = (kv1 - kv0) * group;
      if (hLocal === 0) continue;
      const src = this.f32(p, this.pool.args(p)[0]!, n * hLocal * headDim);
      for (let i = 0; i < n; i++) out.set(src.subarray(i * hLocal * headDim, (i + 1) * hLocal * headDim), (i * heads + kv0 * group) * headDim);
    }
  }

  swiglu(out: Float32Array, x: Float32Array, n: number, swiglu: SwiGLU): void {
    const m = swiglu as CpuSwiGLU;
    if (m.slices.length !== this.shards.length) {
      // A whole expert used on its own: route every token to it with weight 1.
      this.experts(out, x, n, [m], new Int32Array(n), new Float32Array(n).fill(1), 1, null);
      return;
    }
    this.beginOp();
    const chunks = this.swigluArgs(this.ctx, x, n, m, null);
    this.scratchFor(n, Math.max(m.hidden, m.intermediate));
    this.run(Op.SwiGLU, [1, ...chunks]);
    this.sumPartials(out, n * m.hidden, this.allShards, (p) => this.pool.args(p)[12]!);
  }

  /**
   * Every shard's arguments of the SwiGLU op (see ops.ts runOp) in ctx, over the input x (copied
   * into each shard, or pointers already there), each slice's partial output [n, hidden] into its
   * I/O region or at out[p]. Returns the chunks of the gate/up and down phases.
   */
  private swigluArgs(ctx: JobContext, x: Input, n: number, m: CpuSwiGLU, out: number[] | null): [number, number] {
    const hidden = m.hidden;
    for (const s of m.slices) {
      const a = ctx.args[s.p]!, inter = s.i1 - s.i0;
      this.weightBytesRead += mlpBytes(m, inter);
      a[0] = n; a[1] = hidden; a[2] = inter; a[3] = WEIGHT_TYPES.indexOf(m.type);
      a[4] = s.gate; a[5] = s.up; a[6] = s.down; a[7] = this.input(s.p, x, n * hidden);
      a[8] = this.buf(s.p, 'xq', q8Bytes(n * hidden));
      a[XK_SLOT] = this.buf(s.p, 'xk', q8kBytes(n * hidden));
      a[9] = this.buf(s.p, 'g', n * inter * 4 + 64);
      a[10] = this.buf(s.p, 'u', n * inter * 4 + 64);
      a[11] = this.buf(s.p, 'aq', q8Bytes(n * inter));
      a[AK_SLOT] = this.buf(s.p, 'ak', q8kBytes(n * inter));
      a[12] = out ? out[s.p]! : this.buf(s.p, 'mlp.out', n * hidden * 4);
      a[13] = WEIGHT_TYPES.indexOf(m.downType);
      a[14] = chunkAlign(m.downType, n, n > 1); // gate/up chunks cut the intermediate units on whole blocks of aq / ak (n > 1: a scratch)
    }
    const widest = Math.max(...m.slices.map((s) => s.i1 - s.i0));
    return [this.chunksFor(2 * rowBytes(m.type, hidden) * widest, n), this.chunksFor(rowBytes(m.downType, widest) * hidden, n)];
  }

  /**
   * out = Σ over the shards `from` of their partial outputs [count] at ptrOf(p) (zero if none),
   * added in that order by the SIMD kernel in the first one's memory (a JavaScript loop costs
   * ~3 ns an element here, a copy and the kernel a tenth of that).
   */
  private sumPartials(out: Float32Array, count: number, from: readonly number[], ptrOf: (p: number) => number): void {
    if (from.length === 0) {
      out.fill(0, 0, count);
      return;
    }
    const p0 = from[0]!, sum = ptrOf(p0);
    if (from.length > 1) {
      const other = this.buf(p0, 'partial', count * 4), add = this.shards[p0]!.kernels.exports.add;
      for (let i = 1; i < from.length; i++) {
        this.f32(p0, other, count).set(this.f32(from[i]!, ptrOf(from[i]!), count));
        add(sum, sum, other, count);
      }
    }
    out.set(this.f32(p0, sum, count));
  }

  /** RMSNorm by the SIMD kernel in shard 0's memory, in float64 as the host code computes it (kernels test). */
  override rmsnorm(out: Float32Array, x: Float32Array, n: number, weight: Float32Array, eps: number): void {
    const w = this.vectorAt.get(weight);
    if (w === undefined) {
      super.rmsnorm(out, x, n, weight, eps);
      return;
    }
    this.beginOp();
    const d = weight.length, xp = this.buf(0, 'x', n * d * 4), rows = this.f32(0, xp, n * d);
    rows.set(x.subarray(0, n * d));
    this.shards[0]!.kernels.exports.rmsnorm_f64(xp, xp, w, d, eps, 0, n);
    out.set(rows);
  }


  /**
   * Shard p's I/O of the Experts op (argument slots 0..15 and 28 of a, see ops.ts experts), cut
   * from its I/O region: x [n, hidden] (when there are tasks: see input()), the partial output
   * (at out[p] if given), a table for `tasks` tasks, tokens and weights for `rows` rows, ye of
   * `rows` rows; xe / xeq of `bufRows` rows and g / u / aq of `elems` elements, once (generation,
   * `chunked`: every task has its own rows in them) or once per thread (prompt processing: any
   * thread may run any task), a[28] bytes apart. The task and row counts (slots 5, 15) are left at
   * 0 for the caller.
   */
  private expertsIO(a: Float64Array, p: number, x: Input, n: number, hidden: number,
    size: { tasks: number; rows: number; bufRows: number; elems: number; chunked: boolean }, out: number[] | null): Float64Array {
    a[0] = n; a[1] = hidden; a[2] = size.tasks > 0 ? this.input(p, x, n * hidden) : 0;
    a[3] = out ? out[p]! : this.buf(p, 'moe.out', n * hidden * 4);
    a[4] = this.buf(p, 'moe.table', size.tasks * TASK_WORDS * 4 + 4); a[5] = 0;
    a[6] = this.buf(p, 'moe.tokens', size.rows * 4 + 4);
    a[7] = this.buf(p, 'moe.weights', size.rows * 4 + 4);
    a[13] = this.buf(p, 'moe.ye', size.rows * hidden * 4 + 64);
    a[14] = size.chunked ? 1 : 0; a[15] = 0;
    // One thread's xe, xeq, xek, g, u, aq, ak back to back (64-byte aligned), in one buffer that
    // holds every thread's.
    const slots = [8, 9, XK_SLOT, 10, 11, 12, AK_SLOT];
    const bytes = [size.bufRows * hidden * 4 + 64, q8Bytes(size.bufRows * hidden), q8kBytes(size.bufRows * hidden),
      size.elems * 4 + 64, size.elems * 4 + 64, q8Bytes(size.elems), q8kBytes(size.elems)];
    const at: number[] = [];
    let stride = 0;
    for (const b of bytes) { at.push(stride); stride += (b + 63) & ~63; }
    const threads = size.chunked ? 1 : this.pool.participants;
    const base = this.buf(p, 'moe.threads', stride * threads);
    slots.forEach((slot, i) => { a[slot] = base + at[i]!; });
    a[28] = threads > 1 ? stride : 0;
    return a;
  }

  mogeBlock(gate: Linear, routerScale: Float32Array, experts: readonly SwiGLU[], shared: SwiGLU | null, groups: number, k: number): MogeBlock | null {
    const mlps = experts as readonly CpuSwiGLU[], shards = this.shards.length, count = mlps.length, per = count / groups;
    const scale = this.vectorAt.get(routerScale);
    if (!this.fuseMoge || scale === undefined || !Number.isInteger(per) || k % groups !== 0 || routerScale.length !== count) return null;
    // Shard p must hold every expert of groups p, p + S, ...: then it routes those groups alone.
    if (mlps.some((m, e) => m.slices.length !== 1 || m.slices[0]!.p !== Math.floor(e / per) % shards)) return null;
    const sharedSlices = (shared as CpuSwiGLU | null)?.slices;
    if (sharedSlices && sharedSlices.length !== shards) return null;
    const dirs = this.shards.map((_, p) => {
      const ptr = this.shards[p]!.arena.alloc((count + 1) * DIR_WORDS * 4);
      const dir = new Uint32Array(this.shards[p]!.arena.memory.buffer, ptr, (count + 1) * DIR_WORDS);
      const entry = (d: number, m: CpuSwiGLU, sl: MlpSlice) =>
        dir.set([WEIGHT_TYPES.indexOf(m.type), sl.gate, sl.up, sl.down, sl.i1 - sl.i0, WEIGHT_TYPES.indexOf(m.downType)], d * DIR_WORDS);
      mlps.forEach((m, e) => { if (m.slices[0]!.p === p) entry(e, m, m.slices[0]!); });
      if (sharedSlices) entry(count, shared as CpuSwiGLU, sharedSlices.find((sl) => sl.p === p)!);
      return ptr;
    });
    const picks = this.shards.map((_, p) => Math.ceil((groups - p) / shards) * (k / groups));
    const widest = Math.max(...mlps.map((m) => m.intermediate));
    const expertBytes = Float64Array.from(mlps, (m) => mlpBytes(m, m.intermediate));
    const sharedBytes = (sharedSlices ?? []).reduce((sum, sl) => sum + mlpBytes(shared as CpuSwiGLU, sl.i1 - sl.i0), 0);
    const block: CpuMogeBlock = {
      experts: count, groups, k, hidden: mlps[0]!.hidden, gate: gate as CpuLinear, scale, mlps, shared: shared as CpuSwiGLU | null, dirs, picks, widest, expertBytes, sharedBytes,
    };
    return block;
  }

  /** Generation only (n <= STEP_ROWS): each shard routes its own groups inside the job (see ops.ts route), bit for bit what the model computes. */
  moge(out: Float32Array, x: Float32Array, n: number, block: MogeBlock): Int32Array | null {
    if (n > STEP_ROWS) return null;
    this.beginOp();
    const b = block as CpuMogeBlock;
    const chunks = this.mogeArgs(this.ctx, x, n, b, null);
    this.scratchFor(n, this.mogeWidest(b));
    this.run(Op.Moge, [1, 1, ...chunks, 1]);
    const ids = this.mogePicks(this.ctx, n, b);
    this.sumPartials(out, n * b.hidden, this.allShards, (p) => this.pool.args(p)[3]!);
    return ids;
  }

  /** The widest input of a MoGE layer's matrices (for the matmul scratch). */
  private mogeWidest(b: CpuMogeBlock): number {
    return Math.max(b.hidden, b.widest, ...(b.shared?.slices.map((sl) => sl.i1 - sl.i0) ?? []));
  }

  /**
   * Every shard's arguments of the Moge op (see ops.ts moge, route) in ctx, over the input x
   * (copied into each shard, or pointers already there), the partial outputs into the I/O regions
   * or at out[p]. Returns the chunks of the experts' gate/up and down phases.
   */
  private mogeArgs(ctx: JobContext, x: Input, n: number, b: CpuMogeBlock, out: number[] | null): [number, number] {
    const hidden = b.hidden, shards = this.shards.length, widest = b.widest;
    let upBytes = 0, downBytes = 0;
    for (let p = 0; p < shards; p++) {
      const a = ctx.args[p]!;
      const sharedSlice = b.shared?.slices.find((sl) => sl.p === p), sharedInter = sharedSlice ? sharedSlice.i1 - sharedSlice.i0 : 0;
      const picks = n * b.picks[p]!, rows = picks + (sharedInter > 0 ? n : 0), elems = picks * widest + n * sharedInter;
      // 0..15: the Experts op's; the routing phase fills in the tasks and rows (xeq also takes x when the router is quantized)
      this.expertsIO(a, p, x, n, hidden, { tasks: Math.min(picks, b.experts) + 1, rows, bufRows: Math.max(rows, n), elems, chunked: true }, out);
      // 16..27: routing (see ops.ts route)
      const router = b.gate.shards.find((r) => r.p === p && r.r1 > r.r0);
      const routerRows = router ? router.r1 - router.r0 : 0;
      a[16] = b.experts; a[17] = b.groups; a[18] = b.k; a[19] = shards;
      a[20] = WEIGHT_TYPES.indexOf(b.gate.type); a[21] = router?.ptr ?? 0; a[22] = routerRows;
      a[23] = this.buf(p, 'moe.logits', n * routerRows * 4 + 4); a[24] = b.scale; a[25] = b.dirs[p]!;
      a[26] = this.buf(p, 'moe.picks', picks * 4 + 4); a[27] = router?.r0 ?? 0;
      this.weightBytesRead += rowBytes(b.gate.type, hidden) * routerRows;
      // The chunks, as if every pick were a different expert of the widest (they only need to be about right).
      const m = b.mlps[0]!, sh = b.shared;
      upBytes = Math.max(upBytes, picks * 2 * rowBytes(m.type, hidden) * widest + (sh && sharedInter > 0 ? 2 * rowBytes(sh.type, hidden) * sharedInter : 0));
      downBytes = Math.max(downBytes, picks * rowBytes(m.downType, widest) * hidden + (sh && sharedInter > 0 ? rowBytes(sh.downType, sharedInter) * hidden : 0));
    }
    return [this.chunksFor(upBytes, n), this.chunksFor(downBytes, n)];
  }

  /** After a Moge job: the picks [n, k] in the router's order, group by group, each from the shard that routed it; counts the experts' bytes read. */
  private mogePicks(ctx: JobContext, n: number, b: CpuMogeBlock): Int32Array {
    const shards = this.shards.length, per = b.experts / b.groups, pick = b.k / b.groups;
    const ids = new Int32Array(n * b.k), used = new Uint8Array(b.experts);
    for (let g = 0; g < b.groups; g++) {
      const q = g % shards, lg = (g - q) / shards, picksHere = b.picks[q]!;
      const src = this.shards[q]!.kernels.views().i32, at = ctx.args[q]![26]! / 4;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < pick; j++) {
          const id = src[at + i * picksHere + lg * pick + j]!;
          ids[i * b.k + g * pick + j] = id;
          if (id < g * per || id >= (g + 1) * per) throw new Error(`moge: shard ${q} picked expert ${id} for group ${g}`);
          used[id] = 1;
        }
      }
    }
    for (let e = 0; e < b.experts; e++) if (used[e]) this.weightBytesRead += b.expertBytes[e]!;
    this.weightBytesRead += b.sharedBytes;
    return ids;
  }

  layerBlock(inputNorm: Float32Array, attention: AttentionBlock, postNorm: Float32Array, ffn: FeedForwardBlock, eps: number): LayerBlock | null {
    const b = attention as CpuAttentionBlock, hidden = b.hidden;
    const moge = ffn.kind === 'moge' ? ffn.block as CpuMogeBlock : null, mlp = ffn.kind === 'swiglu' ? ffn.mlp as CpuSwiGLU : null;
    const input = this.vectorAt.get(inputNorm), post = this.vectorAt.get(postNorm);
    if (!this.fuseLayers || input === undefined || post === undefined || inputNorm.length !== hidden || postNorm.length !== hidden) return null;
    // a dense SwiGLU sliced across every shard, or a MoGE block, of the attention's width
    if (mlp && (mlp.slices.length !== this.shards.length || mlp.hidden !== hidden)) return null;
    if (moge && moge.hidden !== hidden) return null;
    if (this.layerHidden !== 0 && this.layerHidden !== hidden) return null;
    this.layerHidden = hidden;
    // The norms (in shard 0's memory already) and o_proj's bias, in every shard's memory.
    const vectors = this.shards.map((_, p) => ({
      input: p === 0 ? input : this.placeFloats(p, inputNorm),
      post: p === 0 ? post : this.placeFloats(p, postNorm),
      oBias: b.oBias ? this.placeFloats(p, b.oBias) : 0,
    }));
    const ffnWidest = moge ? this.mogeWidest(moge) : mlp!.intermediate;
    const block: CpuLayerBlock = { hidden, attention: b, moge, mlp, vectors, eps, widest: Math.max(hidden, b.shape.heads * b.shape.headDim, ffnWidest), args: null };
    return block;
  }

  /**
   * Generation (n <= STEP_ROWS): one job per layer (ops.ts decoderLayer), x kept in every shard's memory
   * from one layer to the next; the composed layers' arithmetic in their order, so the same bits.
   */
  decoderLayers(x: Float32Array, n: number, segments: readonly (readonly AttentionSegment[])[], layers: readonly LayerBlock[]): (Int32Array | null)[] | null {
    if (n > STEP_ROWS || this.layerHidden === 0 || layers.length === 0) return null;
    const io = this.layerIO ??= this.residualBuffers(this.layerHidden);
    const hidden = io.hidden, count = n * hidden, shards = this.shards.length;
    for (let p = 0; p < shards; p++) this.f32(p, io.shards[p]!.x, count).set(x.subarray(0, count));
    const ids = (layers as readonly CpuLayerBlock[]).map((layer, i) => {
      this.beginOp();
      const segs = segments[i]!;
      let longest = 0;
      for (const g of segs) longest = Math.max(longest, g.pos0 + g.n);
      // The attention's scratch for a power of two of positions: a step's arguments are then those
      // of the step before (but for the segments' table) until the next power of two. Written
      // again from what the setup wrote the first time: the setup's code and data are out of the
      // cache after a job has streamed the weights, and cost ~3x more than the job's hand-off.
      const positions = Math.max(64, 2 ** Math.ceil(Math.log2(longest)));
      let c = layer.args;
      if (c && c.n === n && c.segments === segs.length && c.positions === positions && c.io.every((r, p) => this.shards[p]!.io.ptr === r.ptr)) {
        for (let p = 0; p < shards; p++) {
          this.ctx.args[p]!.set(c.args[p]!);
          this.shards[p]!.io.used = c.io[p]!.used;
        }
        for (const part of layer.attention.parts) if (part.kv1 > part.kv0) this.segmentTable(part, this.ctx.args[part.p]![27]!, segs);
        this.weightBytesRead += c.bytes;
      } else {
        layer.args = c = this.layerArgs(layer, i, n, segs, positions);
      }
      this.run(Op.DecoderLayer, c.phases);
      return layer.moge ? this.mogePicks(this.ctx.ffn!, n, layer.moge) : null;
    });
    // x = X + Σ F, as the composed model adds the last feed-forward's output
    this.sumPartials(io.sum, count, this.allShards, (p) => io.shards[p]!.f);
    x.set(this.f32(0, io.shards[0]!.x, count));
    for (let i = 0; i < count; i++) x[i]! += io.sum[i]!;
    return ids;
  }

  /** The decoder layers' residual stream buffers, [STEP_ROWS, hidden] each, in every shard. */
  private residualBuffers(hidden: number): LayerIO {
    return {
      hidden, sum: new Float32Array(STEP_ROWS * hidden),
      shards: this.shards.map(({ arena }) => {
        const [x, h, f, t, t2] = Array.from({ length: 5 }, () => arena.alloc(STEP_ROWS * hidden * 4));
        return { x: x!, h: h!, f: f!, t: t!, t2: t2! };
      }),
    };
  }

  /** Writes layer i's arguments (both blocks, every shard; see ops.ts decoderLayer) for a step of n rows, and keeps a copy. */
  private layerArgs(layer: CpuLayerBlock, i: number, n: number, segments: readonly AttentionSegment[], positions: number): LayerArgs {
    const io = this.layerIO!, hidden = io.hidden, b = layer.attention, ffn = this.ctx.ffn!, shards = this.shards.length;
    const bytes0 = this.weightBytesRead;
    const hs = io.shards.map((s) => s.h), fs = io.shards.map((s) => s.f);
    const [qkv, o] = this.attentionArgs(this.ctx, hs, n, segments, b, positions).chunks;
    for (let p = 0; p < shards; p++) {
      const a = this.ctx.args[p]!, s = io.shards[p]!, v = layer.vectors[p]!;
      a[0] = n; a[1] = hidden; a[29] = b.oRows ? 1 : 0; // (attentionArgs sets them for the shards with heads only)
      a[LayerSlot.X] = s.x; a[LayerSlot.H] = s.h; a[LayerSlot.F] = s.f; a[LayerSlot.T] = s.t; a[LayerSlot.T2] = s.t2;
      a[LayerSlot.InputNorm] = v.input; a[LayerSlot.PostNorm] = v.post; a[LayerSlot.Eps] = layer.eps;
      a[LayerSlot.AddPrevious] = i > 0 ? 1 : 0; a[LayerSlot.Ffn] = layer.moge ? Op.Moge : Op.SwiGLU;
      a[LayerSlot.OBias] = v.oBias; a[LayerSlot.O0] = b.parts[p]!.o0;
    }
    const [up, down] = layer.moge ? this.mogeArgs(ffn, hs, n, layer.moge, fs) : this.swigluArgs(ffn, hs, n, layer.mlp!, fs);
    this.scratchFor(n, layer.widest);
    return {
      n, segments: segments.length, positions, phases: layer.moge ? [1, qkv, 1, o, 1, 1, up, down, 1] : [1, qkv, 1, o, 1, up, down],
      io: this.shards.map((s) => ({ ptr: s.io.ptr, used: s.io.used })),
      args: this.ctx.args.map((a) => a.slice()),
      bytes: this.weightBytesRead - bytes0,
    };
  }

  experts(out: Float32Array, x: Float32Array, n: number, experts: readonly SwiGLU[],
    expertIds: Int32Array, weights: Float32Array, k: number, shared?: SwiGLU | null): void {
    this.beginOp();
    const all = experts as readonly CpuSwiGLU[];
    const hidden = all[0]!.hidden, picks = n * k, shards = this.shards.length;
    const sharedSlices = shared ? (shared as CpuSwiGLU).slices.filter((sl) => sl.i1 > sl.i0) : [];
    // The picks (indices into expertIds / weights) grouped by expert, in token order: a counting
    // sort. first[e] .. first[e + 1] are expert e's picks in `order`; each expert runs once over them.
    const first = new Int32Array(all.length + 1), order = new Int32Array(picks), at = new Int32Array(all.length);
    for (let i = 0; i < picks; i++) first[expertIds[i]! + 1]!++;
    for (let e = 0; e < all.length; e++) { first[e + 1]! += first[e]!; at[e] = first[e]!; }
    for (let i = 0; i < picks; i++) order[at[expertIds[i]!]!++] = i;
    // Per shard: its experts that have tokens (a task each, by expert id), then its slice of the
    // shared expert over every token (partial outputs add up across shards like the experts' do).
    // Generation: every task has its own buffers and the experts' products are cut into chunks;
    // prompt processing: any thread runs any task whole, in buffers of its own sized for the
    // largest, so a task of many rows (the shared expert's: every token) is cut into pieces of at
    // most `pieceRows` rows, consecutive tasks over consecutive rows, claimed largest first.
    const chunked = n <= STEP_ROWS && this.pool.participants > 1 && this.chunkBytes > 0;
    // (the pieces do not depend on the thread count, so neither do the bits)
    const pieceRows = chunked ? Infinity : Math.max(32, Math.ceil(n / 4));
    const tasks = new Int32Array(shards), rows = new Int32Array(shards), most = new Int32Array(shards), widest = new Int32Array(shards);
    // Elements of g / u, and weight bytes of gate/up and of down, of every shard's tasks (for chunks).
    const elems = new Int32Array(shards), upBytes = new Float64Array(shards), downBytes = new Float64Array(shards);
    const count = (m: CpuSwiGLU, p: number, c: number, inter: number) => {
      tasks[p]! += chunked ? 1 : Math.ceil(c / pieceRows); rows[p]! += c; most[p] = Math.max(most[p]!, Math.min(c, pieceRows)); widest[p] = Math.max(widest[p]!, inter);
      elems[p]! += c * inter; upBytes[p]! += 2 * rowBytes(m.type, hidden) * inter; downBytes[p]! += rowBytes(m.downType, inter) * hidden;
    };
    for (let e = 0; e < all.length; e++) if (first[e + 1]! > first[e]!) count(all[e]!, all[e]!.slices[0]!.p, first[e + 1]! - first[e]!, all[e]!.intermediate);
    for (const sl of sharedSlices) count(shared as CpuSwiGLU, sl.p, n, sl.i1 - sl.i0);
    const tables: Uint32Array[] = [], tokens: Uint32Array[] = [], wts: Float32Array[] = [], claims: Uint32Array[] = [];
    for (let p = 0; p < shards; p++) {
      const a = this.expertsIO(this.pool.args(p), p, x, n, hidden,
        { tasks: tasks[p]!, rows: rows[p]!, bufRows: chunked ? rows[p]! : most[p]!, elems: chunked ? elems[p]! : most[p]! * widest[p]!, chunked }, null);
      a[5] = tasks[p]!;
      a[15] = rows[p]!;
      a[29] = chunked ? 0 : this.buf(p, 'moe.claims', tasks[p]! * 4 + 4);
      const mem = this.shards[p]!.arena.memory.buffer; // after the last buf(): the memory may have grown
      tables.push(new Uint32Array(mem, a[4]!, tasks[p]! * TASK_WORDS));
      tokens.push(new Uint32Array(mem, a[6]!, rows[p]!));
      wts.push(new Float32Array(mem, a[7]!, rows[p]!));
      claims.push(chunked ? new Uint32Array(0) : new Uint32Array(mem, a[29]!, tasks[p]!));
    }
    // Fill the tables (see TASK_WORDS).
    tasks.fill(0); rows.fill(0); elems.fill(0);
    const task = (m: CpuSwiGLU, sl: MlpSlice, c: number): number => {
      const p = sl.p, inter = sl.i1 - sl.i0, row = rows[p]!;
      this.weightBytesRead += mlpBytes(m, inter);
      for (let r0 = 0; r0 < c; r0 += pieceRows) {
        const piece = Math.min(pieceRows, c - r0);
        tables[p]!.set([WEIGHT_TYPES.indexOf(m.type), sl.gate, sl.up, sl.down, inter, piece, row + r0, WEIGHT_TYPES.indexOf(m.downType), elems[p]!],
          tasks[p]!++ * TASK_WORDS);
        elems[p]! += piece * inter;
      }
      rows[p]! += c;
      return row;
    };
    for (let e = 0; e < all.length; e++) {
      const c = first[e + 1]! - first[e]!;
      if (c === 0) continue;
      const sl = all[e]!.slices[0]!, row = task(all[e]!, sl, c);
      for (let j = 0; j < c; j++) {
        const pick = order[first[e]! + j]!;
        tokens[sl.p]![row + j] = Math.floor(pick / k);
        wts[sl.p]![row + j] = weights[pick]!;
      }
    }
    for (const sl of sharedSlices) {
      const row = task(shared as CpuSwiGLU, sl, n);
      for (let i = 0; i < n; i++) { tokens[sl.p]![row + i] = i; wts[sl.p]![row + i] = 1; }
    }
    // Claims, largest task first (rows x intermediate units): the last ones claimed are the shortest.
    claims.forEach((claim, p) => {
      const table = tables[p]!, cost = (t: number) => table[t * TASK_WORDS + 5]! * table[t * TASK_WORDS + 4]!;
      const byCost = Array.from({ length: claim.length }, (_, t) => t).sort((a, b) => cost(b) - cost(a) || a - b);
      claim.set(byCost);
    });
    this.scratchFor(Math.max(...most), Math.max(hidden, ...widest));
    this.run(Op.Experts, chunked
      ? [1, this.chunksFor(Math.max(...upBytes), n), this.chunksFor(Math.max(...downBytes), n), 1]
      : [Math.max(1, ...tasks), 1]);
    this.sumPartials(out, n * hidden, this.allShards, (p) => this.pool.args(p)[3]!);
  }
}
