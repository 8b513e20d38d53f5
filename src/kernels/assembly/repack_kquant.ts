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

import { f16_to_f32 } from "./common";
import { q4k_min, q4k_scale } from "./matmul_q4k";
import { q5_levels, q6_levels } from "./matmul_q56k";
import { pairs4_store, W16_BLOCK, W16M_BLOCK, W8_BLOCK, W8M_BLOCK } from "./tiles16";
import { X4_BYTES } from "./matmul_x4";

const Q4_K: i32 = 4;
const Q5_K: i32 = 5;
const Q4_K_BYTES: usize = 144;

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
  for (let sb = 0; sb < nsb; sb++) repack16_sb(K, R8, sw + <usize>(sb << 3) * WB, w + <usize>sb * SB, ws, rv, full);
}

/**
 * kquant_repack16 for Q4_K rows interleaved by four (matmul_x4.ts), gs bytes per group of four:
 * each super-block of the rv rows is first unpacked to four block_q4_K rows at tmp (2304 bytes).
 */
// @ts-ignore: decorator
@inline export function q4kx4_repack16(R8: bool, sw: usize, w: usize, gs: usize, nsb: i32, rv: i32, full: bool, tmp: usize): void {
  const WB = R8 ? W8M_BLOCK : W16M_BLOCK;
  for (let sb = 0; sb < nsb; sb++) {
    for (let g = 0; 4 * g < rv; g++) q4kx4_unpack(tmp + <usize>(4 * g) * Q4_K_BYTES, w + <usize>g * gs + <usize>sb * X4_BYTES);
    repack16_sb(Q4_K, R8, sw + <usize>(sb << 3) * WB, tmp, Q4_K_BYTES, rv, full);
  }
}

/** The super-block of four interleaved Q4_K rows at src as four block_q4_K at dst, dst + 144, ... */
// @ts-ignore: decorator
@inline function q4kx4_unpack(dst: usize, src: usize): void {
  // scale bytes 0..11 of each row (and 4 bytes that the qs overwrite below), then d | dmin << 16
  pairs4_store(dst + 4, Q4_K_BYTES, v128.load(src, 16), v128.load(src, 32), v128.load(src, 48), v128.load(src, 48));
  for (let r: usize = 0; r < 4; r++) store<u32>(dst + r * Q4_K_BYTES, <u32>load<u16>(src + 2 * r) | (<u32>load<u16>(src + 8 + 2 * r) << 16));
  for (let p: usize = 0; p < 4; p++) {
    const c = src + 64 + (p << 7), o = dst + 16 + (p << 5);
    pairs4_store(o, Q4_K_BYTES, v128.load(c), v128.load(c, 16), v128.load(c, 32), v128.load(c, 48));
    pairs4_store(o + 16, Q4_K_BYTES, v128.load(c, 64), v128.load(c, 80), v128.load(c, 96), v128.load(c, 112));
  }
}

/** kquant_repack16's work for one super-block: the 16 rows' super-blocks at wsb + i * ws, into d. */
// @ts-ignore: decorator
@inline function repack16_sb(K: i32, R8: bool, d: usize, wsb: usize, ws: usize, rv: i32, full: bool): void {
  const WB = R8 ? W8M_BLOCK : K == Q4_K || K == Q5_K ? W16M_BLOCK : W16_BLOCK;
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
