// Weights with their rows interleaved by four at load, for the matvec: one 16-byte load holds a
// 4-byte word of each of four rows, so one broadcast activation word multiplies all four, the
// integer sums land one row per i32 lane, and the four rows' scales (Q4_K: and mins) are taken
// with a few vector operations per block instead of scalar code per row. (llama.cpp repacks its
// rows for AVX2 at load too, q4_Kx8 and q8_0x4.) Rows [r0, r1) of a call are whole groups.
//
// q4_k_x4, group g (rows 4g .. 4g + 3), super-block j: X4_BYTES = 576 bytes at
// w + (g * nsb + j) * 576, the bytes of the four rows' block_q4_K moved:
//   [0, 8)     f16 d[4]               row r's at 2r
//   [8, 16)    f16 dmin[4]
//   [16, 32)   packed scale bytes 0..3 of each row (row r's at 16 + 4r)
//   [32, 48)   scale bytes 4..7
//   [48, 64)   scale bytes 8..11      (get_scale_min_k4 packing, unchanged)
//   [64, 576)  qs: chunk p (0..3; sub-block 2p in the low nibbles, 2p + 1 in
//              the high ones) at 64 + 128p; row r's bytes 4v .. 4v + 3
//              (v = 0..7) of it at 64 + 128p + 16v + 4r
// q8_0_x4, group g, block b of 32 values: Q8_X4_BYTES = 136 bytes at w + (g * nb + b) * 136:
//   [0, 8)     f16 d[4]
//   [8, 136)   row r's quants 4v .. 4v + 3 (v = 0..7) at 8 + 16v + 4r
// q5_0_x4, group g, block b: Q5_X4_BYTES = 88 bytes at w + (g * nb + b) * 88:
//   [0, 8)     f16 d[4]
//   [8, 24)    the fifth bits, byte 4r + i of row r: bit v (v = 0..3) that of element 4v + i, bit
//              4 + v that of element 16 + 4v + i (so that a word's are one shift and one and away)
//   [24, 88)   row r's nibble bytes 4v .. 4v + 3 (v = 0..3) at 24 + 16v + 4r (elements 4v .. 4v + 3
//              low, 16 + 4v .. 16 + 4v + 3 high)
// q4_0_x4, group g, block b: Q4_X4_BYTES = 72 bytes at w + (g * nb + b) * 72:
//   [0, 8)     f16 d[4]
//   [8, 72)    row r's nibble bytes 4v .. 4v + 3 (v = 0..3) at 8 + 16v + 4r
// All keep a matrix's size, and all are read front to back.
//
// The matvec runs two groups at once from the two halves of its rows: two sequential streams
// (from DRAM, one stream per thread read slower), each activation word loaded once for both.
// With a scratch, from n = 6 (Q4_K; Q8_0: 8, Q5_0: 3 or 4, Q4_0: 6 or 4) the 16 x 2 tiles, each
// layout repacked for them straight from the groups (wx4_repack, w4x4_repack; matmul_quant.ts).

import { f16_to_f32, f16x4_to_f32x4, fmadd, pairsum_i16 } from "./common";
import { Q8_K_BYTES } from "./convert";
import { bsums32 } from "./dot_q8k";
import { kquant_takes_q8_k } from "./matmul_kquant";
import { qtiles16, x16Chunk, Q4_0_X4, Q4_K_X4, Q5_0_X4, Q8_0_X4, TILES16_MIN_N_Q4, TILES16_MIN_N_Q5, TILES16_MIN_N_Q8 } from "./matmul_quant";
import { pairs4_store } from "./tiles16";

/** Bytes of one super-block of four interleaved Q4_K rows. */
export const X4_BYTES: usize = 576;
/** Bytes of one block of four interleaved Q8_0 rows. */
export const Q8_X4_BYTES: usize = 136;
/** Bytes of one block of four interleaved Q5_0 rows. */
export const Q5_X4_BYTES: usize = 88;
/** Bytes of one block of four interleaved Q4_0 rows. */
export const Q4_X4_BYTES: usize = 72;
const Q8_0_BYTES: usize = 34;

/** i16x8 products of 16 levels q (u8, < 16) with the 16 int8 activations x, summed in pairs (lane t: q_2t x_2t + q_2t+1 x_2t+1). */
// @ts-ignore: decorator
@inline function prod(x: v128, q: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, q);
  const e = i16x8.shr_s(i16x8.shl(x, 8), 8), o = i16x8.shr_s(x, 8);
  return i16x8.add(i16x8.mul(v128.and(q, i16x8.splat(0x00ff)), e), i16x8.mul(i16x8.shr_u(q, 8), o));
}

/** The 6-bit scales of sub-blocks 0..3 (lo) or 4..7 of a q4_k_x4 group's super-block at wb: byte 4r + s & 3 of row r. */
// @ts-ignore: decorator
@inline export function x4_scales(wb: usize, lo: bool): v128 {
  const A = v128.load(wb, 16);
  if (lo) return v128.and(A, i8x16.splat(63));
  return v128.or(v128.and(v128.load(wb, 48), i8x16.splat(0x0f)), v128.and(i16x8.shr_u(A, 2), i8x16.splat(0x30)));
}

/** ... and the 6-bit mins (get_scale_min_k4). */
// @ts-ignore: decorator
@inline export function x4_mins(wb: usize, lo: bool): v128 {
  const B = v128.load(wb, 32);
  if (lo) return v128.and(B, i8x16.splat(63));
  return v128.or(v128.and(i16x8.shr_u(v128.load(wb, 48), 4), i8x16.splat(0x0f)), v128.and(i16x8.shr_u(B, 2), i8x16.splat(0x30)));
}

/**
 * i32x4, lane r = row r: sum over the super-block of m_s,r * bsum_s (the mins of the group at wb
 * against the activation's sums of 32, bs03 = [b0..b3, b0..b3], bs47 = [b4..b7, b4..b7] as i16).
 */
// @ts-ignore: decorator
@inline function mins4(wb: usize, bs03: v128, bs47: v128): v128 {
  const m03 = x4_mins(wb, true), m47 = x4_mins(wb, false);
  // rows 0, 1 (i32 lanes: two halves of each) and rows 2, 3, then the halves added
  const x = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(m03), bs03), i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(m47), bs47));
  const y = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(m03), bs03), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(m47), bs47));
  return i32x4.add(i32x4.shuffle(x, y, 0, 2, 4, 6), i32x4.shuffle(x, y, 1, 3, 5, 7));
}

/** acc + d_x * (d * f32(isum) - dmin * f32(msum)), lane r = row r of the group at wb. */
// @ts-ignore: decorator
@inline function finish4(wb: usize, dx: v128, isum: v128, msum: v128, acc: v128): v128 {
  acc = fmadd(f32x4.convert_i32x4_s(isum), f32x4.mul(f16x4_to_f32x4(v128.load16x4_s(wb)), dx), acc);
  return f32x4.sub(acc, f32x4.mul(f32x4.convert_i32x4_s(msum), f32x4.mul(f16x4_to_f32x4(v128.load16x4_s(wb, 8)), dx)));
}

/**
 * out[0..4) and outb[0..4) f32 = the Q8_K activation row xk against the q4_k_x4 groups wa and wb
 * (two = true; else wa alone, to out[0..4)), nsb super-blocks each.
 */
// @ts-ignore: decorator
@inline function q4k_groups(two: bool, out: usize, outb: usize, xk: usize, wa: usize, wb: usize, nsb: i32): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let xb = xk;
  for (let sb = 0; sb < nsb; sb++) {
    let i0 = i32x4.splat(0), i1 = i32x4.splat(0);
    // a real loop over the chunks (and below over the words): unrolled, V8 schedules every load
    // first and spills the values to the stack
    for (let p = 0; p < 4; p++) {
      const qa = wa + 64 + (<usize>p << 7), qb = wb + 64 + (<usize>p << 7), x = xb + 4 + (<usize>p << 6);
      const m = i8x16.splat(0x0f);
      // i16 sums of 8 products per lane at most: |sum| <= 8 * 2 * 15 * 128 < 2^15
      let l0 = i16x8.splat(0), h0 = i16x8.splat(0), l1 = i16x8.splat(0), h1 = i16x8.splat(0);
      for (let v: usize = 0; v < 128; v += 16) {
        // values 4v/16 .. +3 of sub-blocks 2p (low nibbles) and 2p + 1 (high), for every row
        const xl = v128.load32_splat(x + (v >> 2)), xh = v128.load32_splat(x + (v >> 2), 32);
        const w0 = v128.load(qa + v);
        l0 = i16x8.add(l0, prod(xl, v128.and(w0, m)));
        h0 = i16x8.add(h0, prod(xh, v128.and(i16x8.shr_u(w0, 4), m)));
        if (two) {
          const w1 = v128.load(qb + v);
          l1 = i16x8.add(l1, prod(xl, v128.and(w1, m)));
          h1 = i16x8.add(h1, prod(xh, v128.and(i16x8.shr_u(w1, 4), m)));
        }
      }
      // each row's scale of sub-block s (byte 4r + s & 3 of x4_scales) in its two i16 lanes 2r, 2r + 1
      const rows = i8x16(0, 0, 0, 0, 4, 0, 4, 0, 8, 0, 8, 0, 12, 0, 12, 0);
      const sl = i8x16.add(i16x8.splat(<i16>(((2 * p) & 3) | 0xff00)), rows); // 0xff: zero high bytes
      const sh = i8x16.add(i16x8.splat(<i16>(((2 * p + 1) & 3) | 0xff00)), rows);
      const sa = x4_scales(wa, p < 2);
      i0 = i32x4.add(i0, i32x4.add(i32x4.dot_i16x8_s(l0, i8x16.swizzle(sa, sl)), i32x4.dot_i16x8_s(h0, i8x16.swizzle(sa, sh))));
      if (two) {
        const sc = x4_scales(wb, p < 2);
        i1 = i32x4.add(i1, i32x4.add(i32x4.dot_i16x8_s(l1, i8x16.swizzle(sc, sl)), i32x4.dot_i16x8_s(h1, i8x16.swizzle(sc, sh))));
      }
    }
    const bs = bsums32(xb);
    const bs03 = i64x2.splat(i64x2.extract_lane(bs, 0)), bs47 = i64x2.splat(i64x2.extract_lane(bs, 1));
    const dx = f32x4.splat(load<f32>(xb));
    acc0 = finish4(wa, dx, i0, mins4(wa, bs03, bs47), acc0);
    if (two) acc1 = finish4(wb, dx, i1, mins4(wb, bs03, bs47), acc1);
    wa += X4_BYTES;
    wb += X4_BYTES;
    xb += Q8_K_BYTES;
  }
  v128.store(out, acc0);
  if (two) v128.store(outb, acc1);
}

/** acc + f32(d) * (d_x * d_w), lane r = row r: d the exact integer block dots, d_w the group's four f16 d at wg (as qdot4v's add_scaled). */
// @ts-ignore: decorator
@inline function scaled4(acc: v128, d: v128, dx: v128, wg: usize): v128 {
  return fmadd(f32x4.convert_i32x4_s(d), f32x4.mul(dx, f16x4_to_f32x4(v128.load16x4_s(wg))), acc);
}

/**
 * out[0..4) and outb[0..4) f32 = the Q8_0 activation row xq against the q8_0_x4 groups wa and wb
 * (two = true; else wa alone), nb blocks each. Per block and row: f32(exact integer dot) * (d_x *
 * d_w) added to the sum, the arithmetic of the q8_0 matvec and tiles (qdot4v): the same bits.
 */
// @ts-ignore: decorator
@inline function q8_groups(two: bool, out: usize, outb: usize, xq: usize, wa: usize, wb: usize, nb: i32): void {
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let xb = xq;
  for (let b = 0; b < nb; b++) {
    // i32 lanes: rows 0, 1 (lo: two halves each) and 2, 3 (hi)
    let lo0 = i32x4.splat(0), hi0 = i32x4.splat(0), lo1 = i32x4.splat(0), hi1 = i32x4.splat(0);
    for (let v: usize = 0; v < 32; v += 8) { // a real loop, two words per step (see q4k_groups)
      // each word's four activations widened to i16, twice; each group's rows 0, 1 (and 2, 3) by a
      // sign-extending 8-byte load
      const x0 = i16x8.extend_low_i8x16_s(v128.load32_splat(xb + 2 + v)), x1 = i16x8.extend_low_i8x16_s(v128.load32_splat(xb + 6 + v));
      const a = wa + 8 + (v << 2);
      lo0 = i32x4.add(lo0, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(a), x0), i32x4.dot_i16x8_s(v128.load8x8_s(a, 16), x1)));
      hi0 = i32x4.add(hi0, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(a, 8), x0), i32x4.dot_i16x8_s(v128.load8x8_s(a, 24), x1)));
      if (two) {
        const b = wb + 8 + (v << 2);
        lo1 = i32x4.add(lo1, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(b), x0), i32x4.dot_i16x8_s(v128.load8x8_s(b, 16), x1)));
        hi1 = i32x4.add(hi1, i32x4.add(i32x4.dot_i16x8_s(v128.load8x8_s(b, 8), x0), i32x4.dot_i16x8_s(v128.load8x8_s(b, 24), x1)));
      }
    }
    const dx = f32x4.splat(f16_to_f32(load<u16>(xb)));
    const d0 = i32x4.add(i32x4.shuffle(lo0, hi0, 0, 2, 4, 6), i32x4.shuffle(lo0, hi0, 1, 3, 5, 7));
    acc0 = scaled4(acc0, d0, dx, wa);
    if (two) {
      const d1 = i32x4.add(i32x4.shuffle(lo1, hi1, 0, 2, 4, 6), i32x4.shuffle(lo1, hi1, 1, 3, 5, 7));
      acc1 = scaled4(acc1, d1, dx, wb);
    }
    wa += Q8_X4_BYTES;
    wb += Q8_X4_BYTES;
    xb += Q8_0_BYTES;
  }
  v128.store(out, acc0);
  if (two) v128.store(outb, acc1);
}

/** Q5_0 levels (0..31) of word v of a group: the nibbles of w (high: elements 16 + ..) or-ed with the fifth bits f. */
// @ts-ignore: decorator
@inline export function q5x4_levels(w: v128, f: v128, v: u32, high: bool): v128 {
  const m = i8x16.splat(0x0f), m5 = i8x16.splat(0x10);
  // bit v (high: 4 + v) of each byte to bit 4; the i16 shifts carry nothing into a byte's bit 4
  return high ? v128.or(v128.and(i16x8.shr_u(w, 4), m), v128.and(i16x8.shr_u(f, v), m5))
    : v128.or(v128.and(w, m), v128.and(i16x8.shl(f, 4 - v), m5));
}

/** Q4_0 levels (0..15) of word v of a group: the nibbles of w (high: elements 16 + ..). */
// @ts-ignore: decorator
@inline export function q4x4_levels(w: v128, high: bool): v128 {
  return v128.and(high ? i16x8.shr_u(w, 4) : w, i8x16.splat(0x0f));
}

/**
 * q8_groups for q5_0_x4 (FIVE) and q4_0_x4: per block and row f32(exact integer dot - 16 (8) *
 * sum(x)) * (d_x * d_w) added in order, the arithmetic of the q5_0 / q4_0 kernels: the same bits.
 */
// @ts-ignore: decorator
@inline function q45_groups(FIVE: bool, two: bool, out: usize, outb: usize, xq: usize, wa: usize, wb: usize, nb: i32): void {
  const BYTES = FIVE ? Q5_X4_BYTES : Q4_X4_BYTES;
  const NIBS: usize = FIVE ? 24 : 8; // where the nibble words start
  let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
  let xb = xq;
  for (let b = 0; b < nb; b++) {
    const fa = FIVE ? v128.load(wa, 8) : i32x4.splat(0), fb = FIVE && two ? v128.load(wb, 8) : fa;
    // i16 sums of 4 words' products: |sum| <= 4 * 2 * 31 * 128 < 2^15 (low and high apart)
    let l0 = i16x8.splat(0), h0 = i16x8.splat(0), l1 = i16x8.splat(0), h1 = i16x8.splat(0);
    for (let v: u32 = 0; v < 4; v++) { // a real loop (see q4k_groups)
      const xl = v128.load32_splat(xb + 2 + (<usize>v << 2)), xh = v128.load32_splat(xb + 18 + (<usize>v << 2));
      const w0 = v128.load(wa + NIBS + (<usize>v << 4));
      l0 = i16x8.add(l0, prod(xl, FIVE ? q5x4_levels(w0, fa, v, false) : q4x4_levels(w0, false)));
      h0 = i16x8.add(h0, prod(xh, FIVE ? q5x4_levels(w0, fa, v, true) : q4x4_levels(w0, true)));
      if (two) {
        const w1 = v128.load(wb + NIBS + (<usize>v << 4));
        l1 = i16x8.add(l1, prod(xl, FIVE ? q5x4_levels(w1, fb, v, false) : q4x4_levels(w1, false)));
        h1 = i16x8.add(h1, prod(xh, FIVE ? q5x4_levels(w1, fb, v, true) : q4x4_levels(w1, true)));
      }
    }
    // 16 (8) * sum(x) of the block, in every lane
    let sx = pairsum_i16(i16x8.add(i16x8.extadd_pairwise_i8x16_s(v128.load(xb, 2)), i16x8.extadd_pairwise_i8x16_s(v128.load(xb, 18))));
    sx = i32x4.add(sx, i32x4.shuffle(sx, sx, 2, 3, 0, 1));
    const off = i32x4.shl(i32x4.add(sx, i32x4.shuffle(sx, sx, 1, 0, 3, 2)), FIVE ? 4 : 3);
    const dx = f32x4.splat(f16_to_f32(load<u16>(xb)));
    // the i16 lanes 2r, 2r + 1 are row r's: pairwise sums put the rows in the i32 lanes
    const d0 = i32x4.sub(i32x4.add(pairsum_i16(l0), pairsum_i16(h0)), off);
    acc0 = scaled4(acc0, d0, dx, wa);
    if (two) {
      const d1 = i32x4.sub(i32x4.add(pairsum_i16(l1), pairsum_i16(h1)), off);
      acc1 = scaled4(acc1, d1, dx, wb);
    }
    wa += BYTES;
    wb += BYTES;
    xb += Q8_0_BYTES;
  }
  v128.store(out, acc0);
  if (two) v128.store(outb, acc1);
}

/**
 * The matvec of a layout (KIND: Q4_K_X4 against Q8_K rows, Q8_0_X4 / Q5_0_X4 / Q4_0_X4 against Q8_0 rows) for each
 * activation row j < n (xs bytes apart): groups [r0 / 4, r1 / 4) of gs bytes, nblk blocks each, two
 * at a time (g and g + h) and an odd last one alone.
 */
// @ts-ignore: decorator
@inline function x4_matvec(KIND: i32, out: usize, os: usize, xq: usize, xs: usize, w: usize, gs: usize, nblk: i32, n: i32, r0: i32, r1: i32): void {
  const g0 = r0 >> 2, g1 = r1 >> 2, h = (g1 - g0) >> 1;
  for (let g = g0; g < g0 + h; g++) {
    const wa = w + <usize>g * gs;
    for (let j = 0; j < n; j++) {
      const o = out + <usize>j * os + (<usize>g << 4);
      if (KIND == Q4_K_X4) q4k_groups(true, o, o + (<usize>h << 4), xq + <usize>j * xs, wa, wa + <usize>h * gs, nblk);
      else if (KIND == Q5_0_X4 || KIND == Q4_0_X4) q45_groups(KIND == Q5_0_X4, true, o, o + (<usize>h << 4), xq + <usize>j * xs, wa, wa + <usize>h * gs, nblk);
      else q8_groups(true, o, o + (<usize>h << 4), xq + <usize>j * xs, wa, wa + <usize>h * gs, nblk);
    }
  }
  if (((g1 - g0) & 1) != 0) {
    const wa = w + <usize>(g1 - 1) * gs;
    for (let j = 0; j < n; j++) {
      const o = out + <usize>j * os + (<usize>(g1 - 1) << 4);
      if (KIND == Q4_K_X4) q4k_groups(false, o, 0, xq + <usize>j * xs, wa, wa, nblk);
      else if (KIND == Q5_0_X4 || KIND == Q4_0_X4) q45_groups(KIND == Q5_0_X4, false, o, 0, xq + <usize>j * xs, wa, wa, nblk);
      else q8_groups(false, o, 0, xq + <usize>j * xs, wa, wa, nblk);
    }
  }
}

/**
 * out[n][rows] f32 = xq[n] . W[rows]^T for W rows [r0, r1) (multiples of 4, rows % 4 == 0), W as
 * q4_k_x4; xq Q8_K rows when kquant_takes_q8_k(n, scratch), else Q8_0 rows for the tiles.
 */
export function matmul_q4_k_x4(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const nsb = inDim >> 8;
  const gs = <usize>nsb * X4_BYTES; // bytes per group of four rows
  const os = <usize>rows << 2;
  if (!kquant_takes_q8_k(n, scratch)) {
    const jt = x16Chunk(n, nsb << 3);
    for (let j0 = 0; j0 < n; j0 += jt) qtiles16(Q4_K_X4, out, os, xq, <usize>nsb * 8 * Q8_0_BYTES, w, gs >> 2, nsb << 3, r0, r1, j0, min<i32>(n, j0 + jt), scratch);
    return;
  }
  x4_matvec(Q4_K_X4, out, os, xq, <usize>nsb * Q8_K_BYTES, w, gs, nsb, n, r0, r1);
}

/** Q8_0 activations against q8_0_x4 / q5_0_x4 / q4_0_x4 (KIND): the tiles from TILES16_MIN_N_Q8 / _Q5 / _Q4 rows with a scratch, else the matvec. */
// @ts-ignore: decorator
@inline function x4_blocks32(KIND: i32, out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const nb = inDim >> 5;
  const gs = <usize>nb * (KIND == Q8_0_X4 ? Q8_X4_BYTES : KIND == Q5_0_X4 ? Q5_X4_BYTES : Q4_X4_BYTES);
  const xs = <usize>nb * Q8_0_BYTES;
  const os = <usize>rows << 2;
  if (scratch != 0 && n >= (KIND == Q8_0_X4 ? TILES16_MIN_N_Q8 : KIND == Q5_0_X4 ? TILES16_MIN_N_Q5 : TILES16_MIN_N_Q4)) {
    const jc = x16Chunk(n, nb);
    for (let j0 = 0; j0 < n; j0 += jc) qtiles16(KIND, out, os, xq, xs, w, gs >> 2, nb, r0, r1, j0, min<i32>(n, j0 + jc), scratch);
    return;
  }
  x4_matvec(KIND, out, os, xq, xs, w, gs, nb, n, r0, r1);
}

/**
 * out[n][rows] f32 = xq[n][in/32] Q8_0 . W[rows]^T for W rows [r0, r1) (multiples of 4, rows % 4
 * == 0), W as q8_0_x4: the bits of matmul_q8_0 on the same rows, with or without a scratch.
 */
export function matmul_q8_0_x4(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  x4_blocks32(Q8_0_X4, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

/** matmul_q8_0_x4 for q5_0_x4: the bits of matmul_q5_0 on the same rows. */
export function matmul_q5_0_x4(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  x4_blocks32(Q5_0_X4, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

/** matmul_q8_0_x4 for q4_0_x4: the bits of matmul_q4_0 on the same rows. */
export function matmul_q4_0_x4(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  x4_blocks32(Q4_0_X4, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

/** The first row's block at s (rows rs bytes apart) and the next three, as one q4_k_x4 block at o. */
// @ts-ignore: decorator
@inline function q4k_block_x4(o: usize, s: usize, rs: usize): void {
  for (let r: usize = 0; r < 4; r++) {
    store<u16>(o + 2 * r, load<u16>(s + r * rs));
    store<u16>(o + 8 + 2 * r, load<u16>(s + r * rs, 2));
  }
  // scale bytes (vector t: word 1 + t of each row; the fourth, qs word 0, is rewritten below)
  pairs4_store(o + 16, 16, v128.load(s, 4), v128.load(s + rs, 4), v128.load(s + 2 * rs, 4), v128.load(s + 3 * rs, 4));
  for (let p: usize = 0; p < 4; p++) {
    const c = s + 16 + (p << 5), q = o + 64 + (p << 7);
    pairs4_store(q, 16, v128.load(c), v128.load(c + rs), v128.load(c + 2 * rs), v128.load(c + 3 * rs));
    pairs4_store(q + 64, 16, v128.load(c, 16), v128.load(c + rs, 16), v128.load(c + 2 * rs, 16), v128.load(c + 3 * rs, 16));
  }
}

/** As q4k_block_x4 for a Q8_0 (KIND Q8_0_X4), Q5_0 or Q4_0 block of 32: the d, the nibbles or quants, Q5_0's fifth bits regrouped. */
// @ts-ignore: decorator
@inline function block32_x4(KIND: i32, o: usize, s: usize, rs: usize): void {
  for (let r: usize = 0; r < 4; r++) store<u16>(o + 2 * r, load<u16>(s + r * rs));
  if (KIND == Q8_0_X4) {
    pairs4_store(o + 8, 16, v128.load(s, 2), v128.load(s + rs, 2), v128.load(s + 2 * rs, 2), v128.load(s + 3 * rs, 2));
    pairs4_store(o + 72, 16, v128.load(s, 18), v128.load(s + rs, 18), v128.load(s + 2 * rs, 18), v128.load(s + 3 * rs, 18));
    return;
  }
  if (KIND == Q5_0_X4) {
    for (let r: usize = 0; r < 4; r++) {
      const qh = load<u32>(s + r * rs, 2);
      for (let i: u32 = 0; i < 4; i++) {
        let f: u32 = 0;
        for (let v: u32 = 0; v < 4; v++) f |= (((qh >> (4 * v + i)) & 1) << v) | (((qh >> (16 + 4 * v + i)) & 1) << (4 + v));
        store<u8>(o + 8 + 4 * r + i, <u8>f);
      }
    }
  }
  const q: usize = KIND == Q5_0_X4 ? 6 : 2, at: usize = KIND == Q5_0_X4 ? 24 : 8; // the nibbles in and out
  pairs4_store(o + at, 16, v128.load(s + q), v128.load(s + rs + q), v128.load(s + 2 * rs + q), v128.load(s + 3 * rs + q));
}

/**
 * Interleaves rows [0, rows) of a matrix (rows % 4 == 0, inDim whole blocks) in place into the
 * layout KIND (Q4_K_X4, Q8_0_X4, Q5_0_X4, Q4_0_X4); tmp: four rows' bytes, not overlapping w.
 */
// @ts-ignore: decorator
@inline function interleave_rows(KIND: i32, w: usize, rows: i32, inDim: i32, tmp: usize): void {
  const nb = KIND == Q4_K_X4 ? inDim >> 8 : inDim >> 5;
  const SB: usize = KIND == Q4_K_X4 ? 144 : KIND == Q8_0_X4 ? Q8_0_BYTES : KIND == Q5_0_X4 ? 22 : 18; // a row's block
  const rs = <usize>nb * SB; // bytes per row
  for (let g = 0; g < rows >> 2; g++) {
    const dst = w + <usize>g * 4 * rs;
    memory.copy(tmp, dst, 4 * rs);
    for (let b = 0; b < nb; b++) {
      if (KIND == Q4_K_X4) q4k_block_x4(dst + <usize>b * 4 * SB, tmp + <usize>b * SB, rs);
      else block32_x4(KIND, dst + <usize>b * 4 * SB, tmp + <usize>b * SB, rs);
    }
  }
}

/** Rows [0, rows) of the Q4_K matrix at w, in place, as q4_k_x4 (tmp: 4 * inDim / 256 * 144 bytes). */
export function interleave_q4_k(w: usize, rows: i32, inDim: i32, tmp: usize): void {
  interleave_rows(Q4_K_X4, w, rows, inDim, tmp);
}

/** ... of a Q8_0 matrix as q8_0_x4 (tmp: 4 * inDim / 32 * 34 bytes). */
export function interleave_q8_0(w: usize, rows: i32, inDim: i32, tmp: usize): void {
  interleave_rows(Q8_0_X4, w, rows, inDim, tmp);
}

/** ... of a Q5_0 matrix as q5_0_x4, its fifth bits regrouped (tmp: 4 * inDim / 32 * 22 bytes). */
export function interleave_q5_0(w: usize, rows: i32, inDim: i32, tmp: usize): void {
  interleave_rows(Q5_0_X4, w, rows, inDim, tmp);
}

/** ... of a Q4_0 matrix as q4_0_x4 (tmp: 4 * inDim / 32 * 18 bytes). */
export function interleave_q4_0(w: usize, rows: i32, inDim: i32, tmp: usize): void {
  interleave_rows(Q4_0_X4, w, rows, inDim, tmp);
}
