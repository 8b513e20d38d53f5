// Shared inline helpers for the kernels: half-precision conversions, vector
// reductions, rounding and exp. Nothing here touches linear memory except the
// explicit loads/stores, and nothing allocates.

/** 2^112: rescales an f16 exponent field placed in an f32 (bias 15 -> 127). */
export const TWO_POW_112: f32 = 5.192296858534828e33;

// ---------------------------------------------------------------- f16 / bf16

/** f16 bits -> f32, exact for every input (subnormals, inf, nan). */
// @ts-ignore: decorator
@inline export function f16_to_f32(h: u32): f32 {
  // sign to bit 31, exponent+mantissa to bits 27..13, then rebias by 2^112.
  const t = ((<i32>(h << 16)) >> 3) & 0x8fffe000;
  const f = reinterpret<f32>(t) * TWO_POW_112;
  const inf = reinterpret<f32>(reinterpret<u32>(f) | 0x7f800000);
  return select<f32>(inf, f, (h & 0x7c00) == 0x7c00);
}

/** f32 -> f16 bits, round to nearest even; overflow -> inf, nan -> quiet nan. */
// @ts-ignore: decorator
@inline export function f32_to_f16(f: f32): u32 {
  const x = reinterpret<u32>(f);
  const sign = (x >> 16) & 0x8000;
  const ax = x & 0x7fffffff;
  if (ax >= 0x477ff000) {
    // >= 65520 rounds to inf; inf stays inf; nan -> 0x7e00
    return sign | select<u32>(0x7e00, 0x7c00, ax > 0x7f800000);
  }
  if (ax < 0x38800000) {
    // |f| < 2^-14: half subnormal (or zero). Adding 0.5 puts the half ulp
    // (2^-24) at the f32 mantissa LSB, so the FPU does the RNE rounding.
    const v = reinterpret<f32>(ax) + 0.5;
    return sign | (reinterpret<u32>(v) - 0x3f000000);
  }
  // normal: rebias exponent (-112 << 23) and round 23 -> 10 mantissa bits RNE.
  const odd = (ax >> 13) & 1;
  return sign | ((ax + 0xc8000fff + odd) >> 13);
}

/** f32 -> bf16 bits, round to nearest even; nan -> quiet nan. */
// @ts-ignore: decorator
@inline export function f32_to_bf16(f: f32): u32 {
  const x = reinterpret<u32>(f);
  if ((x & 0x7fffffff) > 0x7f800000) return (x >> 16) | 0x40;
  return (x + 0x7fff + ((x >> 16) & 1)) >> 16;
}

/**
 * Four f16 values, sign-extended to i32 lanes (v128.load16x4_s), -> f32x4.
 * Exact incl. subnormals; inf/nan keep their class.
 */
// @ts-ignore: decorator
@inline export function f16x4_to_f32x4(s: v128): v128 {
  const t = v128.and(i32x4.shl(s, 13), i32x4.splat(0x8fffe000));
  const f = f32x4.mul(t, f32x4.splat(TWO_POW_112));
  // |f| >= 2^16 only for inf/nan inputs (max finite half is 65504).
  const big = f32x4.ge(f32x4.abs(f), f32x4.splat(65536.0));
  return v128.or(f, v128.and(big, i32x4.splat(0x7f800000)));
}

// ---------------------------------------------------------------- reductions

/** Sum of the four lanes of an f32x4. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/** Max of the four lanes of an f32x4. */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const s = f32x4.max(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(s, 0), f32x4.extract_lane(s, 1));
}

/** [sum(a), sum(b), sum(c), sum(d)] for four f32x4. */
// @ts-ignore: decorator
@inline export function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return f32x4.add(i64x2.shuffle(ab, cd, 0, 2), i64x2.shuffle(ab, cd, 1, 3));
}

/** [sum(a), sum(b), sum(c), sum(d)] for four i32x4. */
// @ts-ignore: decorator
@inline export function hsum4_i32(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i64x2.shuffle(ab, cd, 0, 2), i64x2.shuffle(ab, cd, 1, 3));
}

/** Sum of the four lanes of an i32x4. */
// @ts-ignore: decorator
@inline export function hsum_i32(v: v128): i32 {
  const s = i32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1);
}

/**
 * Stores the lanes of v (f32x4) to out[r], out[r + q], out[r + 2q], out[r + 3q]
 * (out: f32 array). Used by the matvec drivers, which compute the rows of the
 * four quarters of their range together.
 */
// @ts-ignore: decorator
@inline export function store_quarters(out: usize, r: i32, q: i32, v: v128): void {
  store<f32>(out + (<usize>r << 2), f32x4.extract_lane(v, 0));
  store<f32>(out + (<usize>(r + q) << 2), f32x4.extract_lane(v, 1));
  store<f32>(out + (<usize>(r + 2 * q) << 2), f32x4.extract_lane(v, 2));
  store<f32>(out + (<usize>(r + 3 * q) << 2), f32x4.extract_lane(v, 3));
}

// ---------------------------------------------------------------- arithmetic

/** Sign-extended even bytes of v as i16x8. */
// @ts-ignore: decorator
@inline export function even_s8(v: v128): v128 { return i16x8.shr_s(i16x8.shl(v, 8), 8); }

/** Sign-extended odd bytes of v as i16x8. */
// @ts-ignore: decorator
@inline export function odd_s8(v: v128): v128 { return i16x8.shr_s(v, 8); }

/**
 * i32x4.extadd_pairwise_i16x8_s(v) (lane i = v[2i] + v[2i+1]) as a dot with ones: the same sums,
 * but V8 (11.3, x64) lowers the extadd to a pmaddwd whose ones it re-addresses from an external
 * constant at every use, where a splat is hoisted out of the loop (relaxed 8-bit tiles 1.14-1.18x).
 */
// @ts-ignore: decorator
@inline export function pairsum_i16(v: v128): v128 {
  return i32x4.dot_i16x8_s(v, i16x8.splat(1));
}

/**
 * Integer dot (i32x4 partials) of 32 unsigned 4-bit values lo = elements
 * 0..15, hi = 16..31 (u8x16, each 0..15) with 32 int8 xl = x[0..16), xh =
 * x[16..32); relaxed build only: 8-bit dots (vpmaddubsw) with the 4-bit values
 * as the 7-bit operand, so the result does not depend on the engine, added in
 * i16 (at most 4 * 15 * 128 a lane) before widening.
 */
// @ts-ignore: decorator
@inline export function dot_u4x32(xl: v128, xh: v128, lo: v128, hi: v128): v128 {
  return pairsum_i16(i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(xl, lo), i16x8.relaxed_dot_i8x16_i7x16_s(xh, hi)));
}

/** a * b + c; fused when built with relaxed SIMD, else separate mul + add. */
// @ts-ignore: decorator
@inline export function fmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** roundf() per lane: nearest, ties away from zero (C roundf semantics). */
// @ts-ignore: decorator
@inline export function round_away(v: v128): v128 {
  const t = f32x4.trunc(v);
  const half = f32x4.ge(f32x4.abs(f32x4.sub(v, t)), f32x4.splat(0.5));
  const one = v128.or(v128.and(v, i32x4.splat(0x80000000)), f32x4.splat(1.0));
  return f32x4.add(t, v128.and(half, one));
}

/** Scalar roundf(): nearest, ties away from zero. */
// @ts-ignore: decorator
@inline export function round_away_f32(v: f32): f32 {
  const t = trunc<f32>(v);
  return abs<f32>(v - t) >= 0.5 ? t + copysign<f32>(1.0, v) : t;
}

/**
 * exp(x) per lane, ~1-2 ulp for x in [-87.3, 88.7]; 0 below; above, x is
 * clamped to 88.72 (~3.4e38, the largest finite result); nan stays nan.
 * x = n*ln2 + r, |r| <= ln2/2; e^r by its degree-7 Taylor polynomial.
 */
// @ts-ignore: decorator
@inline export function exp_f32x4(x: v128): v128 {
  const lo = f32x4.lt(x, f32x4.splat(-87.33654)); // underflow -> 0
  const xc = f32x4.min(x, f32x4.splat(88.72283));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(1.44269504089)));
  let r = f32x4.sub(xc, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(-2.12194440e-4)));
  let p = f32x4.splat(1.0 / 5040.0);
  p = fmadd(p, r, f32x4.splat(1.0 / 720.0));
  p = fmadd(p, r, f32x4.splat(1.0 / 120.0));
  p = fmadd(p, r, f32x4.splat(1.0 / 24.0));
  p = fmadd(p, r, f32x4.splat(1.0 / 6.0));
  p = fmadd(p, r, f32x4.splat(0.5));
  p = fmadd(p, r, f32x4.splat(1.0));
  p = fmadd(p, r, f32x4.splat(1.0));
  // 2^n: n in [-126, 128]; build in two halves so n = 128 stays finite*2.
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const h1 = i32x4.shr_s(ni, 1);
  const h2 = i32x4.sub(ni, h1);
  const s1 = i32x4.shl(i32x4.add(h1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(h2, i32x4.splat(127)), 23);
  const y = f32x4.mul(f32x4.mul(p, s1), s2);
  return v128.andnot(y, lo);
}

/** Scalar exp via the vector routine (lane 0). */
// @ts-ignore: decorator
@inline export function exp_f32(x: f32): f32 {
  return f32x4.extract_lane(exp_f32x4(f32x4.splat(x)), 0);
}
