// Row-wise and element-wise ops on f32 activations. Row ops take the rows
// [r0, r1) of a [*, dim] matrix; element-wise ops take a flat count (split by
// offsetting the pointers). In-place use (out == x) is allowed everywhere.

import { exp_f32, exp_f32x4, hmax, hsum } from "./common";

// ---------------------------------------------------------------- rmsnorm

/** out[r][dim] = x[r][dim] * 1/sqrt(mean(x[r]^2) + eps) * w[dim], rows [r0, r1). */
export function rmsnorm(out: usize, x: usize, w: usize, dim: i32, eps: f32, r0: i32, r1: i32): void {
  const rs = <usize>dim << 2;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rs;
    const or = out + <usize>r * rs;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let k = 0;
    for (; k + 8 <= dim; k += 8) {
      const u = v128.load(xr + (<usize>k << 2));
      const v = v128.load(xr + (<usize>k << 2), 16);
      a0 = f32x4.add(a0, f32x4.mul(u, u));
      a1 = f32x4.add(a1, f32x4.mul(v, v));
    }
    let ss = hsum(f32x4.add(a0, a1));
    for (; k < dim; k++) {
      const u = load<f32>(xr + (<usize>k << 2));
      ss += u * u;
    }
    const inv: f32 = <f32>1.0 / sqrt<f32>(ss / <f32>dim + eps);
    const iv = f32x4.splat(inv);
    k = 0;
    for (; k + 4 <= dim; k += 4) {
      const o = <usize>k << 2;
      v128.store(or + o, f32x4.mul(f32x4.mul(v128.load(xr + o), iv), v128.load(w + o)));
    }
    for (; k < dim; k++) {
      const o = <usize>k << 2;
      store<f32>(or + o, load<f32>(xr + o) * inv * load<f32>(w + o));
    }
  }
}

/**
 * rmsnorm with float64 arithmetic, as the host backends compute it (backend/host.ts rmsnormRows):
 * the sum of squares in f64 (two f64x2 accumulators: the order of the sum differs from a
 * sequential one by ~1e-16 relative), then each output f32(f64(x) * inv * f64(w)), rounded once.
 */
export function rmsnorm_f64(out: usize, x: usize, w: usize, dim: i32, eps: f64, r0: i32, r1: i32): void {
  const rs = <usize>dim << 2;
  for (let r = r0; r < r1; r++) {
    const xr = x + <usize>r * rs;
    const or = out + <usize>r * rs;
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    let k = 0;
    for (; k + 4 <= dim; k += 4) {
      const u = v128.load(xr + (<usize>k << 2));
      const lo = f64x2.promote_low_f32x4(u), hi = f64x2.promote_low_f32x4(i32x4.shuffle(u, u, 2, 3, 0, 1));
      a0 = f64x2.add(a0, f64x2.mul(lo, lo));
      a1 = f64x2.add(a1, f64x2.mul(hi, hi));
    }
    const s = f64x2.add(a0, a1);
    let ss = f64x2.extract_lane(s, 0) + f64x2.extract_lane(s, 1);
    for (; k < dim; k++) {
      const u = <f64>load<f32>(xr + (<usize>k << 2));
      ss += u * u;
    }
    const inv = 1.0 / sqrt<f64>(ss / <f64>dim + eps);
    const iv = f64x2.splat(inv);
    k = 0;
    for (; k + 4 <= dim; k += 4) {
      const o = <usize>k << 2;
      const u = v128.load(xr + o), g = v128.load(w + o);
      const lo = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.mul(f64x2.promote_low_f32x4(u), iv), f64x2.promote_low_f32x4(g)));
      const hi = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.mul(f64x2.promote_low_f32x4(i32x4.shuffle(u, u, 2, 3, 0, 1)), iv),
        f64x2.promote_low_f32x4(i32x4.shuffle(g, g, 2, 3, 0, 1))));
      v128.store(or + o, i64x2.shuffle(lo, hi, 0, 2));
    }
    for (; k < dim; k++) {
      const o = <usize>k << 2;
      store<f32>(or + o, <f32>(<f64>load<f32>(xr + o) * inv * <f64>load<f32>(w + o)));
    }
  }
}

// ---------------------------------------------------------------- softmax

/** Stable softmax in place over each row x[r][len], rows [r0, r1). */
export function softmax(x: usize, len: i32, r0: i32, r1: i32): void {
  const rs = <usize>len << 2;
  for (let r = r0; r < r1; r++) softmax_row(x + <usize>r * rs, len);
}

/** In-place softmax of p[len]. */
export function softmax_row(p: usize, len: i32): void {
  if (len <= 0) return;
  // max
  let mv = f32x4.splat(-Infinity);
  let k = 0;
  for (; k + 4 <= len; k += 4) mv = f32x4.max(mv, v128.load(p + (<usize>k << 2)));
  let m = hmax(mv);
  for (; k < len; k++) m = max<f32>(m, load<f32>(p + (<usize>k << 2)));
  // exp(x - max), sum (two-level: f32x4 partials per 256 elements, then
  // added to a running f32x4, to keep long rows such as vocab logits accurate)
  const ms = f32x4.splat(m);
  let sv = f32x4.splat(0);
  k = 0;
  while (k + 4 <= len) {
    let part = f32x4.splat(0);
    const end = min<i32>(len, k + 256);
    for (; k + 4 <= end; k += 4) {
      const o = <usize>k << 2;
      const e = exp_f32x4(f32x4.sub(v128.load(p + o), ms));
      v128.store(p + o, e);
      part = f32x4.add(part, e);
    }
    sv = f32x4.add(sv, part);
  }
  let s = hsum(sv);
  for (; k < len; k++) {
    const o = <usize>k << 2;
    const e = exp_f32(load<f32>(p + o) - m);
    store<f32>(p + o, e);
    s += e;
  }
  // normalise
  const inv: f32 = <f32>1.0 / s;
  const iv = f32x4.splat(inv);
  k = 0;
  for (; k + 4 <= len; k += 4) {
    const o = <usize>k << 2;
    v128.store(p + o, f32x4.mul(v128.load(p + o), iv));
  }
  for (; k < len; k++) {
    const o = <usize>k << 2;
    store<f32>(p + o, load<f32>(p + o) * inv);
  }
}

// ---------------------------------------------------------------- element-wise

/** out[count] = silu(g) * u = g / (1 + exp(-g)) * u. */
export function swiglu(out: usize, g: usize, u: usize, count: i32): void {
  const one = f32x4.splat(1.0);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const o = <usize>i << 2;
    const gv = v128.load(g + o);
    const sg = f32x4.div(gv, f32x4.add(one, exp_f32x4(f32x4.neg(gv))));
    v128.store(out + o, f32x4.mul(sg, v128.load(u + o)));
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    const gv = load<f32>(g + o);
    store<f32>(out + o, gv / (<f32>1.0 + exp_f32(-gv)) * load<f32>(u + o));
  }
}

/** out[count] = a + b. */
export function add(out: usize, a: usize, b: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** out[count] = a * b. */
export function mul(out: usize, a: usize, b: usize, count: i32): void {
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) * load<f32>(b + o));
  }
}

/** y[count] += alpha * x (scale-add, e.g. summing weighted expert outputs). */
export function axpy(y: usize, x: usize, alpha: f32, count: i32): void {
  const av = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(av, v128.load(x + o))));
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** out[count] = alpha * x. */
export function scale(out: usize, x: usize, alpha: f32, count: i32): void {
  const av = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(av, v128.load(x + o)));
  }
  for (; i < count; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, alpha * load<f32>(x + o));
  }
}

// ---------------------------------------------------------------- rope

// sin / cos in f64 without tables (no data segment): Cody-Waite reduction by
// pi/2 (exact for |a| < 2^20 * pi/2), Taylor polynomials on |r| <= pi/4.
const PIO2_HI: f64 = 1.57079632673412561417e+00; // first 33 bits of pi/2
const PIO2_LO: f64 = 6.07710050650619224932e-11; // pi/2 - PIO2_HI
const TWO_OVER_PI: f64 = 0.63661977236758134308;

// @ts-ignore: decorator
@inline function sin_poly(r: f64): f64 {
  const z = r * r;
  // r - r^3/3! + r^5/5! - ... - r^15/15!
  let p: f64 = -1.0 / 1307674368000.0;
  p = p * z + 1.0 / 6227020800.0;
  p = p * z - 1.0 / 39916800.0;
  p = p * z + 1.0 / 362880.0;
  p = p * z - 1.0 / 5040.0;
  p = p * z + 1.0 / 120.0;
  p = p * z - 1.0 / 6.0;
  return r + r * z * p;
}

// @ts-ignore: decorator
@inline function cos_poly(r: f64): f64 {
  const z = r * r;
  // 1 - r^2/2! + r^4/4! - ... + r^16/16!
  let p: f64 = 1.0 / 20922789888000.0;
  p = p * z - 1.0 / 87178291200.0;
  p = p * z + 1.0 / 479001600.0;
  p = p * z - 1.0 / 3628800.0;
  p = p * z + 1.0 / 40320.0;
  p = p * z - 1.0 / 720.0;
  p = p * z + 1.0 / 24.0;
  p = p * z - 0.5;
  return 1.0 + z * p;
}

// sincos() results. Wasm globals live in the instance, not in linear memory,
// so every thread's instance has its own pair.
let rope_c: f64 = 0;
let rope_s: f64 = 0;

// @ts-ignore: decorator
@inline function sincos(a: f64): void {
  const k = nearest<f64>(a * TWO_OVER_PI);
  const r = (a - k * PIO2_HI) - k * PIO2_LO;
  const s = sin_poly(r);
  const c = cos_poly(r);
  const q = <i32>k & 3;
  rope_s = q == 0 ? s : q == 1 ? c : q == 2 ? -s : -c;
  rope_c = q == 0 ? c : q == 1 ? -s : q == 2 ? -c : s;
}

/**
 * NeoX rotary embedding in place. x[row][nHeads][headDim] f32, rows [r0, r1);
 * row i is at position p0 + i. invFreq[headDim/2] f32. For each head and
 * j < half = headDim/2, with a = f32(pos * invFreq[j]):
 *   (x[j], x[j+half]) <- (x[j] cos a - x[j+half] sin a, x[j+half] cos a + x[j] sin a)
 */
export function rope_neox(x: usize, invFreq: usize, nHeads: i32, headDim: i32, p0: i32, r0: i32, r1: i32): void {
  const half = headDim >> 1;
  const hs = <usize>headDim << 2; //         head stride
  const rs = <usize>nHeads * hs; //          row stride
  const ho = <usize>half << 2; //            offset of the second half
  for (let r = r0; r < r1; r++) {
    const pos = <f32>(p0 + r);
    const xr = x + <usize>r * rs;
    let j = 0;
    for (; j + 4 <= half; j += 4) {
      const f = v128.load(invFreq + (<usize>j << 2));
      const a = f32x4.mul(f32x4.splat(pos), f); // angles, rounded to f32
      sincos(<f64>f32x4.extract_lane(a, 0));
      let c = f32x4.splat(<f32>rope_c);
      let s = f32x4.splat(<f32>rope_s);
      sincos(<f64>f32x4.extract_lane(a, 1));
      c = f32x4.replace_lane(c, 1, <f32>rope_c);
      s = f32x4.replace_lane(s, 1, <f32>rope_s);
      sincos(<f64>f32x4.extract_lane(a, 2));
      c = f32x4.replace_lane(c, 2, <f32>rope_c);
      s = f32x4.replace_lane(s, 2, <f32>rope_s);
      sincos(<f64>f32x4.extract_lane(a, 3));
      c = f32x4.replace_lane(c, 3, <f32>rope_c);
      s = f32x4.replace_lane(s, 3, <f32>rope_s);
      let p = xr + (<usize>j << 2);
      for (let h = 0; h < nHeads; h++) {
        const u = v128.load(p);
        const v = v128.load(p + ho);
        v128.store(p, f32x4.sub(f32x4.mul(u, c), f32x4.mul(v, s)));
        v128.store(p + ho, f32x4.add(f32x4.mul(v, c), f32x4.mul(u, s)));
        p += hs;
      }
    }
    for (; j < half; j++) {
      sincos(<f64>(pos * load<f32>(invFreq + (<usize>j << 2))));
      const c = <f32>rope_c;
      const s = <f32>rope_s;
      let p = xr + (<usize>j << 2);
      for (let h = 0; h < nHeads; h++) {
        const u = load<f32>(p);
        const v = load<f32>(p + ho);
        store<f32>(p, u * c - v * s);
        store<f32>(p + ho, v * c + u * s);
        p += hs;
      }
    }
  }
}
