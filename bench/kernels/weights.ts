// Weight matrices for the kernel benchmarks: deterministic bytes with finite scales, copied enough
// times to exceed the caches so a matvec streams from DRAM.
import { rowBytes, type Arena, type WeightType } from '../../src/kernels/wasm.js';

/** Fills bytes with a deterministic pattern that keeps f16/bf16 scales finite. */
export function fillWeights(arena: Arena, type: WeightType, ptr: number, rows: number, inDim: number): void {
  const bytes = rowBytes(type, inDim) * rows;
  const u8 = arena.u8(ptr, bytes);
  let s = 12345;
  for (let i = 0; i < bytes; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    u8[i] = s >>> 24;
  }
  const setHalf = (o: number, h: number): void => {
    u8[o] = h & 0xff;
    u8[o + 1] = h >> 8;
  };
  const n = rows * inDim;
  if (type === 'f32') arena.f32(ptr, n).forEach((_, i, a) => (a[i] = ((i * 7919) % 1000) / 1000 - 0.5));
  else if (type === 'bf16' || type === 'f16') for (let i = 0; i < n; i++) setHalf(2 * i, type === 'bf16' ? 0x3c00 + (i % 97) : 0x2c00 + (i % 97));
  else if (type === 'q8_0') for (let b = 0; b < n / 32; b++) setHalf(b * 34, 0x2000);
  else if (type === 'q4_0') for (let b = 0; b < n / 32; b++) setHalf(b * 18, 0x2000);
  else if (type === 'q5_0') for (let b = 0; b < n / 32; b++) setHalf(b * 22, 0x2000);
  else if (type === 'q6_k') for (let b = 0; b < n / 256; b++) setHalf(b * 210 + 208, 0x2000);
  else {
    const size = type === 'q5_k' ? 176 : 144;
    for (let b = 0; b < n / 256; b++) {
      setHalf(b * size, 0x2000);
      setHalf(b * size + 2, 0x2000);
    }
  }
}

/** Enough filled copies of a [rows, inDim] matrix to cover `workingSet` bytes; their offsets. */
export function weightCopies(arena: Arena, type: WeightType, rows: number, inDim: number, workingSet: number): number[] {
  const wBytes = rowBytes(type, inDim) * rows;
  return Array.from({ length: Math.max(1, Math.ceil(workingSet / wBytes)) }, () => {
    const p = arena.alloc(wBytes);
    fillWeights(arena, type, p, rows, inDim);
    return p;
  });
}
