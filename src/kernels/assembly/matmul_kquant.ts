// The integer-path matmul driver of the K-quant weights (Q4_K, Q5_K, Q6_K; super-blocks of 256
// with Q8_0 activations, see matmul_q4k.ts and matmul_q56k.ts for each block's dot):
// out[n][rows] f32 = xq[n][in/32] Q8_0 . W[rows][in/256] ^T, W rows [r0, r1).
// K is a compile-time constant at each call, so every export inlines its own type's dot.

import { store_quarters } from "./common";
import { q4k_dot4 } from "./matmul_q4k";
import { q5k_dot4, q6k_dot4 } from "./matmul_q56k";

const Q4_K: i32 = 4;
const Q5_K: i32 = 5;
const Q6_K: i32 = 6;
const Q8_0_BYTES: usize = 34;

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
@inline function kquant_matmul(K: i32, out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
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

export function matmul_q4_k(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  kquant_matmul(Q4_K, out, xq, w, n, inDim, rows, r0, r1);
}

export function matmul_q5_k(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  kquant_matmul(Q5_K, out, xq, w, n, inDim, rows, r0, r1);
}

export function matmul_q6_k(out: usize, xq: usize, w: usize, n: i32, inDim: i32, rows: i32, r0: i32, r1: i32): void {
  kquant_matmul(Q6_K, out, xq, w, n, inDim, rows, r0, r1);
}
