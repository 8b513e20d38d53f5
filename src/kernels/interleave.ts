// The q4_k_x4 layout (src/kernels/assembly/matmul_q4k_x4.ts): Q4_K rows interleaved by four at
// load, so that the matvec reads four rows per load. The same bytes, moved; a matrix keeps its size.
//
// Group g (rows 4g .. 4g + 3), super-block j: 576 bytes at (g * nsb + j) * 576:
//   [0, 8) d[4] f16 | [8, 16) dmin[4] f16 | [16, 64) scale bytes 4b .. 4b + 3 of row r at 16 + 16b + 4r
//   | [64, 576) qs bytes 32p + 4v .. + 3 of row r at 64 + 128p + 16v + 4r   (p = 0..3, v = 0..7)


/** Word offset (of 4 bytes) in a 576-byte group block of word t (1..35) of row r's 144-byte block_q4_K; word 0 is d, dmin. */
function x4Word(r: number, t: number): number {
  if (t < 4) return 4 + 4 * (t - 1) + r; // scale bytes 4(t-1) .. 4(t-1) + 3
  const q = t - 4; // qs word q: chunk q >> 3, word q & 7 of it
  return 16 + 32 * (q >> 3) + 4 * (q & 7) + r;
}

/** 32-bit and 16-bit views of bytes (4-aligned: weight memory and tmp buffers are). */
function views(b: Uint8Array): [Uint32Array, Uint16Array] {
  if (b.byteOffset % 4 !== 0 || b.byteLength % 4 !== 0) throw new RangeError(`q4_k_x4: a buffer at byte ${b.byteOffset} of ${b.byteLength} bytes is not 4-aligned`);
  return [new Uint32Array(b.buffer, b.byteOffset, b.byteLength / 4), new Uint16Array(b.buffer, b.byteOffset, b.byteLength / 2)];
}

/**
 * Interleaves rows [0, rows) of a Q4_K matrix (rows % 4 == 0, inDim % 256 == 0) in place.
 * tmp: at least 4 * rowBytes bytes, reused between calls.
 */
export function interleaveQ4_K(bytes: Uint8Array, rows: number, inDim: number, tmp: Uint8Array): void {
  const nsb = inDim / 256, rowW = nsb * 36, groupW = 4 * rowW;
  if (rows % 4 !== 0 || !Number.isInteger(nsb)) throw new RangeError(`interleaveQ4_K: ${rows} x ${inDim} is not whole groups of 4 rows and 256 columns`);
  if (bytes.byteLength !== rows * rowW * 4) throw new RangeError(`interleaveQ4_K: ${bytes.byteLength} bytes for ${rows} x ${inDim}`);
  const [dst32, dst16] = views(bytes);
  const [src32, src16] = views(tmp.subarray(0, groupW * 4));
  for (let g = 0; g < rows / 4; g++) {
    const gw = g * groupW;
    src32.set(dst32.subarray(gw, gw + groupW));
    for (let j = 0; j < nsb; j++) {
      const o = gw + j * 144;
      for (let r = 0; r < 4; r++) {
        const s = r * rowW + j * 36;
        dst16[2 * o + r] = src16[2 * s]!; //         d
        dst16[2 * o + 4 + r] = src16[2 * s + 1]!; // dmin
        for (let t = 1; t < 36; t++) dst32[o + x4Word(r, t)] = src32[s + t]!;
      }
    }
  }
}

/** Row `row` of an interleaved Q4_K matrix of inDim columns (bytes: from its first group) as block_q4_K into out. */
export function q4kX4Row(bytes: Uint8Array, row: number, inDim: number, out: Uint8Array): void {
  const nsb = inDim / 256, r = row % 4, base = Math.floor(row / 4) * nsb * 144;
  const [src32, src16] = views(bytes);
  const [out32, out16] = views(out.subarray(0, nsb * 144));
  for (let j = 0; j < nsb; j++) {
    const o = base + j * 144, s = j * 36;
    out16[2 * s] = src16[2 * o + r]!;
    out16[2 * s + 1] = src16[2 * o + 4 + r]!;
    for (let t = 1; t < 36; t++) out32[s + t] = src32[o + x4Word(r, t)]!;
  }
}
