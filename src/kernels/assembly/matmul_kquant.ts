// The matmul drivers of the K-quant weights (Q4_K, Q5_K, Q6_K; super-blocks of 256), W rows [r0, r1):
//   n < 6 or no scratch:  out[n][rows] f32 = xk[n][in/256] Q8_K . W[rows][in/256] ^T  (dot_q8k.ts)
//   n >= 6 with scratch:  out[n][rows] f32 = xq[n][in/32] Q8_0 . W^T, on 16 x 2 tiles   (tiles16.ts)
//   f32 path:             out[n][rows] f32 = x[n][in] f32 . dequant(W[rows][in/256]) ^T
// K is a compile-time constant at each call, so every export inlines its own type's dot.

import { hsum, hsum4, store_quarters } from "./common";
import { Q8_K_BYTES } from "./convert";
import { act_e, act_o, bsums32, q45k_chunk, q45k_finish, q6k_finish, q6k_pair } from "./dot_q8k";
import { qtiles16, x16Chunk } from "./matmul_quant";
import { q4k_sb_f32 } from "./matmul_q4k";
import { q5k_sb_f32, q6k_sb_f32 } from "./matmul_q56k";

const Q4_K: i32 = 4;
const Q5_K: i32 = 5;
const Q6_K: i32 = 6;
const Q8_0_BYTES: usize = 34;

/**
 * Smallest n that takes the tiles (with a scratch): below it the Q8_K matvec once per activation row
 * costs less (one thread, 8192 x 4096 from DRAM: the tiles win from n = 5-8 by type and build).
 */
const TILES16_MIN_N_K: i32 = 6;

/** True when a K-quant matmul of n activation rows reads Q8_K activations (else Q8_0 ones, for the tiles). */
export function kquant_takes_q8_k(n: i32, scratch: usize): bool {
  return scratch == 0 || n < TILES16_MIN_N_K;
}

/** Bytes per 256-value super-block of type K. */
// @ts-ignore: decorator
@inline function superblock_bytes(K: i32): usize {
  return K == Q4_K ? 144 : K == Q5_K ? 176 : 210;
}

/** One Q8_K activation row xk against nr (1..4) weight rows w + i*ws, nsb super-blocks: lanes 0..nr-1. */
// @ts-ignore: decorator
@inline function dot4(K: i32, xk: usize, w: usize, ws: usize, nsb: i32, nr: i32): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let wb = w;
  let xb = xk;
  for (let sb = 0; sb < nsb; sb++) {
    if (K == Q6_K) {
      // four rows at once: each pair of quarters' activations loaded (and split) once
      let i0 = i32x4.splat(0), i1 = i32x4.splat(0), i2 = i32x4.splat(0), i3 = i32x4.splat(0);
      for (let j = 0; j < 4; j++) {
        const h = j >> 1, k = j & 1;
        const x = xb + 4 + (<usize>h << 7) + (<usize>k << 5);
        const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 64), v3 = v128.load(x, 80);
        const e0 = act_e(v0), o0 = act_o(v0), e1 = act_e(v1), o1 = act_o(v1);
        const e2 = act_e(v2), o2 = act_o(v2), e3 = act_e(v3), o3 = act_o(v3);
        i0 = i32x4.add(i0, q6k_pair(wb, h, k, e0, o0, e1, o1, e2, o2, e3, o3));
        if (nr > 1) i1 = i32x4.add(i1, q6k_pair(wb + ws, h, k, e0, o0, e1, o1, e2, o2, e3, o3));
        if (nr > 2) i2 = i32x4.add(i2, q6k_pair(wb + 2 * ws, h, k, e0, o0, e1, o1, e2, o2, e3, o3));
        if (nr > 3) i3 = i32x4.add(i3, q6k_pair(wb + 3 * ws, h, k, e0, o0, e1, o1, e2, o2, e3, o3));
      }
      a0 = q6k_finish(wb, xb, i0, a0);
      if (nr > 1) a1 = q6k_finish(wb + ws, xb, i1, a1);
      if (nr > 2) a2 = q6k_finish(wb + 2 * ws, xb, i2, a2);
      if (nr > 3) a3 = q6k_finish(wb + 3 * ws, xb, i3, a3);
    } else {
      // four rows at once: each chunk's activations loaded (and split) once
      let i0 = i32x4.splat(0), i1 = i32x4.splat(0), i2 = i32x4.splat(0), i3 = i32x4.splat(0);
      for (let p = 0; p < 4; p++) {
        const x = xb + 4 + (<usize>p << 6);
        const v0 = v128.load(x), v1 = v128.load(x, 16), v2 = v128.load(x, 32), v3 = v128.load(x, 48);
        const e0 = act_e(v0), o0 = act_o(v0), e1 = act_e(v1), o1 = act_o(v1);
        const e2 = act_e(v2), o2 = act_o(v2), e3 = act_e(v3), o3 = act_o(v3);
        i0 = i32x4.add(i0, q45k_chunk(K, wb, p, e0, o0, e1, o1, e2, o2, e3, o3));
        if (nr > 1) i1 = i32x4.add(i1, q45k_chunk(K, wb + ws, p, e0, o0, e1, o1, e2, o2, e3, o3));
        if (nr > 2) i2 = i32x4.add(i2, q45k_chunk(K, wb + 2 * ws, p, e0, o0, e1, o1, e2, o2, e3, o3));
        if (nr > 3) i3 = i32x4.add(i3, q45k_chunk(K, wb + 3 * ws, p, e0, o0, e1, o1, e2, o2, e3, o3));
      }
      const bs = bsums32(xb);
      a0 = q45k_finish(wb, xb, i0, bs, a0);
      if (nr > 1) a1 = q45k_finish(wb + ws, xb, i1, bs, a1);
      if (nr > 2) a2 = q45k_finish(wb + 2 * ws, xb, i2, bs, a2);
      if (nr > 3) a3 = q45k_finish(wb + 3 * ws, xb, i3, bs, a3);
    }
    wb += superblock_bytes(K);
    xb += Q8_K_BYTES;
  }
  return hsum4(a0, a1, a2, a3);
}

// @ts-ignore: decorator
@inline function kquant_matmul(K: i32, out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const nsb = inDim >> 8;
  const ws = <usize>nsb * superblock_bytes(K); // W row stride
  const os = <usize>rows << 2; //                  out row stride
  if (!kquant_takes_q8_k(n, scratch)) {
    // 16 x 2 tiles on the rows repacked to 32-value blocks (see tiles16.ts), Q8_0 activations
    const jt = x16Chunk(n, nsb << 3);
    for (let j0 = 0; j0 < n; j0 += jt) qtiles16(K, out, os, x, <usize>nsb * 8 * Q8_0_BYTES, w, ws, nsb << 3, r0, r1, j0, min<i32>(n, j0 + jt), scratch);
    return;
  }
  const xs = <usize>nsb * Q8_K_BYTES; // x row stride (Q8_K)
  // rows of the four quarters of [r0, r1) together (four sequential streams), each against every
  // activation row of a pass (the four rows' blocks then come from L1), passes that stay in L2
  const q = (r1 - r0) >> 2;
  const qs = <usize>q * ws;
  const jc = max<i32>(262144 / max<i32>(<i32>xs, 1), 1);
  for (let j0 = 0; j0 < n; j0 += jc) {
    const j1 = min<i32>(n, j0 + jc);
    for (let r = r0; r < r0 + q; r++) {
      for (let j = j0; j < j1; j++) store_quarters(out + <usize>j * os, r, q, dot4(K, x + <usize>j * xs, w + <usize>r * ws, qs, nsb, 4));
    }
    for (let r = r0 + 4 * q; r < r1; r++) {
      for (let j = j0; j < j1; j++) store<f32>(out + <usize>j * os + (<usize>r << 2), f32x4.extract_lane(dot4(K, x + <usize>j * xs, w + <usize>r * ws, ws, nsb, 1), 0));
    }
  }
}

export function matmul_q4_k(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  kquant_matmul(Q4_K, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

export function matmul_q5_k(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  kquant_matmul(Q5_K, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

export function matmul_q6_k(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  kquant_matmul(Q6_K, out, xq, w, n, inDim, rows, r0, r1, scratch);
}

/** acc + the f32 dot of 256 activations at xb with the super-block of type K at wb. */
// @ts-ignore: decorator
@inline function sb_f32(K: i32, wb: usize, xb: usize, acc: v128): v128 {
  return K == Q4_K ? q4k_sb_f32(wb, xb, acc) : K == Q5_K ? q5k_sb_f32(wb, xb, acc) : q6k_sb_f32(wb, xb, acc);
}

// @ts-ignore: decorator
@inline function kquant_matmul_f32(K: i32, out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  const nsb = inDim >> 8;
  const ws = <usize>nsb * superblock_bytes(K);
  const xs = <usize>inDim << 2;
  const os = <usize>rows << 2;
  for (let r = r0; r < r1; r++) {
    const wr = w + <usize>r * ws;
    for (let j = 0; j < n; j++) {
      let acc = f32x4.splat(0);
      let wb = wr;
      let xb = x + <usize>j * xs;
      for (let sb = 0; sb < nsb; sb++) {
        acc = sb_f32(K, wb, xb, acc);
        wb += superblock_bytes(K);
        xb += 1024;
      }
      store<f32>(out + <usize>j * os + (<usize>r << 2), hsum(acc));
    }
  }
}

export function matmul_q4_k_f32(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  kquant_matmul_f32(Q4_K, out, x, w, n, inDim, rows, r0, r1);
}

export function matmul_q5_k_f32(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  kquant_matmul_f32(Q5_K, out, x, w, n, inDim, rows, r0, r1);
}

export function matmul_q6_k_f32(out: usize, x: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  kquant_matmul_f32(Q6_K, out, x, w, n, inDim, rows, r0, r1);
}
