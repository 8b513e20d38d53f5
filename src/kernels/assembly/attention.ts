// Causal grouped-query attention for one layer, query heads [h0, h1).
//
//   q, out   [n][nHeads][headDim]      f32, query row i at position p0 + i
//   k, v     [>= p0+n][nKv][headDim]   KV cache, rows 0..p0+n-1 filled: f32 (attention),
//                                      f16 bits (attention_f16kv) or bf16 bits (attention_bf16kv),
//                                      read as f32
//   scratch  [h1 - h0][p0 + n + 1][4]  f32, per calling thread (scores, then probabilities, 1/sum
//                                      last; attentionScratchBytes)
//
// Query head h reads KV head h / (nHeads / nKv). Row i attends to positions
// 0..p0+i: softmax(q . k_t * scale) weighted sum of v_t, all in f32.
//
// The cache is walked position by position (each K / V row holds all KV
// heads contiguously), so it streams sequentially instead of striding by
// nKv * headDim per head. Query vectors go four at a time, one f32 lane each
// (attention_lanes): four prompt rows of a head, or in generation four heads
// of a KV group, so each K / V row read serves four of them; generation with
// KV groups of 1 or 2 reads each K / V row once per query row for all heads in
// the range (attention_rows).

import { exp_f32, exp_f32x4, f16_to_f32, f16x4_to_f32x4, fmadd, hsum, hsum4 } from "./common";

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

/** Query rows per block in prefill: every K / V row read once serves four rows of each head. */
const RB: i32 = 4;
/** Positions per block of the V pass in prompt processing. */
const TB4: i32 = 32;

/**
 * One query row at a time (generation): scores for every head in the range as K streams by, then
 * softmax and the V pass.
 *   scratch [h1 - h0][p0 + n + 1] f32: scores then probabilities, 1/sum last
 */
// @ts-ignore: decorator
@inline function attention_rows(
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

/**
 * Scores of four query rows (q0..q3, one head) against one K row: lane r = q_r . k.
 */
// @ts-ignore: decorator
@inline function dot4(KV: i32, q0: usize, q1: usize, q2: usize, q3: usize, b: usize, len: i32): v128 {
  // One accumulator per row: with a second per row (eight chains) V8 spills two of them.
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let d = 0;
  for (; d + 4 <= len; d += 4) {
    const o = <usize>d << 2;
    const x = kv4(KV, b, d);
    a0 = fmadd(v128.load(q0 + o), x, a0);
    a1 = fmadd(v128.load(q1 + o), x, a1);
    a2 = fmadd(v128.load(q2 + o), x, a2);
    a3 = fmadd(v128.load(q3 + o), x, a3);
  }
  let s = hsum4(a0, a1, a2, a3);
  for (; d < len; d++) {
    const o = <usize>d << 2;
    const kd = f32x4.splat(kv1(KV, b, d));
    const qd = f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(q0 + o)),
      1, load<f32>(q1 + o)), 2, load<f32>(q2 + o)), 3, load<f32>(q3 + o));
    s = fmadd(qd, kd, s);
  }
  return s;
}

/**
 * Lanes of the set of query vectors that starts at head h: a block's rb rows of head h (ROWS), or
 * up to four heads h.. of one KV group (one row).
 */
// @ts-ignore: decorator
@inline function set_lanes(ROWS: bool, h: i32, h1: i32, group: i32, rb: i32): i32 {
  return ROWS ? rb : min<i32>(4, min<i32>(h1, (h / group + 1) * group) - h);
}

/**
 * Attention on four query vectors at a time, one f32 lane each, that share their K / V rows:
 * each K row read once scores all four, each V row read once adds into all four outputs.
 *   ROWS (prompt processing): the four are a block of four query rows of one head; a set per head.
 *   else (one row, generation): up to four heads of one KV group; a set per four heads.
 * A set of fewer than four repeats its last vector (same q, same length, same output), so the
 * loops always run four lanes; in a block of rows, they never read past the last row's positions.
 *   scratch [sets][p0 + n + 1][4] f32: lane r of position t is vector r's score, then its
 *           probability; position p0 + n holds the four 1/sum
 */
// @ts-ignore: decorator
@inline function attention_lanes(
  KV: i32, ROWS: bool, out: usize, q: usize, k: usize, v: usize, scratch: usize,
  n: i32, p0: i32, nHeads: i32, nKv: i32, headDim: i32, scale: f32, h0: i32, h1: i32,
): void {
  const group = nHeads / nKv;
  const hs = <usize>headDim << 2; //     one f32 head vector (bytes): q / out
  const kh = <usize>headDim << (KV == KV_F32 ? 2 : 1); // one K / V head vector (bytes)
  const qs = <usize>nHeads * hs; //      q / out row stride
  const ks = <usize>nKv * kh; //         k / v position stride
  const ls = ROWS ? qs : hs; //          lane stride: the next row, or the next head
  const ss = <usize>(p0 + n + 1) << 4; // scratch stride per set: four lanes per position
  const invo = <usize>(p0 + n) << 4; //   offset of the four 1/sum in a set's scratch
  const sv = f32x4.splat(scale);
  for (let i0 = 0; i0 < n; i0 += RB) {
    const rb = min<i32>(RB, n - i0); // rows of this block (1 without ROWS)
    const qi = q + <usize>i0 * qs, oi = out + <usize>i0 * qs;
    const first = p0 + i0 + 1; // positions every row of the block sees
    const last = p0 + i0 + rb; // positions the block's last row sees
    // lengths per lane, for masking the positions first .. last - 1 (rows only)
    const lens = i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(first),
      1, first + min<i32>(1, rb - 1)), 2, first + min<i32>(2, rb - 1)), 3, first + rb - 1);
    // 1. scores s[set][t][r] = q_r . k_t * scale (-inf where t is past row r), K streamed once
    let kt = k;
    for (let t = 0; t < last; t++) {
      let st = scratch + (<usize>t << 4);
      for (let h = h0; h < h1; st += ss) {
        const c = set_lanes(ROWS, h, h1, group, rb), qb = qi + <usize>h * hs;
        const l1 = <usize>min<i32>(1, c - 1) * ls, l2 = <usize>min<i32>(2, c - 1) * ls, l3 = <usize>(c - 1) * ls;
        let s = f32x4.mul(dot4(KV, qb, qb + l1, qb + l2, qb + l3, kt + <usize>(h / group) * kh, headDim), sv);
        if (t >= first) s = v128.bitselect(f32x4.splat(-Infinity), s, i32x4.le_s(lens, i32x4.splat(t)));
        v128.store(st, s);
        h += ROWS ? 1 : c;
      }
      kt += ks;
    }
    // 2. p = exp(s - max) per lane, 1/sum after the scores
    for (let h = h0, sh = scratch; h < h1; sh += ss) {
      let m = f32x4.splat(-Infinity);
      for (let t = 0; t < last; t++) m = f32x4.max(m, v128.load(sh + (<usize>t << 4)));
      let sum = f32x4.splat(0);
      for (let t = 0; t < last; t++) {
        const e = exp_f32x4(f32x4.sub(v128.load(sh + (<usize>t << 4)), m));
        v128.store(sh + (<usize>t << 4), e);
        sum = f32x4.add(sum, e);
      }
      v128.store(sh + invo, f32x4.div(f32x4.splat(1), sum));
      h += ROWS ? 1 : set_lanes(ROWS, h, h1, group, rb);
    }
    // 3. out_r = sum_t p[set][t][r] v_t / sum_r, V streamed once in blocks of TB4 positions
    for (let t0 = 0; t0 < last; t0 += TB4) {
      const t1 = min<i32>(last, t0 + TB4);
      const vt0 = v + <usize>t0 * ks;
      for (let h = h0, sh = scratch; h < h1; sh += ss) {
        const c = set_lanes(ROWS, h, h1, group, rb), ob = oi + <usize>h * hs;
        const l1 = <usize>min<i32>(1, c - 1) * ls, l2 = <usize>min<i32>(2, c - 1) * ls, l3 = <usize>(c - 1) * ls;
        accum_v4(KV, ob, ob + l1, ob + l2, ob + l3, sh, vt0 + <usize>(h / group) * kh, ks, t0, t1, headDim, t0 == 0);
        h += ROWS ? 1 : c;
      }
    }
    for (let h = h0, sh = scratch; h < h1; sh += ss) {
      const c = set_lanes(ROWS, h, h1, group, rb), ob = oi + <usize>h * hs;
      const inv = v128.load(sh + invo);
      // each distinct lane once (a repeated lane shares its output)
      scale_row(ob, f32x4.extract_lane(inv, 0), headDim);
      if (c > 1) scale_row(ob + ls, f32x4.extract_lane(inv, 1), headDim);
      if (c > 2) scale_row(ob + 2 * ls, f32x4.extract_lane(inv, 2), headDim);
      if (c > 3) scale_row(ob + 3 * ls, f32x4.extract_lane(inv, 3), headDim);
      h += ROWS ? 1 : c;
    }
  }
}

/**
 * o_r[headDim] (+)= sum over t in [t0, t1) of p[t][r] * v_t[headDim] for the four rows r of a block,
 * v_t = vt0 + (t - t0) * vs. first: start from zero instead of o_r. A repeated row (same o_r)
 * computes and stores the same values as the row it repeats.
 */
// @ts-ignore: decorator
@inline function accum_v4(KV: i32, o0: usize, o1: usize, o2: usize, o3: usize, p: usize, vt0: usize, vs: usize,
  t0: i32, t1: i32, headDim: i32, first: bool): void {
  let d = 0;
  // eight dimensions at a time: eight independent chains of fmadd, four broadcasts shared by two loads of V
  for (; d + 8 <= headDim; d += 8) {
    const od = <usize>d << 2;
    let a0 = first ? f32x4.splat(0) : v128.load(o0 + od), b0 = first ? f32x4.splat(0) : v128.load(o0 + od, 16);
    let a1 = first ? f32x4.splat(0) : v128.load(o1 + od), b1 = first ? f32x4.splat(0) : v128.load(o1 + od, 16);
    let a2 = first ? f32x4.splat(0) : v128.load(o2 + od), b2 = first ? f32x4.splat(0) : v128.load(o2 + od, 16);
    let a3 = first ? f32x4.splat(0) : v128.load(o3 + od), b3 = first ? f32x4.splat(0) : v128.load(o3 + od, 16);
    let vt = vt0;
    for (let t = t0; t < t1; t++) {
      const pt = p + (<usize>t << 4), x = kv4(KV, vt, d), y = kv4(KV, vt, d + 4);
      const p0 = v128.load32_splat(pt), p1 = v128.load32_splat(pt, 4), p2 = v128.load32_splat(pt, 8), p3 = v128.load32_splat(pt, 12);
      a0 = fmadd(p0, x, a0); b0 = fmadd(p0, y, b0);
      a1 = fmadd(p1, x, a1); b1 = fmadd(p1, y, b1);
      a2 = fmadd(p2, x, a2); b2 = fmadd(p2, y, b2);
      a3 = fmadd(p3, x, a3); b3 = fmadd(p3, y, b3);
      vt += vs;
    }
    v128.store(o0 + od, a0); v128.store(o0 + od, b0, 16);
    v128.store(o1 + od, a1); v128.store(o1 + od, b1, 16);
    v128.store(o2 + od, a2); v128.store(o2 + od, b2, 16);
    v128.store(o3 + od, a3); v128.store(o3 + od, b3, 16);
  }
  for (; d + 4 <= headDim; d += 4) {
    const od = <usize>d << 2;
    let a0 = first ? f32x4.splat(0) : v128.load(o0 + od);
    let a1 = first ? f32x4.splat(0) : v128.load(o1 + od);
    let a2 = first ? f32x4.splat(0) : v128.load(o2 + od);
    let a3 = first ? f32x4.splat(0) : v128.load(o3 + od);
    let vt = vt0;
    for (let t = t0; t < t1; t++) {
      const pt = p + (<usize>t << 4), x = kv4(KV, vt, d);
      a0 = fmadd(v128.load32_splat(pt), x, a0);
      a1 = fmadd(v128.load32_splat(pt, 4), x, a1);
      a2 = fmadd(v128.load32_splat(pt, 8), x, a2);
      a3 = fmadd(v128.load32_splat(pt, 12), x, a3);
      vt += vs;
    }
    v128.store(o0 + od, a0);
    v128.store(o1 + od, a1);
    v128.store(o2 + od, a2);
    v128.store(o3 + od, a3);
  }
  for (; d < headDim; d++) {
    const od = <usize>d << 2;
    let a = first ? f32x4.splat(0) : f32x4.replace_lane(f32x4.replace_lane(f32x4.replace_lane(f32x4.splat(load<f32>(o0 + od)),
      1, load<f32>(o1 + od)), 2, load<f32>(o2 + od)), 3, load<f32>(o3 + od));
    let vt = vt0;
    for (let t = t0; t < t1; t++) {
      a = fmadd(v128.load(p + (<usize>t << 4)), f32x4.splat(kv1(KV, vt, d)), a);
      vt += vs;
    }
    store<f32>(o0 + od, f32x4.extract_lane(a, 0));
    store<f32>(o1 + od, f32x4.extract_lane(a, 1));
    store<f32>(o2 + od, f32x4.extract_lane(a, 2));
    store<f32>(o3 + od, f32x4.extract_lane(a, 3));
  }
}

/** o[len] *= s. */
// @ts-ignore: decorator
@inline function scale_row(o: usize, s: f32, len: i32): void {
  const sv = f32x4.splat(s);
  let d = 0;
  for (; d + 4 <= len; d += 4) v128.store(o + (<usize>d << 2), f32x4.mul(v128.load(o + (<usize>d << 2)), sv));
  for (; d < len; d++) store<f32>(o + (<usize>d << 2), load<f32>(o + (<usize>d << 2)) * s);
}

// @ts-ignore: decorator
@inline function attention_impl(
  KV: i32, out: usize, q: usize, k: usize, v: usize, scratch: usize,
  n: i32, p0: i32, nHeads: i32, nKv: i32, headDim: i32, scale: f32, h0: i32, h1: i32,
): void {
  if (n > 1) attention_lanes(KV, true, out, q, k, v, scratch, n, p0, nHeads, nKv, headDim, scale, h0, h1);
  else if (nHeads >= 3 * nKv) attention_lanes(KV, false, out, q, k, v, scratch, n, p0, nHeads, nKv, headDim, scale, h0, h1);
  else attention_rows(KV, out, q, k, v, scratch, n, p0, nHeads, nKv, headDim, scale, h0, h1);
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
