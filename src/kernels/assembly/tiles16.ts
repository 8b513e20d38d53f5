// The 16 x 2 register tile of the quantized matmuls (n > 1 with a scratch),
// 16 weight rows x 2 activation rows,
// shared by every weight type that can be written as 32-element blocks of
// small integers with one f32 scale per block and row: Q8_0, Q4_0 (q - 8),
// Q6_K (its int8 sub-block scales folded into the levels) and, with a
// second per-block term, Q4_K / Q5_K (value = d_w * q + m_w, m_w = -dmin * m).
// Each weight type writes its own repack into the layout below; the tile and
// the activation repack are the same for all of them.
//
// Activation quad blocks: repack_x.ts (X_I16, X_I8).
// Weight block of 16 rows (the types' repacks), W16_BLOCK, or W16M_BLOCK with mins:
//   f32 d_w[16]; for each element pair k (0..15): 4 groups x 4 rows x i16[2]
//   (one i32 lane per row); (mins: f32 m_w[16])

import { fmadd, pairsum_i16 } from "./common";
import { XQ8_BLOCK, XQ_BLOCK, XQM_BLOCK } from "./repack_x";

/** Bytes per block of 16 repacked weight rows: f32 d_w[16], then 16 pairs x (4 groups x 4 rows x i16[2]). */
export const W16_BLOCK: usize = 1088;
/** W16_BLOCK plus f32 m_w[16] (weights with mins). */
export const W16M_BLOCK: usize = 1152;

/**
 * Four rows' i16x8 (4 element pairs each) transposed so that vector t holds
 * pair t of the four rows (i32 lanes = rows); stored at d + st * t.
 */
// @ts-ignore: decorator
@inline export function pairs4_store(d: usize, st: usize, a: v128, b: v128, c: v128, e: v128): void {
  const t0 = i32x4.shuffle(a, b, 0, 4, 1, 5), t1 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const t2 = i32x4.shuffle(c, e, 0, 4, 1, 5), t3 = i32x4.shuffle(c, e, 2, 6, 3, 7);
  v128.store(d, i64x2.shuffle(t0, t2, 0, 2));
  v128.store(d + st, i64x2.shuffle(t0, t2, 1, 3));
  v128.store(d + 2 * st, i64x2.shuffle(t1, t3, 0, 2));
  v128.store(d + 3 * st, i64x2.shuffle(t1, t3, 1, 3));
}

// ---------------------------------------------------------------- relaxed build: 8-bit dots on unsigned levels
//
// For weights whose levels are unsigned and below 128 (Q4_0's raw nibbles,
// Q4_K's 0..15, Q5_K's 0..31), the relaxed build dots 8-bit activations with
// the levels as the 7-bit operand. Q4_0's -8 is subtracted per block as an
// integer (8 * sum(x)); Q4_K / Q5_K add m_w * s_x as in qtile16x2.
//
// Weight block of 16 rows, W8_BLOCK, or W8M_BLOCK with mins:
//   f32 d_w[16]; for element quads t = 0..7 (elements 4t..4t+3): 4 groups x
//   4 rows x u8[4] (one i32 lane per row); (mins: f32 m_w[16])

/** Bytes per block of 16 repacked weight rows as u8 levels. */
export const W8_BLOCK: usize = 576;
/** W8_BLOCK plus f32 m_w[16]. */
export const W8M_BLOCK: usize = 640;

/**
 * acc + [sum of a[4i..4i+3] * b[4i..4i+3]] for b in 0..127 (relaxed build).
 * Not i32x4.relaxed_dot_i8x16_i7x16_add_s: Node 20's V8 (11.3) returns
 * twice the dot product on x64 without AVX-VNNI. The i16 dot (pmaddubsw)
 * plus the pairwise add (pmaddwd by 1, pairsum_i16) is what that op lowers to there anyway.
 */
// @ts-ignore: decorator
@inline export function dot4add(a: v128, b: v128, acc: v128): v128 {
  return i32x4.add(acc, pairsum_i16(i16x8.relaxed_dot_i8x16_i7x16_s(a, b)));
}

// ---------------------------------------------------------------- the tile

/**
 * 16 weight rows (repacked at sw) x activation rows l0, l0 + 1 of a quad
 * (at px). Each dot multiplies one element pair (R8: quad) of four weight
 * rows (lanes) by the same pair of one activation row (splat), so the lanes
 * of an accumulator are already four outputs: no horizontal sums. 8 i32
 * accumulators + 4 weight vectors + 1 splat fit the 15 xmm registers V8
 * allocates on x64. Per block each output gets f32(int dot) * (d_w * d_x)
 * added (the same rounding as the matvec kernels qdot4v / qdot4v2), with
 * MINS then m_w * s_x. Stores jv (<= 2) rows of rv (<= 16) outputs.
 *   R8 = false: i16 layouts (repack_quads X_I16, W16_BLOCK / W16M_BLOCK), i32x4.dot_i16x8_s.
 *   R8 = true (relaxed build): 8-bit layouts (repack_quads X_I8, W8_BLOCK / W8M_BLOCK),
 *     dot4add with the levels (< 128, so the result does not depend on the
 *     engine) as the 7-bit operand; without MINS (Q4_0) the -8 is subtracted
 *     per block as the integer 8 * sum(x).
 */
// @ts-ignore: decorator
@inline export function qtile16x2(R8: bool, MINS: bool, out: usize, os: usize, px: usize, l0: usize, sw: usize, nb: i32, rv: i32, jv: i32): void {
  const XB = R8 ? XQ8_BLOCK : MINS ? XQM_BLOCK : XQ_BLOCK;
  const WB = R8 ? (MINS ? W8M_BLOCK : W8_BLOCK) : MINS ? W16M_BLOCK : W16_BLOCK;
  const MW = R8 ? W8_BLOCK : W16_BLOCK; // offset of m_w[16]
  const SX: usize = R8 ? 16 : XQ_BLOCK; // offset of s_x[4]
  let f00 = f32x4.splat(0), f01 = f32x4.splat(0), f10 = f32x4.splat(0), f11 = f32x4.splat(0);
  let f20 = f32x4.splat(0), f21 = f32x4.splat(0), f30 = f32x4.splat(0), f31 = f32x4.splat(0);
  let p = px + (l0 << 2);
  let q = sw;
  for (let b = 0; b < nb; b++) {
    let wp = q + 64;
    let a00 = i32x4.splat(0), a10 = a00, a20 = a00, a30 = a00;
    let a01 = a00, a11 = a00, a21 = a00, a31 = a00;
    if (ASC_FEATURE_RELAXED_SIMD && R8) {
      let xp = p + 32 + 28 * l0; // p is at d_x[l0]; row l0's values at 32 + 32 * l0
      if (!MINS) {
        a00 = i32x4.sub(a00, v128.load32_splat(p, 16));
        a01 = i32x4.sub(a01, v128.load32_splat(p, 20));
        a10 = a00; a20 = a00; a30 = a00;
        a11 = a01; a21 = a01; a31 = a01;
      }
      for (let t = 0; t < 8; t++) {
        const w0 = v128.load(wp), w1 = v128.load(wp, 16), w2 = v128.load(wp, 32), w3 = v128.load(wp, 48);
        let x = v128.load32_splat(xp);
        a00 = dot4add(x, w0, a00);
        a10 = dot4add(x, w1, a10);
        a20 = dot4add(x, w2, a20);
        a30 = dot4add(x, w3, a30);
        x = v128.load32_splat(xp, 32);
        a01 = dot4add(x, w0, a01);
        a11 = dot4add(x, w1, a11);
        a21 = dot4add(x, w2, a21);
        a31 = dot4add(x, w3, a31);
        xp += 4;
        wp += 64;
      }
    } else {
      let xp = p + 16 + 60 * l0; // p is at d_x[l0]; row l0's values at 16 + 64 * l0
      // pair 0 starts the sums (no zeroing), pairs 1..15 add to them
      const v0 = v128.load(wp), v1 = v128.load(wp, 16), v2 = v128.load(wp, 32), v3 = v128.load(wp, 48);
      const y0 = v128.load32_splat(xp), y1 = v128.load32_splat(xp, 64);
      a00 = i32x4.dot_i16x8_s(v0, y0); a10 = i32x4.dot_i16x8_s(v1, y0); a20 = i32x4.dot_i16x8_s(v2, y0); a30 = i32x4.dot_i16x8_s(v3, y0);
      a01 = i32x4.dot_i16x8_s(v0, y1); a11 = i32x4.dot_i16x8_s(v1, y1); a21 = i32x4.dot_i16x8_s(v2, y1); a31 = i32x4.dot_i16x8_s(v3, y1);
      xp += 4;
      wp += 64;
      for (let k = 1; k < 16; k++) {
        const w0 = v128.load(wp), w1 = v128.load(wp, 16), w2 = v128.load(wp, 32), w3 = v128.load(wp, 48);
        let x = v128.load32_splat(xp);
        a00 = i32x4.add(a00, i32x4.dot_i16x8_s(w0, x));
        a10 = i32x4.add(a10, i32x4.dot_i16x8_s(w1, x));
        a20 = i32x4.add(a20, i32x4.dot_i16x8_s(w2, x));
        a30 = i32x4.add(a30, i32x4.dot_i16x8_s(w3, x));
        x = v128.load32_splat(xp, 64);
        a01 = i32x4.add(a01, i32x4.dot_i16x8_s(w0, x));
        a11 = i32x4.add(a11, i32x4.dot_i16x8_s(w1, x));
        a21 = i32x4.add(a21, i32x4.dot_i16x8_s(w2, x));
        a31 = i32x4.add(a31, i32x4.dot_i16x8_s(w3, x));
        xp += 4;
        wp += 64;
      }
    }
    let dx = v128.load32_splat(p);
    f00 = fmadd(f32x4.convert_i32x4_s(a00), f32x4.mul(v128.load(q), dx), f00);
    f10 = fmadd(f32x4.convert_i32x4_s(a10), f32x4.mul(v128.load(q, 16), dx), f10);
    f20 = fmadd(f32x4.convert_i32x4_s(a20), f32x4.mul(v128.load(q, 32), dx), f20);
    f30 = fmadd(f32x4.convert_i32x4_s(a30), f32x4.mul(v128.load(q, 48), dx), f30);
    dx = v128.load32_splat(p, 4);
    f01 = fmadd(f32x4.convert_i32x4_s(a01), f32x4.mul(v128.load(q), dx), f01);
    f11 = fmadd(f32x4.convert_i32x4_s(a11), f32x4.mul(v128.load(q, 16), dx), f11);
    f21 = fmadd(f32x4.convert_i32x4_s(a21), f32x4.mul(v128.load(q, 32), dx), f21);
    f31 = fmadd(f32x4.convert_i32x4_s(a31), f32x4.mul(v128.load(q, 48), dx), f31);
    if (MINS) {
      let s = v128.load32_splat(p + SX);
      f00 = fmadd(v128.load(q + MW), s, f00);
      f10 = fmadd(v128.load(q + MW, 16), s, f10);
      f20 = fmadd(v128.load(q + MW, 32), s, f20);
      f30 = fmadd(v128.load(q + MW, 48), s, f30);
      s = v128.load32_splat(p + SX, 4);
      f01 = fmadd(v128.load(q + MW), s, f01);
      f11 = fmadd(v128.load(q + MW, 16), s, f11);
      f21 = fmadd(v128.load(q + MW, 32), s, f21);
      f31 = fmadd(v128.load(q + MW, 48), s, f31);
    }
    p += XB;
    q += WB;
  }
  store_tile16x2(out, os, rv, jv, f00, f10, f20, f30, f01, f11, f21, f31);
}

/** Stores a 16 x 2 tile: rv (<= 16) outputs of jv (<= 2) activation rows, fR0 / fR1 the lanes of weight rows 4R..4R+3. */
// @ts-ignore: decorator
@inline export function store_tile16x2(out: usize, os: usize, rv: i32, jv: i32, f00: v128, f10: v128, f20: v128, f30: v128,
  f01: v128, f11: v128, f21: v128, f31: v128): void {
  store_row8(out, rv, f00, f10);
  if (rv > 8) store_row8(out + 32, rv - 8, f20, f30);
  if (jv > 1) {
    store_row8(out + os, rv, f01, f11);
    if (rv > 8) store_row8(out + os + 32, rv - 8, f21, f31);
  }
}

/** Stores min(rv, 8) outputs of one activation row: lanes of a (rows 0..3) then b (rows 4..7). */
// @ts-ignore: decorator
@inline function store_row8(o: usize, rv: i32, a: v128, b: v128): void {
  if (rv >= 8) {
    v128.store(o, a);
    v128.store(o, b, 16);
    return;
  }
  store<f32>(o, f32x4.extract_lane(a, 0));
  if (rv > 1) store<f32>(o, f32x4.extract_lane(a, 1), 4);
  if (rv > 2) store<f32>(o, f32x4.extract_lane(a, 2), 8);
  if (rv > 3) store<f32>(o, f32x4.extract_lane(a, 3), 12);
  if (rv > 4) store<f32>(o, f32x4.extract_lane(b, 0), 16);
  if (rv > 5) store<f32>(o, f32x4.extract_lane(b, 1), 20);
  if (rv > 6) store<f32>(o, f32x4.extract_lane(b, 2), 24);
}
