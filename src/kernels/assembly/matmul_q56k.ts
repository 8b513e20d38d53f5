// Q5_K and Q6_K weights (llama.cpp block_q5_K / block_q6_K, 256 elements):
//
// Q5_K, 176 bytes: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }
//   as Q4_K (same scales/mins packing, same nibble layout in qs) plus a fifth
//   bit: value l of sub-block s (0..7) has bit s of qh[l] as its bit 4;
//   value = d * sc_s * q - dmin * m_s, q in 0..31.
// Q6_K, 210 bytes: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }
//   16 sub-blocks of 16 with an int8 scale each. Value 128h + 32k + l
//   (h: half 0..1, k: quarter 0..3, l: 0..31) has its low 4 bits in
//   ql[64h + 32(k & 1) + l] (low nibble for k < 2, high for k >= 2) and its
//   high 2 bits in qh[32h + l] >> 2k; value = d * sc[8h + 2k + l/16] * (q - 32).
//
// The integer path takes Q8_0 activations (one Q8_0 block per 32 values, as
// for Q4_K). Per Q8_0 block the integer dot of the unsigned levels with the
// int8 activations is exact (i32); the constant offsets (Q5_K's min, Q6_K's
// -32) are applied once per super-block from per-block activation sums.

import { even_s8, f16_to_f32, fmadd, hsum4, hsum4_i32, odd_s8 } from "./common";
import { dx_sums4, min_term, q4k_min, q4k_scale } from "./matmul_q4k";

const Q5_K_BYTES: usize = 176;
const Q6_K_BYTES: usize = 210;
const Q8_0_BYTES: usize = 34;

/**
 * i32x4 partial dot of 16 unsigned levels q (bytes < 128) with 16 int8
 * activations: plain SIMD, given as even / odd i16 halves (e = x[0,2,..],
 * o = x[1,3,..]); relaxed build, e = the int8 values as they are (o unused),
 * the levels as the 7-bit operand of an 8-bit dot.
 */
// @ts-ignore: decorator
@inline function dot16(q: v128, e: v128, o: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(e, q));
  const p = i32x4.dot_i16x8_s(v128.and(q, i16x8.splat(0x00ff)), e);
  return i32x4.add(p, i32x4.dot_i16x8_s(i16x8.shr_u(q, 8), o));
}

/** The activations of dot16 for the 16 int8 at v: the even (e) or odd (o) i16 halves; relaxed build: v itself. */
// @ts-ignore: decorator
@inline function xe(v: v128): v128 { return ASC_FEATURE_RELAXED_SIMD ? v : even_s8(v); }
// @ts-ignore: decorator
@inline function xo(v: v128): v128 { return ASC_FEATURE_RELAXED_SIMD ? v : odd_s8(v); }

// ---------------------------------------------------------------- Q5_K

/** 5-bit levels of 16 values of sub-block s: nibble of ql (low for even s) | bit s of qh << 4. */
// @ts-ignore: decorator
@inline export function q5_levels(ql: v128, qh: v128, s: i32): v128 {
  // i16 shifts (native on x86, unlike i8 ones); the byte masks drop what crosses between bytes
  const nib = v128.and(i16x8.shr_u(ql, <u32>((s & 1) << 2)), i8x16.splat(0x0f));
  const hb = i16x8.shl(v128.and(i16x8.shr_u(qh, <u32>s), i8x16.splat(0x01)), 4);
  return v128.or(nib, hb);
}


/** One sub-block s of the Q5_K super-block at wb against prepared activations, scaled, added to acc. */
// @ts-ignore: decorator
@inline function q5k_sub(wb: usize, s: i32, e0: v128, o0: v128, e1: v128, o1: v128, scale: f32, acc: v128): v128 {
  const c = wb + 48 + (<usize>(s >> 1) << 5);
  const qa = q5_levels(v128.load(c), v128.load(wb, 16), s);
  const qb = q5_levels(v128.load(c, 16), v128.load(wb, 32), s);
  const p = i32x4.add(dot16(qa, e0, o0), dot16(qb, e1, o1));
  return fmadd(f32x4.convert_i32x4_s(p), f32x4.splat(scale), acc);
}

/** One Q8_0 activation row against nr (1..4) Q5_K weight rows w + i*ws. */
// @ts-ignore: decorator
@inline export function q5k_dot4(xq: usize, w: usize, ws: usize, nsb: i32, nr: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let wb = w;
  let xb = xq;
  for (let sb = 0; sb < nsb; sb++) {
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
      const e0 = xe(xl), o0 = xo(xl), e1 = xe(xh), o1 = xo(xh);
      const dx = f16_to_f32(load<u16>(x));
      a0 = q5k_sub(wb, s, e0, o0, e1, o1, d0 * <f32>q4k_scale(wb, s) * dx, a0);
      if (nr > 1) a1 = q5k_sub(wb + ws, s, e0, o0, e1, o1, d1 * <f32>q4k_scale(wb + ws, s) * dx, a1);
      if (nr > 2) a2 = q5k_sub(wb + 2 * ws, s, e0, o0, e1, o1, d2 * <f32>q4k_scale(wb + 2 * ws, s) * dx, a2);
      if (nr > 3) a3 = q5k_sub(wb + 3 * ws, s, e0, o0, e1, o1, d3 * <f32>q4k_scale(wb + 3 * ws, s) * dx, a3);
    }
    wb += Q5_K_BYTES;
    xb += 8 * Q8_0_BYTES;
  }
  return hsum4(a0, a1, a2, a3);
}


// ---------------------------------------------------------------- Q6_K

/** 6-bit levels (0..63) of 16 values of quarter k: nibble of ql (low for k < 2) | bits 2k, 2k+1 of qh << 4. */
// @ts-ignore: decorator
@inline export function q6_levels(ql: v128, qh: v128, k: i32): v128 {
  const nib = v128.and(i16x8.shr_u(ql, <u32>((k >> 1) << 2)), i8x16.splat(0x0f));
  const hb = v128.and(i16x8.shl(i16x8.shr_u(qh, <u32>(k << 1)), 4), i8x16.splat(0x30));
  return v128.or(nib, hb);
}

/**
 * sum_s sc_s * d_x(s) * sum(qx over the 16 values of s), s = 0..15, as f32x4
 * partials, for the Q6_K super-block at wb: xs0..xs3 hold d_x * sum(qx) of
 * the sixteen 16-value halves in order (four per vector).
 */
// @ts-ignore: decorator
@inline function q6k_offset(wb: usize, xs0: v128, xs1: v128, xs2: v128, xs3: v128): v128 {
  const s8 = v128.load(wb, 192);
  const lo = i16x8.extend_low_i8x16_s(s8), hi = i16x8.extend_high_i8x16_s(s8);
  let t = f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)), xs0);
  t = fmadd(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), xs1, t);
  t = fmadd(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), xs2, t);
  return fmadd(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), xs3, t);
}

/** i32x4 partial sums of sum(qx) over 16 int8 at p. */
// @ts-ignore: decorator
@inline function xsum16(p: usize): v128 {
  return i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(v128.load(p)));
}

/** d_x * sum(qx) of the four 16-value halves of the Q8_0 blocks at xb and xb + 34, as f32x4. */
// @ts-ignore: decorator
@inline function xs_pair(xb: usize): v128 {
  const xb2 = xb + Q8_0_BYTES;
  const s = hsum4_i32(xsum16(xb + 2), xsum16(xb + 18), xsum16(xb2 + 2), xsum16(xb2 + 18));
  const da = f16_to_f32(load<u16>(xb)), db = f16_to_f32(load<u16>(xb2));
  let dv = f32x4.splat(da);
  dv = f32x4.replace_lane(dv, 2, db);
  dv = f32x4.replace_lane(dv, 3, db);
  return f32x4.mul(f32x4.convert_i32x4_s(s), dv);
}

/**
 * Integer dot of block b = 4h + k (values 32b .. 32b+31) of the Q6_K
 * super-block at wb with the activation block prepared for dot16 (e0, o0:
 * values 0..15; e1, o1: 16..31), each 16-value half times its int8 scale:
 * i32x4 partials of sum_l sc * q * qx (q unsigned 0..63). The scales multiply
 * the two halves' i32 dots, not the levels.
 */
// @ts-ignore: decorator
@inline function q6k_blk(wb: usize, b: i32, e0: v128, o0: v128, e1: v128, o1: v128): v128 {
  const h = b >> 2, k = b & 3;
  const ql = wb + (<usize>h << 6) + (<usize>(k & 1) << 5);
  const qh = wb + 128 + (<usize>h << 5);
  const qa = q6_levels(v128.load(ql), v128.load(qh), k);
  const qb = q6_levels(v128.load(ql, 16), v128.load(qh, 16), k);
  const sa = i32x4.splat(<i32>load<i8>(wb + 192 + <usize>(2 * b))), sb = i32x4.splat(<i32>load<i8>(wb + 193 + <usize>(2 * b)));
  const pa = dot16(qa, e0, o0), pb = dot16(qb, e1, o1);
  return i32x4.add(i32x4.mul(pa, sa), i32x4.mul(pb, sb));
}

/** One Q8_0 activation row against nr (1..4) Q6_K weight rows w + i*ws. */
// @ts-ignore: decorator
@inline export function q6k_dot4(xq: usize, w: usize, ws: usize, nsb: i32, nr: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let wb = w;
  let xb = xq;
  for (let sb = 0; sb < nsb; sb++) {
    // the -32 offset: acc -= 32 * d * sum_s sc_s * d_x(s) * sum(qx_s)
    const xs0 = xs_pair(xb), xs1 = xs_pair(xb + 2 * Q8_0_BYTES);
    const xs2 = xs_pair(xb + 4 * Q8_0_BYTES), xs3 = xs_pair(xb + 6 * Q8_0_BYTES);
    const d0 = f16_to_f32(load<u16>(wb, 208));
    const d1 = nr > 1 ? f16_to_f32(load<u16>(wb + ws, 208)) : 0;
    const d2 = nr > 2 ? f16_to_f32(load<u16>(wb + 2 * ws, 208)) : 0;
    const d3 = nr > 3 ? f16_to_f32(load<u16>(wb + 3 * ws, 208)) : 0;
    a0 = fmadd(q6k_offset(wb, xs0, xs1, xs2, xs3), f32x4.splat(-32 * d0), a0);
    if (nr > 1) a1 = fmadd(q6k_offset(wb + ws, xs0, xs1, xs2, xs3), f32x4.splat(-32 * d1), a1);
    if (nr > 2) a2 = fmadd(q6k_offset(wb + 2 * ws, xs0, xs1, xs2, xs3), f32x4.splat(-32 * d2), a2);
    if (nr > 3) a3 = fmadd(q6k_offset(wb + 3 * ws, xs0, xs1, xs2, xs3), f32x4.splat(-32 * d3), a3);
    for (let b = 0; b < 8; b++) {
      const x = xb + <usize>b * Q8_0_BYTES;
      const xl = v128.load(x, 2), xh = v128.load(x, 18);
      const e0 = xe(xl), o0 = xo(xl), e1 = xe(xh), o1 = xo(xh);
      const dx = f16_to_f32(load<u16>(x));
      a0 = fmadd(f32x4.convert_i32x4_s(q6k_blk(wb, b, e0, o0, e1, o1)), f32x4.splat(d0 * dx), a0);
      if (nr > 1) a1 = fmadd(f32x4.convert_i32x4_s(q6k_blk(wb + ws, b, e0, o0, e1, o1)), f32x4.splat(d1 * dx), a1);
      if (nr > 2) a2 = fmadd(f32x4.convert_i32x4_s(q6k_blk(wb + 2 * ws, b, e0, o0, e1, o1)), f32x4.splat(d2 * dx), a2);
      if (nr > 3) a3 = fmadd(f32x4.convert_i32x4_s(q6k_blk(wb + 3 * ws, b, e0, o0, e1, o1)), f32x4.splat(d3 * dx), a3);
    }
    wb += Q6_K_BYTES;
    xb += 8 * Q8_0_BYTES;
  }
  return hsum4(a0, a1, a2, a3);
}


// ---------------------------------------------------------------- f32 activations / dequantize

/** Levels of 16 bytes (u8x16, < 128) widened to f32x4, elements 4i..4i+3. */
// @ts-ignore: decorator
@inline function widen(q: v128, i: i32): v128 {
  const h = i < 2 ? i16x8.extend_low_i8x16_u(q) : i16x8.extend_high_i8x16_u(q);
  return f32x4.convert_i32x4_u((i & 1) == 0 ? i32x4.extend_low_i16x8_u(h) : i32x4.extend_high_i16x8_u(h));
}

/** 16 values of x (f32 at xv) dotted with 16 levels q: f32x4 partials of sum x * q, and of sum x into *ts. */
// @ts-ignore: decorator
@inline function dot16_f32(q: v128, xv: usize): v128 {
  let t = f32x4.mul(v128.load(xv), widen(q, 0));
  t = fmadd(v128.load(xv, 16), widen(q, 1), t);
  t = fmadd(v128.load(xv, 32), widen(q, 2), t);
  return fmadd(v128.load(xv, 48), widen(q, 3), t);
}

// @ts-ignore: decorator
@inline function sum16_f32(xv: usize): v128 {
  return f32x4.add(f32x4.add(v128.load(xv), v128.load(xv, 16)), f32x4.add(v128.load(xv, 32), v128.load(xv, 48)));
}

/** Stores 16 values d * q - m (f32) at y. */
// @ts-ignore: decorator
@inline function store16(y: usize, q: v128, d: v128, m: v128): void {
  v128.store(y, f32x4.sub(f32x4.mul(d, widen(q, 0)), m));
  v128.store(y, f32x4.sub(f32x4.mul(d, widen(q, 1)), m), 16);
  v128.store(y, f32x4.sub(f32x4.mul(d, widen(q, 2)), m), 32);
  v128.store(y, f32x4.sub(f32x4.mul(d, widen(q, 3)), m), 48);
}

/** dst[count] f32 = dequantized Q5_K blocks at src (count % 256 == 0). */
export function dequantize_q5_k(dst: usize, src: usize, count: i32): void {
  const nsb = count >> 8;
  for (let sb = 0; sb < nsb; sb++) {
    const wb = src + <usize>sb * Q5_K_BYTES;
    const d = f16_to_f32(load<u16>(wb));
    const dmin = f16_to_f32(load<u16>(wb, 2));
    for (let s = 0; s < 8; s++) {
      const ds = f32x4.splat(d * <f32>q4k_scale(wb, s));
      const ms = f32x4.splat(dmin * <f32>q4k_min(wb, s));
      const c = wb + 48 + (<usize>(s >> 1) << 5);
      const y = dst + (<usize>sb << 10) + (<usize>s << 7);
      store16(y, q5_levels(v128.load(c), v128.load(wb, 16), s), ds, ms);
      store16(y + 64, q5_levels(v128.load(c, 16), v128.load(wb, 32), s), ds, ms);
    }
  }
}

/** acc + the f32 dot of the 256 activations at xb with the dequantized Q5_K super-block at wb. */
// @ts-ignore: decorator
@inline export function q5k_sb_f32(wb: usize, xb: usize, acc: v128): v128 {
  const d = f16_to_f32(load<u16>(wb));
  const dmin = f16_to_f32(load<u16>(wb, 2));
  for (let s = 0; s < 8; s++) {
    // sum x * (ds * q - ms) = ds * sum(x * q) - ms * sum(x)
    const c = wb + 48 + (<usize>(s >> 1) << 5);
    const xv = xb + (<usize>s << 7);
    const tq = f32x4.add(dot16_f32(q5_levels(v128.load(c), v128.load(wb, 16), s), xv),
      dot16_f32(q5_levels(v128.load(c, 16), v128.load(wb, 32), s), xv + 64));
    const ts = f32x4.add(sum16_f32(xv), sum16_f32(xv + 64));
    acc = fmadd(tq, f32x4.splat(d * <f32>q4k_scale(wb, s)), acc);
    acc = fmadd(ts, f32x4.splat(-(dmin * <f32>q4k_min(wb, s))), acc);
  }
  return acc;
}

/** dst[count] f32 = dequantized Q6_K blocks at src (count % 256 == 0). */
export function dequantize_q6_k(dst: usize, src: usize, count: i32): void {
  const nsb = count >> 8;
  for (let sb = 0; sb < nsb; sb++) {
    const wb = src + <usize>sb * Q6_K_BYTES;
    const d = f16_to_f32(load<u16>(wb, 208));
    for (let b = 0; b < 8; b++) {
      const h = b >> 2, k = b & 3;
      const ql = wb + (<usize>h << 6) + (<usize>(k & 1) << 5);
      const qh = wb + 128 + (<usize>h << 5);
      const sa = d * <f32>load<i8>(wb + 192 + <usize>(2 * b)), sbs = d * <f32>load<i8>(wb + 193 + <usize>(2 * b));
      const y = dst + (<usize>sb << 10) + (<usize>b << 7);
      // (d * sc) * (q - 32), rounded as ggml's dequantize_row_q6_K
      store16s(y, q6_levels(v128.load(ql), v128.load(qh), k), sa);
      store16s(y + 64, q6_levels(v128.load(ql, 16), v128.load(qh, 16), k), sbs);
    }
  }
}

/** Stores 16 values ds * (q - 32) (f32) at y. */
// @ts-ignore: decorator
@inline function store16s(y: usize, q: v128, ds: f32): void {
  const qs = i8x16.sub(q, i8x16.splat(32));
  const lo = i16x8.extend_low_i8x16_s(qs), hi = i16x8.extend_high_i8x16_s(qs);
  const d = f32x4.splat(ds);
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo))));
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo))), 16);
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi))), 32);
  v128.store(y, f32x4.mul(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi))), 48);
}

/** acc + the f32 dot of the 256 activations at xb with the dequantized Q6_K super-block at wb. */
// @ts-ignore: decorator
@inline export function q6k_sb_f32(wb: usize, xb: usize, acc: v128): v128 {
  const d = f16_to_f32(load<u16>(wb, 208));
  for (let b = 0; b < 8; b++) {
    // sum x * ds * (q - 32) = ds * (sum(x * q) - 32 * sum(x)) per 16-value half
    const h = b >> 2, k = b & 3;
    const ql = wb + (<usize>h << 6) + (<usize>(k & 1) << 5);
    const qh = wb + 128 + (<usize>h << 5);
    const xv = xb + (<usize>b << 7);
    const ta = fmadd(sum16_f32(xv), f32x4.splat(-32), dot16_f32(q6_levels(v128.load(ql), v128.load(qh), k), xv));
    const tb = fmadd(sum16_f32(xv + 64), f32x4.splat(-32), dot16_f32(q6_levels(v128.load(ql, 16), v128.load(qh, 16), k), xv + 64));
    acc = fmadd(ta, f32x4.splat(d * <f32>load<i8>(wb + 192 + <usize>(2 * b))), acc);
    acc = fmadd(tb, f32x4.splat(d * <f32>load<i8>(wb + 193 + <usize>(2 * b))), acc);
  }
  return acc;
}
