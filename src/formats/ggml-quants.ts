// GGML tensor types (as stored in GGUF files) and reference block quantization.
//
// A block type stores a row of n values as n / blockSize blocks of typeSize bytes each; rows must
// hold a whole number of blocks. The quantizers follow ggml's *_ref functions (ggml-quants.c)
// operation by operation in float32 (every intermediate rounded with Math.fround, no fused
// multiply-add), so their output is byte-identical to a ggml build without FMA contraction;
// the dequantizers are exact. See docs/GGUF.md for the layouts and the error bounds.
import { f16ToF32, f32ToF16, toFloat32, type DType } from './dtype.js';

/** The block-quantized types this project reads and writes. */
export type BlockDType = 'Q8_0' | 'Q4_0' | 'Q5_0' | 'Q4_K' | 'Q5_K' | 'Q6_K';
/** Any element type a weight tensor can have: a plain dtype or a block type. */
export type TensorDType = DType | BlockDType;

export interface GgmlType {
  /** ggml's name (GGML_TYPE_<name>). */
  name: string;
  /** ggml's type id, as written in GGUF tensor infos. */
  id: number;
  /** Values per block (1 for plain types). */
  blockSize: number;
  /** Bytes per block. */
  typeSize: number;
}

const QK_K = 256;

/** Every type id ggml defines (ggml.h), with block size and bytes per block. */
export const GGML_TYPES: readonly GgmlType[] = [
  { name: 'F32', id: 0, blockSize: 1, typeSize: 4 },
  { name: 'F16', id: 1, blockSize: 1, typeSize: 2 },
  { name: 'Q4_0', id: 2, blockSize: 32, typeSize: 2 + 16 },
  { name: 'Q4_1', id: 3, blockSize: 32, typeSize: 2 + 2 + 16 },
  { name: 'Q5_0', id: 6, blockSize: 32, typeSize: 2 + 4 + 16 },
  { name: 'Q5_1', id: 7, blockSize: 32, typeSize: 2 + 2 + 4 + 16 },
  { name: 'Q8_0', id: 8, blockSize: 32, typeSize: 2 + 32 },
  { name: 'Q8_1', id: 9, blockSize: 32, typeSize: 4 + 4 + 32 },
  { name: 'Q2_K', id: 10, blockSize: QK_K, typeSize: 2 + 2 + QK_K / 16 + QK_K / 4 },
  { name: 'Q3_K', id: 11, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 + 12 },
  { name: 'Q4_K', id: 12, blockSize: QK_K, typeSize: 2 + 2 + 12 + QK_K / 2 },
  { name: 'Q5_K', id: 13, blockSize: QK_K, typeSize: 2 + 2 + 12 + QK_K / 2 + QK_K / 8 },
  { name: 'Q6_K', id: 14, blockSize: QK_K, typeSize: 2 + QK_K / 2 + QK_K / 4 + QK_K / 16 },
  { name: 'Q8_K', id: 15, blockSize: QK_K, typeSize: 4 + QK_K + QK_K / 8 },
  { name: 'IQ2_XXS', id: 16, blockSize: QK_K, typeSize: 2 + QK_K / 4 },
  { name: 'IQ2_XS', id: 17, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 32 },
  { name: 'IQ3_XXS', id: 18, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 },
  { name: 'IQ1_S', id: 19, blockSize: QK_K, typeSize: 2 + QK_K / 8 + QK_K / 16 },
  { name: 'IQ4_NL', id: 20, blockSize: 32, typeSize: 2 + 16 },
  { name: 'IQ3_S', id: 21, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4 },
  { name: 'IQ2_S', id: 22, blockSize: QK_K, typeSize: 2 + QK_K / 4 + QK_K / 16 },
  { name: 'IQ4_XS', id: 23, blockSize: QK_K, typeSize: 2 + 2 + QK_K / 2 + QK_K / 64 },
  { name: 'I8', id: 24, blockSize: 1, typeSize: 1 },
  { name: 'I16', id: 25, blockSize: 1, typeSize: 2 },
  { name: 'I32', id: 26, blockSize: 1, typeSize: 4 },
  { name: 'I64', id: 27, blockSize: 1, typeSize: 8 },
  { name: 'F64', id: 28, blockSize: 1, typeSize: 8 },
  { name: 'IQ1_M', id: 29, blockSize: QK_K, typeSize: QK_K / 8 + QK_K / 16 + QK_K / 32 },
  { name: 'BF16', id: 30, blockSize: 1, typeSize: 2 },
  { name: 'TQ1_0', id: 34, blockSize: QK_K, typeSize: 2 + 4 * 13 },
  { name: 'TQ2_0', id: 35, blockSize: QK_K, typeSize: 2 + 64 },
  { name: 'MXFP4', id: 39, blockSize: 32, typeSize: 1 + 16 },
  { name: 'NVFP4', id: 40, blockSize: 64, typeSize: 4 + 32 },
  { name: 'Q1_0', id: 41, blockSize: 128, typeSize: 2 + 16 },
  { name: 'Q2_0', id: 42, blockSize: 64, typeSize: 2 + 16 },
];

const BY_ID = new Map(GGML_TYPES.map((t) => [t.id, t]));
const BY_NAME = new Map(GGML_TYPES.map((t) => [t.name, t]));

export function ggmlTypeById(id: number): GgmlType | undefined {
  return BY_ID.get(id);
}

export function ggmlType(name: string): GgmlType {
  const t = BY_NAME.get(name);
  if (!t) throw new Error(`unknown GGML type ${JSON.stringify(name)}`);
  return t;
}

/** GGML types whose values this project can decode to float32. */
export const SUPPORTED_TYPES: readonly TensorDType[] = ['F32', 'F16', 'BF16', 'F64', 'Q8_0', 'Q4_0', 'Q5_0', 'Q4_K', 'Q5_K', 'Q6_K'];

export function isBlockDType(t: string): t is BlockDType {
  return t === 'Q8_0' || t === 'Q4_0' || t === 'Q5_0' || t === 'Q4_K' || t === 'Q5_K' || t === 'Q6_K';
}

/** Bytes of a row-major tensor of `dtype` with `shape` (last dimension innermost). */
export function tensorByteLength(dtype: TensorDType | string, shape: readonly number[]): number {
  const t = ggmlType(dtype);
  const n = shape.reduce((a, b) => a * b, 1);
  const row = shape.length ? shape[shape.length - 1]! : 1;
  if (row % t.blockSize !== 0) {
    throw new Error(`a row of ${row} values is not a whole number of ${t.name} blocks (${t.blockSize} values each)`);
  }
  return (n / t.blockSize) * t.typeSize;
}

/** Decodes raw little-endian tensor bytes of any supported type into float32. */
export function decodeToFloat32(dtype: TensorDType, bytes: Uint8Array): Float32Array {
  switch (dtype) {
    case 'Q8_0': return dequantizeQ8_0(bytes);
    case 'Q4_0': return dequantizeQ4_0(bytes);
    case 'Q5_0': return dequantizeQ5_0(bytes);
    case 'Q4_K': return dequantizeQ4_K(bytes);
    case 'Q5_K': return dequantizeQ5_K(bytes);
    case 'Q6_K': return dequantizeQ6_K(bytes);
    default: return toFloat32(dtype, bytes);
  }
}

/** Quantizes float32 values (a whole number of blocks) into a block type. */
export function quantize(dtype: BlockDType, x: Float32Array): Uint8Array {
  switch (dtype) {
    case 'Q8_0': return quantizeQ8_0(x);
    case 'Q4_0': return quantizeQ4_0(x);
    case 'Q5_0': return quantizeQ5_0(x);
    case 'Q4_K': return quantizeQ4_K(x);
    case 'Q5_K': return quantizeQ5_K(x);
    case 'Q6_K': return quantizeQ6_K(x);
  }
}

function checkWhole(name: string, n: number, blockSize: number): void {
  if (n % blockSize !== 0) throw new Error(`${name}: ${n} values are not a whole number of blocks of ${blockSize}`);
}

function checkOut(name: string, out: Uint8Array | undefined, bytes: number): Uint8Array {
  if (!out) return new Uint8Array(bytes);
  if (out.byteLength !== bytes) throw new Error(`${name}: output holds ${out.byteLength} bytes, the blocks need ${bytes}`);
  return out;
}

function checkBytes(name: string, bytes: Uint8Array, typeSize: number): number {
  if (bytes.byteLength % typeSize !== 0) {
    throw new Error(`${name}: ${bytes.byteLength} bytes are not a whole number of ${typeSize}-byte blocks`);
  }
  return bytes.byteLength / typeSize;
}



/** C's roundf: half away from zero. */
function roundf(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

// ---------------------------------------------------------------------------------------------
// Q8_0: per 32 values, d (f16) then 32 int8 q; x = q * d.

/** Q8_0 blocks of x, written into `out` (x.length / 32 * 34 bytes; a new array by default). */
export function quantizeQ8_0(x: Float32Array, out?: Uint8Array): Uint8Array {
  checkWhole('Q8_0', x.length, 32);
  const nb = x.length / 32;
  out = checkOut('Q8_0', out, nb * 34);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < nb; i++) {
    const o = i * 32;
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[o + j]!));
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(i * 34, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) out[i * 34 + 2 + j] = roundf(Math.fround(x[o + j]! * id)) & 0xff;
  }
  return out;
}

export function dequantizeQ8_0(bytes: Uint8Array): Float32Array {
  const nb = checkBytes('Q8_0', bytes, 34);
  const out = new Float32Array(nb * 32);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < nb; i++) {
    const d = f16ToF32(view.getUint16(i * 34, true));
    for (let j = 0; j < 32; j++) out[i * 32 + j] = view.getInt8(i * 34 + 2 + j) * d;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Q8_K: per 256 values, d (f32), 256 int8 q, then 16 i16 bsums (sums of 16 q each); x = q * d.
// Not a weight type: ggml quantizes the activations of the K-quant dot products to it.

/** Q8_K blocks of x as ggml's quantize_row_q8_K_ref (x.length / 256 * 292 bytes). */
export function quantizeQ8_K(x: Float32Array, out?: Uint8Array): Uint8Array {
  checkWhole('Q8_K', x.length, QK_K);
  const nb = x.length / QK_K;
  out = checkOut('Q8_K', out, nb * 292);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < nb; i++) {
    const o = i * QK_K, bo = i * 292;
    // max: the first value of largest magnitude
    let amax = 0, max = 0;
    for (let j = 0; j < QK_K; j++) {
      const ax = Math.abs(x[o + j]!);
      if (ax > amax) { amax = ax; max = x[o + j]!; }
    }
    out.fill(0, bo, bo + 292);
    if (amax === 0) continue;
    const iscale = Math.fround(-127 / max);
    for (let j = 0; j < QK_K; j++) out[bo + 4 + j] = Math.min(127, nearestInt(Math.fround(iscale * x[o + j]!))) & 0xff;
    for (let j = 0; j < 16; j++) {
      let sum = 0;
      for (let l = 0; l < 16; l++) sum += view.getInt8(bo + 4 + 16 * j + l);
      view.setInt16(bo + 260 + 2 * j, sum, true);
    }
    view.setFloat32(bo, Math.fround(1 / iscale), true);
  }
  return out;
}

export function dequantizeQ8_K(bytes: Uint8Array): Float32Array {
  const nb = checkBytes('Q8_K', bytes, 292);
  const out = new Float32Array(nb * QK_K);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < nb; i++) {
    const d = view.getFloat32(i * 292, true);
    for (let j = 0; j < QK_K; j++) out[i * QK_K + j] = view.getInt8(i * 292 + 4 + j) * d;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Q4_0: per 32 values, d (f16) then 16 bytes; byte j holds q[j] (low nibble) and q[j+16] (high);
// x = (q - 8) * d. d = -max/8 where max is the value of largest magnitude (first one on ties).

/** Q4_0 blocks of x, written into `out` (x.length / 32 * 18 bytes; a new array by default). */
export function quantizeQ4_0(x: Float32Array, out?: Uint8Array): Uint8Array {
  checkWhole('Q4_0', x.length, 32);
  const nb = x.length / 32;
  out = checkOut('Q4_0', out, nb * 18);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < nb; i++) {
    const o = i * 32;
    const d = Math.fround(extreme32(x, o) / -8);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(i * 18, f32ToF16(d), true);
    for (let j = 0; j < 16; j++) {
      out[i * 18 + 2 + j] = (level(x[o + j]!, id, 8, 15) & 0x0f) | ((level(x[o + 16 + j]!, id, 8, 15) & 0x0f) << 4);
    }
  }
  return out;
}

/** The value of largest magnitude among x[o .. o + 32) (the first one on ties): the scale Q4_0 / Q5_0 derive d from. */
function extreme32(x: Float32Array, o: number): number {
  let amax = 0, max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[o + j]!;
    if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
  }
  return max;
}

/** Q4_0 / Q5_0's level of v: (int8_t)(v * id + (half + 0.5f)), a truncation toward zero, then at most top. */
function level(v: number, id: number, half: number, top: number): number {
  return Math.min(top, Math.trunc(Math.fround(Math.fround(v * id) + (half + 0.5))));
}

export function dequantizeQ4_0(bytes: Uint8Array): Float32Array {
  const nb = checkBytes('Q4_0', bytes, 18);
  const out = new Float32Array(nb * 32);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < nb; i++) {
    const d = f16ToF32(view.getUint16(i * 18, true));
    for (let j = 0; j < 16; j++) {
      const b = bytes[i * 18 + 2 + j]!;
      out[i * 32 + j] = ((b & 0x0f) - 8) * d;
      out[i * 32 + 16 + j] = ((b >> 4) - 8) * d;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Q5_0: per 32 values, d (f16), qh (u32: bit j is the fifth bit of q[j]), then 16 bytes as Q4_0's
// (byte j: q[j] low nibble, q[j+16] high); x = (q - 16) * d, d = -max/16. llama-quantize's
// fallback for Q4_K rows that are not a whole number of 256-value super-blocks.

/** Q5_0 blocks of x, written into `out` (x.length / 32 * 22 bytes; a new array by default). */
export function quantizeQ5_0(x: Float32Array, out?: Uint8Array): Uint8Array {
  checkWhole('Q5_0', x.length, 32);
  const nb = x.length / 32;
  out = checkOut('Q5_0', out, nb * 22);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let i = 0; i < nb; i++) {
    const o = i * 32;
    const d = Math.fround(extreme32(x, o) / -16);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(i * 22, f32ToF16(d), true);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const q0 = level(x[o + j]!, id, 16, 31), q1 = level(x[o + 16 + j]!, id, 16, 31);
      out[i * 22 + 6 + j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
      qh |= ((q0 >> 4) & 1) << j;
      qh |= ((q1 >> 4) & 1) << (j + 16);
    }
    view.setUint32(i * 22 + 2, qh >>> 0, true);
  }
  return out;
}

export function dequantizeQ5_0(bytes: Uint8Array): Float32Array {
  const nb = checkBytes('Q5_0', bytes, 22);
  const out = new Float32Array(nb * 32);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < nb; i++) {
    const d = f16ToF32(view.getUint16(i * 22, true));
    const qh = view.getUint32(i * 22 + 2, true);
    for (let j = 0; j < 16; j++) {
      const b = bytes[i * 22 + 6 + j]!;
      out[i * 32 + j] = (((b & 0x0f) | (((qh >>> j) & 1) << 4)) - 16) * d;
      out[i * 32 + 16 + j] = (((b >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16) * d;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Q4_K: super-blocks of 256 values = 8 sub-blocks of 32. Layout: d (f16), dmin (f16),
// scales[12] (8 six-bit scales and 8 six-bit mins, packed), qs[128] (4-bit q; each 32-byte
// group holds sub-block 2k in its low nibbles and 2k+1 in its high nibbles).
// x = d*sc[j]*q - dmin*m[j].

const f32b = new Float32Array(1);
const u32b = new Uint32Array(f32b.buffer);

/** ggml's nearest_int: round half to even through the float32 add of 1.5*2^23, bit for bit. */
function nearestInt(f: number): number {
  // Within ggml's asserted range the float32 sum is exact up to the rounding wanted (f is a float32).
  if (f >= -4194303 && f <= 4194303) return Math.fround(f + 12582912) - 12582912;
  f32b[0] = f + 12582912;
  return (u32b[0]! & 0x007fffff) - 0x00400000;
}

/** Sub-block j's 6-bit scale and min from the 12 packed bytes at `q`. */
function scaleMinK4(j: number, q: Uint8Array, o: number): [number, number] {
  if (j < 4) return [q[o + j]! & 63, q[o + j + 4]! & 63];
  return [(q[o + j + 4]! & 0xf) | ((q[o + j - 4]! >> 6) << 4), (q[o + j + 4]! >> 4) | ((q[o + j]! >> 6) << 4)];
}

/** Scratch for makeQkx2Quants: x - min of the sub-block, and the previous step's levels. */
const XM = new Float32Array(32);
const PREV = new Uint8Array(32);

/**
 * ggml's make_qkx2_quants for one sub-block: fits x ≈ scale*L - min with L in 0..nmax, weighted
 * least squares over a small search of scales. Writes L, returns [scale, min] (min >= 0).
 * Operation for operation as in C, in float32. Two exact shortcuts: x - min is computed once
 * per value of min (C recomputes the same floats each step), and a step whose levels equal the previous step's is
 * skipped (it would reproduce that step's error, which can never beat the best so far).
 */
function makeQkx2Quants(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array,
  L: Uint8Array, lo: number, Laux: Uint8Array, rmin: number, rdelta: number, nstep: number): [number, number] {
  const fr = Math.fround;
  let min = x[xo]!, max = x[xo]!;
  let sumW = weights[0]!;
  let sumX = fr(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = fr(sumW + w);
    sumX = fr(sumX + fr(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return [0, -min];
  }
  let range = fr(max - min);
  for (let i = 0; i < n; i++) XM[i] = x[xo + i]! - min;
  let iscale = fr(nmax / range);
  let scale = fr(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(fr(iscale * XM[i]!));
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = l;
    const diff = fr(fr(fr(scale * l) + min) - x[xo + i]!);
    bestError = fr(bestError + fr(weights[i]! * fr(diff * diff)));
  }
  if (nstep < 1) return [scale, -min];
  let havePrev = false;
  for (let is = 0; is <= nstep; is++) {
    iscale = fr(fr(fr(rmin + fr(rdelta * is)) + nmax) / range);
    let same = havePrev;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(fr(iscale * XM[i]!));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      if (l !== PREV[i]) same = false;
      Laux[i] = l;
    }
    if (same) continue;
    PREV.set(Laux.subarray(0, n));
    havePrev = true;
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = Laux[i]!;
      const wl = fr(weights[i]! * l);
      sumL = fr(sumL + wl);
      sumL2 = fr(sumL2 + fr(wl * l));
      sumXL = fr(sumXL + fr(wl * x[xo + i]!));
    }
    const D = fr(fr(sumW * sumL2) - fr(sumL * sumL));
    if (D > 0) {
      let thisScale = fr(fr(fr(sumW * sumXL) - fr(sumX * sumL)) / D);
      let thisMin = fr(fr(fr(sumL2 * sumX) - fr(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fr(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        const diff = fr(fr(fr(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        curError = fr(curError + fr(weights[i]! * fr(diff * diff)));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
        // Later steps see the new min, as in C.
        range = fr(max - min);
        for (let i = 0; i < n; i++) XM[i] = x[xo + i]! - min;
      }
    }
  }
  return [scale, -min];
}

/** Scratch of the Q4_K / Q5_K quantizers. */
const KL = new Uint8Array(QK_K), KLAUX = new Uint8Array(32), KW = new Float32Array(32);
const KMINS = new Float32Array(8), KSCALES = new Float32Array(8);

/**
 * The part quantize_row_q4_K_ref and quantize_row_q5_K_ref share: fits the 8 sub-blocks of the
 * super-block at x[xo] with levels 0..nmax (make_qkx2_quants(32, nmax, ..., rmin, 0.1, nstep)),
 * writes d, dmin and the 12 packed scale bytes at out[bo..bo+16) and the final levels to KL.
 */
function quantizeKScaleMin(x: Float32Array, xo: number, out: Uint8Array, view: DataView, bo: number,
  nmax: number, rmin: number, nstep: number): void {
  const L = KL, weights = KW, mins = KMINS, scales = KSCALES, so = bo + 4;
  let maxScale = 0, maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = Math.fround(sumX2 + Math.fround(x[xo + 32 * j + l]! * x[xo + 32 * j + l]!));
    const avX = Math.fround(Math.sqrt(Math.fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = Math.fround(avX + Math.abs(x[xo + 32 * j + l]!));
    const [sc, mn] = makeQkx2Quants(32, nmax, x, xo + 32 * j, weights, L, 32 * j, KLAUX, rmin, Math.fround(0.1), nstep);
    scales[j] = sc;
    mins[j] = mn;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? Math.fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? Math.fround(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    const ls = Math.min(63, nearestInt(Math.fround(invScale * scales[j]!)) & 0xff);
    const lm = Math.min(63, nearestInt(Math.fround(invMin * mins[j]!)) & 0xff);
    if (j < 4) {
      out[so + j] = ls;
      out[so + j + 4] = lm;
    } else {
      out[so + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      out[so + j - 4]! |= (ls >> 4) << 6;
      out[so + j]! |= (lm >> 4) << 6;
    }
  }
  const d16 = f32ToF16(Math.fround(maxScale / 63)), dmin16 = f32ToF16(Math.fround(maxMin / 63));
  view.setUint16(bo, d16, true);
  view.setUint16(bo + 2, dmin16, true);
  const dAll = f16ToF32(d16), dminAll = f16ToF32(dmin16);
  for (let j = 0; j < 8; j++) {
    const [sc, m] = scaleMinK4(j, out, so);
    const d = Math.fround(dAll * sc);
    if (!d) continue; // keeps the L found by makeQkx2Quants, as ggml does
    const dm = Math.fround(dminAll * m);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(Math.fround(Math.fround(x[xo + 32 * j + ii]! + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

/** quantize_row_q4_K_ref. */
export function quantizeQ4_K(x: Float32Array): Uint8Array {
  checkWhole('Q4_K', x.length, QK_K);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * 144);
  const view = new DataView(out.buffer);
  const L = KL;
  for (let i = 0; i < nb; i++) {
    const bo = i * 144;
    quantizeKScaleMin(x, i * QK_K, out, view, bo, 15, -1, 20);
    const qo = bo + 16;
    for (let j = 0, q = qo; j < QK_K; j += 64, q += 32) {
      for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
    }
  }
  return out;
}

/** dequantize_row_q4_K. */
export function dequantizeQ4_K(bytes: Uint8Array): Float32Array {
  const nb = checkBytes('Q4_K', bytes, 144);
  const out = new Float32Array(nb * QK_K);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < nb; i++) {
    const bo = i * 144;
    const d = f16ToF32(view.getUint16(bo, true));
    const min = f16ToF32(view.getUint16(bo + 2, true));
    let y = i * QK_K, q = bo + 16, is = 0;
    for (let j = 0; j < QK_K; j += 64, q += 32, is += 2) {
      const [sc1, m1] = scaleMinK4(is, bytes, bo + 4);
      const [sc2, m2] = scaleMinK4(is + 1, bytes, bo + 4);
      const d1 = Math.fround(d * sc1), mm1 = Math.fround(min * m1), d2 = Math.fround(d * sc2), mm2 = Math.fround(min * m2);
      for (let l = 0; l < 32; l++) out[y++] = Math.fround(d1 * (bytes[q + l]! & 0xf)) - mm1;
      for (let l = 0; l < 32; l++) out[y++] = Math.fround(d2 * (bytes[q + l]! >> 4)) - mm2;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Q5_K: super-blocks of 256 values = 8 sub-blocks of 32, 176 bytes: d (f16), dmin (f16),
// scales[12] (as Q4_K), qh[32] (bit 2c of qh[l]: high bit of sub-block 2c's value l, bit 2c+1:
// sub-block 2c+1's), qs[128] (low 4 bits, nibbles as Q4_K). x = d*sc[j]*q - dmin*m[j], q in 0..31.

/** quantize_row_q5_K_ref. */
export function quantizeQ5_K(x: Float32Array): Uint8Array {
  checkWhole('Q5_K', x.length, QK_K);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * 176);
  const view = new DataView(out.buffer);
  const L = KL;
  for (let i = 0; i < nb; i++) {
    const bo = i * 176;
    quantizeKScaleMin(x, i * QK_K, out, view, bo, 31, -0.5, 15);
    const qh = bo + 16;
    let ql = bo + 48, m1 = 1, m2 = 2;
    for (let n = 0; n < QK_K; n += 64) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j]!, l2 = L[n + j + 32]!;
        if (l1 > 15) { l1 -= 16; out[qh + j]! |= m1; }
        if (l2 > 15) { l2 -= 16; out[qh + j]! |= m2; }
        out[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2; m2 <<= 2;
      ql += 32;
    }
  }
  return out;
}

/** dequantize_row_q5_K. */
export function dequantizeQ5_K(bytes: Uint8Array): Float32Array {
  const nb = checkBytes('Q5_K', bytes, 176);
  const out = new Float32Array(nb * QK_K);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < nb; i++) {
    const bo = i * 176;
    const d = f16ToF32(view.getUint16(bo, true));
    const min = f16ToF32(view.getUint16(bo + 2, true));
    const qh = bo + 16;
    let y = i * QK_K, ql = bo + 48, is = 0, u1 = 1, u2 = 2;
    for (let j = 0; j < QK_K; j += 64, ql += 32, is += 2, u1 <<= 2, u2 <<= 2) {
      const [sc1, m1] = scaleMinK4(is, bytes, bo + 4);
      const [sc2, m2] = scaleMinK4(is + 1, bytes, bo + 4);
      const d1 = Math.fround(d * sc1), mm1 = Math.fround(min * m1), d2 = Math.fround(d * sc2), mm2 = Math.fround(min * m2);
      for (let l = 0; l < 32; l++) out[y++] = Math.fround(d1 * ((bytes[ql + l]! & 0xf) + (bytes[qh + l]! & u1 ? 16 : 0))) - mm1;
      for (let l = 0; l < 32; l++) out[y++] = Math.fround(d2 * ((bytes[ql + l]! >> 4) + (bytes[qh + l]! & u2 ? 16 : 0))) - mm2;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Q6_K: super-blocks of 256 values = 16 sub-blocks of 16, 210 bytes: ql[128] (low 4 bits),
// qh[64] (high 2 bits), scales[16] (int8), d (f16). Per 128-value half h (ql + 64h, qh + 32h),
// value l (0..31) of each quarter: q1 = ql[l] lo | qh[l] bits 0-1, q2 = ql[l+32] lo | bits 2-3,
// q3 = ql[l] hi | bits 4-5, q4 = ql[l+32] hi | bits 6-7, for values l, l+32, l+64, l+96.
// x = d * sc[16-block] * (q - 32).

/** ggml's GROUP_MAX_EPS (1e-15f). */
const GROUP_MAX_EPS = Math.fround(1e-15);

/**
 * ggml's make_qx_quants(16, 32, x, L, rmse_type = 1, NULL) for one 16-value sub-block: symmetric
 * levels -32..31 stored +32 in L, weights x^2, a search over 18 scales. Returns the scale.
 */
function makeQxQuants16(x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const fr = Math.fround, n = 16, nmax = 32;
  let max = 0, amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) { amax = ax; max = x[xo + i]!; }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = fr(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(fr(iscale * xi));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
    const w = fr(xi * xi);
    sumlx = fr(sumlx + fr(fr(w * xi) * l));
    suml2 = fr(suml2 + fr(fr(w * l) * l));
  }
  let scale = suml2 ? fr(sumlx / suml2) : 0;
  let best = fr(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fr(-fr(nmax + fr(fr(0.1) * is)) / max);
    sumlx = 0; suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(fr(iscale * xi));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      const w = fr(xi * xi);
      sumlx = fr(sumlx + fr(fr(w * xi) * l));
      suml2 = fr(suml2 + fr(fr(w * l) * l));
    }
    if (suml2 > 0 && fr(sumlx * sumlx) > fr(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fr(iscale * x[xo + i]!));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fr(sumlx / suml2);
      best = fr(scale * sumlx);
    }
  }
  return scale;
}

/** quantize_row_q6_K_ref. */
export function quantizeQ6_K(x: Float32Array): Uint8Array {
  checkWhole('Q6_K', x.length, QK_K);
  const nb = x.length / QK_K;
  const out = new Uint8Array(nb * 210);
  const view = new DataView(out.buffer);
  const L = new Uint8Array(QK_K);
  const scales = new Float32Array(16);
  for (let i = 0; i < nb; i++) {
    const xo = i * QK_K, bo = i * 210;
    let maxScale = 0, maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = makeQxQuants16(x, xo + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) { maxAbsScale = Math.abs(scale); maxScale = scale; }
    }
    if (maxAbsScale < GROUP_MAX_EPS) continue; // an all-zero block (d = +0)
    const iscale = Math.fround(-128 / maxScale);
    const d16 = f32ToF16(Math.fround(1 / iscale));
    view.setUint16(bo + 208, d16, true);
    for (let ib = 0; ib < 16; ib++) out[bo + 192 + ib] = Math.min(127, nearestInt(Math.fround(iscale * scales[ib]!))) & 0xff;
    const dAll = f16ToF32(d16);
    for (let j = 0; j < 16; j++) {
      const d = Math.fround(dAll * view.getInt8(bo + 192 + j));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(Math.fround(x[xo + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    for (let j = 0, ql = bo, qh = bo + 128; j < QK_K; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!, b = L[j + l + 32]!, c = L[j + l + 64]!, e = L[j + l + 96]!;
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
    }
  }
  return out;
}

/** dequantize_row_q6_K. */
export function dequantizeQ6_K(bytes: Uint8Array): Float32Array {
  const nb = checkBytes('Q6_K', bytes, 210);
  const out = new Float32Array(nb * QK_K);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < nb; i++) {
    const bo = i * 210;
    const d = f16ToF32(view.getUint16(bo + 208, true));
    for (let h = 0; h < 2; h++) {
      const ql = bo + 64 * h, qh = bo + 128 + 32 * h, sc = bo + 192 + 8 * h, y = i * QK_K + 128 * h;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4, hb = bytes[qh + l]!;
        const q1 = ((bytes[ql + l]! & 0xf) | ((hb & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32]! & 0xf) | (((hb >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l]! >> 4) | (((hb >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32]! >> 4) | (((hb >> 6) & 3) << 4)) - 32;
        out[y + l] = Math.fround(d * view.getInt8(sc + is)) * q1;
        out[y + l + 32] = Math.fround(d * view.getInt8(sc + is + 2)) * q2;
        out[y + l + 64] = Math.fround(d * view.getInt8(sc + is + 4)) * q3;
        out[y + l + 96] = Math.fround(d * view.getInt8(sc + is + 6)) * q4;
      }
    }
  }
  return out;
}
