// Float-weight matmul: out[n][rows] = x[n][in] . W[rows][in]^T, for W in
// f32, bf16 or f16, f32 activations, f32 accumulation. Only W rows [r0, r1)
// are computed, so threads can split the output columns between them.
//
// One generic body per shape, specialised at compile time by the dtype
// constant `dt` (every helper is @inline, so the branches fold away).

import { f16_to_f32, f16x4_to_f32x4, fmadd, hsum, hsum4, store_quarters } from "./common";

const F32: i32 = 0;
const BF16: i32 = 1;
const F16: i32 = 2;
/**
 * bf16 weights against activations already split per 8 elements into even and odd halves
 * (split_x): the arithmetic of BF16, without its shuffles (n > 1 with a scratch).
 */
const BF16S: i32 = 3;

/** Four consecutive weights at p as f32x4 (f32, f16). */
// @ts-ignore: decorator
@inline function wvec(dt: i32, p: usize): v128 {
  if (dt == F32) return v128.load(p);
  return f16x4_to_f32x4(v128.load16x4_s(p));
}

/** One weight at p as f32. */
// @ts-ignore: decorator
@inline function wone(dt: i32, p: usize): f32 {
  if (dt == F32) return load<f32>(p);
  if (dt == BF16 || dt == BF16S) return reinterpret<f32>(<u32>load<u16>(p) << 16);
  return f16_to_f32(load<u16>(p));
}

/** log2 of the weight element size in bytes. */
// @ts-ignore: decorator
@inline function wshift(dt: i32): usize {
  return dt == F32 ? 2 : 1;
}

// One vector step covers STEP elements: 4 for f32 / f16; 8 for bf16, where a
// v128 of eight bf16 splits into even elements (i32x4.shl 16) and odd
// elements (and 0xffff0000) without any shuffle, and the activations are
// split the same way (the matvec: once per step, shared by all weight rows;
// n > 1: once per call, into the scratch). Every bf16 path thus adds the same
// products in the same order, so a row's outputs do not depend on n.

/** Elements per vector step. */
// @ts-ignore: decorator
@inline function step(dt: i32): i32 {
  return dt == BF16 || dt == BF16S ? 8 : 4;
}

/** First activation vector of the step at x: x[0..4), or bf16: x[0,2,4,6]. */
// @ts-ignore: decorator
@inline function xa(dt: i32, x: usize): v128 {
  if (dt == BF16) return i32x4.shuffle(v128.load(x), v128.load(x, 16), 0, 2, 4, 6);
  return v128.load(x);
}

/** Second activation vector of the step (bf16 only): x[1,3,5,7]. */
// @ts-ignore: decorator
@inline function xb(dt: i32, x: usize): v128 {
  if (dt == BF16) return i32x4.shuffle(v128.load(x), v128.load(x, 16), 1, 3, 5, 7);
  if (dt == BF16S) return v128.load(x, 16);
  return i32x4.splat(0);
}

/** a + one step of x . w for the weights at p. */
// @ts-ignore: decorator
@inline function wacc(dt: i32, p: usize, u: v128, v: v128, a: v128): v128 {
  if (dt == BF16 || dt == BF16S) {
    const q = v128.load(p);
    return fmadd(v, v128.and(q, i32x4.splat(0xffff0000)), fmadd(u, i32x4.shl(q, 16), a));
  }
  return fmadd(u, wvec(dt, p), a);
}

/**
 * a + one bf16 step against split activations at xs (even elements, then odd at xs + 16), the
 * weights' even elements e and odd elements d already widened: wacc's arithmetic, in its order.
 */
// @ts-ignore: decorator
@inline function wacc_split(e: v128, d: v128, xs: usize, a: v128): v128 {
  return fmadd(v128.load(xs, 16), d, fmadd(v128.load(xs), e, a));
}

// ---------------------------------------------------------------- micro-kernels

/**
 * dot(x[len], w[len]) for one weight row. Same lane order and rounding as
 * one lane of dot4x1, so results do not depend on how rows are split.
 */
// @ts-ignore: decorator
@inline function dot1x1(dt: i32, x: usize, w: usize, len: i32): f32 {
  const sh = wshift(dt);
  const st = step(dt);
  let a0 = f32x4.splat(0);
  let k = 0;
  for (; k + st <= len; k += st) {
    const xp = x + (<usize>k << 2);
    a0 = wacc(dt, w + (<usize>k << sh), xa(dt, xp), xb(dt, xp), a0);
  }
  const s = hsum(a0);
  if (k == len) return s;
  let t: f32 = 0;
  for (; k < len; k++) {
    t += load<f32>(x + (<usize>k << 2)) * wone(dt, w + (<usize>k << sh));
  }
  return s + t;
}

/**
 * One activation row against four weight rows w, w+ws, w+2ws, w+3ws:
 * returns [dot(x,w0), dot(x,w1), dot(x,w2), dot(x,w3)].
 */
// @ts-ignore: decorator
@inline function dot4x1(dt: i32, x: usize, w: usize, ws: usize, len: i32): v128 {
  const sh = wshift(dt);
  const st = step(dt);
  const w0 = w, w1 = w + ws, w2 = w + 2 * ws, w3 = w + 3 * ws;
  let a0 = f32x4.splat(0);
  let a1 = f32x4.splat(0);
  let a2 = f32x4.splat(0);
  let a3 = f32x4.splat(0);
  let k = 0;
  for (; k + st <= len; k += st) {
    const xp = x + (<usize>k << 2);
    const u = xa(dt, xp), v = xb(dt, xp);
    const o = <usize>k << sh;
    a0 = wacc(dt, w0 + o, u, v, a0);
    a1 = wacc(dt, w1 + o, u, v, a1);
    a2 = wacc(dt, w2 + o, u, v, a2);
    a3 = wacc(dt, w3 + o, u, v, a3);
  }
  let s = hsum4(a0, a1, a2, a3);
  if (k < len) {
    let t0: f32 = 0, t1: f32 = 0, t2: f32 = 0, t3: f32 = 0;
    for (; k < len; k++) {
      const xk = load<f32>(x + (<usize>k << 2));
      const o = <usize>k << sh;
      t0 += xk * wone(dt, w0 + o);
      t1 += xk * wone(dt, w1 + o);
      t2 += xk * wone(dt, w2 + o);
      t3 += xk * wone(dt, w3 + o);
    }
    let t = f32x4.splat(t0);
    t = f32x4.replace_lane(t, 1, t1);
    t = f32x4.replace_lane(t, 2, t2);
    t = f32x4.replace_lane(t, 3, t3);
    s = f32x4.add(s, t);
  }
  return s;
}

/**
 * Two activation rows (x, x+xs) against four weight rows (w + i*ws):
 * stores [dot(x_j, w_0..3)] to o0 (j = 0) and o1 (j = 1). Each weight vector
 * is decoded once for both rows. dt: F32, F16 (4-element steps) or BF16S
 * (8-element steps, activations split), each with dot4x1's lane order.
 */
// @ts-ignore: decorator
@inline function dot4x2(dt: i32, x: usize, xs: usize, w: usize, ws: usize, len: i32, o0: usize, o1: usize): void {
  const sh = wshift(dt);
  const w0 = w, w1 = w + ws, w2 = w + 2 * ws, w3 = w + 3 * ws;
  const x0 = x, x1 = x + xs;
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a02 = f32x4.splat(0), a03 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0), a12 = f32x4.splat(0), a13 = f32x4.splat(0);
  let k = 0;
  if (dt == BF16S) {
    const hi = i32x4.splat(0xffff0000);
    for (; k + 8 <= len; k += 8) {
      const xo = <usize>k << 2;
      const o = <usize>k << 1;
      // each weight vector split once, for both activation rows
      let q = v128.load(w0 + o), e = i32x4.shl(q, 16), d = v128.and(q, hi);
      a00 = wacc_split(e, d, x0 + xo, a00);
      a10 = wacc_split(e, d, x1 + xo, a10);
      q = v128.load(w1 + o); e = i32x4.shl(q, 16); d = v128.and(q, hi);
      a01 = wacc_split(e, d, x0 + xo, a01);
      a11 = wacc_split(e, d, x1 + xo, a11);
      q = v128.load(w2 + o); e = i32x4.shl(q, 16); d = v128.and(q, hi);
      a02 = wacc_split(e, d, x0 + xo, a02);
      a12 = wacc_split(e, d, x1 + xo, a12);
      q = v128.load(w3 + o); e = i32x4.shl(q, 16); d = v128.and(q, hi);
      a03 = wacc_split(e, d, x0 + xo, a03);
      a13 = wacc_split(e, d, x1 + xo, a13);
    }
  }
  for (; dt != BF16S && k + 4 <= len; k += 4) {
    const xo = <usize>k << 2;
    const o = <usize>k << sh;
    const u0 = v128.load(x0 + xo);
    const u1 = v128.load(x1 + xo);
    let wv = wvec(dt, w0 + o);
    a00 = fmadd(u0, wv, a00);
    a10 = fmadd(u1, wv, a10);
    wv = wvec(dt, w1 + o);
    a01 = fmadd(u0, wv, a01);
    a11 = fmadd(u1, wv, a11);
    wv = wvec(dt, w2 + o);
    a02 = fmadd(u0, wv, a02);
    a12 = fmadd(u1, wv, a12);
    wv = wvec(dt, w3 + o);
    a03 = fmadd(u0, wv, a03);
    a13 = fmadd(u1, wv, a13);
  }
  let s0 = hsum4(a00, a01, a02, a03);
  let s1 = hsum4(a10, a11, a12, a13);
  if (k < len) {
    let t00: f32 = 0, t01: f32 = 0, t02: f32 = 0, t03: f32 = 0;
    let t10: f32 = 0, t11: f32 = 0, t12: f32 = 0, t13: f32 = 0;
    for (; k < len; k++) {
      const u = load<f32>(x0 + (<usize>k << 2));
      const v = load<f32>(x1 + (<usize>k << 2));
      const o = <usize>k << sh;
      const q0 = wone(dt, w0 + o), q1 = wone(dt, w1 + o), q2 = wone(dt, w2 + o), q3 = wone(dt, w3 + o);
      t00 += u * q0; t01 += u * q1; t02 += u * q2; t03 += u * q3;
      t10 += v * q0; t11 += v * q1; t12 += v * q2; t13 += v * q3;
    }
    let t = f32x4.splat(t00);
    t = f32x4.replace_lane(t, 1, t01);
    t = f32x4.replace_lane(t, 2, t02);
    t = f32x4.replace_lane(t, 3, t03);
    s0 = f32x4.add(s0, t);
    t = f32x4.splat(t10);
    t = f32x4.replace_lane(t, 1, t11);
    t = f32x4.replace_lane(t, 2, t12);
    t = f32x4.replace_lane(t, 3, t13);
    s1 = f32x4.add(s1, t);
  }
  v128.store(o0, s0);
  v128.store(o1, s1);
}

// ---------------------------------------------------------------- drivers

/**
 * n == 1: out[rows] = W[rows][in] . x[in], rows [r0, r1). The range is cut
 * into four quarters and row i of every quarter is computed together: four
 * long sequential streams, which the hardware prefetchers follow much better
 * than four adjacent rows (measured: up to ~1.5-2x from DRAM for short rows).
 */
// @ts-ignore: decorator
@inline function matvec(dt: i32, out: usize, x: usize, w: usize, inDim: i32, r0: i32, r1: i32): void {
  const ws = <usize>inDim << wshift(dt);
  const q = (r1 - r0) >> 2;
  const qs = <usize>q * ws;
  for (let r = r0; r < r0 + q; r++) {
    store_quarters(out, r, q, dot4x1(dt, x, w + <usize>r * ws, qs, inDim));
  }
  for (let r = r0 + 4 * q; r < r1; r++) {
    store<f32>(out + (<usize>r << 2), dot1x1(dt, x, w + <usize>r * ws, inDim));
  }
}

/** Activation rows per pass: keep the x chunk (~256 KiB) in L2 while W streams. */
// @ts-ignore: decorator
@inline function xChunk(inDim: i32): i32 {
  const c = (262144 / max<i32>(inDim * 4, 1)) & ~1;
  return max<i32>(c, 2);
}

/** f32 / f16 (bf16: matmul_bf16). n > 1: 4 W rows x 2 x rows register tile; each W load feeds two rows. */
// @ts-ignore: decorator
@inline function matmul(dt: i32, out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  if (n == 1) {
    matvec(dt, out, x, w, inDim, r0, r1);
    return;
  }
  matmul_tiled(dt, out, x, w, n, inDim, rows, r0, r1);
}

/**
 * Rows [j0, j1) of x[.][inDim] to sx (same strides), each full block of 8 elements as its even
 * then its odd elements; the last inDim % 8 elements as they are.
 */
// @ts-ignore: decorator
@inline function split_x(sx: usize, x: usize, inDim: i32, j0: i32, j1: i32): void {
  const xs = <usize>inDim << 2;
  for (let j = j0; j < j1; j++) {
    const src = x + <usize>j * xs, dst = sx + <usize>(j - j0) * xs;
    let k = 0;
    for (; k + 8 <= inDim; k += 8) {
      const o = <usize>k << 2;
      const a = v128.load(src + o), b = v128.load(src + o, 16);
      v128.store(dst + o, i32x4.shuffle(a, b, 0, 2, 4, 6));
      v128.store(dst + o, i32x4.shuffle(a, b, 1, 3, 5, 7), 16);
    }
    for (; k < inDim; k++) store<f32>(dst + (<usize>k << 2), load<f32>(src + (<usize>k << 2)));
  }
}

/** bf16, n > 1: the activations split once per chunk into the scratch, then the tiles (BF16S). */
// @ts-ignore: decorator
@inline function matmul_bf16_split(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const jc = xChunk(inDim);
  for (let j0 = 0; j0 < n; j0 += jc) {
    const j1 = min<i32>(n, j0 + jc);
    split_x(scratch, x, inDim, j0, j1);
    matmul_tiled(BF16S, out + <usize>j0 * (<usize>rows << 2), scratch, w, j1 - j0, inDim, rows, r0, r1);
  }
}

/**
 * Bytes of scratch matmul_bf16 wants for n activation rows of inDim (0: none needed): room for
 * one chunk of split rows (xChunk rows, ~256 KiB). The bound grows with n and with inDim, so a
 * scratch sized for the widest matrix of an operation serves its narrower ones too.
 */
export function float_matmul_scratch_bytes(n: i32, inDim: i32): i32 {
  return n > 1 ? min<i32>(n * inDim * 4, max<i32>(262144, 8 * inDim)) : 0;
}

// @ts-ignore: decorator
@inline function matmul_tiled(dt: i32, out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  const ws = <usize>inDim << wshift(dt); // W row stride (bytes)
  const xs = <usize>inDim << 2; //          x row stride
  const os = <usize>rows << 2; //           out row stride
  const jc = xChunk(inDim);
  for (let j0 = 0; j0 < n; j0 += jc) {
    const j1 = min<i32>(n, j0 + jc);
    let r = r0;
    for (; r + 4 <= r1; r += 4) {
      const wr = w + <usize>r * ws;
      const oc = out + (<usize>r << 2);
      let j = j0;
      for (; j + 2 <= j1; j += 2) {
        dot4x2(dt, x + <usize>j * xs, xs, wr, ws, inDim, oc + <usize>j * os, oc + <usize>(j + 1) * os);
      }
      if (j < j1) v128.store(oc + <usize>j * os, dot4x1(dt, x + <usize>j * xs, wr, ws, inDim));
    }
    for (; r < r1; r++) {
      const wr = w + <usize>r * ws;
      for (let j = j0; j < j1; j++) {
        store<f32>(out + <usize>j * os + (<usize>r << 2), dot1x1(dt, x + <usize>j * xs, wr, inDim));
      }
    }
  }
}

// ---------------------------------------------------------------- exports

/** out[n][rows] f32 = x[n][in] f32 . W[rows][in] f32 ^T, W rows [r0, r1). */
export function matmul_f32(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  matmul(F32, out, x, w, n, inDim, rows, r0, r1);
}

/**
 * out[n][rows] f32 = x[n][in] f32 . W[rows][in] bf16 ^T, W rows [r0, r1). scratch: 0 or
 * float_matmul_scratch_bytes(n, in) bytes (16-aligned, per thread), which makes n > 1 faster;
 * the results are the same either way, and the same for a row whatever n is.
 */
export function matmul_bf16(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  if (n > 1 && scratch != 0) {
    matmul_bf16_split(out, x, w, n, inDim, rows, r0, r1, scratch);
    return;
  }
  if (n > 1) {
    // without a scratch: the matvec's arithmetic row by row (activations split on the fly)
    const xs = <usize>inDim << 2, os = <usize>rows << 2;
    for (let j = 0; j < n; j++) matvec(BF16, out + <usize>j * os, x + <usize>j * xs, w, inDim, r0, r1);
    return;
  }
  matvec(BF16, out, x, w, inDim, r0, r1);
}

/** out[n][rows] f32 = x[n][in] f32 . W[rows][in] f16 ^T, W rows [r0, r1). */
export function matmul_f16(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  matmul(F16, out, x, w, n, inDim, rows, r0, r1);
}
