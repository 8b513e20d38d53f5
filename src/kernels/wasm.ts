// Loader and typed wrappers for the WebAssembly SIMD kernels
// (src/kernels/assembly, built by `npm run build` into dist/src/kernels/).
//
// The module imports one shared memory (env.memory, up to 65536 pages =
// 4 GiB) and has no data segments or memory-resident state, so each worker
// thread can instantiate the same compiled module against the same memory.
// All kernel arguments are byte offsets into that memory plus sizes; the
// Arena below hands out such offsets.
//
//   const { module, variant } = await compileKernels();
//   const memory = createSharedMemory();
//   const k = new Kernels(module, memory, variant);   // also inside workers
//   const arena = new Arena(memory);
//   const w = arena.alloc(rows * inDim * 4); ...
//   k.matmul('f32', out, x, w, n, inDim, rows);

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setFlagsFromString } from 'node:v8';
import type { InterleavedType } from './interleave.js';
import { checkBlocks, QK, QK_K, rowBytes, type PackedWeightType, type QuantWeightType, type WeightType } from './reference.js';

export { rowBytes, type PackedWeightType, type QuantWeightType, type WeightType } from './reference.js';

// The project compiles without lib.dom, so the slice of the WebAssembly JS
// API used here is typed locally (structurally compatible with lib.dom's).

/** A WasmMemory (shared for the kernels). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(deltaPages: number): number;
}

/** A compiled WasmModule (opaque; can be posted to workers). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

interface WasmApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): { module: string; name: string; kind: string }[];
    exports(module: WasmModule): { name: string; kind: string }[];
  };
  Instance: new (module: WasmModule, imports: object) => { readonly exports: Record<string, unknown> };
  compile(bytes: Uint8Array): Promise<WasmModule>;
  validate(bytes: Uint8Array): boolean;
}

/** globalThis.WebAssembly, typed. */
export const wasmApi: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** Bytes per wasm page. */
export const WASM_PAGE_BYTES = 65536;
/** Largest memory the module accepts: 65536 pages = 4 GiB. */
export const MAX_PAGES = 65536;
/** 4 GiB: one past the highest byte offset a kernel can address. */
export const MAX_BYTES = MAX_PAGES * WASM_PAGE_BYTES;

/**
 * The raw wasm exports. Pointers are byte offsets (u32) into the shared
 * memory; every matmul computes W rows [r0, r1) only, so threads can split
 * the output columns; element-wise kernels take a flat count (split by
 * offsetting pointers).
 */
export interface KernelExports {
  // matmul: out[n][rows] f32 = x[n][inDim] . W[rows][inDim]^T
  matmul_f32(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number): void;
  // scratch: 0 or float_matmul_scratch_bytes(n, inDim) bytes, 16-aligned, one per thread (faster n > 1)
  matmul_bf16(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  float_matmul_scratch_bytes(n: number, inDim: number): number;
  matmul_f16(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number): void;
  /** xq: Q8_0-quantized activations [n][inDim/32 blocks]. */
  // scratch (all five): 0 or qmatmul_scratch_bytes(n, inDim) bytes, 16-aligned, one per thread (faster n > 1)
  matmul_q8_0(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  matmul_q4_0(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  matmul_q5_0(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  qmatmul_scratch_bytes(n: number, inDim: number): number;
  /** K-quants: xq is Q8_K activations [n][inDim/256] where kquant_takes_q8_k(n, scratch), else Q8_0 (the tiles). */
  kquant_takes_q8_k(n: number, scratch: number): number;
  matmul_q4_k(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  matmul_q5_k(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  matmul_q6_k(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  matmul_q4_k_x4(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  interleave_q4_k(w: number, rows: number, inDim: number, tmp: number): void;
  matmul_q8_0_x4(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  interleave_q8_0(w: number, rows: number, inDim: number, tmp: number): void;
  matmul_q5_0_x4(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  interleave_q5_0(w: number, rows: number, inDim: number, tmp: number): void;
  matmul_q4_0_x4(out: number, xq: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number, scratch: number): void;
  interleave_q4_0(w: number, rows: number, inDim: number, tmp: number): void;
  /** x: f32 activations; weights dequantized on the fly. */
  matmul_q8_0_f32(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number): void;
  matmul_q4_0_f32(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number): void;
  matmul_q4_k_f32(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number): void;
  matmul_q5_k_f32(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number): void;
  matmul_q6_k_f32(out: number, x: number, w: number, n: number, inDim: number, rows: number, r0: number, r1: number): void;
  // conversions, count elements
  f32_to_bf16_row(dst: number, src: number, count: number): void;
  bf16_to_f32_row(dst: number, src: number, count: number): void;
  f32_to_f16_row(dst: number, src: number, count: number): void;
  f16_to_f32_row(dst: number, src: number, count: number): void;
  quantize_q8_0(dst: number, src: number, count: number): void;
  dequantize_q8_0(dst: number, src: number, count: number): void;
  quantize_q8_k(dst: number, src: number, count: number): void;
  quantize_q4_0(dst: number, src: number, count: number): void;
  /** scratch: KQUANT_SCRATCH_BYTES per thread. */
  quantize_q4_k(dst: number, src: number, count: number, scratch: number): void;
  quantize_q5_k(dst: number, src: number, count: number, scratch: number): void;
  quantize_q6_k(dst: number, src: number, count: number, scratch: number): void;
  dequantize_q4_0(dst: number, src: number, count: number): void;
  dequantize_q4_k(dst: number, src: number, count: number): void;
  dequantize_q5_k(dst: number, src: number, count: number): void;
  dequantize_q6_k(dst: number, src: number, count: number): void;
  // row / element-wise ops
  rmsnorm(out: number, x: number, w: number, dim: number, eps: number, r0: number, r1: number): void;
  rmsnorm_f64(out: number, x: number, w: number, dim: number, eps: number, r0: number, r1: number): void;
  softmax(x: number, len: number, r0: number, r1: number): void;
  swiglu(out: number, g: number, u: number, count: number): void;
  add(out: number, a: number, b: number, count: number): void;
  mul(out: number, a: number, b: number, count: number): void;
  axpy(y: number, x: number, alpha: number, count: number): void;
  scale(out: number, x: number, alpha: number, count: number): void;
  rope_neox(x: number, invFreq: number, nHeads: number, headDim: number, p0: number, r0: number, r1: number): void;
  /** scratch: (h1 - h0) * (p0 + n + 1) f32 per thread. */
  attention(
    out: number, q: number, k: number, v: number, scratch: number,
    n: number, p0: number, nHeads: number, nKv: number, headDim: number, scale: number, h0: number, h1: number,
  ): void;
  /** attention with k, v caches of bf16 bits. */
  attention_bf16kv(
    out: number, q: number, k: number, v: number, scratch: number,
    n: number, p0: number, nHeads: number, nKv: number, headDim: number, scale: number, h0: number, h1: number,
  ): void;
  /** attention with k, v caches of f16 bits. */
  attention_f16kv(
    out: number, q: number, k: number, v: number, scratch: number,
    n: number, p0: number, nHeads: number, nKv: number, headDim: number, scale: number, h0: number, h1: number,
  ): void;
  // bandwidth probes
  stream_triad(a: number, b: number, c: number, s: number, count: number): void;
  stream_sum(p: number, count: number): number;
}

/** Element types a KV cache can hold; the index in KV_TYPES is the code the ops pass to the kernels. */
export const KV_TYPES = ['f32', 'f16', 'bf16'] as const;
export type KVType = (typeof KV_TYPES)[number];

/** Which build: plain SIMD (default, runs everywhere with SIMD) or relaxed SIMD (FMA, i8 dot). */
export type KernelVariant = 'simd' | 'relaxed';

const FILES: Record<KernelVariant, string> = {
  simd: 'kernels-simd.wasm',
  relaxed: 'kernels-relaxed.wasm',
};

function wasmUrl(variant: KernelVariant): URL {
  return new URL(`./${FILES[variant]}`, import.meta.url);
}

function missing(variant: KernelVariant, err: unknown): Error {
  return new Error(
    `pangu kernels: cannot read ${wasmUrl(variant).pathname} (${(err as Error).message}); ` +
      'run `npm run build` to compile the AssemblyScript kernels',
  );
}

/**
 * Picks the variant: an explicit 'simd' / 'relaxed', else the environment
 * variable PANGU_KERNELS_VARIANT, else 'relaxed' when this engine validates
 * the relaxed build, else 'simd'.
 */
function pick(requested: KernelVariant | 'auto', relaxedBytes: () => Uint8Array | undefined): KernelVariant {
  let want = requested;
  if (want === 'auto') {
    const env = process.env['PANGU_KERNELS_VARIANT'];
    if (env === 'simd' || env === 'relaxed') want = env;
  }
  if (want === 'simd') return 'simd';
  const bytes = relaxedBytes();
  const ok = bytes !== undefined && wasmApi.validate(bytes);
  if (want === 'relaxed' && !ok) {
    throw new Error('pangu kernels: relaxed SIMD build requested but this engine does not support relaxed SIMD ' +
      '(Node 20 needs --experimental-wasm-relaxed-simd, or enableRelaxedSimd())');
  }
  return ok ? 'relaxed' : 'simd';
}

/** True when this engine can run the relaxed-SIMD build. */
export function relaxedSimdSupported(): boolean {
  try {
    return wasmApi.validate(readFileSync(wasmUrl('relaxed')));
  } catch {
    return false;
  }
}

/**
 * Lets an engine that keeps relaxed SIMD behind a V8 flag compile the relaxed build, by setting the
 * flag; returns whether the relaxed build validates now. That engine is Node 20: its V8 (11.3) has
 * the finished instruction set behind `--experimental-wasm-relaxed-simd`, which V8 11.4 (Node 22)
 * turned on. Older V8s had earlier drafts of the proposal (other opcodes): left alone. The flag is
 * process-wide, so the library never sets it by itself; the `pangu` command does (see cli/main.ts).
 * Known flaw of V8 11.3 on x64 without AVX-VNNI: `i32x4.relaxed_dot_i8x16_i7x16_add_s` returns twice
 * the dot, so the kernels do not use that instruction (see the kernels README).
 */
export function enableRelaxedSimd(): boolean {
  if (relaxedSimdSupported()) return true;
  const [major = 0, minor = 0] = (process.versions.v8 ?? '').split('.').map(Number);
  if (major * 100 + minor < 1103) return false;
  setFlagsFromString('--experimental-wasm-relaxed-simd');
  return relaxedSimdSupported();
}

/** Compiles the kernel module (see `pick` for the variant choice). */
export async function compileKernels(variant: KernelVariant | 'auto' = 'auto'): Promise<{ module: WasmModule; variant: KernelVariant }> {
  let relaxed: Uint8Array | undefined;
  try {
    relaxed = await readFile(wasmUrl('relaxed'));
  } catch {
    relaxed = undefined;
  }
  const chosen = pick(variant, () => relaxed);
  let bytes: Uint8Array;
  try {
    bytes = chosen === 'relaxed' ? relaxed! : await readFile(wasmUrl('simd'));
  } catch (err) {
    throw missing(chosen, err);
  }
  return { module: await wasmApi.compile(bytes), variant: chosen };
}

/** Synchronous compileKernels (for worker start-up code that cannot await). */
export function compileKernelsSync(variant: KernelVariant | 'auto' = 'auto'): { module: WasmModule; variant: KernelVariant } {
  const chosen = pick(variant, () => {
    try {
      return readFileSync(wasmUrl('relaxed'));
    } catch {
      return undefined;
    }
  });
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(wasmUrl(chosen));
  } catch (err) {
    throw missing(chosen, err);
  }
  return { module: new wasmApi.Module(bytes), variant: chosen };
}

/** A shared memory the kernels accept: initialBytes rounded up to pages, growable to maximumPages (default 4 GiB). */
export function createSharedMemory(initialBytes = 16 * 1024 * 1024, maximumPages = MAX_PAGES): WasmMemory {
  if (maximumPages > MAX_PAGES) throw new RangeError(`pangu kernels: maximumPages ${maximumPages} exceeds ${MAX_PAGES} (4 GiB)`);
  const initial = Math.max(1, Math.ceil(initialBytes / WASM_PAGE_BYTES));
  return new wasmApi.Memory({ initial, maximum: maximumPages, shared: true });
}

// ---------------------------------------------------------------- arena

/**
 * Bump allocator over a (shared) WasmMemory. Hands out byte offsets,
 * grows the memory on demand, never frees individually (use mark/reset).
 * Offsets below `base` (default 64) are never handed out, so 0 stays a null
 * pointer.
 */
export class Arena {
  readonly memory: WasmMemory;
  readonly base: number;
  readonly limit: number;
  private topOffset: number;

  constructor(memory: WasmMemory, opts: { base?: number; limit?: number } = {}) {
    this.memory = memory;
    this.base = opts.base ?? 64;
    this.limit = Math.min(opts.limit ?? MAX_BYTES, MAX_BYTES);
    if (this.base < 0 || this.base > this.limit) throw new RangeError(`arena: base ${this.base} outside [0, ${this.limit}]`);
    this.topOffset = this.base;
  }

  /** First free byte offset. */
  get top(): number {
    return this.topOffset;
  }

  /** Bytes handed out so far. */
  get used(): number {
    return this.topOffset - this.base;
  }

  /** Reserves `bytes` at an `align`-aligned offset (power of two, default 64); grows the memory if needed. */
  alloc(bytes: number, align = 64): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`arena: bad size ${bytes}`);
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) throw new RangeError(`arena: alignment ${align} is not a power of two`);
    const ptr = Math.ceil(this.topOffset / align) * align;
    const end = ptr + bytes;
    if (end > this.limit) {
      throw new RangeError(
        `arena: out of memory: ${bytes} bytes at offset ${ptr} would end at ${end}, past the limit of ${this.limit} bytes` +
          (this.limit === MAX_BYTES ? ' (4 GiB, the wasm32 maximum)' : ''),
      );
    }
    this.ensure(end);
    this.topOffset = end;
    return ptr;
  }

  /**
   * Grows the allocation at ptr of `bytes` to `newBytes` in place when it is the last one handed
   * out; false (and nothing changed) otherwise.
   */
  extendLast(ptr: number, bytes: number, newBytes: number): boolean {
    if (ptr + bytes !== this.topOffset || ptr + newBytes > this.limit) return false;
    this.ensure(ptr + newBytes);
    this.topOffset = Math.max(this.topOffset, ptr + newBytes);
    return true;
  }

  /** Grows the memory so that bytes [0, end) exist. */
  ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    // Grow by at least an eighth (and 16 MiB): loading a model is thousands of allocations, and
    // each grow of a shared memory costs a system call; never past the limit.
    const want = Math.min(this.limit, Math.max(end, have + Math.max(have / 8, 16 << 20)));
    const pages = Math.ceil((want - have) / WASM_PAGE_BYTES);
    try {
      this.memory.grow(pages);
    } catch (err) {
      throw new RangeError(
        `arena: cannot grow memory from ${have} to ${have + pages * WASM_PAGE_BYTES} bytes: ${(err as Error).message}`,
      );
    }
  }

  /** Current top, to hand back to reset(). */
  mark(): number {
    return this.topOffset;
  }

  /** Frees everything allocated after `mark` (default: everything). */
  reset(mark = this.base): void {
    if (mark < this.base || mark > this.topOffset) throw new RangeError(`arena: bad mark ${mark}`);
    this.topOffset = mark;
  }

  /** Float32Array view of `count` floats at ptr (fresh view: valid until the memory grows). */
  f32(ptr: number, count: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, count);
  }

  /** Uint16Array view of `count` halves at ptr. */
  u16(ptr: number, count: number): Uint16Array {
    return new Uint16Array(this.memory.buffer, ptr, count);
  }

  /** Uint8Array view of `bytes` bytes at ptr. */
  u8(ptr: number, bytes: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, bytes);
  }

  /** Allocates and fills a copy of `data`; returns its offset. */
  put(data: Float32Array | Uint16Array | Uint8Array, align = 64): number {
    const ptr = this.alloc(data.byteLength, align);
    new Uint8Array(this.memory.buffer, ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return ptr;
  }
}

// ---------------------------------------------------------------- wrappers

function checkRange(what: string, r0: number, r1: number, total: number): void {
  if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 <= r1 && r1 <= total)) {
    throw new RangeError(`${what}: range [${r0}, ${r1}) is not inside [0, ${total})`);
  }
}

function checkDim(what: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0) throw new RangeError(`${what}: ${name} = ${v} is not a non-negative integer`);
}

/** The quantized activations a matmul of a block-quantized `type` reads: x[n][inDim] as Q8_0 blocks, or Q8_K. */
export type ActivationType = 'q8_0' | 'q8_k';

/** Smallest n at which the K-quant matmuls (with a scratch) run the 16 x 2 tiles on Q8_0 activations. */
const KQUANT_TILES_MIN_N = 6;

/**
 * Which activations Kernels.matmul of a block-quantized `type` over n rows reads: Q8_0 and Q4_0
 * always Q8_0; the K-quants Q8_K for their dot products (n < 6, or no scratch: the matvec, as
 * llama.cpp's vec_dot_q*_K_q8_K) and Q8_0 for the prompt tiles.
 */
export function activationType(type: QuantWeightType | PackedWeightType, n: number, scratch: boolean): ActivationType {
  if (type !== 'q4_k' && type !== 'q4_k_x4' && type !== 'q5_k' && type !== 'q6_k') return 'q8_0';
  return scratch && n >= KQUANT_TILES_MIN_N ? 'q8_0' : 'q8_k';
}

/** Bytes of a Q8_K block of 256 activations (ggml block_q8_K: f32 d, 256 int8, 16 i16 sums). */
export const Q8_K_BYTES = 292;

/** Bytes of count activations quantized to `type` (Q8_0: 34 per 32, Q8_K: Q8_K_BYTES per 256). */
export function activationBytes(type: ActivationType, count: number): number {
  return type === 'q8_0' ? (count / QK) * 34 : (count / QK_K) * Q8_K_BYTES;
}

/** Bytes of scratch of Kernels.quantize for the K-quants (quantize_kquant.ts). */
export const KQUANT_SCRATCH_BYTES = 1024;

/**
 * Bytes of per-thread scratch the attention kernel needs for `heads` query heads (h1 - h0):
 * heads x (p0 + n + 1) x 4 f32 (prompt rows run in blocks of four, a lane each; attention.ts).
 */
export function attentionScratchBytes(p0: number, n: number, heads: number): number {
  return 16 * heads * (p0 + n + 1);
}

/** Views of a whole kernel memory (index = byte offset / 4). */
export interface MemoryViews {
  f32: Float32Array;
  u32: Uint32Array;
  i32: Int32Array;
}

/** Instantiated kernels with argument checks. `exports` gives the unchecked raw functions. */
export class Kernels {
  readonly module: WasmModule;
  readonly memory: WasmMemory;
  readonly variant: KernelVariant;
  readonly exports: KernelExports;

  private viewsBuffer: ArrayBufferLike | undefined;
  private memoryViews: MemoryViews | undefined;

  constructor(module: WasmModule, memory: WasmMemory, variant: KernelVariant = 'simd') {
    this.module = module;
    this.memory = memory;
    this.variant = variant;
    const instance = new wasmApi.Instance(module, { env: { memory } });
    this.exports = instance.exports as unknown as KernelExports;
  }

  /**
   * Typed views of the whole memory, made once and again only after it grew (a grown memory has a
   * new buffer): per-token code indexes these instead of making views, which costs an allocation each.
   */
  views(): MemoryViews {
    const buf = this.memory.buffer;
    if (buf !== this.viewsBuffer || !this.memoryViews) {
      this.viewsBuffer = buf;
      this.memoryViews = { f32: new Float32Array(buf), u32: new Uint32Array(buf), i32: new Int32Array(buf) };
    }
    return this.memoryViews;
  }

  /**
   * out[n][rows] f32 = x[n][inDim] . W[rows][inDim]^T for W rows [r0, r1).
   * For 'f32' / 'bf16' / 'f16' W, x is f32. For 'q8_0' / 'q4_0' / 'q4_k' / 'q5_k' / 'q6_k' W,
   * x is the activations already quantized as activationType(type, n, scratch !== 0) says
   * (quantizeQ8_0: [n][inDim/32] Q8_0 blocks, or quantizeQ8_K: [n][inDim/256] Q8_K blocks):
   * the llama.cpp integer path.
   * scratch (optional; the quantized types: qmatmulScratchBytes(n, inDim) bytes,
   * bf16: floatMatmulScratchBytes(n, inDim); ignored by f32 / f16):
   * 16-aligned, not shared with another thread; with it, n > 1 runs faster
   * (q8_0, bf16: the same results; q4_0, K-quants: their own rounding, see
   * src/kernels/README.md).
   */
  matmul(type: WeightType, out: number, x: number, w: number, n: number, inDim: number, rows: number, r0 = 0, r1 = rows, scratch = 0): void {
    checkDim('matmul', 'n', n);
    checkDim('matmul', 'inDim', inDim);
    checkDim('matmul', 'rows', rows);
    checkRange('matmul', r0, r1, rows);
    if (!Number.isInteger(scratch) || scratch < 0 || scratch % 16 !== 0) throw new RangeError(`matmul: scratch ${scratch} is not a 16-aligned offset`);
    const e = this.exports;
    switch (type) {
      case 'f32':
        return e.matmul_f32(out, x, w, n, inDim, rows, r0, r1);
      case 'bf16':
        return e.matmul_bf16(out, x, w, n, inDim, rows, r0, r1, scratch);
      case 'f16':
        return e.matmul_f16(out, x, w, n, inDim, rows, r0, r1);
      case 'q8_0':
        checkBlocks('matmul q8_0', inDim, QK);
        return e.matmul_q8_0(out, x, w, n, inDim, rows, r0, r1, scratch);
      case 'q4_0':
        checkBlocks('matmul q4_0', inDim, QK);
        return e.matmul_q4_0(out, x, w, n, inDim, rows, r0, r1, scratch);
      case 'q5_0':
        checkBlocks('matmul q5_0', inDim, QK);
        return e.matmul_q5_0(out, x, w, n, inDim, rows, r0, r1, scratch);
      case 'q4_k':
        checkBlocks('matmul q4_k', inDim, QK_K);
        return e.matmul_q4_k(out, x, w, n, inDim, rows, r0, r1, scratch);
      case 'q5_k':
        checkBlocks('matmul q5_k', inDim, QK_K);
        return e.matmul_q5_k(out, x, w, n, inDim, rows, r0, r1, scratch);
      case 'q6_k':
        checkBlocks('matmul q6_k', inDim, QK_K);
        return e.matmul_q6_k(out, x, w, n, inDim, rows, r0, r1, scratch);
      case 'q4_k_x4':
      case 'q8_0_x4':
      case 'q5_0_x4':
      case 'q4_0_x4': {
        checkBlocks(type, inDim, type === 'q4_k_x4' ? QK_K : QK); // (no string built per call: this is the hot path)
        if (rows % 4 !== 0 || r0 % 4 !== 0 || r1 % 4 !== 0) throw new RangeError(`matmul ${type}: rows ${rows} and the range [${r0}, ${r1}) must be whole groups of 4 rows`);
        if (type === 'q4_k_x4') return e.matmul_q4_k_x4(out, x, w, n, inDim, rows, r0, r1, scratch);
        if (type === 'q8_0_x4') return e.matmul_q8_0_x4(out, x, w, n, inDim, rows, r0, r1, scratch);
        if (type === 'q5_0_x4') return e.matmul_q5_0_x4(out, x, w, n, inDim, rows, r0, r1, scratch);
        return e.matmul_q4_0_x4(out, x, w, n, inDim, rows, r0, r1, scratch);
      }
    }
  }

  /** Quantized W with f32 activations x[n][inDim] (dequantize on the fly; slower, no activation rounding). */
  /** Bytes of the optional per-thread scratch of matmul(quantized type, ..., scratch) for n activation rows (0 for n = 1). */
  qmatmulScratchBytes(n: number, inDim: number): number {
    checkDim('qmatmulScratchBytes', 'n', n);
    checkBlocks('qmatmulScratchBytes', inDim, QK);
    return this.exports.qmatmul_scratch_bytes(n, inDim);
  }

  /** Scratch bytes the bf16 matmul wants for n activation rows of inDim (0 for n = 1). */
  floatMatmulScratchBytes(n: number, inDim: number): number {
    checkDim('floatMatmulScratchBytes', 'n', n);
    checkDim('floatMatmulScratchBytes', 'inDim', inDim);
    return this.exports.float_matmul_scratch_bytes(n, inDim);
  }

  matmulF32Act(type: QuantWeightType, out: number, x: number, w: number, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
    checkDim('matmulF32Act', 'n', n);
    checkDim('matmulF32Act', 'rows', rows);
    checkRange('matmulF32Act', r0, r1, rows);
    if (type === 'q5_0') throw new Error('matmulF32Act: no f32-activation kernel for q5_0 (it runs on Q8_0 activations only)');
    checkBlocks(`matmulF32Act ${type}`, inDim, type === 'q8_0' || type === 'q4_0' ? QK : QK_K);
    const e = this.exports;
    if (type === 'q8_0') e.matmul_q8_0_f32(out, x, w, n, inDim, rows, r0, r1);
    else if (type === 'q4_0') e.matmul_q4_0_f32(out, x, w, n, inDim, rows, r0, r1);
    else if (type === 'q4_k') e.matmul_q4_k_f32(out, x, w, n, inDim, rows, r0, r1);
    else if (type === 'q5_k') e.matmul_q5_k_f32(out, x, w, n, inDim, rows, r0, r1);
    else e.matmul_q6_k_f32(out, x, w, n, inDim, rows, r0, r1);
  }

  /** Bytes of the tmp of interleave: a group of four rows. */
  static interleaveTmpBytes(type: InterleavedType, inDim: number): number {
    return 4 * rowBytes(type, inDim);
  }

  /**
   * The Q4_K, Q8_0, Q5_0 or Q4_0 matrix [rows, inDim] at w, in place, as q4_k_x4 / q8_0_x4 / ... (rows
   * interleaved by four; src/kernels/interleave.ts has the layouts); tmp: interleaveTmpBytes bytes elsewhere.
   */
  interleave(type: InterleavedType, w: number, rows: number, inDim: number, tmp: number): void {
    checkBlocks(`interleave ${type}`, inDim, type === 'q4_k' ? QK_K : QK);
    if (!Number.isInteger(rows) || rows < 0 || rows % 4 !== 0) throw new RangeError(`interleave ${type}: ${rows} rows are not whole groups of 4 rows`);
    const e = this.exports;
    ({ q4_k: e.interleave_q4_k, q8_0: e.interleave_q8_0, q5_0: e.interleave_q5_0, q4_0: e.interleave_q4_0 }[type])(w, rows, inDim, tmp);
  }

  /** dst: count/32 Q8_0 blocks (34 B) from src: count f32 (ggml quantize_row_q8_0_ref). */
  quantizeQ8_0(dst: number, src: number, count: number): void {
    checkBlocks('quantizeQ8_0', count, QK);
    this.exports.quantize_q8_0(dst, src, count);
  }

  /** dst: count/256 Q8_K blocks (292 B) from src: count f32 (ggml quantize_row_q8_K_ref). */
  quantizeQ8_K(dst: number, src: number, count: number): void {
    checkBlocks('quantizeQ8_K', count, QK_K);
    this.exports.quantize_q8_k(dst, src, count);
  }

  /** dst: count f32 quantized as `type` (quantizeQ8_0 or quantizeQ8_K). */
  quantizeActivations(type: ActivationType, dst: number, src: number, count: number): void {
    if (type === 'q8_0') this.quantizeQ8_0(dst, src, count);
    else this.quantizeQ8_K(dst, src, count);
  }

  /** dst: count/32 Q4_0 blocks (18 B) from src: count f32 (ggml quantize_row_q4_0_ref). */
  quantizeQ4_0(dst: number, src: number, count: number): void {
    checkBlocks('quantizeQ4_0', count, QK);
    this.exports.quantize_q4_0(dst, src, count);
  }

  /**
   * dst: the count f32 at src as blocks of a quantized type, byte for byte as ggml's reference
   * quantizers (quantize_row_*_ref); scratch: KQUANT_SCRATCH_BYTES (the K-quants' search state).
   */
  quantize(type: QuantWeightType, dst: number, src: number, count: number, scratch: number): void {
    if (type === 'q5_0') throw new Error('quantize: no q5_0 kernel (src/formats/ggml-quants.ts quantizes Q5_0)');
    checkBlocks(`quantize ${type}`, count, type === 'q8_0' || type === 'q4_0' ? QK : QK_K);
    if (type === 'q8_0') this.exports.quantize_q8_0(dst, src, count);
    else if (type === 'q4_0') this.exports.quantize_q4_0(dst, src, count);
    else if (type === 'q4_k') this.exports.quantize_q4_k(dst, src, count, scratch);
    else if (type === 'q5_k') this.exports.quantize_q5_k(dst, src, count, scratch);
    else this.exports.quantize_q6_k(dst, src, count, scratch);
  }

  /** dst: count f32 from Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K blocks at src. */
  dequantize(type: QuantWeightType, dst: number, src: number, count: number): void {
    if (type === 'q5_0') throw new Error('dequantize: no q5_0 kernel (src/formats/ggml-quants.ts dequantizes Q5_0)');
    checkBlocks(`dequantize ${type}`, count, type === 'q8_0' || type === 'q4_0' ? QK : QK_K);
    if (type === 'q8_0') this.exports.dequantize_q8_0(dst, src, count);
    else if (type === 'q4_0') this.exports.dequantize_q4_0(dst, src, count);
    else if (type === 'q4_k') this.exports.dequantize_q4_k(dst, src, count);
    else if (type === 'q5_k') this.exports.dequantize_q5_k(dst, src, count);
    else this.exports.dequantize_q6_k(dst, src, count);
  }

  /** dst bf16[count] = src f32[count] (round to nearest even). */
  f32ToBf16(dst: number, src: number, count: number): void {
    checkDim('f32ToBf16', 'count', count);
    this.exports.f32_to_bf16_row(dst, src, count);
  }

  /** dst f32[count] = src bf16[count]. */
  bf16ToF32(dst: number, src: number, count: number): void {
    checkDim('bf16ToF32', 'count', count);
    this.exports.bf16_to_f32_row(dst, src, count);
  }

  /** dst f16[count] = src f32[count] (round to nearest even). */
  f32ToF16(dst: number, src: number, count: number): void {
    checkDim('f32ToF16', 'count', count);
    this.exports.f32_to_f16_row(dst, src, count);
  }

  /** dst f32[count] = src f16[count]. */
  f16ToF32(dst: number, src: number, count: number): void {
    checkDim('f16ToF32', 'count', count);
    this.exports.f16_to_f32_row(dst, src, count);
  }

  /** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w for rows [r0, r1) of [*, dim]. */
  rmsnorm(out: number, x: number, w: number, dim: number, eps: number, r0: number, r1: number): void {
    checkDim('rmsnorm', 'dim', dim);
    checkRange('rmsnorm', r0, r1, Number.MAX_SAFE_INTEGER);
    this.exports.rmsnorm(out, x, w, dim, eps, r0, r1);
  }

  /** rmsnorm computed in float64 as the host backends do (backend/host.ts rmsnormRows); rows [r0, r1). */
  rmsnormF64(out: number, x: number, w: number, dim: number, eps: number, r0: number, r1: number): void {
    checkDim('rmsnormF64', 'dim', dim);
    checkRange('rmsnormF64', r0, r1, Number.MAX_SAFE_INTEGER);
    this.exports.rmsnorm_f64(out, x, w, dim, eps, r0, r1);
  }

  /** Stable softmax in place over rows [r0, r1) of [*, len]. */
  softmax(x: number, len: number, r0: number, r1: number): void {
    checkDim('softmax', 'len', len);
    checkRange('softmax', r0, r1, Number.MAX_SAFE_INTEGER);
    this.exports.softmax(x, len, r0, r1);
  }

  /** out[count] = silu(g) * u. */
  swiglu(out: number, g: number, u: number, count: number): void {
    checkDim('swiglu', 'count', count);
    this.exports.swiglu(out, g, u, count);
  }

  /** out[count] = a + b. */
  add(out: number, a: number, b: number, count: number): void {
    checkDim('add', 'count', count);
    this.exports.add(out, a, b, count);
  }

  /** out[count] = a * b. */
  mul(out: number, a: number, b: number, count: number): void {
    checkDim('mul', 'count', count);
    this.exports.mul(out, a, b, count);
  }

  /** y[count] += alpha * x. */
  axpy(y: number, x: number, alpha: number, count: number): void {
    checkDim('axpy', 'count', count);
    this.exports.axpy(y, x, alpha, count);
  }

  /** out[count] = alpha * x. */
  scale(out: number, x: number, alpha: number, count: number): void {
    checkDim('scale', 'count', count);
    this.exports.scale(out, x, alpha, count);
  }

  /**
   * NeoX RoPE in place on x[row][nHeads][headDim], rows [r0, r1), row i at
   * position p0 + i; invFreq: headDim/2 f32 (see reference.ropeInvFreq).
   */
  ropeNeox(x: number, invFreq: number, nHeads: number, headDim: number, p0: number, r0: number, r1: number): void {
    if (!Number.isInteger(headDim) || headDim <= 0 || headDim % 2 !== 0) throw new RangeError(`ropeNeox: head_dim ${headDim} must be a positive even integer`);
    checkDim('ropeNeox', 'nHeads', nHeads);
    checkDim('ropeNeox', 'p0', p0);
    checkRange('ropeNeox', r0, r1, Number.MAX_SAFE_INTEGER);
    this.exports.rope_neox(x, invFreq, nHeads, headDim, p0, r0, r1);
  }

  /**
   * Causal GQA for query heads [h0, h1): q, out [n][nHeads][headDim]; k, v
   * caches [>= p0+n][nKv][headDim] (f32, or f16 / bf16 bits per `kv`); scratch:
   * attentionScratchBytes(p0, n, h1 - h0) bytes owned by the calling thread.
   * scale defaults to 1/sqrt(headDim).
   */
  attention(a: {
    out: number; q: number; k: number; v: number; scratch: number;
    n: number; p0: number; nHeads: number; nKv: number; headDim: number;
    scale?: number; h0?: number; h1?: number; kv?: KVType;
  }): void {
    const h0 = a.h0 ?? 0;
    const h1 = a.h1 ?? a.nHeads;
    checkDim('attention', 'n', a.n);
    checkDim('attention', 'p0', a.p0);
    checkDim('attention', 'headDim', a.headDim);
    if (!(a.nKv > 0 && Number.isInteger(a.nKv) && a.nHeads % a.nKv === 0)) {
      throw new RangeError(`attention: nHeads ${a.nHeads} is not a multiple of nKv ${a.nKv}`);
    }
    checkRange('attention', h0, h1, a.nHeads);
    const scale = a.scale ?? 1 / Math.sqrt(a.headDim);
    this.attentionKernel(KV_TYPES.indexOf(a.kv ?? 'f32'))(a.out, a.q, a.k, a.v, a.scratch, a.n, a.p0, a.nHeads, a.nKv, a.headDim, scale, h0, h1);
  }

  /** The attention kernel for a KV cache of element type KV_TYPES[code]. */
  attentionKernel(code: number): KernelExports['attention'] {
    const e = this.exports;
    return code === 1 ? e.attention_f16kv : code === 2 ? e.attention_bf16kv : e.attention;
  }

  /** dst[count] = src f32[count] in the KV cache's element type KV_TYPES[code] (f16 / bf16 round to nearest even). */
  storeKV(code: number, dst: number, src: number, count: number): void {
    const e = this.exports;
    if (code === 1) e.f32_to_f16_row(dst, src, count);
    else if (code === 2) e.f32_to_bf16_row(dst, src, count);
    else this.views().f32.copyWithin(dst >>> 2, src >>> 2, (src >>> 2) + count);
  }
}

/** Compiles (variant 'auto' by default) and instantiates against `memory`. */
export async function loadKernels(memory: WasmMemory, variant: KernelVariant | 'auto' = 'auto'): Promise<Kernels> {
  const c = await compileKernels(variant);
  return new Kernels(c.module, memory, c.variant);
}
