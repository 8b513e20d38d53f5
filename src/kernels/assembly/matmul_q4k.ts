// Q4_K weights (llama.cpp block_q4_K, 256 elements in 144 bytes):
//   { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }
// 8 sub-blocks of 32 with 6-bit scale sc_s and min m_s (get_scale_min_k4
// packing); qs[32c .. 32c+32) hold sub-block 2c in the low nibbles and 2c+1
// in the high nibbles; value = d * sc_s * q - dmin * m_s.
//
// The integer dots (Q8_K activations) are in dot_q8k.ts, the prompt tiles in
// tiles16.ts; here: the scales, dequantization and the f32-activation path.

import { f16_to_f32, fmadd } from "./common";

const Q4_K_BYTES: usize = 144;

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
