// K-quant weight rows repacked, 16 at a time, into the layout of the 16 x 2
// tiles (tiles16.ts), one 32-value block per tile block:
//   Q4_K / Q5_K: d_w = d * sc_s, levels q (0..15 / 0..31), m_w = -dmin * m_s
//                (the tile adds m_w * d_x * sum(x)); as i16 (W16M_BLOCK bytes
//                per block) or, for the relaxed build's 8-bit dots, as u8
//                (R8, W8M_BLOCK).
//   Q6_K:        d_w = d, levels sc * (q - 32) with the int8 scale of each
//                16-value half folded in (|level| <= 4096, so a 32-value
//                integer dot stays below 2^24 and converts to f32 exactly).
// Rows i >= rv (when !full) are written as zeros.

import { f16_to_f32, f16x4_to_f32x4 } from "./common";
import { q4k_min, q4k_scale } from "./matmul_q4k";
import { q5_levels, q6_levels } from "./matmul_q56k";
import { pairs4_store, W16_BLOCK, W16M_BLOCK, W8_BLOCK, W8M_BLOCK } from "./tiles16";
import { x4_mins, x4_scales, X4_BYTES } from "./matmul_x4";

const Q4_K: i32 = 4;
const Q5_K: i32 = 5;

/** Q4_K / Q5_K levels of values 16 * hi .. 16 * hi + 15 of sub-block s of the super-block at wb, as u8x16. */
// @ts-ignore: decorator
@inline function k45_levels(K: i32, wb: usize, s: i32, hi: i32): v128 {
  if (K == Q4_K) {
    const ql = v128.load(wb + 16 + (<usize>(s >> 1) << 5) + (<usize>hi << 4));
    return v128.and(i16x8.shr_u(ql, <u32>((s & 1) << 2)), i8x16.splat(0x0f));
  }
  const ql = v128.load(wb + 48 + (<usize>(s >> 1) << 5) + (<usize>hi << 4));
  return q5_levels(ql, v128.load(wb + 16 + (<usize>hi << 4)), s);
}

/** Q6_K values 16 * hi .. 16 * hi + 15 of block b (0..7) of the super-block at wb as sc * (q - 32), i16x8 halves (part 0: values 0..7). */
// @ts-ignore: decorator
@inline function q6k_scaled(wb: usize, b: i32, hi: i32, part: i32): v128 {
  const h = b >> 2, k = b & 3;
  const ql = v128.load(wb + (<usize>h << 6) + (<usize>(k & 1) << 5) + (<usize>hi << 4));
  const qh = v128.load(wb + 128 + (<usize>h << 5) + (<usize>hi << 4));
  const q = q6_levels(ql, qh, k);
  const q16 = part == 0 ? i16x8.extend_low_i8x16_u(q) : i16x8.extend_high_i8x16_u(q);
  const sc = i16x8.splat(<i16>load<i8>(wb + 192 + <usize>(2 * b + hi)));
  return i16x8.mul(i16x8.sub(q16, i16x8.splat(32)), sc);
}

/** Levels of one row's values 16 * hi + 8 * part .. + 7 of block s of the super-block at wb, as i16x8; zero when !valid. */
// @ts-ignore: decorator
@inline function row_levels(K: i32, wb: usize, s: i32, hi: i32, part: i32, valid: bool): v128 {
  if (!valid) return i32x4.splat(0);
  if (K == Q4_K || K == Q5_K) {
    const q = k45_levels(K, wb, s, hi);
    return part == 0 ? i16x8.extend_low_i8x16_u(q) : i16x8.extend_high_i8x16_u(q);
  }
  return q6k_scaled(wb, s, hi, part);
}

/** Per-block f32 d_w (and for Q4_K / Q5_K m_w) of row i (< 16) of super-block wb, at the 8 blocks from d. */
// @ts-ignore: decorator
@inline function row_scales(K: i32, R8: bool, d: usize, i: i32, wb: usize, valid: bool): void {
  const WB = R8 ? W8M_BLOCK : K == Q4_K || K == Q5_K ? W16M_BLOCK : W16_BLOCK;
  const MW = R8 ? W8_BLOCK : W16_BLOCK; // offset of m_w
  const o = d + (<usize>i << 2);
  if (K == Q4_K || K == Q5_K) {
    const dw = valid ? f16_to_f32(load<u16>(wb)) : 0;
    const dm = valid ? -f16_to_f32(load<u16>(wb, 2)) : 0;
    for (let s = 0; s < 8; s++) {
      store<f32>(o + <usize>s * WB, valid ? dw * <f32>q4k_scale(wb, s) : 0);
      store<f32>(o + MW + <usize>s * WB, valid ? dm * <f32>q4k_min(wb, s) : 0);
    }
    return;
  }
  const dw = valid ? f16_to_f32(load<u16>(wb, 208)) : 0;
  for (let s = 0; s < 8; s++) store<f32>(o + <usize>s * WB, dw);
}

/**
 * Repacks 16 K-quant (K = 4, 5, 6; SB bytes per super-block) weight rows
 * w + i * ws (i < rv, the others zero), nsb super-blocks each, into sw for
 * qtile16x2 (with mins for Q4_K / Q5_K; R8: u8 levels, Q4_K / Q5_K only).
 */
// @ts-ignore: decorator
@inline export function kquant_repack16(K: i32, R8: bool, SB: usize, sw: usize, w: usize, ws: usize, nsb: i32, rv: i32, full: bool): void {
  const WB = R8 ? W8M_BLOCK : K == Q4_K || K == Q5_K ? W16M_BLOCK : W16_BLOCK;
  for (let sb = 0; sb < nsb; sb++) {
    const d = sw + <usize>(sb << 3) * WB;
    const wsb = w + <usize>sb * SB;
    for (let i = 0; i < 16; i++) row_scales(K, R8, d, i, wsb + <usize>i * ws, full || i < rv);
    for (let s = 0; s < 8; s++) {
      const db = d + <usize>s * WB;
      for (let g = 0; g < 4; g++) {
        const p = wsb + <usize>(4 * g) * ws;
        const dg = db + 64 + (<usize>g << 4);
        const ok0 = full || 4 * g < rv, ok1 = full || 4 * g + 1 < rv, ok2 = full || 4 * g + 2 < rv, ok3 = full || 4 * g + 3 < rv;
        for (let hi = 0; hi < 2; hi++) {
          if (R8) {
            // element quads 4 * hi .. 4 * hi + 3
            const z = i32x4.splat(0);
            pairs4_store(dg + <usize>hi * 256, 64,
              ok0 ? k45_levels(K, p, s, hi) : z, ok1 ? k45_levels(K, p + ws, s, hi) : z,
              ok2 ? k45_levels(K, p + 2 * ws, s, hi) : z, ok3 ? k45_levels(K, p + 3 * ws, s, hi) : z);
            continue;
          }
          for (let part = 0; part < 2; part++) {
            // element pairs 8 * hi + 4 * part .. + 3
            pairs4_store(dg + <usize>(8 * hi + 4 * part) * 64, 64,
              row_levels(K, p, s, hi, part, ok0), row_levels(K, p + ws, s, hi, part, ok1),
              row_levels(K, p + 2 * ws, s, hi, part, ok2), row_levels(K, p + 3 * ws, s, hi, part, ok3));
          }
        }
      }
    }
  }
}

/**
 * kquant_repack16 for Q4_K rows interleaved by four (q4_k_x4, matmul_x4.ts), gs bytes per group of
 * four, straight from the groups: a group's word t of chunk p holds elements 4t .. 4t + 3 of
 * sub-blocks 2p (low nibbles) and 2p + 1 (high) of its four rows, one i32 lane each, which is the
 * 8-bit tiles' element quad (R8) and, widened, two element pairs of the i16 ones. Rows >= rv (a
 * multiple of 4) zero; the same values as kquant_repack16 on the rows in the file's layout.
 */
// @ts-ignore: decorator
@inline export function q4kx4_repack16(R8: bool, sw: usize, w: usize, gs: usize, nsb: i32, rv: i32, full: bool): void {
  const WB = R8 ? W8M_BLOCK : W16M_BLOCK;
  const MW = R8 ? W8_BLOCK : W16_BLOCK; // offset of m_w
  const z = i32x4.splat(0), m = i8x16.splat(0x0f);
  for (let sb = 0; sb < nsb; sb++) {
    for (let g = 0; g < 4; g++) {
      const ok = full || 4 * g < rv;
      const wb = w + <usize>g * gs + <usize>sb * X4_BYTES;
      const d4 = ok ? f16x4_to_f32x4(v128.load16x4_s(wb)) : z, dm4 = ok ? f32x4.neg(f16x4_to_f32x4(v128.load16x4_s(wb, 8))) : z;
      for (let s = 0; s < 8; s++) {
        const db = sw + <usize>((sb << 3) + s) * WB, dg = db + 64 + (<usize>g << 4);
        // d_w = d * sc_s and m_w = -dmin * m_s of the four rows (byte 4r + (s & 3) of their scale / min vectors)
        const sh = <u32>(8 * (s & 3));
        const sc = v128.and(i32x4.shr_u(x4_scales(wb, s < 4), sh), i32x4.splat(0xff));
        const mn = v128.and(i32x4.shr_u(x4_mins(wb, s < 4), sh), i32x4.splat(0xff));
        v128.store(db + (<usize>g << 4), f32x4.mul(d4, f32x4.convert_i32x4_u(sc)));
        v128.store(db + MW + (<usize>g << 4), f32x4.mul(dm4, f32x4.convert_i32x4_u(mn)));
        const c = wb + 64 + (<usize>(s >> 1) << 7);
        for (let t: usize = 0; t < 8; t++) {
          const q = ok ? v128.load(c + (t << 4)) : z;
          const lv = v128.and((s & 1) != 0 ? i16x8.shr_u(q, 4) : q, m); // 16 levels: quad t of the four rows
          if (R8) {
            v128.store(dg + (t << 6), lv);
            continue;
          }
          const lo = i16x8.extend_low_i8x16_u(lv), hi = i16x8.extend_high_i8x16_u(lv);
          v128.store(dg + (t << 7), i32x4.shuffle(lo, hi, 0, 2, 4, 6)); //      pair 2t
          v128.store(dg + (t << 7) + 64, i32x4.shuffle(lo, hi, 1, 3, 5, 7)); // pair 2t + 1
        }
      }
    }
  }
}
