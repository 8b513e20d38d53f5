// The interleaved layouts q4_k_x4, q8_0_x4, q5_0_x4 and q4_0_x4 (src/kernels/assembly/matmul_x4.ts):
// Q4_K, Q8_0, Q5_0 and Q4_0 rows interleaved by four at load, so that the matvec reads four rows per load. The same bytes,
// moved; a matrix keeps its size. The CPU backend interleaves in wasm (Kernels.interleave); this is
// the reference, and the way back for a row (a tied embedding's).
//
// Group g (rows 4g .. 4g + 3), block j (Q4_K: a super-block of 256 values, 144 bytes a row; Q8_0: a
// block of 32, 34 bytes; Q5_0: 22, Q4_0: 18): one block of 4 * SB bytes at (g * blocks + j) * 4 * SB.
//   q4_k_x4: [0, 8) d[4] f16 | [8, 16) dmin[4] f16 | [16, 64) scale bytes 4b .. 4b + 3 of row r at
//     16 + 16b + 4r | [64, 576) qs bytes 32p + 4v .. + 3 of row r at 64 + 128p + 16v + 4r
//   q8_0_x4: [0, 8) d[4] f16 | [8, 136) quants 4v .. 4v + 3 of row r at 8 + 16v + 4r
//   q5_0_x4: [0, 8) d[4] f16 | [8, 24) fifth bits: byte 4r + i has bit v (v < 4) of element 4v + i
//     and bit 4 + v of element 16 + 4v + i | [24, 88) nibble bytes 4v .. 4v + 3 of row r at 24 + 16v + 4r
//   q4_0_x4: [0, 8) d[4] f16 | [8, 72) nibble bytes 4v .. 4v + 3 of row r at 8 + 16v + 4r

/** The types kept interleaved by four. */
export type InterleavedType = 'q4_k' | 'q8_0' | 'q5_0' | 'q4_0';

/** Values and bytes of one row's block. */
const BLOCK = { q4_k: { values: 256, bytes: 144 }, q8_0: { values: 32, bytes: 34 }, q5_0: { values: 32, bytes: 22 }, q4_0: { values: 32, bytes: 18 } } as const;

/**
 * Offset in its group's block of byte b of row r's block; Q5_0's fifth bits (bytes 2..5) move bit
 * by bit instead (fifthBit).
 */
function x4Offset(type: InterleavedType, r: number, b: number): number {
  if (b < 2) return 2 * r + b; // d
  if (type === 'q5_0') return 24 + 16 * ((b - 6) >> 2) + 4 * r + ((b - 6) & 3);
  if (type === 'q8_0' || type === 'q4_0') return 8 + 16 * ((b - 2) >> 2) + 4 * r + ((b - 2) & 3);
  if (b < 4) return 8 + 2 * r + (b & 1); // dmin
  const t = b >> 2;
  if (t < 4) return 16 + 16 * (t - 1) + 4 * r + (b & 3); // scale bytes
  const q = t - 4; // qs word q: chunk q >> 3, word q & 7 of it
  return 64 + 128 * (q >> 3) + 16 * (q & 7) + 4 * r + (b & 3);
}

/** Where Q5_0's fifth bit of element e (0..31) of row r goes: [byte offset in the group's block, bit]. */
function fifthBit(r: number, e: number): [number, number] {
  const high = e >= 16, i = e & 3, v = (e & 15) >> 2;
  return [8 + 4 * r + i, (high ? 4 : 0) + v];
}

/**
 * Byte b of row r's block between the file's layout (plain, the block at p) and the group's block
 * (grouped, at g), towards the group or back; Q5_0's fifth bits (bytes 2..5) bit by bit.
 */
function moveByte(type: InterleavedType, r: number, b: number, plain: Uint8Array, p: number, grouped: Uint8Array, g: number, toGroup: boolean): void {
  if (type !== 'q5_0' || b < 2 || b >= 6) {
    if (toGroup) grouped[g + x4Offset(type, r, b)] = plain[p + b]!;
    else plain[p + b] = grouped[g + x4Offset(type, r, b)]!;
    return;
  }
  for (let k = 0; k < 8; k++) {
    const [at, bit] = fifthBit(r, 8 * (b - 2) + k);
    if (toGroup) grouped[g + at] = (grouped[g + at]! & ~(1 << bit)) | (((plain[p + b]! >> k) & 1) << bit);
    else plain[p + b] = (plain[p + b]! & ~(1 << k)) | (((grouped[g + at]! >> bit) & 1) << k);
  }
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
        for (let b = 0; b < sb; b++) moveByte(type, r, b, src, r * rowB + j * sb, dst, 4 * sb * j, true);
      }
    }
  }
}

/** Row `row` of an interleaved `type` matrix of inDim columns (bytes: from its first group), in the file's layout, into out. */
export function interleavedRow(type: InterleavedType, bytes: Uint8Array, row: number, inDim: number, out: Uint8Array): void {
  const { values, bytes: sb } = BLOCK[type], nb = inDim / values, r = row % 4, base = Math.floor(row / 4) * 4 * nb * sb;
  for (let j = 0; j < nb; j++) {
    for (let b = 0; b < sb; b++) moveByte(type, r, b, out, j * sb, bytes, base + 4 * sb * j, false);
  }
}
