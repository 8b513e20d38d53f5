// Causal grouped-query attention for one layer, query heads [h0, h1).
//
//   q, out   [n][nHeads][headDim]      f32, query row i at position p0 + i
//   k, v     [>= p0+n][nKv][headDim]   KV cache, rows 0..p0+n-1 filled: f32 (attention),
//                                      f16 bits (attention_f16kv) or bf16 bits (attention_bf16kv),
//                                      read as f32
//   scratch  [h1 - h0][p0 + n + 1]     f32, per calling thread (scores, then 1/sum last)
//
// Query head h reads KV head h / (nHeads / nKv). Row i attends to positions
// 0..p0+i: softmax(q . k_t * scale) weighted sum of v_t, all in f32.
//
// The cache is walked position by position (each K / V row holds all KV
// heads contiguously), so it streams sequentially instead of striding by
// nKv * headDim per head; every K and V row is read once per query row for
// all heads in the range.

import { exp_f32, exp_f32x4, f16_to_f32, f16x4_to_f32x4, fmadd, hsum } from "./common";

/** Positions per block in the V pass: the block's V rows stay in L1/L2 while all heads use them. */
const TB: i32 = 8;

/** Element types of the KV cache. */
const KV_F32: i32 = 0;
const KV_F16: i32 = 1;
const KV_BF16: i32 = 2;

/**
 * Four elements of a K/V row at element e, as f32: f32 as stored, f16 bits converted exactly (7
 * operations), bf16 bits widened (a shift).
 */
// @ts-ignore: decorator
@inline function kv4(KV: i32, b: usize, e: i32): v128 {
  if (KV == KV_F16) return f16x4_to_f32x4(v128.load16x4_s(b + (<usize>e << 1)));
  if (KV == KV_BF16) return i32x4.shl(v128.load16x4_u(b + (<usize>e << 1)), 16);
  return v128.load(b + (<usize>e << 2));
}

/** One element of a K/V row. */
// @ts-ignore: decorator
@inline function kv1(KV: i32, b: usize, e: i32): f32 {
  if (KV == KV_F16) return f16_to_f32(load<u16>(b + (<usize>e << 1)));
  if (KV == KV_BF16) return reinterpret<f32>(<u32>load<u16>(b + (<usize>e << 1)) << 16);
  return load<f32>(b + (<usize>e << 2));
}

/** dot(a[len] f32, b[len] K row) in f32. */
// @ts-ignore: decorator
@inline function dot(KV: i32, a: usize, b: usize, len: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let k = 0;
  for (; k + 8 <= len; k += 8) {
    const o = <usize>k << 2;
    a0 = fmadd(v128.load(a + o), kv4(KV, b, k), a0);
    a1 = fmadd(v128.load(a + o, 16), kv4(KV, b, k + 4), a1);
  }
  for (; k + 4 <= len; k += 4) {
    a0 = fmadd(v128.load(a + (<usize>k << 2)), kv4(KV, b, k), a0);
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; k < len; k++) s += load<f32>(a + (<usize>k << 2)) * kv1(KV, b, k);
  return s;
}

/** In place p[t] = exp(p[t] - max), t < len; returns 1 / sum. */
// @ts-ignore: decorator
@inline function softmax_unnorm(p: usize, len: i32): f32 {
  let m: f32 = -Infinity;
  for (let t = 0; t < len; t++) m = max<f32>(m, load<f32>(p + (<usize>t << 2)));
  const mv = f32x4.splat(m);
  let sv = f32x4.splat(0);
  let t = 0;
  for (; t + 4 <= len; t += 4) {
    const o = <usize>t << 2;
    const e = exp_f32x4(f32x4.sub(v128.load(p + o), mv));
    v128.store(p + o, e);
    sv = f32x4.add(sv, e);
  }
  let sum = hsum(sv);
  for (; t < len; t++) {
    const o = <usize>t << 2;
    const e = exp_f32(load<f32>(p + o) - m);
    store<f32>(p + o, e);
    sum += e;
  }
  return <f32>1.0 / sum;
}

/**
 * o[headDim] (+)= sum over t in [t0, t1) of p[t] * v_t[headDim], v_t = vt0 + (t - t0) * vs.
 * first: start from zero instead of o.
 */
// @ts-ignore: decorator
@inline function accum_v(KV: i32, o: usize, p: usize, vt0: usize, vs: usize, t0: i32, t1: i32, headDim: i32, first: bool): void {
  let d = 0;
  for (; d + 8 <= headDim; d += 8) {
    const od = o + (<usize>d << 2);
    let a = first ? f32x4.splat(0) : v128.load(od);
    let b = first ? f32x4.splat(0) : v128.load(od, 16);
    let vt = vt0;
    for (let t = t0; t < t1; t++) {
      const s = v128.load32_splat(p + (<usize>t << 2));
      a = fmadd(s, kv4(KV, vt, d), a);
      b = fmadd(s, kv4(KV, vt, d + 4), b);
      vt += vs;
    }
    v128.store(od, a);
    v128.store(od, b, 16);
  }
  for (; d < headDim; d++) {
    const od = o + (<usize>d << 2);
    let a: f32 = first ? 0 : load<f32>(od);
    let vt = vt0;
    for (let t = t0; t < t1; t++) {
      a += load<f32>(p + (<usize>t << 2)) * kv1(KV, vt, d);
      vt += vs;
    }
    store<f32>(od, a);
  }
}

// @ts-ignore: decorator
@inline function attention_impl(
  KV: i32, out: usize, q: usize, k: usize, v: usize, scratch: usize,
  n: i32, p0: i32, nHeads: i32, nKv: i32, headDim: i32, scale: f32, h0: i32, h1: i32,
): void {
  const group = nHeads / nKv;
  const hs = <usize>headDim << 2; //     one f32 head vector (bytes): q / out
  const kh = <usize>headDim << (KV == KV_F32 ? 2 : 1); // one K / V head vector (bytes)
  const qs = <usize>nHeads * hs; //      q / out row stride
  const ks = <usize>nKv * kh; //         k / v position stride
  const ss = <usize>(p0 + n + 1) << 2; // scratch stride per head
  const invo = <usize>(p0 + n) << 2; //   offset of 1/sum in a head's scratch
  for (let i = 0; i < n; i++) {
    const len = p0 + i + 1;
    const qi = q + <usize>i * qs;
    const oi = out + <usize>i * qs;
    // 1. scores s[h][t] = q_h . k_t[g(h)] * scale, K streamed once
    let kt = k;
    for (let t = 0; t < len; t++) {
      const st = scratch + (<usize>t << 2);
      for (let h = h0; h < h1; h++) {
        const s = dot(KV, qi + <usize>h * hs, kt + <usize>(h / group) * kh, headDim) * scale;
        store<f32>(st + <usize>(h - h0) * ss, s);
      }
      kt += ks;
    }
    // 2. p = exp(s - max) per head, 1/sum kept after the scores
    for (let h = h0; h < h1; h++) {
      const sh = scratch + <usize>(h - h0) * ss;
      store<f32>(sh + invo, softmax_unnorm(sh, len));
    }
    // 3. out_h = sum_t p_h[t] v_t[g(h)] / sum, V streamed once in blocks of TB positions
    for (let t0 = 0; t0 < len; t0 += TB) {
      const t1 = min<i32>(len, t0 + TB);
      const vt0 = v + <usize>t0 * ks;
      for (let h = h0; h < h1; h++) {
        accum_v(KV, oi + <usize>h * hs, scratch + <usize>(h - h0) * ss, vt0 + <usize>(h / group) * kh, ks, t0, t1, headDim, t0 == 0);
      }
    }
    for (let h = h0; h < h1; h++) {
      const o = oi + <usize>h * hs;
      const inv = load<f32>(scratch + <usize>(h - h0) * ss + invo);
      const iv = f32x4.splat(inv);
      let d = 0;
      for (; d + 4 <= headDim; d += 4) v128.store(o + (<usize>d << 2), f32x4.mul(v128.load(o + (<usize>d << 2)), iv));
      for (; d < headDim; d++) store<f32>(o + (<usize>d << 2), load<f32>(o + (<usize>d << 2)) * inv);
    }
  }
}

export function attention(
  out: usize, q: usize, k: usize, v: usize, scratch: usize,
  n: i32, p0: i32, nHeads: i32, nKv: i32, headDim: i32, scale: f32, h0: i32, h1: i32,
): void {
  attention_impl(KV_F32, out, q, k, v, scratch, n, p0, nHeads, nKv, headDim, scale, h0, h1);
}

/** attention with an f16 KV cache (half the bytes to stream; values converted exactly to f32). */
export function attention_f16kv(
  out: usize, q: usize, k: usize, v: usize, scratch: usize,
  n: i32, p0: i32, nHeads: i32, nKv: i32, headDim: i32, scale: f32, h0: i32, h1: i32,
): void {
  attention_impl(KV_F16, out, q, k, v, scratch, n, p0, nHeads, nKv, headDim, scale, h0, h1);
}

/** attention with a bf16 KV cache (half the bytes, like f16, and widened to f32 by a shift). */
export function attention_bf16kv(
  out: usize, q: usize, k: usize, v: usize, scratch: usize,
  n: i32, p0: i32, nHeads: i32, nKv: i32, headDim: i32, scale: f32, h0: i32, h1: i32,
): void {
  attention_impl(KV_BF16, out, q, k, v, scratch, n, p0, nHeads, nKv, headDim, scale, h0, h1);
}
