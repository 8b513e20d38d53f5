// Matrix products for training: C[m, n] (+)= op(A)[m, k] · op(B)[k, n], on float32 (WebAssembly SIMD
// kernels, optionally split over worker threads) or float64 (plain loops, for gradient checks).
//
// The wasm kernel computes out[m, n] = x[m, k] · W[n, k]ᵀ. Every product of training maps onto it:
//   forward       Y  = X · Wᵀ      gemm(Y, X, W, n, in, out, { tb: true })
//   input grad    dX = dY · W      gemm(dX, dY, W, n, out, in)
//   weight grad   dW += dYᵀ · X    gemm(dW, dY, X, out, n, in, { ta: true, acc: true })
// Operands are copied (and transposed where the kernel needs it) into one shared WebAssembly
// memory; the copies cost O(m·k + k·n + m·n), the product O(m·k·n).
import { ThreadPool } from '../backend/cpu/pool.js';
import { Arena, compileKernelsSync, createSharedMemory, Kernels, type WasmMemory, type WasmModule } from '../kernels/wasm.js';

export type Arr = Float32Array | Float64Array;

export interface GemmFlags {
  /** A is stored [k, m] (use its transpose). */
  ta?: boolean;
  /** B is stored [n, k] (use its transpose). */
  tb?: boolean;
  /** Add to C instead of overwriting it. */
  acc?: boolean;
}

export interface MatOps {
  /** True: float64 arrays and loops (gradient checks). */
  readonly f64: boolean;
  zeros(n: number): Arr;
  gemm(c: Arr, a: Arr, b: Arr, m: number, k: number, n: number, flags?: GemmFlags): void;
  close(): Promise<void>;
}

/** Plain loops; any element type. Slow: for float64 checks and small shapes. */
export function gemmLoops(c: Arr, a: Arr, b: Arr, m: number, k: number, n: number, flags: GemmFlags = {}): void {
  const { ta = false, tb = false, acc = false } = flags;
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const av = ta ? a[p * m + i]! : a[i * k + p]!;
      if (av === 0) continue;
      if (tb) for (let j = 0; j < n; j++) row[j]! += av * b[j * k + p]!;
      else {
        const o = p * n;
        for (let j = 0; j < n; j++) row[j]! += av * b[o + j]!;
      }
    }
    const o = i * n;
    if (acc) for (let j = 0; j < n; j++) c[o + j]! += row[j]!;
    else for (let j = 0; j < n; j++) c[o + j] = row[j]!;
  }
}

export class F64Ops implements MatOps {
  readonly f64 = true;
  zeros(n: number): Arr {
    return new Float64Array(n);
  }
  gemm(c: Arr, a: Arr, b: Arr, m: number, k: number, n: number, flags?: GemmFlags): void {
    gemmLoops(c, a, b, m, k, n, flags);
  }
  async close(): Promise<void> {}
}

/** dst[cols, rows] = src[rows, cols]ᵀ, in cache-sized blocks. */
export function transposeInto(dst: Float32Array | Float64Array, src: ArrayLike<number>, rows: number, cols: number): void {
  const B = 32;
  for (let i0 = 0; i0 < rows; i0 += B) {
    const i1 = Math.min(rows, i0 + B);
    for (let j0 = 0; j0 < cols; j0 += B) {
      const j1 = Math.min(cols, j0 + B);
      for (let i = i0; i < i1; i++) {
        const o = i * cols;
        for (let j = j0; j < j1; j++) dst[j * rows + i] = src[o + j]!;
      }
    }
  }
}

/** Job code of the matmul handled by gemm-worker. */
export const OP_MATMUL = 1;

export interface GemmWorkerPayload {
  module: WasmModule;
  memory: WasmMemory;
  variant: 'simd' | 'relaxed';
}

/** Float32 products on the WebAssembly kernels, over `threads` participants (main thread + workers). */
export class WasmOps implements MatOps {
  readonly f64 = false;
  private readonly arena: Arena;

  private constructor(private readonly kernels: Kernels, private readonly memory: WasmMemory, private readonly pool: ThreadPool | null) {
    this.arena = new Arena(memory);
  }

  static async create(threads = 1): Promise<WasmOps> {
    const { module, variant } = compileKernelsSync();
    const memory = createSharedMemory(64 << 20);
    const kernels = new Kernels(module, memory, variant);
    let pool: ThreadPool | null = null;
    if (threads > 1) {
      const payload: GemmWorkerPayload = { module, memory, variant };
      pool = await ThreadPool.start(threads, new URL('./gemm-worker.js', import.meta.url), payload);
    }
    return new WasmOps(kernels, memory, pool);
  }

  get threads(): number {
    return this.pool?.participants ?? 1;
  }

  zeros(n: number): Arr {
    return new Float32Array(n);
  }

  gemm(c: Arr, a: Arr, b: Arr, m: number, k: number, n: number, flags: GemmFlags = {}): void {
    if (m === 0 || n === 0) return;
    if (k === 0) {
      if (!flags.acc) c.fill(0, 0, m * n);
      return;
    }
    const ar = this.arena;
    ar.reset();
    const pa = ar.alloc(m * k * 4), pb = ar.alloc(n * k * 4), pc = ar.alloc(m * n * 4);
    const buf = this.memory.buffer;
    const va = new Float32Array(buf, pa, m * k), vb = new Float32Array(buf, pb, n * k);
    if (flags.ta) transposeInto(va, a, k, m); else va.set(a.length === m * k ? a : a.subarray(0, m * k));
    if (flags.tb) vb.set(b.length === n * k ? b : b.subarray(0, n * k)); else transposeInto(vb, b, k, n);
    const pool = this.pool;
    if (!pool || n < 2 * pool.participants || m * k * n < 1 << 16) {
      this.kernels.exports.matmul_f32(pc, pa, pb, m, k, n, 0, n);
    } else {
      const parts = pool.participants;
      for (let s = 0; s < parts; s++) {
        const args = pool.args(s);
        args[0] = pc; args[1] = pa; args[2] = pb; args[3] = m; args[4] = k; args[5] = n;
        args[6] = Math.floor((n * s) / parts); args[7] = Math.floor((n * (s + 1)) / parts);
      }
      pool.run(OP_MATMUL, (s) => {
        const args = pool.args(s);
        this.kernels.exports.matmul_f32(args[0]!, args[1]!, args[2]!, args[3]!, args[4]!, args[5]!, args[6]!, args[7]!);
      });
    }
    const vc = new Float32Array(this.memory.buffer, pc, m * n);
    if (flags.acc) for (let i = 0; i < m * n; i++) c[i]! += vc[i]!;
    else c.set(vc);
  }

  async close(): Promise<void> {
    await this.pool?.close();
  }
}
