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
// The integer dots (Q8_K activations) are in dot_q8k.ts, the prompt tiles in
// tiles16.ts; here: the levels, dequantization and the f32-activation path.

import { f16_to_f32, fmadd } from "./common";
import { q4k_min, q4k_scale } from "./matmul_q4k";

const Q5_K_BYTES: usize = 176;
const Q6_K_BYTES: usize = 210;

// ---------------------------------------------------------------- Q5_K

/** 5-bit levels of 16 values of sub-block s: nibble of ql (low for even s) | bit s of qh << 4. */
// @ts-ignore: decorator
@inline export function q5_levels(ql: v128, qh: v128, s: i32): v128 {
  // i16 shifts (native on x86, unlike i8 ones); the byte masks drop what crosses between bytes
  const nib = v128.and(i16x8.shr_u(ql, <u32>((s & 1) << 2)), i8x16.splat(0x0f));
  const hb = i16x8.shl(v128.and(i16x8.shr_u(qh, <u32>s), i8x16.splat(0x01)), 4);
  return v128.or(nib, hb);
}

// ---------------------------------------------------------------- Q6_K

/** 6-bit levels (0..63) of 16 values of quarter k: nibble of ql (low for k < 2) | bits 2k, 2k+1 of qh << 4. */
// @ts-ignore: decorator
@inline export function q6_levels(ql: v128, qh: v128, k: i32): v128 {
  const nib = v128.and(i16x8.shr_u(ql, <u32>((k >> 1) << 2)), i8x16.splat(0x0f));
  const hb = v128.and(i16x8.shl(i16x8.shr_u(qh, <u32>(k << 1)), 4), i8x16.splat(0x30));
  return v128.or(nib, hb);
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
