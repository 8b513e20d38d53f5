// Writing a block of a weight matrix, converted or quantized, straight into the memory it is kept
// in (a view of a shard's WebAssembly memory). Tensors that can be read in pieces (HostTensor.
// readRange) are read piecewise into that memory, or through one small reusable buffer when the
// bytes need converting or cutting; so loading a model allocates no per-tensor garbage and its peak
// memory stays at the weights placed so far.
import type { HostTensor } from '../backend.js';
import { isDType, toFloat32 } from '../../formats/dtype.js';
import { decodeToFloat32, quantizeQ4_0, quantizeQ8_0 } from '../../formats/ggml-quants.js';
import { FormatError } from '../../formats/safetensors.js';
import { rowBytes, type WeightType } from '../../kernels/wasm.js';

/** The kernel weight type of each checkpoint dtype stored as is. */
export const TYPE_OF: Record<string, WeightType> = {
  F32: 'f32', BF16: 'bf16', F16: 'f16', Q8_0: 'q8_0', Q4_0: 'q4_0', Q5_0: 'q5_0', Q4_K: 'q4_k', Q5_K: 'q5_k', Q6_K: 'q6_k',
};

/** Values per block of a weight type (the K-quants: super-blocks of 256). */
export function blockOf(type: WeightType): number {
  return type === 'q4_k' || type === 'q4_k_x4' || type === 'q5_k' || type === 'q6_k' ? 256 : type === 'q8_0' || type === 'q8_0_x4' || type === 'q4_0' || type === 'q4_0_x4' || type === 'q5_0' || type === 'q5_0_x4' ? 32 : 1;
}

/** Bytes of source rows a conversion handles at once (at least one row). */
const CHUNK_BYTES = 1 << 18;

/** Reusable buffers for converting weights; one per backend, small (about 3 x CHUNK_BYTES). */
export class EncodeScratch {
  private raw = new Uint8Array(0);
  private f = new Float32Array(0);

  bytes(n: number): Uint8Array {
    if (this.raw.byteLength < n) this.raw = new Uint8Array(Math.max(n, CHUNK_BYTES));
    return this.raw.subarray(0, n);
  }

  floats(n: number): Float32Array {
    if (this.f.length < n) this.f = new Float32Array(Math.max(n, CHUNK_BYTES));
    return this.f.subarray(0, n);
  }

  /** Bytes held (for tests). */
  get held(): number {
    return this.raw.byteLength + this.f.byteLength;
  }
}

/** Source bytes [start, start + dst.byteLength) of t, into dst. */
function readBytes(t: HostTensor, start: number, dst: Uint8Array): void {
  if (t.readRange) t.readRange(start, dst);
  else dst.set(t.bytes.subarray(start, start + dst.byteLength));
}

/** Source bytes [start, start + n): a view of t.bytes when t is in memory, else read into scratch. */
function sourceBytes(t: HostTensor, start: number, n: number, scratch: EncodeScratch): Uint8Array {
  if (!t.readRange) return t.bytes.subarray(start, start + n);
  const b = scratch.bytes(n);
  t.readRange(start, b);
  return b;
}

/** Float elements in `bytes` of dtype into out (out.length of them). */
function decodeInto(dtype: HostTensor['dtype'], bytes: Uint8Array, out: Float32Array): void {
  if (isDType(dtype)) toFloat32(dtype, bytes, out);
  else out.set(decodeToFloat32(dtype, bytes));
}

/** Byte length of rows [r0, r1), columns [c0, c1) of a matrix stored as `type`. */
export function blockBytes(type: WeightType, r0: number, r1: number, c0: number, c1: number): number {
  return (r1 - r0) * rowBytes(type, c1 - c0);
}

/**
 * Writes rows [r0, r1), columns [c0, c1) of matrix t [rows, cols] as `type` into dst (exactly
 * blockBytes(type, ...) bytes), converting or quantizing float sources.
 */
export function encodeBlockInto(t: HostTensor, type: WeightType, r0: number, r1: number, c0: number, c1: number,
  dst: Uint8Array, scratch: EncodeScratch): void {
  const rows = t.shape[0]!, cols = t.shape[1]!;
  const w = c1 - c0;
  const outRow = rowBytes(type, w);
  if (dst.byteLength !== (r1 - r0) * outRow) throw new RangeError(`${t.name}: destination holds ${dst.byteLength} bytes, the block needs ${(r1 - r0) * outRow}`);
  if (r1 <= r0 || w <= 0) return;
  const own = TYPE_OF[t.dtype];
  if (own === type) {
    const block = blockOf(type);
    if (c0 % block !== 0 || c1 % block !== 0) {
      throw new FormatError(t.name, `columns [${c0}, ${c1}) of a ${type} matrix do not start and end on its ${block}-value blocks`);
    }
    const stride = rowBytes(type, cols), off = rowBytes(type, c0);
    if (c0 === 0 && c1 === cols) {
      readBytes(t, r0 * stride, dst);
      return;
    }
    const per = Math.max(1, Math.floor(CHUNK_BYTES / stride));
    for (let a = r0; a < r1; a += per) {
      const b = Math.min(r1, a + per);
      const src = sourceBytes(t, a * stride, (b - a) * stride, scratch);
      for (let r = a; r < b; r++) {
        const s = (r - a) * stride + off;
        dst.set(src.subarray(s, s + outRow), (r - r0) * outRow);
      }
    }
    return;
  }
  // Float source converted to f32 or quantized: decode a chunk of rows, cut the columns, encode.
  if (type !== 'f32' && type !== 'q8_0' && type !== 'q4_0') throw new FormatError(t.name, `cannot convert ${t.dtype} to ${type}`);
  const srcStride = sourceRowBytes(t, rows);
  const per = Math.max(1, Math.floor(CHUNK_BYTES / srcStride));
  for (let a = r0; a < r1; a += per) {
    const b = Math.min(r1, a + per);
    const src = sourceBytes(t, a * srcStride, (b - a) * srcStride, scratch);
    const f = scratch.floats((b - a) * cols);
    decodeInto(t.dtype, src, f);
    for (let r = a; r < b; r++) {
      const x = f.subarray((r - a) * cols + c0, (r - a) * cols + c1);
      const out = dst.subarray((r - r0) * outRow, (r - r0 + 1) * outRow);
      if (type === 'f32') out.set(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
      else if (type === 'q8_0') quantizeQ8_0(x, out);
      else quantizeQ4_0(x, out);
    }
  }
}

/** Bytes per row of t as stored (its byte length over its rows). */
function sourceRowBytes(t: HostTensor, rows: number): number {
  const own = TYPE_OF[t.dtype];
  if (own) return rowBytes(own, t.shape[1]!);
  if (t.dtype === 'F64') return 8 * t.shape[1]!;
  return t.bytes.byteLength / rows;
}
