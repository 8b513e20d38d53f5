// Shared test utilities for the kernel tests: a seeded RNG, random data,
// error metrics and a kernels instance on a fresh shared memory.

import { Arena, compileKernelsSync, createSharedMemory, Kernels, type KernelVariant } from '../../src/kernels/wasm.js';

/** Deterministic PRNG (mulberry32) returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard-normal samples (Box-Muller) as f32, times `scale`. */
export function randn(r: () => number, count: number, scale = 1): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

/** Random bytes. */
export function randBytes(r: () => number, count: number): Uint8Array {
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.floor(r() * 256);
  return out;
}

/**
 * Max over i of |got[i] - want[i]| / scale[i], where scale[i] is the given
 * per-element magnitude (e.g. sum of |products| for a dot product).
 */
export function maxRelErr(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Math.abs(got[i]! - want[i]!) / Math.max(scale[i]!, 1e-30);
    if (!(e <= m)) m = e; // NaN-propagating
  }
  return m;
}

/** |x| elementwise. */
export function absArr(x: ArrayLike<number>): Float32Array {
  const o = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) o[i] = Math.abs(x[i]!);
  return o;
}

/** The variant under test: PANGU_KERNELS_VARIANT or the default choice. */
export function variantUnderTest(): KernelVariant | 'auto' {
  const v = process.env['PANGU_KERNELS_VARIANT'];
  return v === 'simd' || v === 'relaxed' ? v : 'auto';
}

const compiled = compileKernelsSync(variantUnderTest());

/** Fresh kernels + arena on a new shared memory. */
export function setup(initialBytes = 1 << 20): { k: Kernels; arena: Arena } {
  const memory = createSharedMemory(initialBytes);
  return { k: new Kernels(compiled.module, memory, compiled.variant), arena: new Arena(memory) };
}
