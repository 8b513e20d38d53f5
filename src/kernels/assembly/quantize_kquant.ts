// ggml's reference quantizers of the K-quants (quantize_row_q4_K_ref,
// quantize_row_q5_K_ref, quantize_row_q6_K_ref), operation for operation in
// f32 as src/formats/ggml-quants.ts, which writes ggml's bytes: wasm f32
// arithmetic rounds every operation as C does without contraction, so these
// write the same bytes, many times faster than the JavaScript.
//
// Each export quantizes count f32 values at src (count % 256 == 0) into
// super-blocks at dst, and needs QUANT_SCRATCH_BYTES of scratch (per thread).

import { f16_to_f32, f32_to_f16 } from "./common";

const QK_K: i32 = 256;

// scratch layout (bytes)
const S_L: usize = 0; //        u8  L[256]: the levels of a super-block
const S_LAUX: usize = 256; //   u8  Laux[32]: a search step's levels
const S_PREV: usize = 288; //   u8  PREV[32]: the previous step's levels
const S_XM: usize = 320; //     f32 XM[32]: x - min of the sub-block
const S_W: usize = 448; //      f32 weights[32]
const S_SCALES: usize = 576; // f32 scales[16]
const S_MINS: usize = 640; //   f32 mins[8]

/** Scratch bytes of the quantizers. */
export const QUANT_SCRATCH_BYTES: i32 = 1024;

/** ggml's GROUP_MAX_EPS. */
const GROUP_MAX_EPS: f32 = 1e-15;

/** ggml's nearest_int: round half to even through the f32 add of 1.5 * 2^23. */
// @ts-ignore: decorator
@inline function nearest_int(f: f32): i32 {
  return (reinterpret<i32>(f + <f32>12582912.0) & 0x007fffff) - 0x00400000;
}

// @ts-ignore: decorator
@inline function xf(x: usize, i: i32): f32 { return load<f32>(x + (<usize>i << 2)); }

/** The second result of make_qkx2_quants (the_min). */
let qkx2_min: f32 = 0;

// Vector forms of make_qkx2_quants' loops over its 32 values. Element-wise f32
// operations round the same in lanes as alone; the sums stay sequential in
// C's order (sum_lanes), so the results are the same bits.

/** acc + v[0] + v[1] + v[2] + v[3], in that order. */
// @ts-ignore: decorator
@inline function sum_lanes(acc: f32, v: v128): f32 {
  return acc + f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** nearest_int(iscale * XM[i]) clamped to 0..nmax for i in 4k..4k+3, as i32x4. */
// @ts-ignore: decorator
@inline function levels4(XM: usize, k: i32, iscale: v128, nmax: v128): v128 {
  const t = f32x4.add(f32x4.mul(iscale, v128.load(XM + (<usize>k << 4))), f32x4.splat(12582912.0));
  const l = i32x4.sub(v128.and(t, i32x4.splat(0x007fffff)), i32x4.splat(0x00400000));
  return i32x4.min_s(nmax, i32x4.max_s(i32x4.splat(0), l));
}

/** The 32 levels of XM at iscale (clamped to 0..nmax) as u8 at dst. */
// @ts-ignore: decorator
@inline function levels32(XM: usize, iscale: f32, nmax: i32, dst: usize): void {
  const sv = f32x4.splat(iscale), mv = i32x4.splat(nmax);
  for (let h = 0; h < 2; h++) {
    const a = i16x8.narrow_i32x4_s(levels4(XM, 4 * h, sv, mv), levels4(XM, 4 * h + 1, sv, mv));
    const b = i16x8.narrow_i32x4_s(levels4(XM, 4 * h + 2, sv, mv), levels4(XM, 4 * h + 3, sv, mv));
    v128.store(dst + (<usize>h << 4), i8x16.narrow_i16x8_u(a, b));
  }
}

/** Levels 4k..4k+3 (u8 at L) as f32x4. */
// @ts-ignore: decorator
@inline function levels_f32(L: usize, k: i32): v128 {
  return f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(L + (<usize>k << 2)))));
}

/** sum_i w[i] * (scale * L[i] + min - x[i])^2 over 32 values, summed in order. */
// @ts-ignore: decorator
@inline function error32(L: usize, scale: f32, min: f32, x: usize, w: usize): f32 {
  const sv = f32x4.splat(scale), mv = f32x4.splat(min);
  let e: f32 = 0;
  for (let k = 0; k < 8; k++) {
    const o = <usize>k << 4;
    const diff = f32x4.sub(f32x4.add(f32x4.mul(sv, levels_f32(L, k)), mv), v128.load(x + o));
    e = sum_lanes(e, f32x4.mul(v128.load(w + o), f32x4.mul(diff, diff)));
  }
  return e;
}

/**
 * ggml's make_qkx2_quants for one sub-block of 32 values at x: x ~ scale * L - the_min with L in
 * 0..nmax, weighted least squares over a small search of scales. Writes L, returns the scale
 * (the min in qkx2_min). As the JavaScript: x - min once per value of min, and a step whose
 * levels equal the previous step's is skipped (it cannot beat the best so far).
 */
function make_qkx2_quants(nmax: i32, x: usize, w: usize, L: usize, s: usize, rmin: f32, rdelta: f32, nstep: i32): f32 {
  const n = 32;
  const Laux = s + S_LAUX, PREV = s + S_PREV, XM = s + S_XM;
  let xmin = xf(x, 0), xmax = xmin;
  let sumW = xf(w, 0);
  let sumX = sumW * xf(x, 0);
  for (let i = 1; i < n; i++) {
    const xi = xf(x, i);
    if (xi < xmin) xmin = xi;
    if (xi > xmax) xmax = xi;
    const wi = xf(w, i);
    sumW = sumW + wi;
    sumX = sumX + wi * xi;
  }
  if (xmin > 0) xmin = 0;
  if (xmax == xmin) {
    for (let i = 0; i < n; i++) store<u8>(L + <usize>i, 0);
    qkx2_min = -xmin;
    return 0;
  }
  let range = xmax - xmin;
  for (let i = 0; i < n; i++) store<f32>(XM + (<usize>i << 2), xf(x, i) - xmin);
  let iscale = <f32>nmax / range;
  let scale = <f32>1 / iscale;
  levels32(XM, iscale, nmax, L);
  let bestError = error32(L, scale, xmin, x, w);
  if (nstep < 1) {
    qkx2_min = -xmin;
    return scale;
  }
  let havePrev = false;
  for (let is = 0; is <= nstep; is++) {
    iscale = (rmin + rdelta * <f32>is + <f32>nmax) / range;
    levels32(XM, iscale, nmax, Laux);
    const la = v128.load(Laux), lb = v128.load(Laux, 16);
    if (havePrev && !v128.any_true(v128.or(v128.xor(la, v128.load(PREV)), v128.xor(lb, v128.load(PREV, 16))))) continue;
    v128.store(PREV, la);
    v128.store(PREV, lb, 16);
    havePrev = true;
    let sumL: f32 = 0, sumL2: f32 = 0, sumXL: f32 = 0;
    for (let k = 0; k < 8; k++) {
      const o = <usize>k << 4;
      const l = levels_f32(Laux, k);
      const wl = f32x4.mul(v128.load(w + o), l);
      sumL = sum_lanes(sumL, wl);
      sumL2 = sum_lanes(sumL2, f32x4.mul(wl, l));
      sumXL = sum_lanes(sumXL, f32x4.mul(wl, v128.load(x + o)));
    }
    const D = sumW * sumL2 - sumL * sumL;
    if (D > 0) {
      let thisScale = (sumW * sumXL - sumX * sumL) / D;
      let thisMin = (sumL2 * sumX - sumL * sumXL) / D;
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = sumXL / sumL2;
      }
      const curError = error32(Laux, thisScale, thisMin, x, w);
      if (curError < bestError) {
        v128.store(L, la);
        v128.store(L, lb, 16);
        bestError = curError;
        scale = thisScale;
        xmin = thisMin;
        // later steps see the new min, as in C
        range = xmax - xmin;
        for (let i = 0; i < n; i++) store<f32>(XM + (<usize>i << 2), xf(x, i) - xmin);
      }
    }
  }
  qkx2_min = -xmin;
  return scale;
}

/** Sub-block j's 6-bit scale (m = false) or min (m = true) from the 12 packed bytes at q. */
// @ts-ignore: decorator
@inline function scale_min_k4(j: i32, q: usize, m: bool): i32 {
  if (j < 4) return <i32>load<u8>(q + <usize>(m ? j + 4 : j)) & 63;
  if (!m) return (<i32>load<u8>(q + <usize>(j + 4)) & 0xf) | ((<i32>load<u8>(q + <usize>(j - 4)) >> 6) << 4);
  return (<i32>load<u8>(q + <usize>(j + 4)) >> 4) | ((<i32>load<u8>(q + <usize>j) >> 6) << 4);
}

/**
 * The part of quantize_row_q4_K_ref and quantize_row_q5_K_ref they share: fits the 8 sub-blocks
 * of the super-block at x with levels 0..nmax, writes d, dmin and the 12 packed scale bytes at
 * out, and the final levels to the scratch's L.
 */
function k_scale_min(x: usize, out: usize, s: usize, nmax: i32, rmin: f32, nstep: i32): void {
  const L = s + S_L, w = s + S_W, scales = s + S_SCALES, mins = s + S_MINS, so = out + 4;
  let maxScale: f32 = 0, maxMin: f32 = 0;
  for (let j = 0; j < 8; j++) {
    const xj = x + (<usize>(32 * j) << 2);
    let sumX2: f32 = 0;
    for (let l = 0; l < 32; l++) sumX2 = sumX2 + xf(xj, l) * xf(xj, l);
    const avX = Mathf.sqrt(sumX2 / 32);
    for (let l = 0; l < 32; l++) store<f32>(w + (<usize>l << 2), avX + Mathf.abs(xf(xj, l)));
    const sc = make_qkx2_quants(nmax, xj, w, L + <usize>(32 * j), s, rmin, <f32>0.1, nstep);
    const mn = qkx2_min;
    store<f32>(scales + (<usize>j << 2), sc);
    store<f32>(mins + (<usize>j << 2), mn);
    if (sc > maxScale) maxScale = sc;
    if (mn > maxMin) maxMin = mn;
  }
  const invScale: f32 = maxScale > 0 ? <f32>63 / maxScale : 0;
  const invMin: f32 = maxMin > 0 ? <f32>63 / maxMin : 0;
  for (let j = 0; j < 8; j++) {
    const ls = min<i32>(63, nearest_int(invScale * xf(scales, j)) & 0xff);
    const lm = min<i32>(63, nearest_int(invMin * xf(mins, j)) & 0xff);
    if (j < 4) {
      store<u8>(so + <usize>j, <u8>ls);
      store<u8>(so + <usize>(j + 4), <u8>lm);
    } else {
      store<u8>(so + <usize>(j + 4), <u8>((ls & 0xf) | ((lm & 0xf) << 4)));
      store<u8>(so + <usize>(j - 4), load<u8>(so + <usize>(j - 4)) | <u8>((ls >> 4) << 6));
      store<u8>(so + <usize>j, load<u8>(so + <usize>j) | <u8>((lm >> 4) << 6));
    }
  }
  const d16 = f32_to_f16(maxScale / 63), dmin16 = f32_to_f16(maxMin / 63);
  store<u16>(out, <u16>d16);
  store<u16>(out, <u16>dmin16, 2);
  const dAll = f16_to_f32(d16), dminAll = f16_to_f32(dmin16);
  for (let j = 0; j < 8; j++) {
    const d = dAll * <f32>scale_min_k4(j, so, false);
    if (!(d != 0)) continue; // zero (or nan): keeps the levels make_qkx2_quants found, as ggml does
    const dm = dminAll * <f32>scale_min_k4(j, so, true);
    const xj = x + (<usize>(32 * j) << 2);
    for (let ii = 0; ii < 32; ii++) {
      const l = nearest_int((xf(xj, ii) + dm) / d);
      store<u8>(L + <usize>(32 * j + ii), <u8>max<i32>(0, min<i32>(nmax, l)));
    }
  }
}

/** dst: count / 256 Q4_K super-blocks (144 bytes) of the f32 values at src (quantize_row_q4_K_ref). */
export function quantize_q4_k(dst: usize, src: usize, count: i32, scratch: usize): void {
  const L = scratch + S_L;
  for (let i = 0; i < count / QK_K; i++) {
    const out = dst + <usize>i * 144;
    k_scale_min(src + (<usize>(i * QK_K) << 2), out, scratch, 15, -1, 20);
    let q = out + 16;
    for (let j = 0; j < QK_K; j += 64) {
      for (let l = 0; l < 32; l++) store<u8>(q + <usize>l, load<u8>(L + <usize>(j + l)) | (load<u8>(L + <usize>(j + l + 32)) << 4));
      q += 32;
    }
  }
}

/** dst: count / 256 Q5_K super-blocks (176 bytes) of the f32 values at src (quantize_row_q5_K_ref). */
export function quantize_q5_k(dst: usize, src: usize, count: i32, scratch: usize): void {
  const L = scratch + S_L;
  for (let i = 0; i < count / QK_K; i++) {
    const out = dst + <usize>i * 176;
    k_scale_min(src + (<usize>(i * QK_K) << 2), out, scratch, 31, -0.5, 15);
    const qh = out + 16;
    for (let j = 0; j < 32; j++) store<u8>(qh + <usize>j, 0);
    let ql = out + 48;
    let m1: u8 = 1, m2: u8 = 2;
    for (let n = 0; n < QK_K; n += 64) {
      for (let j = 0; j < 32; j++) {
        let l1 = load<u8>(L + <usize>(n + j)), l2 = load<u8>(L + <usize>(n + j + 32));
        if (l1 > 15) { l1 -= 16; store<u8>(qh + <usize>j, load<u8>(qh + <usize>j) | m1); }
        if (l2 > 15) { l2 -= 16; store<u8>(qh + <usize>j, load<u8>(qh + <usize>j) | m2); }
        store<u8>(ql + <usize>j, l1 | (l2 << 4));
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
}

/** clamp(nearest_int(iscale * x), -32, 31) for the four values x, as i32x4. */
// @ts-ignore: decorator
@inline function levels4_signed(x: v128, iscale: v128): v128 {
  const t = f32x4.add(f32x4.mul(iscale, x), f32x4.splat(12582912.0));
  const l = i32x4.sub(v128.and(t, i32x4.splat(0x007fffff)), i32x4.splat(0x00400000));
  return i32x4.min_s(i32x4.splat(31), i32x4.max_s(i32x4.splat(-32), l));
}

/** The 16 levels l0..l3 (i32x4, -32..31) stored + 32 as u8 at L. */
// @ts-ignore: decorator
@inline function store_levels16(L: usize, l0: v128, l1: v128, l2: v128, l3: v128): void {
  const o = i32x4.splat(32);
  const a = i16x8.narrow_i32x4_s(i32x4.add(l0, o), i32x4.add(l1, o));
  const b = i16x8.narrow_i32x4_s(i32x4.add(l2, o), i32x4.add(l3, o));
  v128.store(L, i8x16.narrow_i16x8_u(a, b));
}

/**
 * ggml's make_qx_quants(16, 32, x, L, rmse_type = 1, NULL) for one 16-value sub-block:
 * symmetric levels -32..31 stored + 32 in L, weights x^2, a search over 18 scales. Returns the
 * scale. Element-wise in lanes, the sums in C's order (as make_qkx2_quants).
 */
function make_qx_quants16(x: usize, L: usize): f32 {
  const nmax = 32;
  let xmax: f32 = 0, amax: f32 = 0;
  for (let i = 0; i < 16; i++) {
    const ax = Mathf.abs(xf(x, i));
    if (ax > amax) {
      amax = ax;
      xmax = xf(x, i);
    }
  }
  if (amax < GROUP_MAX_EPS) {
    v128.store(L, i32x4.splat(0));
    return 0;
  }
  const x0 = v128.load(x), x1 = v128.load(x, 16), x2 = v128.load(x, 32), x3 = v128.load(x, 48);
  // w = x * x; the products of the sums: (w * x) * l and (w * l) * l
  const w0 = f32x4.mul(x0, x0), w1 = f32x4.mul(x1, x1), w2 = f32x4.mul(x2, x2), w3 = f32x4.mul(x3, x3);
  const wx0 = f32x4.mul(w0, x0), wx1 = f32x4.mul(w1, x1), wx2 = f32x4.mul(w2, x2), wx3 = f32x4.mul(w3, x3);
  let scale: f32 = 0, best: f32 = 0;
  for (let is = 0; is <= 19; is++) {
    // step 0: the first guess; then is = -9..9 without 0, as in C
    const st = is - 10;
    if (st == 0) continue;
    const iscale = is == 0 ? <f32>-nmax / xmax : -(<f32>nmax + <f32>0.1 * <f32>st) / xmax;
    const sv = f32x4.splat(iscale);
    const l0 = levels4_signed(x0, sv), l1 = levels4_signed(x1, sv), l2 = levels4_signed(x2, sv), l3 = levels4_signed(x3, sv);
    const f0 = f32x4.convert_i32x4_s(l0), f1 = f32x4.convert_i32x4_s(l1), f2 = f32x4.convert_i32x4_s(l2), f3 = f32x4.convert_i32x4_s(l3);
    let sumlx: f32 = 0, suml2: f32 = 0;
    sumlx = sum_lanes(sumlx, f32x4.mul(wx0, f0)); suml2 = sum_lanes(suml2, f32x4.mul(f32x4.mul(w0, f0), f0));
    sumlx = sum_lanes(sumlx, f32x4.mul(wx1, f1)); suml2 = sum_lanes(suml2, f32x4.mul(f32x4.mul(w1, f1), f1));
    sumlx = sum_lanes(sumlx, f32x4.mul(wx2, f2)); suml2 = sum_lanes(suml2, f32x4.mul(f32x4.mul(w2, f2), f2));
    sumlx = sum_lanes(sumlx, f32x4.mul(wx3, f3)); suml2 = sum_lanes(suml2, f32x4.mul(f32x4.mul(w3, f3), f3));
    if (is == 0) {
      store_levels16(L, l0, l1, l2, l3);
      scale = suml2 != 0 ? sumlx / suml2 : 0;
      best = scale * sumlx;
    } else if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      store_levels16(L, l0, l1, l2, l3);
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

/** dst: count / 256 Q6_K super-blocks (210 bytes) of the f32 values at src (quantize_row_q6_K_ref). */
export function quantize_q6_k(dst: usize, src: usize, count: i32, scratch: usize): void {
  const L = scratch + S_L, scales = scratch + S_SCALES;
  for (let i = 0; i < count / QK_K; i++) {
    const x = src + (<usize>(i * QK_K) << 2);
    const out = dst + <usize>i * 210;
    let maxScale: f32 = 0, maxAbsScale: f32 = 0;
    for (let ib = 0; ib < 16; ib++) {
      const scale = make_qx_quants16(x + (<usize>(16 * ib) << 2), L + <usize>(16 * ib));
      store<f32>(scales + (<usize>ib << 2), scale);
      if (Mathf.abs(scale) > maxAbsScale) {
        maxAbsScale = Mathf.abs(scale);
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      // an all-zero block (d = +0)
      for (let b = 0; b < 210; b++) store<u8>(out + <usize>b, 0);
      continue;
    }
    const iscale = <f32>-128 / maxScale;
    const d16 = f32_to_f16(<f32>1 / iscale);
    store<u16>(out, <u16>d16, 208);
    for (let ib = 0; ib < 16; ib++) store<u8>(out + 192 + <usize>ib, <u8>(min<i32>(127, nearest_int(iscale * xf(scales, ib))) & 0xff));
    const dAll = f16_to_f32(d16);
    for (let j = 0; j < 16; j++) {
      const d = dAll * <f32>load<i8>(out + 192 + <usize>j);
      if (!(d != 0)) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearest_int(xf(x, 16 * j + ii) / d);
        store<u8>(L + <usize>(16 * j + ii), <u8>(max<i32>(-32, min<i32>(31, l)) + 32));
      }
    }
    for (let j = 0; j < QK_K; j += 128) {
      const ql = out + <usize>(j >> 1), qh = out + 128 + <usize>(j >> 2);
      for (let l = 0; l < 32; l++) {
        const a = <u32>load<u8>(L + <usize>(j + l)), b = <u32>load<u8>(L + <usize>(j + l + 32));
        const c = <u32>load<u8>(L + <usize>(j + l + 64)), e = <u32>load<u8>(L + <usize>(j + l + 96));
        store<u8>(ql + <usize>l, <u8>((a & 0xf) | ((c & 0xf) << 4)));
        store<u8>(ql + <usize>(l + 32), <u8>((b & 0xf) | ((e & 0xf) << 4)));
        store<u8>(qh + <usize>l, <u8>((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6)));
      }
    }
  }
}
