// Causal grouped-query attention for one layer, query heads [h0, h1).
//
//   q, out   [n][nHeads][headDim]      f32, query row i at position p0 + i
//   k, v     [>= p0+n][nKv][headDim]   f32 KV cache, rows 0..p0+n-1 filled
//   scratch  [p0 + n]                  f32, per calling thread
//
// Query head h reads KV head h / (nHeads / nKv). Row i attends to positions
// 0..p0+i: softmax(q . k_t * scale) weighted sum of v_t, all in f32.

import { exp_f32, exp_f32x4, fmadd, hmax, hsum } from "./common";

/** dot(a[len], b[len]) f32. */
// @ts-ignore: decorator
@inline function dot(a: usize, b: usize, len: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= len; k += 16) {
    const o = <usize>k << 2;
    a0 = fmadd(v128.load(a + o), v128.load(b + o), a0);
    a1 = fmadd(v128.load(a + o, 16), v128.load(b + o, 16), a1);
    a2 = fmadd(v128.load(a + o, 32), v128.load(b + o, 32), a2);
    a3 = fmadd(v128.load(a + o, 48), v128.load(b + o, 48), a3);
  }
  for (; k + 4 <= len; k += 4) {
    const o = <usize>k << 2;
    a0 = fmadd(v128.load(a + o), v128.load(b + o), a0);
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; k < len; k++) s += load<f32>(a + (<usize>k << 2)) * load<f32>(b + (<usize>k << 2));
  return s;
}

export function attention(
  out: usize, q: usize, k: usize, v: usize, scratch: usize,
  n: i32, p0: i32, nHeads: i32, nKv: i32, headDim: i32, scale: f32, h0: i32, h1: i32,
): void {
  const group = nHeads / nKv;
  const hs = <usize>headDim << 2; //     one head vector (bytes)
  const qs = <usize>nHeads * hs; //      q / out row stride
  const ks = <usize>nKv * hs; //         k / v position stride
  for (let h = h0; h < h1; h++) {
    const g = h / group;
    const kh = k + <usize>g * hs;
    const vh = v + <usize>g * hs;
    for (let i = 0; i < n; i++) {
      const len = p0 + i + 1;
      const qi = q + <usize>i * qs + <usize>h * hs;
      const oi = out + <usize>i * qs + <usize>h * hs;
      // scores[t] = q . k_t * scale, and their max
      let m: f32 = -Infinity;
      let kt = kh;
      for (let t = 0; t < len; t++) {
        const s = dot(qi, kt, headDim) * scale;
        store<f32>(scratch + (<usize>t << 2), s);
        m = max<f32>(m, s);
        kt += ks;
      }
      // p[t] = exp(scores[t] - max), and their sum
      const mv = f32x4.splat(m);
      let sv = f32x4.splat(0);
      let t = 0;
      for (; t + 4 <= len; t += 4) {
        const o = <usize>t << 2;
        const e = exp_f32x4(f32x4.sub(v128.load(scratch + o), mv));
        v128.store(scratch + o, e);
        sv = f32x4.add(sv, e);
      }
      let sum = hsum(sv);
      for (; t < len; t++) {
        const o = <usize>t << 2;
        const e = exp_f32(load<f32>(scratch + o) - m);
        store<f32>(scratch + o, e);
        sum += e;
      }
      const inv = f32x4.splat(<f32>1.0 / sum);
      // out = sum_t p[t] v_t / sum, 16 / 4 / 1 columns at a time
      let d = 0;
      for (; d + 16 <= headDim; d += 16) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
        let vt = vh + (<usize>d << 2);
        for (let t = 0; t < len; t++) {
          const p = v128.load32_splat(scratch + (<usize>t << 2));
          a0 = fmadd(p, v128.load(vt), a0);
          a1 = fmadd(p, v128.load(vt, 16), a1);
          a2 = fmadd(p, v128.load(vt, 32), a2);
          a3 = fmadd(p, v128.load(vt, 48), a3);
          vt += ks;
        }
        const o = oi + (<usize>d << 2);
        v128.store(o, f32x4.mul(a0, inv));
        v128.store(o, f32x4.mul(a1, inv), 16);
        v128.store(o, f32x4.mul(a2, inv), 32);
        v128.store(o, f32x4.mul(a3, inv), 48);
      }
      for (; d + 4 <= headDim; d += 4) {
        let a0 = f32x4.splat(0);
        let vt = vh + (<usize>d << 2);
        for (let t = 0; t < len; t++) {
          a0 = fmadd(v128.load32_splat(scratch + (<usize>t << 2)), v128.load(vt), a0);
          vt += ks;
        }
        v128.store(oi + (<usize>d << 2), f32x4.mul(a0, inv));
      }
      for (; d < headDim; d++) {
        let a: f32 = 0;
        let vt = vh + (<usize>d << 2);
        for (let t = 0; t < len; t++) {
          a += load<f32>(scratch + (<usize>t << 2)) * load<f32>(vt);
          vt += ks;
        }
        store<f32>(oi + (<usize>d << 2), a * f32x4.extract_lane(inv, 0));
      }
    }
  }
}
