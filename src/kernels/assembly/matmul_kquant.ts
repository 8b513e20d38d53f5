// The matmul drivers of the K-quant weights (Q4_K, Q5_K, Q6_K; super-blocks of 256; see
// matmul_q4k.ts and matmul_q56k.ts for each block's dots), W rows [r0, r1):
//   integer path:  out[n][rows] f32 = xq[n][in/32] Q8_0 . W[rows][in/256] ^T
//   f32 path:      out[n][rows] f32 = x[n][in] f32 . dequant(W[rows][in/256]) ^T
// K is a compile-time constant at each call, so every export inlines its own type's dot.

import { hsum, store_quarters } from "./common";
import { qtiles16, x16Chunk } from "./matmul_quant";
import { q4k_dot4, q4k_sb_f32 } from "./matmul_q4k";
import { q5k_dot4, q5k_sb_f32, q6k_dot4, q6k_sb_f32 } from "./matmul_q56k";

const Q4_K: i32 = 4;
const Q5_K: i32 = 5;
const Q6_K: i32 = 6;
const Q8_0_BYTES: usize = 34;

/** Smallest n that takes the tiles (with a scratch): below it the weight repack costs more than it saves. */
const TILES16_MIN_N_K: i32 = 3;

/** Bytes per 256-value super-block of type K. */
// @ts-ignore: decorator
@inline function superblock_bytes(K: i32): usize {
  return K == Q4_K ? 144 : K == Q5_K ? 176 : 210;
}

/** Dots of one activation row with nr (1..4) weight rows w + i*ws, nsb super-blocks: lanes 0..nr-1. */
// @ts-ignore: decorator
@inline function dot4(K: i32, xq: usize, w: usize, ws: usize, nsb: i32, nr: i32): v128 {
  return K == Q4_K ? q4k_dot4(xq, w, ws, nsb, nr) : K == Q5_K ? q5k_dot4(xq, w, ws, nsb, nr) : q6k_dot4(xq, w, ws, nsb, nr);
}

// @ts-ignore: decorator
@inline function kquant_matmul(K: i32, out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32, scratch: usize): void {
  const nsb = inDim >> 8;
  const ws = <usize>nsb * superblock_bytes(K); // W row stride
  const xs = <usize>nsb * 8 * Q8_0_BYTES; //       xq row stride
  const os = <usize>rows << 2; //                  out row stride
  if (n == 1) {
    // matvec: rows of the four quarters of [r0, r1) together (four sequential streams)
    const q = (r1 - r0) >> 2;
    const qs = <usize>q * ws;
    for (let r = r0; r < r0 + q; r++) store_quarters(out, r, q, dot4(K, xq, w + <usize>r * ws, qs, nsb, 4));
    for (let r = r0 + 4 * q; r < r1; r++) store<f32>(out + (<usize>r << 2), f32x4.extract_lane(dot4(K, xq, w + <usize>r * ws, ws, nsb, 1), 0));
    return;
  }
  if (scratch != 0 && n >= TILES16_MIN_N_K) {
    // 16 x 2 tiles on the rows repacked to 32-value blocks (see tiles16.ts)
    const jt = x16Chunk(n, nsb << 3);
    for (let j0 = 0; j0 < n; j0 += jt) qtiles16(K, out, os, xq, xs, w, ws, nsb << 3, r0, r1, j0, min<i32>(n, j0 + jt), scratch);
    return;
  }
  const jc = max<i32>(262144 / max<i32>(<i32>xs, 1), 1); // activation rows per L2-sized pass
  for (let j0 = 0; j0 < n; j0 += jc) {
    const j1 = min<i32>(n, j0 + jc);
    let r = r0;
    for (; r + 4 <= r1; r += 4) {
      for (let j = j0; j < j1; j++) {
        v128.store(out + <usize>j * os + (<usize>r << 2), dot4(K, xq + <usize>j * xs, w + <usize>r * ws, ws, nsb, 4));
      }
    }
    for (; r < r1; r++) {
      for (let j = j0; j < j1; j++) {
        store<f32>(out + <usize>j * os + (<usize>r << 2), f32x4.extract_lane(dot4(K, xq + <usize>j * xs, w + <usize>r * ws, ws, nsb, 1), 0));
      }
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
