// Element types of checkpoint tensors and their conversion to and from float32.

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<DType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

export function bf16ToF32(h: number): number {
  u32Scratch[0] = h << 16;
  return f32Scratch[0]!;
}

/** Round to nearest even, as torch's .to(bfloat16) does; NaN stays NaN. */
export function f32ToBf16(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Round to nearest even; overflow goes to infinity. */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    if (rest > half || (rest === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) { r = 0; e++; if (e >= 31) return sign | 0x7c00; }
  }
  return sign | (e << 10) | r;
}

/**
 * Decodes little-endian raw tensor bytes of a float type into float32, into `out` when given (its
 * length the element count). Aligned F32 / BF16 bytes are read through typed views (the host is
 * little-endian, as WebAssembly is), the rest through a DataView.
 */
export function toFloat32(dtype: DType, bytes: Uint8Array, out: Float32Array<ArrayBufferLike> = new Float32Array(bytes.byteLength / DTYPE_BYTES[dtype])): Float32Array<ArrayBufferLike> {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  if (dtype === 'F32' && bytes.byteOffset % 4 === 0) {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, n));
    return out;
  }
  if (dtype === 'BF16' && bytes.byteOffset % 2 === 0) {
    const src = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    const o32 = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) o32[i] = src[i]! << 16;
    return out;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return out;
    case 'BF16': {
      const o32 = new Uint32Array(out.buffer, out.byteOffset, n);
      for (let i = 0; i < n; i++) o32[i] = view.getUint16(i * 2, true) << 16;
      return out;
    }
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = f16ToF32(view.getUint16(i * 2, true));
      return out;
    default:
      throw new Error(`tensor of type ${dtype} is not a floating-point tensor`);
  }
}

/** Encodes float32 values as little-endian raw bytes of a float type. */
export function fromFloat32(dtype: DType, values: Float32Array): Uint8Array {
  const n = values.length;
  const out = new Uint8Array(n * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i]!, true);
      return out;
    case 'BF16':
      for (let i = 0; i < n; i++) view.setUint16(i * 2, f32ToBf16(values[i]!), true);
      return out;
    case 'F16':
      for (let i = 0; i < n; i++) view.setUint16(i * 2, f32ToF16(values[i]!), true);
      return out;
    default:
      throw new Error(`cannot encode float32 values as ${dtype}`);
  }
}
