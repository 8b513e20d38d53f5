// The interleaved layouts q4_k_x4 and q8_0_x4 (src/kernels/assembly/matmul_x4.ts): Q4_K and Q8_0
// rows interleaved by four at load, so that the matvec reads four rows per load. The same bytes,
// moved; a matrix keeps its size. The CPU backend interleaves in wasm (Kernels.interleave); this is
// the reference, and the way back for a row (a tied embedding's).
//
// Group g (rows 4g .. 4g + 3), block j (Q4_K: a super-block of 256 values, 144 bytes a row; Q8_0: a
// block of 32, 34 bytes): one block of 4 * SB bytes at (g * blocks + j) * 4 * SB.
//   q4_k_x4: [0, 8) d[4] f16 | [8, 16) dmin[4] f16 | [16, 64) scale bytes 4b .. 4b + 3 of row r at
//     16 + 16b + 4r | [64, 576) qs bytes 32p + 4v .. + 3 of row r at 64 + 128p + 16v + 4r
//   q8_0_x4: [0, 8) d[4] f16 | [8, 136) quants 4v .. 4v + 3 of row r at 8 + 16v + 4r

/** The types kept interleaved by four. */
export type InterleavedType = 'q4_k' | 'q8_0';

/** Values and bytes of one row's block. */
const BLOCK = { q4_k: { values: 256, bytes: 144 }, q8_0: { values: 32, bytes: 34 } } as const;

/** Offset in its group's block of byte b of row r's block. */
function x4Offset(type: InterleavedType, r: number, b: number): number {
  if (b < 2) return 2 * r + b; // d
  if (type === 'q8_0') return 8 + 16 * ((b - 2) >> 2) + 4 * r + ((b - 2) & 3);
  if (b < 4) return 8 + 2 * r + (b & 1); // dmin
  const t = b >> 2;
  if (t < 4) return 16 + 16 * (t - 1) + 4 * r + (b & 3); // scale bytes
  const q = t - 4; // qs word q: chunk q >> 3, word q & 7 of it
  return 64 + 128 * (q >> 3) + 16 * (q & 7) + 4 * r + (b & 3);
}

/**
 * Interleaves rows [0, rows) of a `type` matrix (rows % 4 == 0, inDim whole blocks) in place.
 * tmp: at least 4 rows' bytes, reused between calls.
 */
export function interleaveRows(type: InterleavedType, bytes: Uint8Array, rows: number, inDim: number, tmp: Uint8Array): void {
  const { values, bytes: sb } = BLOCK[type], nb = inDim / values, rowB = nb * sb;
  if (rows % 4 !== 0 || !Number.isInteger(nb)) throw new RangeError(`interleave ${type}: ${rows} x ${inDim} is not whole groups of 4 rows and ${values} columns`);
  if (bytes.byteLength !== rows * rowB) throw new RangeError(`interleave ${type}: ${bytes.byteLength} bytes for ${rows} x ${inDim}`);
  const src = tmp.subarray(0, 4 * rowB);
  for (let g = 0; g < rows / 4; g++) {
    const dst = bytes.subarray(g * 4 * rowB, (g + 1) * 4 * rowB);
    src.set(dst);
    for (let j = 0; j < nb; j++) {
      for (let r = 0; r < 4; r++) {
        for (let b = 0; b < sb; b++) dst[4 * sb * j + x4Offset(type, r, b)] = src[r * rowB + j * sb + b]!;
      }
    }
  }
}

/** Row `row` of an interleaved `type` matrix of inDim columns (bytes: from its first group), in the file's layout, into out. */
export function interleavedRow(type: InterleavedType, bytes: Uint8Array, row: number, inDim: number, out: Uint8Array): void {
  const { values, bytes: sb } = BLOCK[type], nb = inDim / values, r = row % 4, base = Math.floor(row / 4) * 4 * nb * sb;
  for (let j = 0; j < nb; j++) {
    for (let b = 0; b < sb; b++) out[j * sb + b] = bytes[base + 4 * sb * j + x4Offset(type, r, b)]!;
  }
}
