// Q4_K weights (llama.cpp block_q4_K, 256 elements in 144 bytes):
//   { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }
// 8 sub-blocks of 32 with 6-bit scale sc_s and min m_s (get_scale_min_k4
// packing); qs[32c .. 32c+32) hold sub-block 2c in the low nibbles and 2c+1
// in the high nibbles; value = d * sc_s * q - dmin * m_s.
//
// The integer path takes Q8_0 activations (one Q8_0 block per sub-block),
// unlike llama.cpp's Q8_K; per sub-block s:
//   d_x(s) * (d * sc_s * sum(q * qx) - dmin * m_s * sum(qx)).

import { dot_u4x32, even_s8, f16_to_f32, f16x4_to_f32x4, fmadd, hsum4, hsum4_i32, odd_s8 } from "./common";

const Q4_K_BYTES: usize = 144;
const Q8_0_BYTES: usize = 34;

/** Four bytes of a u32 as f32x4 (byte 0 in lane 0). */
// @ts-ignore: decorator
@inline function bytes_f32x4(word: u32): v128 {
  return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(i32x4.splat(word))));
}

// Mins of a super-block (u32 words b = bytes 4..7, c = bytes 8..11 of the
// scales): m[0..3] = b & 63, m[4..7] = (c >> 4) | (b >> 6) << 4, as f32x4.
// @ts-ignore: decorator
@inline function mins_lo(b: u32): v128 { return bytes_f32x4(b & 0x3f3f3f3f); }
// @ts-ignore: decorator
@inline function mins_hi(b: u32, c: u32): v128 { return bytes_f32x4(((c >> 4) & 0x0f0f0f0f) | (((b >> 6) & 0x03030303) << 4)); }

/** d_x of the four Q8_0 blocks at xb, xb+34, xb+68, xb+102 as f32x4. */
// @ts-ignore: decorator
@inline export function dx4(xb: usize): v128 {
  let h = i32x4.splat(<i32>load<i16>(xb));
  h = i32x4.replace_lane(h, 1, <i32>load<i16>(xb + Q8_0_BYTES));
  h = i32x4.replace_lane(h, 2, <i32>load<i16>(xb + 2 * Q8_0_BYTES));
  h = i32x4.replace_lane(h, 3, <i32>load<i16>(xb + 3 * Q8_0_BYTES));
  return f16x4_to_f32x4(h);
}

/** i32x4 partial sums of sum(qx) over the Q8_0 block at xb. */
// @ts-ignore: decorator
@inline export function xsum(xb: usize): v128 {
  const s = i16x8.add(i16x8.extadd_pairwise_i8x16_s(v128.load(xb, 2)), i16x8.extadd_pairwise_i8x16_s(v128.load(xb, 18)));
  return i32x4.extadd_pairwise_i16x8_s(s);
}


/**
 * One sub-block of a Q4_K weight row: the low (odd = false) or high nibbles
 * of the 32-byte chunk at c, against the
 * activation block prepared as even / odd i16 halves (e0 = x[0,2,..,14],
 * o0 = x[1,..,15], e1 = x[16,..,30], o1 = x[17,..,31]), scaled by `scale`
 * (= d * sc_s * d_x) and added to acc. i16 lane t of the chunk bytes qa
 * (0..15) is { lo(2t) | hi(2t) << 4 | lo(2t+1) << 8 | hi(2t+1) << 12 }
 * (lo = sub-block 2c, hi = 2c+1); qb likewise for elements 16 + 2t. Shifts
 * and masks only, no shuffles.
 */
// @ts-ignore: decorator
@inline function q4k_sub(c: usize, odd: bool, e0: v128, o0: v128, e1: v128, o1: v128, scale: f32, acc: v128): v128 {
  const m = i16x8.splat(0x000f);
  const qa = v128.load(c), qb = v128.load(c, 16);
  let p: v128;
  if (!odd) {
    p = i32x4.dot_i16x8_s(v128.and(qa, m), e0);
    p = i32x4.add(p, i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(qa, 8), m), o0));
    p = i32x4.add(p, i32x4.dot_i16x8_s(v128.and(qb, m), e1));
    p = i32x4.add(p, i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(qb, 8), m), o1));
  } else {
    p = i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(qa, 4), m), e0);
    p = i32x4.add(p, i32x4.dot_i16x8_s(i16x8.shr_u(qa, 12), o0));
    p = i32x4.add(p, i32x4.dot_i16x8_s(v128.and(i16x8.shr_u(qb, 4), m), e1));
    p = i32x4.add(p, i32x4.dot_i16x8_s(i16x8.shr_u(qb, 12), o1));
  }
  return fmadd(f32x4.convert_i32x4_s(p), f32x4.splat(scale), acc);
}

/** acc - dmin * (m[0..3] . xsA + m[4..7] . xsB) (lane-wise partials) for the super-block at wb. */
// @ts-ignore: decorator
@inline export function min_term(wb: usize, xsA: v128, xsB: v128, acc: v128): v128 {
  const b = load<u32>(wb, 8), c = load<u32>(wb, 12);
  const mt = f32x4.add(f32x4.mul(mins_lo(b), xsA), f32x4.mul(mins_hi(b, c), xsB));
  return fmadd(mt, f32x4.splat(-f16_to_f32(load<u16>(wb, 2))), acc);
}

/** [d_x(s) * sum(qx_s)] for the four Q8_0 blocks s at xb, xb + 34, xb + 68, xb + 102 (the activation side of the mins). */
// @ts-ignore: decorator
@inline export function dx_sums4(xb: usize): v128 {
  return f32x4.mul(dx4(xb), f32x4.convert_i32x4_s(hsum4_i32(xsum(xb), xsum(xb + Q8_0_BYTES), xsum(xb + 2 * Q8_0_BYTES), xsum(xb + 3 * Q8_0_BYTES))));
}

/** dot_u4x32 of 32 nibbles (lo = elements 0..15, hi = 16..31) with the Q8_0 activation block at x (relaxed build). */
// @ts-ignore: decorator
@inline function nib_dot32(lo: v128, hi: v128, x: usize): v128 {
  return dot_u4x32(v128.load(x, 2), v128.load(x, 18), lo, hi);
}

/**
 * acc + one Q4_K super-block of the weight row at wb against the eight Q8_0
 * activation blocks at xb (relaxed build): the integer dots of four
 * sub-blocks reduced together (hsum4_i32), then scaled by d * sc_s * d_x(s)
 * in one f32x4, the 6-bit scales unpacked four at a time; dxA / dxB are
 * d_x of blocks 0..3 / 4..7, xsA / xsB the activation side of the mins.
 */
// @ts-ignore: decorator
@inline function q4k_rsuper(wb: usize, xb: usize, dxA: v128, dxB: v128, xsA: v128, xsB: v128, acc: v128): v128 {
  const m = i8x16.splat(0x0f);
  const d = f32x4.splat(f16_to_f32(load<u16>(wb)));
  const b = load<u32>(wb, 4), c = load<u32>(wb, 12);
  // scales 0..3: b & 63; 4..7: (c & 15) | (b >> 6) << 4 (get_scale_min_k4)
  const scA = f32x4.mul(f32x4.mul(bytes_f32x4(b & 0x3f3f3f3f), dxA), d);
  const scB = f32x4.mul(f32x4.mul(bytes_f32x4((c & 0x0f0f0f0f) | (((b >> 6) & 0x03030303) << 4)), dxB), d);
  // chunk k (32 bytes at 16 + 32k): sub-block 2k in the low nibbles, 2k + 1 in the high ones
  let qa = v128.load(wb, 16), qb = v128.load(wb, 32);
  const p0 = nib_dot32(v128.and(qa, m), v128.and(qb, m), xb);
  const p1 = nib_dot32(v128.and(i16x8.shr_u(qa, 4), m), v128.and(i16x8.shr_u(qb, 4), m), xb + Q8_0_BYTES);
  qa = v128.load(wb, 48); qb = v128.load(wb, 64);
  const p2 = nib_dot32(v128.and(qa, m), v128.and(qb, m), xb + 2 * Q8_0_BYTES);
  const p3 = nib_dot32(v128.and(i16x8.shr_u(qa, 4), m), v128.and(i16x8.shr_u(qb, 4), m), xb + 3 * Q8_0_BYTES);
  acc = fmadd(f32x4.convert_i32x4_s(hsum4_i32(p0, p1, p2, p3)), scA, acc);
  qa = v128.load(wb, 80); qb = v128.load(wb, 96);
  const p4 = nib_dot32(v128.and(qa, m), v128.and(qb, m), xb + 4 * Q8_0_BYTES);
  const p5 = nib_dot32(v128.and(i16x8.shr_u(qa, 4), m), v128.and(i16x8.shr_u(qb, 4), m), xb + 5 * Q8_0_BYTES);
  qa = v128.load(wb, 112); qb = v128.load(wb, 128);
  const p6 = nib_dot32(v128.and(qa, m), v128.and(qb, m), xb + 6 * Q8_0_BYTES);
  const p7 = nib_dot32(v128.and(i16x8.shr_u(qa, 4), m), v128.and(i16x8.shr_u(qb, 4), m), xb + 7 * Q8_0_BYTES);
  acc = fmadd(f32x4.convert_i32x4_s(hsum4_i32(p4, p5, p6, p7)), scB, acc);
  return min_term(wb, xsA, xsB, acc);
}

/** q4k_dot4 of the relaxed build: super-block by super-block, row by row (q4k_rsuper). */
// @ts-ignore: decorator
@inline function q4k_rdot4(xq: usize, w: usize, ws: usize, nsb: i32, nr: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let wb = w;
  let xb = xq;
  for (let sb = 0; sb < nsb; sb++) {
    const xsA = dx_sums4(xb), xsB = dx_sums4(xb + 4 * Q8_0_BYTES);
    const dxA = dx4(xb), dxB = dx4(xb + 4 * Q8_0_BYTES);
    a0 = q4k_rsuper(wb, xb, dxA, dxB, xsA, xsB, a0);
    if (nr > 1) a1 = q4k_rsuper(wb + ws, xb, dxA, dxB, xsA, xsB, a1);
    if (nr > 2) a2 = q4k_rsuper(wb + 2 * ws, xb, dxA, dxB, xsA, xsB, a2);
    if (nr > 3) a3 = q4k_rsuper(wb + 3 * ws, xb, dxA, dxB, xsA, xsB, a3);
    wb += Q4_K_BYTES;
    xb += 8 * Q8_0_BYTES;
  }
  return hsum4(a0, a1, a2, a3);
}

/**
 * One Q8_0 activation row xq against `nr` (1..4) Q4_K weight rows (w + i*ws),
 * sub-block by sub-block: each activation block is split into even / odd
 * halves once and used by all rows; per-row scales are scalars. (The relaxed
 * build runs q4k_rdot4.)
 */
// @ts-ignore: decorator
@inline export function q4k_dot4(xq: usize, w: usize, ws: usize, nsb: i32, nr: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return q4k_rdot4(xq, w, ws, nsb, nr);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let wb = w;
  let xb = xq;
  for (let sb = 0; sb < nsb; sb++) {
    // mins: acc_r -= dmin_r * sum_s m_rs * d_x(s) * sum(qx_s)
    const xsA = dx_sums4(xb), xsB = dx_sums4(xb + 4 * Q8_0_BYTES);
    a0 = min_term(wb, xsA, xsB, a0);
    if (nr > 1) a1 = min_term(wb + ws, xsA, xsB, a1);
    if (nr > 2) a2 = min_term(wb + 2 * ws, xsA, xsB, a2);
    if (nr > 3) a3 = min_term(wb + 3 * ws, xsA, xsB, a3);
    const d0 = f16_to_f32(load<u16>(wb));
    const d1 = nr > 1 ? f16_to_f32(load<u16>(wb + ws)) : 0;
    const d2 = nr > 2 ? f16_to_f32(load<u16>(wb + 2 * ws)) : 0;
    const d3 = nr > 3 ? f16_to_f32(load<u16>(wb + 3 * ws)) : 0;
    for (let s = 0; s < 8; s++) {
      const x = xb + <usize>s * Q8_0_BYTES;
      const xl = v128.load(x, 2), xh = v128.load(x, 18);
      const e0 = even_s8(xl), o0 = odd_s8(xl), e1 = even_s8(xh), o1 = odd_s8(xh);
      const dx = f16_to_f32(load<u16>(x));
      const co: usize = 16 + (<usize>(s >> 1) << 5); // chunk offset in the super-block
      if ((s & 1) == 0) {
        a0 = q4k_sub(wb + co, false, e0, o0, e1, o1, d0 * <f32>q4k_scale(wb, s) * dx, a0);
        if (nr > 1) a1 = q4k_sub(wb + ws + co, false, e0, o0, e1, o1, d1 * <f32>q4k_scale(wb + ws, s) * dx, a1);
        if (nr > 2) a2 = q4k_sub(wb + 2 * ws + co, false, e0, o0, e1, o1, d2 * <f32>q4k_scale(wb + 2 * ws, s) * dx, a2);
        if (nr > 3) a3 = q4k_sub(wb + 3 * ws + co, false, e0, o0, e1, o1, d3 * <f32>q4k_scale(wb + 3 * ws, s) * dx, a3);
      } else {
        a0 = q4k_sub(wb + co, true, e0, o0, e1, o1, d0 * <f32>q4k_scale(wb, s) * dx, a0);
        if (nr > 1) a1 = q4k_sub(wb + ws + co, true, e0, o0, e1, o1, d1 * <f32>q4k_scale(wb + ws, s) * dx, a1);
        if (nr > 2) a2 = q4k_sub(wb + 2 * ws + co, true, e0, o0, e1, o1, d2 * <f32>q4k_scale(wb + 2 * ws, s) * dx, a2);
        if (nr > 3) a3 = q4k_sub(wb + 3 * ws + co, true, e0, o0, e1, o1, d3 * <f32>q4k_scale(wb + 3 * ws, s) * dx, a3);
      }
    }
    wb += Q4_K_BYTES;
    xb += 8 * Q8_0_BYTES;
  }
  return hsum4(a0, a1, a2, a3);
}


// ---------------------------------------------------------------- f32 activations / dequantize

/** 6-bit scale of sub-block j (0..7) of the super-block at wb (get_scale_min_k4). */
// @ts-ignore: decorator
@inline export function q4k_scale(wb: usize, j: i32): u32 {
  const s = wb + 4;
  if (j < 4) return <u32>load<u8>(s + <usize>j) & 63;
  return (<u32>load<u8>(s + <usize>(j + 4)) & 0xf) | ((<u32>load<u8>(s + <usize>(j - 4)) >> 6) << 4);
}

/** 6-bit min of sub-block j (0..7) of the super-block at wb. */
// @ts-ignore: decorator
@inline export function q4k_min(wb: usize, j: i32): u32 {
  const s = wb + 4;
  if (j < 4) return <u32>load<u8>(s + <usize>(j + 4)) & 63;
  return (<u32>load<u8>(s + <usize>(j + 4)) >> 4) | ((<u32>load<u8>(s + <usize>j) >> 6) << 4);
}

/** Nibbles 0..15 of 16 bytes (low, or high if hi) widened to f32x4 lanes, elements 4i..4i+3. */
// @ts-ignore: decorator
@inline function nib(q: v128, hi: bool, i: i32): v128 {
  const v = hi ? v128.and(i16x8.shr_u(q, 4), i8x16.splat(0x0f)) : v128.and(q, i8x16.splat(0x0f));
  const h = i < 2 ? i16x8.extend_low_i8x16_u(v) : i16x8.extend_high_i8x16_u(v);
  return f32x4.convert_i32x4_u((i & 1) == 0 ? i32x4.extend_low_i16x8_u(h) : i32x4.extend_high_i16x8_u(h));
}

/** dst[count] f32 = dequantized Q4_K blocks at src (count % 256 == 0). */
export function dequantize_q4_k(dst: usize, src: usize, count: i32): void {
  const nsb = count >> 8;
  for (let sb = 0; sb < nsb; sb++) {
    const wb = src + <usize>sb * Q4_K_BYTES;
    const d = f16_to_f32(load<u16>(wb));
    const dmin = f16_to_f32(load<u16>(wb, 2));
    for (let s = 0; s < 8; s++) {
      const ds = f32x4.splat(d * <f32>q4k_scale(wb, s));
      const ms = f32x4.splat(dmin * <f32>q4k_min(wb, s));
      const hi = (s & 1) != 0;
      const q = wb + 16 + (<usize>(s >> 1) << 5); // chunk s>>1: 32 bytes
      const y = dst + (<usize>sb << 10) + (<usize>s << 7); // 32 f32
      const qa = v128.load(q), qb = v128.load(q, 16);
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qa, hi, 0)), ms));
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qa, hi, 1)), ms), 16);
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qa, hi, 2)), ms), 32);
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qa, hi, 3)), ms), 48);
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qb, hi, 0)), ms), 64);
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qb, hi, 1)), ms), 80);
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qb, hi, 2)), ms), 96);
      v128.store(y, f32x4.sub(f32x4.mul(ds, nib(qb, hi, 3)), ms), 112);
    }
  }
}

/** acc + the f32 dot of the 256 activations at xb with the dequantized Q4_K super-block at wb. */
// @ts-ignore: decorator
@inline export function q4k_sb_f32(wb: usize, xb: usize, acc: v128): v128 {
  const d = f16_to_f32(load<u16>(wb));
  const dmin = f16_to_f32(load<u16>(wb, 2));
  for (let s = 0; s < 8; s++) {
    // sum x*(ds*q - ms) = ds * sum(x*q) - ms * sum(x)
    const hi = (s & 1) != 0;
    const q = wb + 16 + (<usize>(s >> 1) << 5);
    const xv = xb + (<usize>s << 7);
    const qa = v128.load(q), qb = v128.load(q, 16);
    const x0 = v128.load(xv), x1 = v128.load(xv, 16), x2 = v128.load(xv, 32), x3 = v128.load(xv, 48);
    const x4 = v128.load(xv, 64), x5 = v128.load(xv, 80), x6 = v128.load(xv, 96), x7 = v128.load(xv, 112);
    let tq = f32x4.mul(x0, nib(qa, hi, 0));
    tq = fmadd(x1, nib(qa, hi, 1), tq);
    tq = fmadd(x2, nib(qa, hi, 2), tq);
    tq = fmadd(x3, nib(qa, hi, 3), tq);
    tq = fmadd(x4, nib(qb, hi, 0), tq);
    tq = fmadd(x5, nib(qb, hi, 1), tq);
    tq = fmadd(x6, nib(qb, hi, 2), tq);
    tq = fmadd(x7, nib(qb, hi, 3), tq);
    const ts = f32x4.add(f32x4.add(f32x4.add(x0, x1), f32x4.add(x2, x3)), f32x4.add(f32x4.add(x4, x5), f32x4.add(x6, x7)));
    acc = fmadd(tq, f32x4.splat(d * <f32>q4k_scale(wb, s)), acc);
    acc = fmadd(ts, f32x4.splat(-(dmin * <f32>q4k_min(wb, s))), acc);
  }
  return acc;
}
