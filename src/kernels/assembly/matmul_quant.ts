// Quantized-weight matmul: out[n][rows] = x[n][in] . W[rows][in]^T with W in
// GGUF Q8_0 / Q4_0 blocks (llama.cpp layouts), in % 32 == 0, f32 accumulation,
// W rows [r0, r1) only. Its 16 x 2 tile driver (qtiles16) also runs the
// K-quants' n > 1 (matmul_kquant.ts).
//
// Fast path (as llama.cpp): the activations are first quantized to Q8_0
// (quantize_q8_0) and each 32-element block is an exact integer dot product
// (i32x4.dot_i16x8_s), scaled by d_w * d_x and accumulated in f32.
// Slow, more accurate path (*_f32): f32 activations against dequantized
// weights.
//
// Activation block prep, x = the 32 int8 of one Q8_0 block:
//   Q8_0 weights: natural order, x0..x3 = x[0..8), x[8..16), x[16..24), x[24..32)
//     as i16x8 (v128.load8x8_s), matched by load8x8_s of the weight bytes.
//   Q4_0 weights: even / odd elements of each half,
//     x0 = x[0,2,..,14]  x1 = x[1,3,..,15]  x2 = x[16,18,..,30]  x3 = x[17,..,31]
//     so that the nibbles decode with 16-bit shifts only: i16 lane t of qs is
//     { e(2t) | e(16+2t) << 4 | e(2t+1) << 8 | e(17+2t) << 12 }.
// The matvec (qdot4v) runs four weight rows at once and reduces their integer
// block dots together; per block each output gets f32(dot) * (d_w * d_x).
//
// Small n (below TILES16_MIN_N_*, or no scratch): the matvec kernels on pairs
// of activation rows (qdot4v2: each weight block loaded and decoded once for
// both), the same arithmetic, so an activation row's outputs are the same
// bits alone and in a batch.
// Large n with a scratch (see src/kernels/README.md): both sides repacked to
// i16 with four weight rows side by side per element pair (qtiles16: 16 x 2
// tiles, lanes = outputs, no horizontal sums; Q4_0 decoded to q - 8 in the
// repack; the relaxed build runs Q4_0 on the raw nibbles with 8-bit dots),
// again the same arithmetic.

import { dot_u4x32, even_s8, f16_to_f32, f16x4_to_f32x4, fmadd, hsum, hsum4_i32, odd_s8, store_quarters } from "./common";
import { kquant_repack16, q4kx4_repack16 } from "./repack_kquant";
import { q4x4_levels, q5x4_levels } from "./matmul_x4";
import { repack_quads, X_I16, X_I8, XQ8_BLOCK, XQ_BLOCK, XQM_BLOCK } from "./repack_x";
import { dot4add, pairs4_store, qtile16x2, W16_BLOCK, W16M_BLOCK, W8_BLOCK, W8M_BLOCK } from "./tiles16";

// weight types (the K-quants' numbers as in matmul_kquant.ts)
const Q8_0: i32 = 0;
const Q4_0: i32 = 1;
const Q5_0: i32 = 2;
const Q4_K: i32 = 4;
const Q5_K: i32 = 5;
/** Q4_K rows interleaved by four (matmul_x4.ts); its tiles repack straight from the groups. */
export const Q4_K_X4: i32 = 7;
/** Q8_0 rows interleaved by four (matmul_x4.ts); its tiles repack straight from the groups. */
export const Q8_0_X4: i32 = 8;
/** Q5_0 rows interleaved by four (matmul_x4.ts); its tiles repack straight from the groups. */
export const Q5_0_X4: i32 = 9;
/** Q4_0 rows interleaved by four (matmul_x4.ts); its tiles repack straight from the groups. */
export const Q4_0_X4: i32 = 10;

const Q8_0_BYTES: usize = 34;
const Q4_0_BYTES: usize = 18;
const Q5_0_BYTES: usize = 22;
const Q4_K_BYTES: usize = 144;
const Q5_K_BYTES: usize = 176;
const Q6_K_BYTES: usize = 210;

/** Bytes per 32-element weight block. */
// @ts-ignore: decorator
@inline function wblock(qt: i32): usize {
  return qt == Q8_0 ? Q8_0_BYTES : qt == Q4_0 ? Q4_0_BYTES : Q5_0_BYTES;
}

/** Offset of a Q4_0 / Q5_0 block's 16 nibble bytes (Q5_0: after d and its u32 of fifth bits). */
// @ts-ignore: decorator
@inline function nib_offset(qt: i32): usize {
  return qt == Q5_0 ? 6 : 2;
}

// ---------------------------------------------------------------- block dots

/** Activation vector i (0..3) of the Q8_0 block at xb, in the order weight type qt wants. */
// @ts-ignore: decorator
@inline function xvec(qt: i32, xb: usize, i: i32): v128 {
  if (qt == Q8_0) {
    return i == 0 ? v128.load8x8_s(xb, 2) : i == 1 ? v128.load8x8_s(xb, 10) : i == 2 ? v128.load8x8_s(xb, 18) : v128.load8x8_s(xb, 26);
  }
  return i == 0 ? even_s8(v128.load(xb, 2)) : i == 1 ? odd_s8(v128.load(xb, 2)) : i == 2 ? even_s8(v128.load(xb, 18)) : odd_s8(v128.load(xb, 18));
}

/**
 * Weight vector i (0..3) of the block at wb as i16x8, in the order of xvec(qt, ., i); q = wnibs,
 * r = whigh (unused for Q8_0). Q4_0 / Q5_0 levels count 0..15 / 0..31 here (the -8 / -16 is applied by the
 * caller through sum(x)). Q5_0 goes through its levels as bytes (levels8), then even / odd i16
 * lanes: 1.25-1.36x faster than or-ing its fifth bits into each i16 vector.
 */
// @ts-ignore: decorator
@inline function wvec(qt: i32, wb: usize, q: v128, r: v128, i: i32): v128 {
  if (qt == Q8_0) {
    return i == 0 ? v128.load8x8_s(wb, 2) : i == 1 ? v128.load8x8_s(wb, 10) : i == 2 ? v128.load8x8_s(wb, 18) : v128.load8x8_s(wb, 26);
  }
  if (qt == Q5_0) {
    // q, r: levels8 of elements 0..15 (i < 2) and 16..31, bytes split into even / odd i16 lanes
    const lv = i < 2 ? q : r;
    return (i & 1) == 0 ? v128.and(lv, i16x8.splat(0x00ff)) : i16x8.shr_u(lv, 8);
  }
  const m = i16x8.splat(0x000f);
  return i == 0 ? v128.and(q, m) : i == 1 ? v128.and(i16x8.shr_u(q, 8), m) : i == 2 ? v128.and(i16x8.shr_u(q, 4), m) : i16x8.shr_u(q, 12);
}

/** Q5_0, natural order: the fifth bits of elements 16h .. 16h + 15 as 0x10 bytes. */
// @ts-ignore: decorator
@inline function fifth8(wb: usize, h: i32): v128 {
  const v = v128.load32_zero(wb, 2);
  // a swizzle by a constant, not i8x16.shuffle: V8 (11.3) rebuilds a shuffle's 16-byte pattern from
  // its immediate at every use (5 instructions), a constant operand is hoisted out of the loop and,
  // its indices < 16, the swizzle is one pshufb (Q5_0 matvec 1.15-1.25x)
  const b = i8x16.swizzle(v, h == 0 ? i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)
    : i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const m = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return v128.and(i8x16.eq(v128.and(b, m), m), i8x16.splat(0x10));
}

/** What wvec decodes: the Q4_0 block's nibble bytes, the Q5_0 block's levels of elements 0..15 (zero for Q8_0). */
// @ts-ignore: decorator
@inline function wnibs(qt: i32, wb: usize): v128 {
  return qt == Q8_0 ? i32x4.splat(0) : qt == Q5_0 ? levels8(qt, wb, 0) : v128.load(wb + nib_offset(qt));
}

/** ... and the Q5_0 block's levels of elements 16..31 (zero for the others). */
// @ts-ignore: decorator
@inline function whigh(qt: i32, wb: usize): v128 {
  return qt == Q5_0 ? levels8(qt, wb, 1) : i32x4.splat(0);
}

/** i32x4 partials of sum_i w_i . x_i (i16 lanes). */
// @ts-ignore: decorator
@inline function dot4x(w0: v128, w1: v128, w2: v128, w3: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  let p = i32x4.dot_i16x8_s(w0, x0);
  p = i32x4.add(p, i32x4.dot_i16x8_s(w1, x1));
  p = i32x4.add(p, i32x4.dot_i16x8_s(w2, x2));
  return i32x4.add(p, i32x4.dot_i16x8_s(w3, x3));
}

/**
 * Integer dot of one weight block at wb with the prepared activation block
 * x0..x3, as i32x4 partial sums (Q4_0: nibbles 0..15, see wvec).
 */
// @ts-ignore: decorator
@inline function wdot(qt: i32, wb: usize, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  const q = wnibs(qt, wb), h = whigh(qt, wb);
  return dot4x(wvec(qt, wb, q, h, 0), wvec(qt, wb, q, h, 1), wvec(qt, wb, q, h, 2), wvec(qt, wb, q, h, 3), x0, x1, x2, x3);
}

/** Q4_0 / Q5_0 offset: i32x4 partials of 8 * sum(x) / 16 * sum(x) (zero for Q8_0). */
// @ts-ignore: decorator
@inline function xoff(qt: i32, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  if (qt == Q8_0) return i32x4.splat(0);
  return i32x4.dot_i16x8_s(i16x8.add(i16x8.add(x0, x1), i16x8.add(x2, x3)), i16x8.splat(qt == Q5_0 ? 16 : 8));
}

// ---------------------------------------------------------------- Q8_0 / Q4_0 / Q5_0 x Q8_0

/** The f16 d_w of one block of four weight rows (wb + i*ws) as f32x4. */
// @ts-ignore: decorator
@inline function wscale4(wb: usize, ws: usize): v128 {
  let h = i16x8.replace_lane(i32x4.splat(0), 0, load<i16>(wb));
  h = i16x8.replace_lane(h, 1, load<i16>(wb + ws));
  h = i16x8.replace_lane(h, 2, load<i16>(wb + 2 * ws));
  h = i16x8.replace_lane(h, 3, load<i16>(wb + 3 * ws));
  return f16x4_to_f32x4(i32x4.extend_low_i16x8_s(h));
}

/**
 * acc + f32(d) * (d_x * d_w) for one block of four weight rows: d = their
 * exact integer block dots, d_x the f16 at xb, dw = wscale4.
 */
// @ts-ignore: decorator
@inline function add_scaled(acc: v128, d: v128, xb: usize, dw: v128): v128 {
  const dx = f32x4.splat(f16_to_f32(load<u16>(xb)));
  return fmadd(f32x4.convert_i32x4_s(d), f32x4.mul(dx, dw), acc);
}

/** add_scaled with d_w from the block at wb + i*ws. */
// @ts-ignore: decorator
@inline function add_scaled4(acc: v128, d: v128, xb: usize, wb: usize, ws: usize): v128 {
  return add_scaled(acc, d, xb, wscale4(wb, ws));
}

/** Q4_0 / Q5_0: d - 8 (16) * sum(x) in every lane, from the offsets' partials o (xoff or dot4add) of the same activation block. */
// @ts-ignore: decorator
@inline function minus_off(d: v128, o: v128): v128 {
  o = i32x4.add(o, i32x4.shuffle(o, o, 2, 3, 0, 1));
  return i32x4.sub(d, i32x4.add(o, i32x4.shuffle(o, o, 1, 0, 3, 2)));
}

/**
 * Q8_0 / Q4_0 / Q5_0 matvec: one activation row against four weight rows
 * (w + i*ws) as [out_0, out_1, out_2, out_3]. Per block, the four rows' integer
 * dots are reduced together (hsum4_i32), Q4_0's 8 (Q5_0's 16) * sum(x) taken off, converted once,
 * and scaled by d_w * d_x with the four f16 d_w converted together: each
 * output is the sum over blocks of f32(exact integer block dot) * (d_w * d_x),
 * the arithmetic of the n > 1 tiles (and of ggml's vec_dot_q8_0_q8_0), so a
 * token's outputs are the same bits whether it runs alone or in a batch.
 * ws = 0 computes one row 4 times. (The relaxed build's Q4_0 / Q5_0: q4rdot4x1.)
 */
// @ts-ignore: decorator
@inline function qdot4v(qt: i32, xq: usize, w: usize, ws: usize, nb: i32): v128 {
  let acc = f32x4.splat(0);
  let xb = xq;
  let wb = w;
  for (let b = 0; b < nb; b++) {
    const x0 = xvec(qt, xb, 0), x1 = xvec(qt, xb, 1), x2 = xvec(qt, xb, 2), x3 = xvec(qt, xb, 3);
    let d = hsum4_i32(wdot(qt, wb, x0, x1, x2, x3), wdot(qt, wb + ws, x0, x1, x2, x3),
      wdot(qt, wb + 2 * ws, x0, x1, x2, x3), wdot(qt, wb + 3 * ws, x0, x1, x2, x3));
    if (qt != Q8_0) d = minus_off(d, xoff(qt, x0, x1, x2, x3));
    acc = add_scaled4(acc, d, xb, wb, ws);
    xb += Q8_0_BYTES;
    wb += wblock(qt);
  }
  return acc;
}

/**
 * Q4_0 / Q5_0 matvec step of the relaxed build: one activation row against
 * four weight rows (w + i*ws), with 8-bit dots (i16x8.relaxed_dot_i8x16_i7x16_s,
 * vpmaddubsw) of the raw levels (0..15 / 0..31, the 7-bit operand, so the
 * result does not depend on the engine) and the activations in their natural
 * order; half the operations of the i16 path. Per block the four rows' integer
 * dots are reduced together, minus 8 (16) * sum(x), and scaled by d_w * d_x:
 * the arithmetic of the tiles (q4rtile16x2) and of the plain build, so a
 * token's outputs do not depend on the batch.
 */
// @ts-ignore: decorator
@inline function q4rdot4x1(qt: i32, xq: usize, w: usize, ws: usize, nb: i32): v128 {
  const c = i8x16.splat(qt == Q5_0 ? 16 : 8), z = i32x4.splat(0);
  let acc = f32x4.splat(0);
  let xb = xq;
  let wb = w;
  for (let b = 0; b < nb; b++) {
    const xl = v128.load(xb, 2), xh = v128.load(xb, 18);
    const d = minus_off(hsum4_i32(levdot(qt, wb, xl, xh), levdot(qt, wb + ws, xl, xh),
      levdot(qt, wb + 2 * ws, xl, xh), levdot(qt, wb + 3 * ws, xl, xh)), dot4add(xl, c, dot4add(xh, c, z)));
    acc = add_scaled4(acc, d, xb, wb, ws);
    xb += Q8_0_BYTES;
    wb += wblock(qt);
  }
  return acc;
}

/** The levels of the Q4_0 / Q5_0 block at wb, values 0..15 (h = 0) or 16..31 (h = 1), as u8x16. */
// @ts-ignore: decorator
@inline function levels8(qt: i32, wb: usize, h: i32): v128 {
  const q = v128.load(wb + nib_offset(qt));
  const m = i8x16.splat(0x0f);
  const n = h == 0 ? v128.and(q, m) : v128.and(i16x8.shr_u(q, 4), m);
  return qt == Q5_0 ? v128.or(n, fifth8(wb, h)) : n;
}

/** Integer dot (i32x4 partials) of the levels of the Q4_0 / Q5_0 block at wb with the activations xl = x[0..16), xh = x[16..32) (relaxed build). */
// @ts-ignore: decorator
@inline function levdot(qt: i32, wb: usize, xl: v128, xh: v128): v128 {
  return dot_u4x32(xl, xh, levels8(qt, wb, 0), levels8(qt, wb, 1));
}

// ---------------------------------------------------------------- n = 2..: the matvec on pairs of rows

/**
 * qdot4v (the relaxed build's Q4_0 / Q5_0: q4rdot4x1) for two activation rows
 * (xq and xq + xs) at once: each weight block is loaded (Q4_0 / Q5_0: and
 * decoded) once for both, and its d_w converted once.
 * Every output's arithmetic is qdot4v's, so a token's outputs are the same
 * bits in a small batch as alone. Stores the first row's four dots at
 * out + 4*(r, r+q, r+2q, r+3q) (store_quarters), the second's os bytes after;
 * tail (ws = 0, one weight row): lane 0 only, at out + 4r.
 */
// @ts-ignore: decorator
@inline function qdot4v2(qt: i32, out: usize, os: usize, r: i32, q: i32, tail: bool, xq: usize, xs: usize, w: usize, ws: usize, nb: i32): void {
  let acc = f32x4.splat(0), acc2 = f32x4.splat(0);
  let xb = xq;
  let wb = w;
  for (let b = 0; b < nb; b++) {
    let d: v128, d2: v128;
    if (ASC_FEATURE_RELAXED_SIMD && qt != Q8_0) {
      // the relaxed build's Q4_0 / Q5_0: q4rdot4x1's 8-bit dots of the levels, each row's levels decoded once
      const c = i8x16.splat(qt == Q5_0 ? 16 : 8), z = i32x4.splat(0);
      const xl = v128.load(xb, 2), xh = v128.load(xb, 18);
      const yl = v128.load(xb + xs, 2), yh = v128.load(xb + xs, 18);
      let lo = levels8(qt, wb, 0), hi = levels8(qt, wb, 1);
      const p0 = dot_u4x32(xl, xh, lo, hi), s0 = dot_u4x32(yl, yh, lo, hi);
      lo = levels8(qt, wb + ws, 0); hi = levels8(qt, wb + ws, 1);
      const p1 = dot_u4x32(xl, xh, lo, hi), s1 = dot_u4x32(yl, yh, lo, hi);
      lo = levels8(qt, wb + 2 * ws, 0); hi = levels8(qt, wb + 2 * ws, 1);
      const p2 = dot_u4x32(xl, xh, lo, hi), s2 = dot_u4x32(yl, yh, lo, hi);
      lo = levels8(qt, wb + 3 * ws, 0); hi = levels8(qt, wb + 3 * ws, 1);
      const p3 = dot_u4x32(xl, xh, lo, hi), s3 = dot_u4x32(yl, yh, lo, hi);
      d = minus_off(hsum4_i32(p0, p1, p2, p3), dot4add(xl, c, dot4add(xh, c, z)));
      d2 = minus_off(hsum4_i32(s0, s1, s2, s3), dot4add(yl, c, dot4add(yh, c, z)));
    } else {
      const x0 = xvec(qt, xb, 0), x1 = xvec(qt, xb, 1), x2 = xvec(qt, xb, 2), x3 = xvec(qt, xb, 3);
      const y0 = xvec(qt, xb + xs, 0), y1 = xvec(qt, xb + xs, 1), y2 = xvec(qt, xb + xs, 2), y3 = xvec(qt, xb + xs, 3);
      // weight row i: its four vectors against both activation rows
      let n = wnibs(qt, wb), h = whigh(qt, wb);
      let a0 = wvec(qt, wb, n, h, 0), a1 = wvec(qt, wb, n, h, 1), a2 = wvec(qt, wb, n, h, 2), a3 = wvec(qt, wb, n, h, 3);
      const p0 = dot4x(a0, a1, a2, a3, x0, x1, x2, x3), s0 = dot4x(a0, a1, a2, a3, y0, y1, y2, y3);
      n = wnibs(qt, wb + ws); h = whigh(qt, wb + ws);
      a0 = wvec(qt, wb + ws, n, h, 0); a1 = wvec(qt, wb + ws, n, h, 1); a2 = wvec(qt, wb + ws, n, h, 2); a3 = wvec(qt, wb + ws, n, h, 3);
      const p1 = dot4x(a0, a1, a2, a3, x0, x1, x2, x3), s1 = dot4x(a0, a1, a2, a3, y0, y1, y2, y3);
      n = wnibs(qt, wb + 2 * ws); h = whigh(qt, wb + 2 * ws);
      a0 = wvec(qt, wb + 2 * ws, n, h, 0); a1 = wvec(qt, wb + 2 * ws, n, h, 1); a2 = wvec(qt, wb + 2 * ws, n, h, 2); a3 = wvec(qt, wb + 2 * ws, n, h, 3);
      const p2 = dot4x(a0, a1, a2, a3, x0, x1, x2, x3), s2 = dot4x(a0, a1, a2, a3, y0, y1, y2, y3);
      n = wnibs(qt, wb + 3 * ws); h = whigh(qt, wb + 3 * ws);
      a0 = wvec(qt, wb + 3 * ws, n, h, 0); a1 = wvec(qt, wb + 3 * ws, n, h, 1); a2 = wvec(qt, wb + 3 * ws, n, h, 2); a3 = wvec(qt, wb + 3 * ws, n, h, 3);
      const p3 = dot4x(a0, a1, a2, a3, x0, x1, x2, x3), s3 = dot4x(a0, a1, a2, a3, y0, y1, y2, y3);
      d = hsum4_i32(p0, p1, p2, p3);
      d2 = hsum4_i32(s0, s1, s2, s3);
      if (qt != Q8_0) {
        d = minus_off(d, xoff(qt, x0, x1, x2, x3));
        d2 = minus_off(d2, xoff(qt, y0, y1, y2, y3));
      }
    }
    const dw = wscale4(wb, ws);
    acc = add_scaled(acc, d, xb, dw);
    acc2 = add_scaled(acc2, d2, xb + xs, dw);
    xb += Q8_0_BYTES;
    wb += wblock(qt);
  }
  store_pair(out, os, r, q, tail, acc, acc2);
}

/** The two activation rows' results of a paired kernel (see qdot4v2). */
// @ts-ignore: decorator
@inline function store_pair(out: usize, os: usize, r: i32, q: i32, tail: bool, a: v128, b: v128): void {
  if (tail) {
    store<f32>(out + (<usize>r << 2), f32x4.extract_lane(a, 0));
    store<f32>(out + os + (<usize>r << 2), f32x4.extract_lane(b, 0));
  } else {
    store_quarters(out, r, q, a);
    store_quarters(out + os, r, q, b);
  }
}

// ---------------------------------------------------------------- n > 1: 16 x 2 tiles, i16 repack of both sides

/** Weight values 0..15 (hi = 0) or 16..31 (hi = 1) of the block at p as i8x16 (Q4_0: q - 8, Q5_0: q - 16); zero when !valid. */
// @ts-ignore: decorator
@inline function wvals(qt: i32, p: usize, hi: i32, valid: bool): v128 {
  if (!valid) return i32x4.splat(0);
  if (qt == Q8_0) return hi ? v128.load(p, 18) : v128.load(p, 2);
  if (qt == Q5_0) return i8x16.sub(levels8(qt, p, hi), i8x16.splat(16));
  const q = v128.load(p, 2);
  return i8x16.sub(hi ? i8x16.shr_u(q, 4) : v128.and(q, i8x16.splat(0x0f)), i8x16.splat(8));
}

/** The eight f16 scales of rows w + i * ws (i < rv, the others 0) as f32, stored at d. */
// @ts-ignore: decorator
@inline function scales8_store(d: usize, wb: usize, ws: usize, rv: i32, full: bool): void {
  let h = i32x4.splat(0);
  if (full || rv > 0) h = i16x8.replace_lane(h, 0, load<i16>(wb));
  if (full || rv > 1) h = i16x8.replace_lane(h, 1, load<i16>(wb + ws));
  if (full || rv > 2) h = i16x8.replace_lane(h, 2, load<i16>(wb + 2 * ws));
  if (full || rv > 3) h = i16x8.replace_lane(h, 3, load<i16>(wb + 3 * ws));
  if (full || rv > 4) h = i16x8.replace_lane(h, 4, load<i16>(wb + 4 * ws));
  if (full || rv > 5) h = i16x8.replace_lane(h, 5, load<i16>(wb + 5 * ws));
  if (full || rv > 6) h = i16x8.replace_lane(h, 6, load<i16>(wb + 6 * ws));
  if (full || rv > 7) h = i16x8.replace_lane(h, 7, load<i16>(wb + 7 * ws));
  // f16x4_to_f32x4 gives f16_to_f32 per lane
  v128.store(d, f16x4_to_f32x4(i32x4.extend_low_i16x8_s(h)));
  v128.store(d, f16x4_to_f32x4(i32x4.extend_high_i16x8_s(h)), 16);
}

/**
 * Repacks 4 * G weight rows w + i * ws (i < rv, the others zero) into sw:
 * per block 272 * G bytes { f32 d_w[4G]; then for each element pair k
 * (0..15): G groups of four rows as i16[2] (one i32 lane each) }. Q4_0
 * nibbles are decoded to q - 8 here, Q5_0 levels to q - 16.
 */
// @ts-ignore: decorator
@inline function wg_repack(G: i32, qt: i32, sw: usize, w: usize, ws: usize, nb: i32, rv: i32, full: bool): void {
  const bw = wblock(qt);
  const st = <usize>G << 4; // bytes per element pair
  for (let b = 0; b < nb; b++) {
    const d = sw + <usize>b * (<usize>G * 272);
    const wb = w + <usize>b * bw;
    scales8_store(d, wb, ws, rv, full);
    if (G > 2) scales8_store(d + 32, wb + 8 * ws, ws, rv - 8, full);
    for (let g = 0; g < G; g++) {
      const p = wb + <usize>(4 * g) * ws;
      const dg = d + st + (<usize>g << 4);
      for (let hi = 0; hi < 2; hi++) {
        const v0 = wvals(qt, p, hi, full || 4 * g < rv);
        const v1 = wvals(qt, p + ws, hi, full || 4 * g + 1 < rv);
        const v2 = wvals(qt, p + 2 * ws, hi, full || 4 * g + 2 < rv);
        const v3 = wvals(qt, p + 3 * ws, hi, full || 4 * g + 3 < rv);
        const dh = dg + <usize>hi * 8 * st; // pairs 8 * hi ..
        pairs4_store(dh, st, i16x8.extend_low_i8x16_s(v0), i16x8.extend_low_i8x16_s(v1), i16x8.extend_low_i8x16_s(v2), i16x8.extend_low_i8x16_s(v3));
        pairs4_store(dh + 4 * st, st, i16x8.extend_high_i8x16_s(v0), i16x8.extend_high_i8x16_s(v1), i16x8.extend_high_i8x16_s(v2), i16x8.extend_high_i8x16_s(v3));
      }
    }
  }
}

/**
 * wg_repack's layout (G = 4) from 16 Q8_0 (qt = Q8_0_X4), Q5_0 (Q5_0_X4, levels - 16) or Q4_0
 * (Q4_0_X4, levels - 8) rows interleaved by four (matmul_x4.ts), gs bytes per group; rows >= rv (a multiple of 4) zero. A
 * group's word holds elements e .. e + 3 of its four rows: widened, its i32 lanes are element pairs
 * e / 2 and e / 2 + 1 of rows 0, 1 (low) and 2, 3.
 */
// @ts-ignore: decorator
@inline function wx4_repack(qt: i32, sw: usize, w: usize, gs: usize, nb: i32, rv: i32, full: bool): void {
  const st: usize = 64; // bytes per element pair: 4 groups x 4 rows x i16[2]
  const z = i32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = sw + <usize>b * 1088;
    for (let g = 0; g < 4; g++) {
      const ok = full || 4 * g < rv;
      const src = w + <usize>g * gs + <usize>b * (qt == Q8_0_X4 ? 136 : qt == Q5_0_X4 ? 88 : 72);
      v128.store(d + (<usize>g << 4), ok ? f16x4_to_f32x4(v128.load16x4_s(src)) : z);
      const dg = d + st + (<usize>g << 4);
      for (let t: u32 = 0; t < 8; t++) {
        // word t's elements: Q8_0 4t ..; Q5_0 / Q4_0 4t .. (t < 4: low nibbles of word t) or 16 + 4(t - 4) ..
        let q = z;
        if (ok) {
          if (qt == Q8_0_X4) q = v128.load(src + 8 + (<usize>t << 4));
          else if (qt == Q5_0_X4) q = i8x16.sub(q5x4_levels(v128.load(src + 24 + (<usize>(t & 3) << 4)), v128.load(src, 8), t & 3, t >= 4), i8x16.splat(16));
          else q = i8x16.sub(q4x4_levels(v128.load(src + 8 + (<usize>(t & 3) << 4)), t >= 4), i8x16.splat(8));
        }
        const e2 = <usize>(qt == Q8_0_X4 ? 2 * t : t < 4 ? 2 * t : 8 + 2 * (t - 4)); // first element pair
        const lo = i16x8.extend_low_i8x16_s(q), hi = i16x8.extend_high_i8x16_s(q);
        v128.store(dg + e2 * st, i32x4.shuffle(lo, hi, 0, 2, 4, 6));
        v128.store(dg + (e2 + 1) * st, i32x4.shuffle(lo, hi, 1, 3, 5, 7));
      }
    }
  }
}

/**
 * w4r_repack's layout (the relaxed build's Q4_0 tiles) from 16 Q4_0 rows interleaved by four
 * (q4_0_x4, matmul_x4.ts), gs bytes per group; rows >= rv (a multiple of 4) zero. A group's word v
 * is already element quad v (low nibbles) and quad 4 + v (high) of its four rows, one i32 lane each.
 */
// @ts-ignore: decorator
@inline function w4x4_repack(sw: usize, w: usize, gs: usize, nb: i32, rv: i32, full: bool): void {
  const z = i32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = sw + <usize>b * W8_BLOCK;
    for (let g = 0; g < 4; g++) {
      const ok = full || 4 * g < rv;
      const src = w + <usize>g * gs + <usize>b * 72;
      v128.store(d + (<usize>g << 4), ok ? f16x4_to_f32x4(v128.load16x4_s(src)) : z);
      const dg = d + 64 + (<usize>g << 4);
      for (let v: usize = 0; v < 4; v++) {
        const q = ok ? v128.load(src + 8 + (v << 4)) : z;
        v128.store(dg + (v << 6), q4x4_levels(q, false));
        v128.store(dg + ((v + 4) << 6), q4x4_levels(q, true));
      }
    }
  }
}

/**
 * Weight rows [r0, r1) against activation rows [j0, j1) by qtile16x2 tiles
 * (qt: Q8_0, Q4_0, Q5_0 or a K-quant; scratch: qmatmul_scratch_bytes). The
 * relaxed build runs Q4_0, Q4_K and Q5_K on the 8-bit layouts (R8).
 */
// @ts-ignore: decorator
@inline export function qtiles16(qt: i32, out: usize, os: usize, xq: usize, xs: usize, w: usize, ws: usize, nb: i32, r0: i32, r1: i32, j0: i32, j1: i32, scratch: usize): void {
  const MINS = qt == Q4_K || qt == Q5_K || qt == Q4_K_X4;
  const R8 = ASC_FEATURE_RELAXED_SIMD && (qt == Q4_0 || qt == Q4_0_X4 || MINS);
  const sw = scratch;
  const sx = scratch + <usize>nb * (R8 ? (MINS ? W8M_BLOCK : W8_BLOCK) : MINS ? W16M_BLOCK : W16_BLOCK);
  const qs = <usize>nb * (R8 ? XQ8_BLOCK : MINS ? XQM_BLOCK : XQ_BLOCK);
  repack_quads(R8 ? X_I8 : X_I16, MINS, sx, xq, xs, nb, j0, j1);
  // While a weight tile is in use, the next one's cache lines are touched a
  // few per activation quad (wasm has no prefetch), so that its repack does
  // not wait on memory.
  const lines = <i32>((ws + 63) >> 6); //   cache lines per weight row
  const quads = (j1 - j0 + 3) >> 2;
  const per = (16 * lines + quads - 1) / quads; // lines touched per quad
  let sink: u32 = 0;
  for (let r = r0; r < r1; r += 16) {
    const rv = min<i32>(16, r1 - r);
    const wr = w + <usize>r * ws;
    if (qt == Q4_0_X4 && R8) {
      // ws: a quarter of a group's stride (r is a multiple of 4: wr is a group's start)
      if (rv == 16) w4x4_repack(sw, wr, ws << 2, nb, 16, true);
      else w4x4_repack(sw, wr, ws << 2, nb, rv, false);
    } else if (qt == Q8_0_X4 || qt == Q5_0_X4 || qt == Q4_0_X4) {
      // ws: a quarter of a group's stride (r is a multiple of 4: wr is a group's start)
      if (rv == 16) wx4_repack(qt, sw, wr, ws << 2, nb, 16, true);
      else wx4_repack(qt, sw, wr, ws << 2, nb, rv, false);
    } else if (qt == Q8_0 || qt == Q4_0 || qt == Q5_0) {
      if (R8) {
        if (rv == 16) w4r_repack(sw, wr, ws, nb, 16, true);
        else w4r_repack(sw, wr, ws, nb, rv, false);
      } else {
        if (rv == 16) wg_repack(4, qt, sw, wr, ws, nb, 16, true);
        else wg_repack(4, qt, sw, wr, ws, nb, rv, false);
      }
    } else if (qt == Q4_K_X4) {
      // ws: a quarter of a group's stride (r is a multiple of 4: wr is a group's start)
      if (rv == 16) q4kx4_repack16(R8, sw, wr, ws << 2, nb >> 3, 16, true);
      else q4kx4_repack16(R8, sw, wr, ws << 2, nb >> 3, rv, false);
    } else {
      const sb = qt == Q4_K ? Q4_K_BYTES : qt == Q5_K ? Q5_K_BYTES : Q6_K_BYTES;
      if (rv == 16) kquant_repack16(qt, R8, sb, sw, wr, ws, nb >> 3, 16, true);
      else kquant_repack16(qt, R8, sb, sw, wr, ws, nb >> 3, rv, false);
    }
    const oc = out + (<usize>r << 2);
    const nr = min<i32>(16, r1 - r - 16); // rows of the next tile
    const wn = w + <usize>(r + 16) * ws;
    let prow = 0, pline = 0; // next line to touch
    let px = sx;
    for (let j = j0; j < j1; j += 4) {
      for (let t = 0; t < per && prow < nr; t++) {
        sink += load<u8>(wn + <usize>prow * ws + (<usize>pline << 6));
        if (++pline == lines) {
          pline = 0;
          prow++;
        }
      }
      qtile16x2(R8, MINS, oc + <usize>j * os, os, px, 0, sw, nb, rv, min<i32>(2, j1 - j));
      if (j + 2 < j1) qtile16x2(R8, MINS, oc + <usize>(j + 2) * os, os, px, 2, sw, nb, rv, min<i32>(2, j1 - j - 2));
      px += qs;
    }
  }
  store<u32>(sw, sink); // keeps the touches (sw is rewritten by the next repack)
}

// ---------------------------------------------------------------- n > 1, Q4_0, relaxed build: i8 dots on the raw nibbles

/**
 * 16 Q4_0 weight rows w + i * ws (i < rv, the others zero) into sw: per
 * block W8_BLOCK bytes { f32 d_w[16]; then for element quads t = 0..7
 * (elements 4t..4t+3): 4 groups of four rows' raw nibbles 0..15 as u8[4]
 * (one i32 lane per row) }.
 */
// @ts-ignore: decorator
@inline function w4r_repack(sw: usize, w: usize, ws: usize, nb: i32, rv: i32, full: bool): void {
  const m = i8x16.splat(0x0f);
  const z = i32x4.splat(0);
  for (let b = 0; b < nb; b++) {
    const d = sw + <usize>b * W8_BLOCK;
    const wb = w + <usize>b * Q4_0_BYTES;
    scales8_store(d, wb, ws, rv, full);
    scales8_store(d + 32, wb + 8 * ws, ws, rv - 8, full);
    for (let g = 0; g < 4; g++) {
      const p = wb + <usize>(4 * g) * ws;
      const q0 = full || 4 * g < rv ? v128.load(p, 2) : z;
      const q1 = full || 4 * g + 1 < rv ? v128.load(p + ws, 2) : z;
      const q2 = full || 4 * g + 2 < rv ? v128.load(p + 2 * ws, 2) : z;
      const q3 = full || 4 * g + 3 < rv ? v128.load(p + 3 * ws, 2) : z;
      const dg = d + 64 + (<usize>g << 4);
      pairs4_store(dg, 64, v128.and(q0, m), v128.and(q1, m), v128.and(q2, m), v128.and(q3, m));
      pairs4_store(dg + 256, 64, i8x16.shr_u(q0, 4), i8x16.shr_u(q1, 4), i8x16.shr_u(q2, 4), i8x16.shr_u(q3, 4));
    }
  }
}

/** Activation rows per pass so that the chunk (~256 KiB) stays in L2. */
// @ts-ignore: decorator
@inline function xChunkBytes(rowBytes: i32): i32 {
  return max<i32>(262144 / max<i32>(rowBytes, 1), 1);
}

/** Bytes of the optional scratch of matmul_q8_0 / q4_0 / q4_k / q5_k / q6_k for n activation rows of in elements (0 when n == 1). */
export function qmatmul_scratch_bytes(n: i32, inDim: i32): i32 {
  if (n <= 1) return 0;
  const nb = inDim >> 5;
  const j16 = x16Chunk(n, nb);
  return nb * <i32>W16M_BLOCK + ((j16 + 3) >> 2) * <i32>XQM_BLOCK * nb; // the tiles' layouts with mins: the largest
}

/** Activation rows per pass of qtiles16: chunks of at most ~X16_CHUNK bytes of repacked rows, as even as possible, multiples of 4. */
// @ts-ignore: decorator
@inline export function x16Chunk(n: i32, nb: i32): i32 {
  const most = max<i32>(X16_CHUNK / max<i32>(nb * <i32>(XQ_BLOCK >> 2), 1), 4);
  const chunks = (n + most - 1) / most;
  return min<i32>(n, ((n + chunks - 1) / chunks + 3) & ~3);
}

/** Bytes of repacked activations per pass of qtiles16. */
const X16_CHUNK: i32 = 1048576;

/**
 * Smallest n that takes the qtiles16 path (with a scratch); below it the matvec kernels on pairs of
 * activation rows cost less (one thread, 8192 x 4096 from DRAM, src/kernels/README.md).
 */
export const TILES16_MIN_N_Q8: i32 = 8;
export const TILES16_MIN_N_Q4: i32 = ASC_FEATURE_RELAXED_SIMD ? 4 : 6;
export const TILES16_MIN_N_Q5: i32 = ASC_FEATURE_RELAXED_SIMD ? 4 : 3;

// @ts-ignore: decorator
@inline function qmatmul(qt: i32, out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const nb = inDim >> 5;
  const ws = <usize>nb * wblock(qt); //     W row stride (bytes)
  const xs = <usize>nb * Q8_0_BYTES; //     xq row stride
  const os = <usize>rows << 2; //           out row stride
  if (scratch != 0 && n >= (qt == Q8_0 ? TILES16_MIN_N_Q8 : qt == Q4_0 ? TILES16_MIN_N_Q4 : TILES16_MIN_N_Q5)) {
    const jc = x16Chunk(n, nb);
    for (let j0 = 0; j0 < n; j0 += jc) {
      qtiles16(qt, out, os, xq, xs, w, ws, nb, r0, r1, j0, min<i32>(n, j0 + jc), scratch);
    }
    return;
  }
  // the matvec kernels: rows of the four quarters of [r0, r1) together (four sequential streams),
  // activation rows in pairs, in chunks that stay in L2
  const q = (r1 - r0) >> 2;
  const qs = <usize>q * ws;
  const jc = xChunkBytes(nb * <i32>Q8_0_BYTES);
  for (let j0 = 0; j0 < n; j0 += jc) {
    const j1 = min<i32>(n, j0 + jc);
    for (let r = r0; r < r0 + q; r++) qvec_pass(qt, out, os, r, q, false, xq, xs, w + <usize>r * ws, qs, nb, j0, j1);
    for (let r = r0 + 4 * q; r < r1; r++) qvec_pass(qt, out, os, r, 0, true, xq, xs, w + <usize>r * ws, 0, nb, j0, j1);
  }
}

/**
 * Four weight rows (w + i*ws; tail: one row, ws = 0) against activation rows [j0, j1): pairs by
 * qdot4v2, the last odd one by qdot4v / q4rdot4x1; stored as store_pair does.
 */
// @ts-ignore: decorator
@inline function qvec_pass(qt: i32, out: usize, os: usize, r: i32, q: i32, tail: bool, xq: usize, xs: usize, w: usize, ws: usize, nb: i32, j0: i32, j1: i32): void {
  const R4 = ASC_FEATURE_RELAXED_SIMD && qt != Q8_0;
  let j = j0;
  for (; j + 2 <= j1; j += 2) qdot4v2(qt, out + <usize>j * os, os, r, q, tail, xq + <usize>j * xs, xs, w, ws, nb);
  if (j < j1) {
    const a = R4 ? q4rdot4x1(qt, xq + <usize>j * xs, w, ws, nb) : qdot4v(qt, xq + <usize>j * xs, w, ws, nb);
    if (tail) store<f32>(out + <usize>j * os + (<usize>r << 2), f32x4.extract_lane(a, 0));
    else store_quarters(out + <usize>j * os, r, q, a);
  }
}

/**
 * out[n][rows] f32 = xq[n][in/32] Q8_0 . W[rows][in/32] Q8_0 ^T, W rows [r0, r1).
 * scratch: 0, or qmatmul_scratch_bytes(n, in) bytes (16-aligned, per thread)
 * that make n > 1 faster; the results are the same either way.
 */
export function matmul_q8_0(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  qmatmul(Q8_0, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

/** out[n][rows] f32 = xq[n][in/32] Q8_0 . W[rows][in/32] Q4_0 ^T, W rows [r0, r1). */
export function matmul_q4_0(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  qmatmul(Q4_0, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

/**
 * out[n][rows] f32 = xq[n][in/32] Q8_0 . W[rows][in/32] Q5_0 ^T, W rows [r0, r1) (ggml's
 * vec_dot_q5_0_q8_0; every n on the matvec kernels, the same bits alone and in a batch).
 */
export function matmul_q5_0(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  qmatmul(Q5_0, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

// ---------------------------------------------------------------- f32 activations

/** sum over one 32-element block of x[k] * q[k] (q unscaled; Q4_0: q - 8), as f32x4 partials. */
// @ts-ignore: decorator
@inline function fblock(qt: i32, wb: usize, xb: usize): v128 {
  let q0: v128, q1: v128, q2: v128, q3: v128; // i16x8: elements 0-7, 8-15, 16-23, 24-31
  if (qt == Q8_0) {
    q0 = v128.load8x8_s(wb, 2);
    q1 = v128.load8x8_s(wb, 10);
    q2 = v128.load8x8_s(wb, 18);
    q3 = v128.load8x8_s(wb, 26);
  } else {
    const q = v128.load(wb, 2);
    const m = i8x16.splat(0x0f);
    const e8 = i8x16.splat(8);
    const lo = i8x16.sub(v128.and(q, m), e8);
    const hi = i8x16.sub(v128.and(i16x8.shr_u(q, 4), m), e8);
    q0 = i16x8.extend_low_i8x16_s(lo);
    q1 = i16x8.extend_high_i8x16_s(lo);
    q2 = i16x8.extend_low_i8x16_s(hi);
    q3 = i16x8.extend_high_i8x16_s(hi);
  }
  let a = f32x4.mul(v128.load(xb), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q0)));
  let c = f32x4.mul(v128.load(xb, 16), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q0)));
  a = fmadd(v128.load(xb, 32), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q1)), a);
  c = fmadd(v128.load(xb, 48), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q1)), c);
  a = fmadd(v128.load(xb, 64), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q2)), a);
  c = fmadd(v128.load(xb, 80), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q2)), c);
  a = fmadd(v128.load(xb, 96), f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q3)), a);
  c = fmadd(v128.load(xb, 112), f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q3)), c);
  return f32x4.add(a, c);
}

// @ts-ignore: decorator
@inline function fqmatmul(qt: i32, out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  const nb = inDim >> 5;
  const bw = wblock(qt);
  const ws = <usize>nb * bw;
  const xs = <usize>inDim << 2;
  const os = <usize>rows << 2;
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * ws;
    for (let j = 0; j < n; j++) {
      let acc = f32x4.splat(0);
      let xb = x + <usize>j * xs;
      let wb = wr;
      for (let b = 0; b < nb; b++) {
        acc = fmadd(fblock(qt, wb, xb), f32x4.splat(f16_to_f32(load<u16>(wb))), acc);
        xb += 128;
        wb += bw;
      }
      store<f32>(out + <usize>j * os + (<usize>r << 2), hsum(acc));
    }
  }
}

/** out[n][rows] f32 = x[n][in] f32 . dequant(W[rows][in/32] Q8_0) ^T, W rows [r0, r1). */
export function matmul_q8_0_f32(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  fqmatmul(Q8_0, out, x, w, n, inDim, rows, r0, r1);
}

/** out[n][rows] f32 = x[n][in] f32 . dequant(W[rows][in/32] Q4_0) ^T, W rows [r0, r1). */
export function matmul_q4_0_f32(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  fqmatmul(Q4_0, out, x, w, n, inDim, rows, r0, r1);
}
