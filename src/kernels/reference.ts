// Plain TypeScript reference for every wasm kernel, plus the dtype helpers
// (bf16 / f16 / Q8_0 / Q4_0 / Q4_K / Q5_K / Q6_K) that the rest of the runtime can import.
//
// These are written to be obviously correct, not fast: scalar loops, f64
// accumulation, f32 rounding (Math.fround) only where the format demands it.
// Argument meanings match the wasm exports (see wasm.ts), but buffers are
// typed arrays and offsets are element indices.

import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../formats/dtype.js';
import * as ggml from '../formats/ggml-quants.js';

// ---------------------------------------------------------------- f32 bits

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE bits of Math.fround(x). */
export function f32ToBits(x: number): number {
  f32Scratch[0] = x;
  return u32Scratch[0]!;
}

/** f32 value of the given IEEE bits. */
export function bitsToF32(bits: number): number {
  u32Scratch[0] = bits >>> 0;
  return f32Scratch[0]!;
}

/** C roundf(): nearest, ties away from zero. */
export function roundAway(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

// ---------------------------------------------------------------- bf16 / f16

// The encodings belong to the file formats; the kernels are tested against the same functions.
export { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 };

// ---------------------------------------------------------------- block formats

/** Elements per Q8_0 / Q4_0 block. */
export const QK = 32;
/** Elements per Q4_K super-block. */
export const QK_K = 256;
/** Bytes per Q8_0 block: f16 d + 32 x i8. */
export const Q8_0_BYTES = 34;
/** Bytes per Q4_0 block: f16 d + 16 bytes of nibbles. */
export const Q4_0_BYTES = 18;
/** Bytes per Q5_0 block: f16 d, u32 of fifth bits, 16 bytes of nibbles. */
export const Q5_0_BYTES = 22;
/** Bytes per Q4_K super-block: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles. */
export const Q4_K_BYTES = 144;
/** Bytes per Q5_K super-block: Q4_K's plus 32 bytes of fifth bits. */
export const Q5_K_BYTES = 176;
/** Bytes per Q6_K super-block: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8 scales, f16 d. */
export const Q6_K_BYTES = 210;

/** The block-quantized weight types (their matmul takes quantized activations: Q8_0, or Q8_K for the K-quants' dot products). */
export type QuantWeightType = 'q8_0' | 'q4_0' | 'q5_0' | 'q4_k' | 'q5_k' | 'q6_k';
/**
 * Layouts the CPU backend makes at load from a quantized type, same bytes per row: 'q4_k_x4',
 * 'q8_0_x4', 'q5_0_x4' and 'q4_0_x4' are Q4_K, Q8_0, Q5_0 and Q4_0 with their rows interleaved by
 * four (src/kernels/interleave.ts), for the matvec.
 */
export type PackedWeightType = 'q4_k_x4' | 'q8_0_x4' | 'q5_0_x4' | 'q4_0_x4';
export type WeightType = 'f32' | 'bf16' | 'f16' | QuantWeightType | PackedWeightType;

/** Bytes of one weight row of `inDim` elements. Throws if inDim does not fit the block size. */
export function rowBytes(type: WeightType, inDim: number): number {
  switch (type) {
    case 'f32':
      return inDim * 4;
    case 'bf16':
    case 'f16':
      return inDim * 2;
    case 'q8_0':
    case 'q8_0_x4':
      checkBlocks(type, inDim, QK);
      return (inDim / QK) * Q8_0_BYTES;
    case 'q4_0':
    case 'q4_0_x4':
      checkBlocks(type, inDim, QK);
      return (inDim / QK) * Q4_0_BYTES;
    case 'q5_0':
    case 'q5_0_x4':
      checkBlocks(type, inDim, QK);
      return (inDim / QK) * Q5_0_BYTES;
    case 'q4_k':
    case 'q4_k_x4':
      checkBlocks(type, inDim, QK_K);
      return (inDim / QK_K) * Q4_K_BYTES;
    case 'q5_k':
      checkBlocks(type, inDim, QK_K);
      return (inDim / QK_K) * Q5_K_BYTES;
    case 'q6_k':
      checkBlocks(type, inDim, QK_K);
      return (inDim / QK_K) * Q6_K_BYTES;
  }
}

/** Throws a clear error unless `count` is a positive multiple of the block size. */
export function checkBlocks(type: string, count: number, block: number): void {
  if (!Number.isInteger(count) || count < 0 || count % block !== 0) {
    throw new RangeError(`${type}: length ${count} is not a multiple of the ${block}-element block size`);
  }
}

function readU16(b: Uint8Array, o: number): number {
  return b[o]! | (b[o + 1]! << 8);
}

function readU32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}

/** Copies `src` into `dst` when given (the kernels' calling convention), else returns it. */
function into<T extends Uint8Array | Float32Array>(src: T, dst?: T): T {
  if (!dst) return src;
  dst.set(src);
  return dst;
}

/** Q8_0 quantization as ggml's quantize_row_q8_0_ref (see formats/ggml-quants.ts). */
export function quantizeQ8_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  checkBlocks('q8_0', src.length, QK);
  return into(ggml.quantizeQ8_0(src), dst);
}

/** Q8_0 dequantization: x = q * d. */
export function dequantizeQ8_0(src: Uint8Array, count: number, dst?: Float32Array): Float32Array {
  checkBlocks('q8_0', count, QK);
  return into(ggml.dequantizeQ8_0(src.subarray(0, (count / QK) * Q8_0_BYTES)), dst);
}

/** Q8_K quantization as ggml's quantize_row_q8_K_ref: the activations of the K-quant dot products. */
export function quantizeQ8_K(src: Float32Array, dst?: Uint8Array): Uint8Array {
  checkBlocks('q8_k', src.length, QK_K);
  return into(ggml.quantizeQ8_K(src), dst);
}

/** Q8_K dequantization: x = q * d. */
export function dequantizeQ8_K(src: Uint8Array, count: number, dst?: Float32Array): Float32Array {
  checkBlocks('q8_k', count, QK_K);
  return into(ggml.dequantizeQ8_K(src.subarray(0, (count / QK_K) * 292)), dst);
}

/** Q4_0 quantization as ggml's quantize_row_q4_0_ref. */
export function quantizeQ4_0(src: Float32Array, dst?: Uint8Array): Uint8Array {
  checkBlocks('q4_0', src.length, QK);
  return into(ggml.quantizeQ4_0(src), dst);
}

/** Q4_0 dequantization: x[j] = (lo(qs[j]) - 8) * d, x[16 + j] = (hi(qs[j]) - 8) * d. */
export function dequantizeQ4_0(src: Uint8Array, count: number, dst?: Float32Array): Float32Array {
  checkBlocks('q4_0', count, QK);
  return into(ggml.dequantizeQ4_0(src.subarray(0, (count / QK) * Q4_0_BYTES)), dst);
}

/** Q4_K sub-block j (0..7) scale and min, 6 bits each, as ggml's get_scale_min_k4. */
export function q4kScaleMin(scales: Uint8Array, o: number, j: number): [number, number] {
  if (j < 4) return [scales[o + j]! & 63, scales[o + j + 4]! & 63];
  const sc = (scales[o + j + 4]! & 0x0f) | ((scales[o + j - 4]! >> 6) << 4);
  const m = (scales[o + j + 4]! >> 4) | ((scales[o + j]! >> 6) << 4);
  return [sc, m];
}

/** Q4_K dequantization (ggml dequantize_row_q4_K). */
export function dequantizeQ4_K(src: Uint8Array, count: number, dst?: Float32Array): Float32Array {
  checkBlocks('q4_k', count, QK_K);
  return into(ggml.dequantizeQ4_K(src.subarray(0, (count / QK_K) * Q4_K_BYTES)), dst);
}

/** Q5_K dequantization (ggml dequantize_row_q5_K). */
export function dequantizeQ5_K(src: Uint8Array, count: number, dst?: Float32Array): Float32Array {
  checkBlocks('q5_k', count, QK_K);
  return into(ggml.dequantizeQ5_K(src.subarray(0, (count / QK_K) * Q5_K_BYTES)), dst);
}

/** Q6_K dequantization (ggml dequantize_row_q6_K). */
export function dequantizeQ6_K(src: Uint8Array, count: number, dst?: Float32Array): Float32Array {
  checkBlocks('q6_k', count, QK_K);
  return into(ggml.dequantizeQ6_K(src.subarray(0, (count / QK_K) * Q6_K_BYTES)), dst);
}

/** f32 array -> bf16 bits. */
export function toBf16(src: ArrayLike<number>, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f32ToBf16(src[i]!);
  return dst;
}

/** bf16 bits -> f32 array. */
export function fromBf16(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = bf16ToF32(src[i]!);
  return dst;
}

/** f32 array -> f16 bits. */
export function toF16(src: ArrayLike<number>, dst: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = f32ToF16(src[i]!);
  return dst;
}

/** f16 bits -> f32 array. */
export function fromF16(src: Uint16Array, dst: Float32Array = new Float32Array(src.length)): Float32Array {
  for (let i = 0; i < src.length; i++) dst[i] = f16ToF32(src[i]!);
  return dst;
}

// ---------------------------------------------------------------- matmul

/**
 * out[n][rows] = x[n][inDim] . W[rows][inDim]^T for the W rows [r0, r1),
 * W given by an element accessor. f64 accumulation.
 */
function matmulWith(
  out: Float32Array, x: Float32Array, weight: (r: number, k: number) => number,
  n: number, inDim: number, rows: number, r0: number, r1: number,
): void {
  for (let j = 0; j < n; j++) {
    for (let r = r0; r < r1; r++) {
      let s = 0;
      for (let k = 0; k < inDim; k++) s += x[j * inDim + k]! * weight(r, k);
      out[j * rows + r] = s;
    }
  }
}

/** out[n][rows] = x[n][in] . W[rows][in]^T, W f32. */
export function matmulF32(out: Float32Array, x: Float32Array, w: Float32Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulWith(out, x, (r, k) => w[r * inDim + k]!, n, inDim, rows, r0, r1);
}

/** out[n][rows] = x[n][in] . W[rows][in]^T, W bf16 bits. */
export function matmulBf16(out: Float32Array, x: Float32Array, w: Uint16Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulWith(out, x, (r, k) => bf16ToF32(w[r * inDim + k]!), n, inDim, rows, r0, r1);
}

/** out[n][rows] = x[n][in] . W[rows][in]^T, W f16 bits. */
export function matmulF16(out: Float32Array, x: Float32Array, w: Uint16Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulWith(out, x, (r, k) => f16ToF32(w[r * inDim + k]!), n, inDim, rows, r0, r1);
}

/** out[n][rows] = x[n][in] f32 . dequant(W[rows] Q8_0)^T (the f32-activation path). */
export function matmulQ8_0F32(out: Float32Array, x: Float32Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  const wf = dequantizeQ8_0(w, rows * inDim);
  matmulF32(out, x, wf, n, inDim, rows, r0, r1);
}

/** out[n][rows] = x[n][in] f32 . dequant(W[rows] Q4_0)^T (the f32-activation path). */
export function matmulQ4_0F32(out: Float32Array, x: Float32Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  const wf = dequantizeQ4_0(w, rows * inDim);
  matmulF32(out, x, wf, n, inDim, rows, r0, r1);
}

/**
 * Integer-path matmul: xq = quantizeQ8_0(x) rows [n][in/32], W Q8_0, Q4_0 or Q5_0.
 * out = sum over blocks b of d_w(b) * d_x(b) * sum_k qw[k] * qx[k], where
 * Q4_0 qw = nibble - 8, Q5_0 qw = (nibble | fifth bit << 4) - 16. Block dots are
 * exact integers, accumulation in f64.
 */
function matmulQuantQ8(
  type: 'q8_0' | 'q4_0' | 'q5_0', out: Float32Array, xq: Uint8Array, w: Uint8Array,
  n: number, inDim: number, rows: number, r0: number, r1: number,
): void {
  checkBlocks(type, inDim, QK);
  const nb = inDim / QK;
  const wb = type === 'q8_0' ? Q8_0_BYTES : type === 'q4_0' ? Q4_0_BYTES : Q5_0_BYTES;
  for (let j = 0; j < n; j++) {
    for (let r = r0; r < r1; r++) {
      let s = 0;
      for (let b = 0; b < nb; b++) {
        const xo = (j * nb + b) * Q8_0_BYTES;
        const wo = (r * nb + b) * wb;
        let isum = 0;
        for (let k = 0; k < QK; k++) {
          const qx = (xq[xo + 2 + k]! << 24) >> 24;
          let qw: number;
          if (type === 'q8_0') qw = (w[wo + 2 + k]! << 24) >> 24;
          else if (type === 'q4_0') qw = (k < 16 ? w[wo + 2 + k]! & 0x0f : w[wo + 2 + k - 16]! >> 4) - 8;
          else qw = ((k < 16 ? w[wo + 6 + k]! & 0x0f : w[wo + 6 + k - 16]! >> 4) | (((readU32(w, wo + 2) >>> k) & 1) << 4)) - 16;
          isum += qw * qx;
        }
        s += f16ToF32(readU16(w, wo)) * f16ToF32(readU16(xq, xo)) * isum;
      }
      out[j * rows + r] = s;
    }
  }
}

/** out[n][rows] = xq[n] Q8_0 . W[rows] Q8_0 ^T (integer path; xq = quantizeQ8_0(x)). */
export function matmulQ8_0(out: Float32Array, xq: Uint8Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulQuantQ8('q8_0', out, xq, w, n, inDim, rows, r0, r1);
}

/** out[n][rows] = xq[n] Q8_0 . W[rows] Q4_0 ^T (integer path; xq = quantizeQ8_0(x)). */
export function matmulQ4_0(out: Float32Array, xq: Uint8Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulQuantQ8('q4_0', out, xq, w, n, inDim, rows, r0, r1);
}

/** out[n][rows] = xq[n] Q8_0 . W[rows] Q5_0 ^T (integer path; xq = quantizeQ8_0(x)). */
export function matmulQ5_0(out: Float32Array, xq: Uint8Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulQuantQ8('q5_0', out, xq, w, n, inDim, rows, r0, r1);
}

/**
 * out[n][rows] = xq[n] Q8_0 . W[rows] Q4_K / Q5_K ^T (integer path). For each
 * 32-element sub-block s (scale sc, min m) against activation block s:
 *   d_x * (d * sc * sum(q * qx) - dmin * m * sum(qx)),
 * q the 4-bit level (Q4_K), or for Q5_K the nibble + 16 * (bit s of qh[l])
 * for value l of sub-block s.
 */
function matmulQ45_K(type: 'q4_k' | 'q5_k', out: Float32Array, xq: Uint8Array, w: Uint8Array, n: number, inDim: number, rows: number, r0: number, r1: number): void {
  checkBlocks(type, inDim, QK_K);
  const nsb = inDim / QK_K;
  const nb = inDim / QK;
  const five = type === 'q5_k';
  const blockBytes = five ? Q5_K_BYTES : Q4_K_BYTES;
  const qs = five ? 48 : 16; // offset of the nibbles in a super-block (Q5_K: after qh[32])
  for (let j = 0; j < n; j++) {
    for (let r = r0; r < r1; r++) {
      let s = 0;
      for (let sb = 0; sb < nsb; sb++) {
        const wo = (r * nsb + sb) * blockBytes;
        const d = f16ToF32(readU16(w, wo));
        const dmin = f16ToF32(readU16(w, wo + 2));
        for (let sub = 0; sub < 8; sub++) {
          const [sc, m] = q4kScaleMin(w, wo + 4, sub);
          const xo = (j * nb + sb * 8 + sub) * Q8_0_BYTES;
          const c = sub >> 1;
          let isum = 0;
          let xsum = 0;
          for (let l = 0; l < 32; l++) {
            const byte = w[wo + qs + 32 * c + l]!;
            const q = (sub & 1 ? byte >> 4 : byte & 0x0f) + (five ? ((w[wo + 16 + l]! >> sub) & 1) * 16 : 0);
            const qx = (xq[xo + 2 + l]! << 24) >> 24;
            isum += q * qx;
            xsum += qx;
          }
          s += f16ToF32(readU16(xq, xo)) * (d * sc * isum - dmin * m * xsum);
        }
      }
      out[j * rows + r] = s;
    }
  }
}

/** out[n][rows] = xq[n] Q8_0 . W[rows] Q4_K ^T (integer path, see matmulQ45_K). */
export function matmulQ4_K(out: Float32Array, xq: Uint8Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulQ45_K('q4_k', out, xq, w, n, inDim, rows, r0, r1);
}

/** out[n][rows] = x[n][in] f32 . dequant(W[rows] Q4_K)^T (the f32-activation path). */
export function matmulQ4_KF32(out: Float32Array, x: Float32Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  const wf = dequantizeQ4_K(w, rows * inDim);
  matmulF32(out, x, wf, n, inDim, rows, r0, r1);
}

/** out[n][rows] = xq[n] Q8_0 . W[rows] Q5_K ^T (integer path, see matmulQ45_K). */
export function matmulQ5_K(out: Float32Array, xq: Uint8Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulQ45_K('q5_k', out, xq, w, n, inDim, rows, r0, r1);
}

/** out[n][rows] = x[n][in] f32 . dequant(W[rows] Q5_K)^T (the f32-activation path). */
export function matmulQ5_KF32(out: Float32Array, x: Float32Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulF32(out, x, dequantizeQ5_K(w, rows * inDim), n, inDim, rows, r0, r1);
}

/**
 * out[n][rows] = xq[n] Q8_0 . W[rows] Q6_K ^T (integer path). Value
 * v = 128h + 32k + l of a super-block: 6-bit level q from ql / qh, int8
 * scale sc[v / 16]; per activation block: d_x * d * sum_v sc * (q - 32) * qx.
 */
export function matmulQ6_K(out: Float32Array, xq: Uint8Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  checkBlocks('q6_k', inDim, QK_K);
  const nsb = inDim / QK_K;
  const nb = inDim / QK;
  for (let j = 0; j < n; j++) {
    for (let r = r0; r < r1; r++) {
      let s = 0;
      for (let sb = 0; sb < nsb; sb++) {
        const wo = (r * nsb + sb) * Q6_K_BYTES;
        const d = f16ToF32(readU16(w, wo + 208));
        for (let b = 0; b < 8; b++) {
          const h = b >> 2, k = b & 3;
          const xo = (j * nb + sb * 8 + b) * Q8_0_BYTES;
          let isum = 0;
          for (let l = 0; l < 32; l++) {
            const lo = w[wo + 64 * h + 32 * (k & 1) + l]!;
            const hi = (w[wo + 128 + 32 * h + l]! >> (2 * k)) & 3;
            const q = ((k < 2 ? lo & 0x0f : lo >> 4) | (hi << 4)) - 32;
            const sc = (w[wo + 192 + 8 * h + 2 * k + (l >> 4)]! << 24) >> 24;
            const qx = (xq[xo + 2 + l]! << 24) >> 24;
            isum += sc * q * qx;
          }
          s += f16ToF32(readU16(xq, xo)) * d * isum;
        }
      }
      out[j * rows + r] = s;
    }
  }
}

/** out[n][rows] = x[n][in] f32 . dequant(W[rows] Q6_K)^T (the f32-activation path). */
export function matmulQ6_KF32(out: Float32Array, x: Float32Array, w: Uint8Array, n: number, inDim: number, rows: number, r0 = 0, r1 = rows): void {
  matmulF32(out, x, dequantizeQ6_K(w, rows * inDim), n, inDim, rows, r0, r1);
}

// ---------------------------------------------------------------- row ops

/** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, rows [r0, r1) of [*, dim]. */
export function rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array, dim: number, eps: number, r0: number, r1: number): void {
  for (let r = r0; r < r1; r++) {
    let ss = 0;
    for (let k = 0; k < dim; k++) ss += x[r * dim + k]! ** 2;
    const inv = 1 / Math.sqrt(ss / dim + eps);
    for (let k = 0; k < dim; k++) out[r * dim + k] = x[r * dim + k]! * inv * w[k]!;
  }
}

/** Stable softmax in place over rows [r0, r1) of [*, len]. */
export function softmax(x: Float32Array, len: number, r0: number, r1: number): void {
  for (let r = r0; r < r1; r++) {
    let m = -Infinity;
    for (let k = 0; k < len; k++) m = Math.max(m, x[r * len + k]!);
    let s = 0;
    for (let k = 0; k < len; k++) s += Math.exp(x[r * len + k]! - m);
    for (let k = 0; k < len; k++) x[r * len + k] = Math.exp(x[r * len + k]! - m) / s;
  }
}

/** out = silu(g) * u = g / (1 + exp(-g)) * u. */
export function swiglu(out: Float32Array, g: Float32Array, u: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) out[i] = (g[i]! / (1 + Math.exp(-g[i]!))) * u[i]!;
}

/** out = a + b. */
export function add(out: Float32Array, a: Float32Array, b: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) out[i] = a[i]! + b[i]!;
}

/** out = a * b. */
export function mul(out: Float32Array, a: Float32Array, b: Float32Array, count: number): void {
  for (let i = 0; i < count; i++) out[i] = a[i]! * b[i]!;
}

/** y += alpha * x. */
export function axpy(y: Float32Array, x: Float32Array, alpha: number, count: number): void {
  for (let i = 0; i < count; i++) y[i] = y[i]! + alpha * x[i]!;
}

/** out = alpha * x. */
export function scale(out: Float32Array, x: Float32Array, alpha: number, count: number): void {
  for (let i = 0; i < count; i++) out[i] = alpha * x[i]!;
}

/** RoPE inverse frequencies: invFreq[i] = theta^(-2i / headDim), i < headDim/2, as f32. */
export function ropeInvFreq(headDim: number, theta: number): Float32Array {
  if (headDim % 2 !== 0) throw new RangeError(`rope: head_dim ${headDim} must be even`);
  const f = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) f[i] = theta ** ((-2 * i) / headDim);
  return f;
}

/**
 * NeoX ("rotate_half") RoPE in place on x[row][nHeads][headDim], rows
 * [r0, r1), row i at position p0 + i. Angle a = f32(pos * invFreq[j]);
 * pairs (j, j + headDim/2).
 */
export function ropeNeox(x: Float32Array, invFreq: Float32Array, nHeads: number, headDim: number, p0: number, r0: number, r1: number): void {
  const half = headDim / 2;
  for (let r = r0; r < r1; r++) {
    for (let h = 0; h < nHeads; h++) {
      const o = (r * nHeads + h) * headDim;
      for (let j = 0; j < half; j++) {
        const a = Math.fround((p0 + r) * invFreq[j]!);
        const c = Math.cos(a);
        const s = Math.sin(a);
        const u = x[o + j]!;
        const v = x[o + half + j]!;
        x[o + j] = u * c - v * s;
        x[o + half + j] = v * c + u * s;
      }
    }
  }
}

/**
 * Causal grouped-query attention, query heads [h0, h1).
 * q, out [n][nHeads][headDim]; k, v [>= p0+n][nKv][headDim];
 * query row i (position p0+i) attends to positions 0..p0+i.
 */
export function attention(
  out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array,
  n: number, p0: number, nHeads: number, nKv: number, headDim: number, scale: number, h0: number, h1: number,
): void {
  const group = nHeads / nKv;
  for (let h = h0; h < h1; h++) {
    const g = Math.floor(h / group);
    for (let i = 0; i < n; i++) {
      const len = p0 + i + 1;
      const qo = (i * nHeads + h) * headDim;
      const scores = new Float64Array(len);
      let m = -Infinity;
      for (let t = 0; t < len; t++) {
        const ko = (t * nKv + g) * headDim;
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[qo + d]! * k[ko + d]!;
        scores[t] = s * scale;
        m = Math.max(m, scores[t]!);
      }
      let sum = 0;
      for (let t = 0; t < len; t++) {
        scores[t] = Math.exp(scores[t]! - m);
        sum += scores[t]!;
      }
      for (let d = 0; d < headDim; d++) {
        let a = 0;
        for (let t = 0; t < len; t++) a += scores[t]! * v[(t * nKv + g) * headDim + d]!;
        out[qo + d] = a / sum;
      }
    }
  }
}
