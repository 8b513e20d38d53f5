// The machine's memory bandwidth as WebAssembly sees it, the limit for token generation (which
// streams every active weight once per token): a STREAM-like triad a = b + s·c and a read-only sum,
// over arrays far larger than the caches, one share per thread, each in its own memory.
import { Arena, compileKernels, createSharedMemory, Kernels } from '../src/kernels/wasm.js';
import { ThreadPool } from '../src/backend/cpu/pool.js';

const TRIAD = 1, READ = 2;

/** args: a, b, c pointers, count */
export function runBandwidthOp(k: Kernels, op: number, args: Float64Array): void {
  if (op === TRIAD) k.exports.stream_triad(args[0]!, args[1]!, args[2]!, 3, args[3]!);
  else k.exports.stream_sum(args[1]!, args[3]!);
}

export interface Bandwidth {
  threads: number;
  /** Bytes moved per second: the triad reads two arrays and writes one (12 bytes per element). */
  triad_gb_s: number;
  /** Bytes read per second by a sum over one array. */
  read_gb_s: number;
}

export async function measureBandwidth(threads: number, bytesPerArray = 128 << 20, reps = 10): Promise<Bandwidth> {
  const { module, variant } = await compileKernels();
  const memories = Array.from({ length: threads }, () => createSharedMemory(4 * bytesPerArray));
  const kernels = memories.map((m) => new Kernels(module, m, variant));
  const count = bytesPerArray / 4;
  const pool = await ThreadPool.start(threads, new URL('./bandwidth-worker.js', import.meta.url), { module, memories, variant });
  try {
    memories.forEach((m, p) => {
      const arena = new Arena(m);
      const a = pool.args(p);
      a[0] = arena.alloc(bytesPerArray); a[1] = arena.alloc(bytesPerArray); a[2] = arena.alloc(bytesPerArray); a[3] = count;
      arena.f32(a[1]!, count).fill(1);
      arena.f32(a[2]!, count).fill(2);
    });
    const time = (op: number) => {
      pool.run(op, (s) => runBandwidthOp(kernels[s]!, op, pool.args(s))); // warm-up
      const best: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t = performance.now();
        pool.run(op, (s) => runBandwidthOp(kernels[s]!, op, pool.args(s)));
        best.push(performance.now() - t);
      }
      best.sort((x, y) => x - y);
      return best[Math.floor(best.length / 2)]! / 1000; // median seconds
    };
    return {
      threads,
      triad_gb_s: (3 * bytesPerArray * threads) / time(TRIAD) / 1e9,
      read_gb_s: (bytesPerArray * threads) / time(READ) / 1e9,
    };
  } finally {
    await pool.close();
  }
}
