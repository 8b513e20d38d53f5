// Super-block dots of the K-quant weights (Q4_K, Q5_K, Q6_K) with Q8_K
// activations, as llama.cpp's vec_dot_q*_K_q8_K: the matvec and n < 6 path.
//
// Q8_K activation block (ggml block_q8_K, 292 bytes, convert.ts):
//   { f32 d; i8 qs[256]; i16 bsums[16] }   bsums[j] = sum of qs[16j .. 16j+16)
// One scale per 256 values makes a whole super-block one integer sum: each
// sub-block's products are summed in i16 lanes (|sum| < 2^15, below), then
// multiplied by its integer scale with i32x4.dot_i16x8_s against the scale
// splatted to every lane (which also widens them), so per super-block and row
// there is one conversion to f32 and one multiply by d * d_x. The constant
// parts (Q4_K / Q5_K mins, Q6_K's -32) come from bsums, not from the values.
//
// Products in i16 lanes: relaxed build, i16x8.relaxed_dot_i8x16_i7x16_s
// (vpmaddubsw) with the levels as the 7-bit operand (unsigned, < 128, so the
// result does not depend on the engine): lane = q_2t x_2t + q_2t+1 x_2t+1.
// Plain SIMD: the levels' even and odd bytes as i16 lanes, i16x8.mul with
// the activations split the same way: again lane t = q_2t x_2t + q_2t+1 x_2t+1.
// Bound of an i16 lane: 4 products for 32 values (Q4_K / Q5_K: 4 * 31 * 127),
// 2 for 16 (Q6_K: 2 * 63 * 127), all < 32768.
//
// The drivers (matmul_kquant.ts) run four weight rows at once and load (and
// split) each block of activations once for the four: with the activations
// reloaded per row the kernels ran 1.3-1.8x slower.

import { even_s8, f16_to_f32, fmadd, odd_s8, pairsum_i16 } from "./common";

/** acc + f32(isum) * d * d_x, d the f16 at wb + doff, d_x the Q8_K block's d. */
// @ts-ignore: decorator
@inline function scaled(acc: v128, isum: v128, wb: usize, doff: usize, xb: usize): v128 {
  return fmadd(f32x4.convert_i32x4_s(isum), f32x4.splat(load<f32>(xb) * f16_to_f32(load<u16>(wb + doff))), acc);
}

// ---------------------------------------------------------------- Q4_K / Q5_K

/** The eight 6-bit mins of a Q4_K / Q5_K super-block as i16x8 (get_scale_min_k4). */
// @ts-ignore: decorator
@inline function mins16(wb: usize): v128 {
  const b = load<u32>(wb, 8), c = load<u32>(wb, 12);
  // 0..3: the low 6 bits of bytes 4..7; 4..7: the high nibbles of bytes 8..11 | the top 2 bits of 4..7
  const lo = b & 0x3f3f3f3f, hi = ((c >> 4) & 0x0f0f0f0f) | (((b >> 6) & 0x03030303) << 4);
  return i16x8.extend_low_i8x16_u(i64x2.splat(<i64>(<u64>lo | (<u64>hi << 32))));
}

/** The eight sums of 32 activations of the Q8_K block at xb (bsums pairwise) as i16x8 (|sum| <= 32 * 127). */
// @ts-ignore: decorator
@inline export function bsums32(xb: usize): v128 {
  // pairwise widening adds and a narrowing (exact: |sum| < 2^15), no byte shuffle (see fifth8)
  return i16x8.narrow_i32x4_s(pairsum_i16(v128.load(xb, 260)), pairsum_i16(v128.load(xb, 276)));
}

/** i16x8 products of 16 levels q (u8x16, < 128) with 16 activations: plain SIMD as even (e) / odd (o) i16 halves, relaxed as the int8 e. */
// @ts-ignore: decorator
@inline function prod16(q: v128, e: v128, o: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(e, q);
  return i16x8.add(i16x8.mul(v128.and(q, i16x8.splat(0x00ff)), e), i16x8.mul(i16x8.shr_u(q, 8), o));
}

/** The activations of prod16 for the 16 int8 v: even i16 half (plain) or v itself (relaxed). */
// @ts-ignore: decorator
@inline export function act_e(v: v128): v128 { return ASC_FEATURE_RELAXED_SIMD ? v : even_s8(v); }
/** ... and the odd i16 half (plain; unused by the relaxed build). */
// @ts-ignore: decorator
@inline export function act_o(v: v128): v128 { return ASC_FEATURE_RELAXED_SIMD ? v : odd_s8(v); }

/**
 * i32x4 partials of sc_2p * sum(q * x) + sc_2p+1 * sum(q * x) over sub-blocks 2p and 2p + 1 of the
 * Q4_K (K = 4) or Q5_K (K = 5) super-block at wb: the low and high nibbles of the 32-byte chunk p,
 * for Q5_K with bit 2p (2p + 1) of qh[l] as bit 4. The 64 activations as prod16 wants them (e0, o0:
 * values 0..15 of sub-block 2p; e1, o1: 16..31; e2..o3 likewise for 2p + 1).
 */
// @ts-ignore: decorator
@inline export function q45k_chunk(K: i32, wb: usize, p: i32, e0: v128, o0: v128, e1: v128, o1: v128,
  e2: v128, o2: v128, e3: v128, o3: v128): v128 {
  // the two sub-blocks' scales in every i16 lane
  const ss = i16x8.splat(<i16>scale_pair(wb, p));
  const sl = v128.and(ss, i16x8.splat(0xff)), sh = i16x8.shr_u(ss, 8);
  const c = wb + (K == 4 ? 16 : 48) + (<usize>p << 5);
  const qa = v128.load(c), qb = v128.load(c, 16);
  if (!ASC_FEATURE_RELAXED_SIMD && K == 4) {
    // plain SIMD: each nibble straight into the i16 lane of its even / odd activation (i16 lane t
    // of qa holds values 2t, 2t + 1 of sub-block 2p in bits 0..3, 8..11, of 2p + 1 in 4..7, 12..15)
    const m = i16x8.splat(0x000f);
    const lo = i16x8.add(
      i16x8.add(i16x8.mul(v128.and(qa, m), e0), i16x8.mul(v128.and(i16x8.shr_u(qa, 8), m), o0)),
      i16x8.add(i16x8.mul(v128.and(qb, m), e1), i16x8.mul(v128.and(i16x8.shr_u(qb, 8), m), o1)));
    const hi = i16x8.add(
      i16x8.add(i16x8.mul(v128.and(i16x8.shr_u(qa, 4), m), e2), i16x8.mul(i16x8.shr_u(qa, 12), o2)),
      i16x8.add(i16x8.mul(v128.and(i16x8.shr_u(qb, 4), m), e3), i16x8.mul(i16x8.shr_u(qb, 12), o3)));
    return i32x4.add(i32x4.dot_i16x8_s(lo, sl), i32x4.dot_i16x8_s(hi, sh));
  }
  let la: v128, lb: v128, ha: v128, hb: v128;
  const m = i8x16.splat(0x0f);
  if (K == 4) {
    la = v128.and(qa, m); lb = v128.and(qb, m);
    ha = v128.and(i16x8.shr_u(qa, 4), m); hb = v128.and(i16x8.shr_u(qb, 4), m);
  } else {
    // Q5_K: bit 2p (2p + 1) of qh[l] as bit 4 of sub-block 2p's (2p + 1's) levels, one shift for both
    const m5 = i8x16.splat(0x10);
    const ta = i16x8.shr_u(v128.load(wb, 16), <u32>(2 * p)), tb = i16x8.shr_u(v128.load(wb, 32), <u32>(2 * p));
    la = v128.or(v128.and(qa, m), v128.and(i16x8.shl(ta, 4), m5));
    lb = v128.or(v128.and(qb, m), v128.and(i16x8.shl(tb, 4), m5));
    ha = v128.or(v128.and(i16x8.shr_u(qa, 4), m), v128.and(i16x8.shl(ta, 3), m5));
    hb = v128.or(v128.and(i16x8.shr_u(qb, 4), m), v128.and(i16x8.shl(tb, 3), m5));
  }
  const lo = i32x4.dot_i16x8_s(i16x8.add(prod16(la, e0, o0), prod16(lb, e1, o1)), sl);
  return i32x4.add(lo, i32x4.dot_i16x8_s(i16x8.add(prod16(ha, e2, o2), prod16(hb, e3, o3)), sh));
}

/**
 * The 6-bit scales of sub-blocks 2p and 2p + 1 (p = 0..3) of a Q4_K / Q5_K super-block as one u16
 * (sc_2p | sc_2p+1 << 8), from the packed bytes (get_scale_min_k4).
 */
// @ts-ignore: decorator
@inline function scale_pair(wb: usize, p: i32): u32 {
  const lo = <u32>load<u16>(wb + 4 + (<usize>p << 1)) & 0x3f3f; // p < 2
  const j = wb + (<usize>(p & 1) << 1);
  const hi = (<u32>load<u16>(j, 12) & 0x0f0f) | ((<u32>load<u16>(j, 4) >> 2) & 0x3030); // p >= 2
  return select<u32>(lo, hi, p < 2);
}

/** acc + d_x * (d * f32(isum) - dmin * f32(sum_s m_s * bsum_s)) for the Q4_K / Q5_K super-block at wb; bs = bsums32(xb). */
// @ts-ignore: decorator
@inline export function q45k_finish(wb: usize, xb: usize, isum: v128, bs: v128, acc: v128): v128 {
  acc = scaled(acc, isum, wb, 0, xb);
  const mt = i32x4.dot_i16x8_s(mins16(wb), bs);
  return fmadd(f32x4.convert_i32x4_s(mt), f32x4.splat(-load<f32>(xb) * f16_to_f32(load<u16>(wb, 2))), acc);
}

// ---------------------------------------------------------------- Q6_K

/**
 * i32x4 partials of sc * q * x summed over quarters k and k + 2 (k = 0, 1) of half h of the Q6_K
 * super-block at wb (values 128h + 32k + l and 128h + 32(k + 2) + l), each 16-value sub-block times
 * its int8 scale. The two quarters share their bytes: the low and high nibbles of the same ql, bits
 * 2k and 2k + 4 of the same qh. Activations as prod16 wants them: e0..o1 quarter k (values 0..15,
 * 16..31), e2..o3 quarter k + 2.
 */
// @ts-ignore: decorator
@inline export function q6k_pair(wb: usize, h: i32, k: i32, e0: v128, o0: v128, e1: v128, o1: v128,
  e2: v128, o2: v128, e3: v128, o3: v128): v128 {
  const ql = wb + (<usize>h << 6) + (<usize>k << 5);
  const qh = wb + 128 + (<usize>h << 5);
  const m4 = i8x16.splat(0x0f), m2 = i8x16.splat(0x30);
  const la = v128.load(ql), lb = v128.load(ql, 16);
  // bits 2k, 2k + 1 of qh at bits 0, 1 (quarter k, moved to 4, 5 below) and 4, 5 (quarter k + 2)
  const ta = i16x8.shr_u(v128.load(qh), <u32>(k << 1)), tb = i16x8.shr_u(v128.load(qh, 16), <u32>(k << 1));
  const qa = v128.or(v128.and(la, m4), v128.and(i16x8.shl(ta, 4), m2));
  const qb = v128.or(v128.and(lb, m4), v128.and(i16x8.shl(tb, 4), m2));
  const qc = v128.or(v128.and(i16x8.shr_u(la, 4), m4), v128.and(ta, m2));
  const qd = v128.or(v128.and(i16x8.shr_u(lb, 4), m4), v128.and(tb, m2));
  // the two int8 scales of a quarter in every i16 lane (sb << 8 | sa), then each sign-extended
  const s0 = v128.load16_splat(wb + 192 + (<usize>h << 3) + (<usize>k << 1));
  const s2 = v128.load16_splat(wb + 196 + (<usize>h << 3) + (<usize>k << 1));
  let p = i32x4.dot_i16x8_s(prod16(qa, e0, o0), i16x8.shr_s(i16x8.shl(s0, 8), 8));
  p = i32x4.add(p, i32x4.dot_i16x8_s(prod16(qb, e1, o1), i16x8.shr_s(s0, 8)));
  p = i32x4.add(p, i32x4.dot_i16x8_s(prod16(qc, e2, o2), i16x8.shr_s(i16x8.shl(s2, 8), 8)));
  return i32x4.add(p, i32x4.dot_i16x8_s(prod16(qd, e3, o3), i16x8.shr_s(s2, 8)));
}

/** acc + d_x * d * f32(isum - 32 * sum_j sc_j * bsum_j) for the Q6_K super-block at wb (j: its 16-value sub-blocks). */
// @ts-ignore: decorator
@inline export function q6k_finish(wb: usize, xb: usize, isum: v128, acc: v128): v128 {
  const s8 = v128.load(wb, 192);
  const off = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(s8), v128.load(xb, 260)),
    i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(s8), v128.load(xb, 276)));
  return scaled(acc, i32x4.sub(isum, i32x4.shl(off, 5)), wb, 208, xb);
}
