// Element conversions and GGUF block (de)quantizers. Each takes a flat element
// count; threads split work by offsetting the pointers (block formats: by
// whole blocks). Q8_0 block = 34 bytes { f16 d; i8 qs[32] }, Q4_0 block =
// 18 bytes { f16 d; u8 qs[16] } with element j in the low nibble of qs[j] and
// element 16+j in the high nibble; value = (nibble - 8) * d.

import { f16_to_f32, f16x4_to_f32x4, f32_to_bf16, f32_to_f16, round_away } from "./common";

// ---------------------------------------------------------------- float <-> half

/** dst[count] bf16 = src[count] f32, round to nearest even. */
export function f32_to_bf16_row(dst: usize, src: usize, count: i32): void {
  let i = 0;
  for (; i + 8 <= count; i += 8) {
    const a = v128.load(src + (<usize>i << 2));
    const b = v128.load(src + (<usize>i << 2), 16);
    // round: x + 0x7fff + ((x >> 16) & 1), then keep the high halves.
    // nan lanes: take the raw high half with the quiet bit set.
    const one = i32x4.splat(1);
    const ra = i32x4.add(i32x4.add(a, i32x4.splat(0x7fff)), v128.and(i32x4.shr_u(a, 16), one));
    const rb = i32x4.add(i32x4.add(b, i32x4.splat(0x7fff)), v128.and(i32x4.shr_u(b, 16), one));
    const na = f32x4.ne(a, a);
    const nb = f32x4.ne(b, b);
    const qa = v128.bitselect(v128.or(a, i32x4.splat(0x400000)), ra, na);
    const qb = v128.bitselect(v128.or(b, i32x4.splat(0x400000)), rb, nb);
    // the high halves, exact through the unsigned narrowing (each < 2^16): no byte shuffle, whose
    // pattern V8 rebuilds at every use (kernels README, "What V8 makes of it")
    v128.store(dst + (<usize>i << 1), i16x8.narrow_i32x4_u(i32x4.shr_u(qa, 16), i32x4.shr_u(qb, 16)));
  }
  for (; i < count; i++) store<u16>(dst + (<usize>i << 1), f32_to_bf16(load<f32>(src + (<usize>i << 2))));
}

/** dst[count] f32 = src[count] bf16 (exact). */
export function bf16_to_f32_row(dst: usize, src: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    v128.store(dst + (<usize>i << 2), i32x4.shl(v128.load16x4_u(src + (<usize>i << 1)), 16));
  }
  for (; i < count; i++) store<u32>(dst + (<usize>i << 2), <u32>load<u16>(src + (<usize>i << 1)) << 16);
}

/** dst[count] f16 = src[count] f32, round to nearest even. */
export function f32_to_f16_row(dst: usize, src: usize, count: i32): void {
  for (let i = 0; i < count; i++) store<u16>(dst + (<usize>i << 1), f32_to_f16(load<f32>(src + (<usize>i << 2))));
}

/** dst[count] f32 = src[count] f16 (exact). */
export function f16_to_f32_row(dst: usize, src: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    v128.store(dst + (<usize>i << 2), f16x4_to_f32x4(v128.load16x4_s(src + (<usize>i << 1))));
  }
  for (; i < count; i++) store<f32>(dst + (<usize>i << 2), f16_to_f32(load<u16>(src + (<usize>i << 1))));
}

// ---------------------------------------------------------------- Q8_0

/**
 * dst[count/32] Q8_0 blocks = src[count] f32 (count % 32 == 0), exactly as
 * ggml's quantize_row_q8_0_ref: d = amax/127, q = roundf(x * (1/d)).
 * Also the activation quantizer for the integer matmul paths.
 */
export function quantize_q8_0(dst: usize, src: usize, count: i32): void {
  const nb = count >> 5;
  for (let b = 0; b < nb; b++) {
    const x = src + (<usize>b << 7);
    const y = dst + <usize>b * 34;
    const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
    const v4 = v128.load(x, 64), v5 = v128.load(x, 80), v6 = v128.load(x, 96), v7 = v128.load(x, 112);
    let m = f32x4.max(f32x4.max(f32x4.abs(v0), f32x4.abs(v1)), f32x4.max(f32x4.abs(v2), f32x4.abs(v3)));
    m = f32x4.max(m, f32x4.max(f32x4.max(f32x4.abs(v4), f32x4.abs(v5)), f32x4.max(f32x4.abs(v6), f32x4.abs(v7))));
    m = f32x4.max(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
    const amax = max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
    const d: f32 = amax / 127.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, f32_to_f16(d));
    const s = f32x4.splat(id);
    const q0 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v0, s)));
    const q1 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v1, s)));
    const q2 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v2, s)));
    const q3 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v3, s)));
    const q4 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v4, s)));
    const q5 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v5, s)));
    const q6 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v6, s)));
    const q7 = i32x4.trunc_sat_f32x4_s(round_away(f32x4.mul(v7, s)));
    const lo = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3));
    const hi = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q4, q5), i16x8.narrow_i32x4_s(q6, q7));
    v128.store(y, lo, 2);
    v128.store(y, hi, 18);
  }
}

/** dst[count] f32 = src[count/32] Q8_0 blocks dequantized (q * d). */
export function dequantize_q8_0(dst: usize, src: usize, count: i32): void {
  const nb = count >> 5;
  for (let b = 0; b < nb; b++) {
    const x = src + <usize>b * 34;
    const y = dst + (<usize>b << 7);
    const d = f32x4.splat(f16_to_f32(load<u16>(x)));
    for (let j = 0; j < 32; j += 8) {
      const q = v128.load8x8_s(x + 2 + <usize>j);
      v128.store(y + (<usize>j << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(q)), d));
      v128.store(y + (<usize>j << 2), f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(q)), d), 16);
    }
  }
}

// ---------------------------------------------------------------- Q8_K

/** Bytes of a Q8_K block (ggml block_q8_K): { f32 d; i8 qs[256]; i16 bsums[16] }. */
export const Q8_K_BYTES: usize = 292;

/**
 * dst[count/256] Q8_K blocks = src[count] f32 (count % 256 == 0), as ggml's
 * quantize_row_q8_K_ref: max = the first element of largest |x|, iscale =
 * -127 / max, q = min(127, nearest_int(iscale * x)) (round half to even),
 * d = 1 / iscale, bsums[j] = sum of q[16j .. 16j + 16). An all-zero block is
 * all zero. The activations of the K-quant dot products (matmul_q4_k & co.).
 */
export function quantize_q8_k(dst: usize, src: usize, count: i32): void {
  const nb = count >> 8;
  for (let b = 0; b < nb; b++) {
    const x = src + (<usize>b << 10);
    const y = dst + <usize>b * Q8_K_BYTES;
    let m = f32x4.splat(0);
    for (let j: usize = 0; j < 1024; j += 16) m = f32x4.max(m, f32x4.abs(v128.load(x + j)));
    m = f32x4.max(m, i32x4.shuffle(m, m, 2, 3, 0, 1));
    const amax = max<f32>(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1));
    if (amax == 0) {
      memory.fill(y, 0, Q8_K_BYTES);
      continue;
    }
    // the first element whose |x| is amax, four at a time (none if amax is nan)
    let first: usize = 0;
    const am = f32x4.splat(amax);
    while (first < 256 && !v128.any_true(f32x4.eq(f32x4.abs(v128.load(x + (first << 2))), am))) first += 4;
    while (first < 256 && abs<f32>(load<f32>(x + (first << 2))) != amax) first++;
    const iscale: f32 = <f32>-127.0 / (first < 256 ? load<f32>(x + (first << 2)) : amax);
    store<f32>(y, <f32>1.0 / iscale);
    if (abs<f32>(iscale) == Infinity) {
      // |max| < 127 / FLT_MAX: ggml's nearest_int of +-inf (and of inf * 0 = nan) is 0 in int8
      memory.fill(y + 4, 0, Q8_K_BYTES - 4);
      continue;
    }
    const s = f32x4.splat(iscale);
    for (let j: usize = 0; j < 256; j += 16) {
      const v = x + (j << 2);
      const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(v), s)));
      const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(v, 16), s)));
      const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(v, 32), s)));
      const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(v, 48), s)));
      const q = i8x16.min_s(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)), i8x16.splat(127));
      v128.store(y + 4 + j, q);
      let t = i32x4.extadd_pairwise_i16x8_s(i16x8.extadd_pairwise_i8x16_s(q));
      t = i32x4.add(t, i32x4.shuffle(t, t, 2, 3, 0, 1));
      store<i16>(y + 260 + (j >> 3), <i16>(i32x4.extract_lane(t, 0) + i32x4.extract_lane(t, 1)));
    }
  }
}

// ---------------------------------------------------------------- Q4_0

/**
 * dst[count/32] Q4_0 blocks = src[count] f32 (count % 32 == 0), exactly as
 * ggml's quantize_row_q4_0_ref: d = max / -8 where max is the first element
 * of largest magnitude, q = min(15, (i8)(x * (1/d) + 8.5)).
 */
export function quantize_q4_0(dst: usize, src: usize, count: i32): void {
  const nb = count >> 5;
  for (let b = 0; b < nb; b++) {
    const x = src + (<usize>b << 7);
    const y = dst + <usize>b * 18;
    let amax: f32 = 0, mx: f32 = 0;
    for (let j = 0; j < 32; j++) {
      const v = load<f32>(x + (<usize>j << 2));
      if (amax < abs<f32>(v)) { amax = abs<f32>(v); mx = v; }
    }
    const d: f32 = mx / -8.0;
    const id: f32 = d != 0 ? <f32>1.0 / d : 0;
    store<u16>(y, f32_to_f16(d));
    const s = f32x4.splat(id);
    const h = f32x4.splat(8.5);
    const c15 = i32x4.splat(15);
    for (let j = 0; j < 16; j += 8) {
      // elements j..j+7 -> low nibbles, 16+j..16+j+7 -> high nibbles
      const a0 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.mul(v128.load(x + (<usize>j << 2)), s), h)), c15);
      const a1 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.mul(v128.load(x + (<usize>j << 2), 16), s), h)), c15);
      const b0 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.mul(v128.load(x + (<usize>j << 2), 64), s), h)), c15);
      const b1 = i32x4.min_s(i32x4.trunc_sat_f32x4_s(f32x4.add(f32x4.mul(v128.load(x + (<usize>j << 2), 80), s), h)), c15);
      const lo = i16x8.narrow_i32x4_s(a0, a1); // 8 x i16 in 0..15
      const hi = i16x8.narrow_i32x4_s(b0, b1);
      const packed = v128.or(lo, i16x8.shl(hi, 4)); // byte value in low half of each i16
      const bytes = i8x16.narrow_i16x8_u(packed, packed);
      v128.store64_lane(y + 2 + <usize>j, bytes, 0);
    }
  }
}

/** dst[count] f32 = src[count/32] Q4_0 blocks dequantized ((q - 8) * d). */
export function dequantize_q4_0(dst: usize, src: usize, count: i32): void {
  const nb = count >> 5;
  const m4 = i8x16.splat(0x0f);
  const e8 = i8x16.splat(8);
  for (let b = 0; b < nb; b++) {
    const x = src + <usize>b * 18;
    const y = dst + (<usize>b << 7);
    const d = f32x4.splat(f16_to_f32(load<u16>(x)));
    const q = v128.load(x, 2);
    const lo = i8x16.sub(v128.and(q, m4), e8); //                elements 0..15
    const hi = i8x16.sub(v128.and(i16x8.shr_u(q, 4), m4), e8); // elements 16..31
    const l0 = i16x8.extend_low_i8x16_s(lo), l1 = i16x8.extend_high_i8x16_s(lo);
    const h0 = i16x8.extend_low_i8x16_s(hi), h1 = i16x8.extend_high_i8x16_s(hi);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l0)), d));
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l0)), d), 16);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l1)), d), 32);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l1)), d), 48);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h0)), d), 64);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h0)), d), 80);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h1)), d), 96);
    v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h1)), d), 112);
  }
}
