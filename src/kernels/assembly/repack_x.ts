// Q8_0 activation rows repacked, per chunk of a matmul, into quads of rows in
// the layout each tile reads (one block of XB bytes per 32 values and quad;
// rows past the end of the chunk, up to a multiple of four, are zeros):
//   X_I16 (qtile16x2):      f32 d_x[4]; i16 x[4][32]; mins: f32 s_x[4]         XQ_BLOCK / XQM_BLOCK
//   X_I8  (qtile16x2, R8):  f32 d_x[4]; i32 8 * sum(x)[4] (mins: f32 s_x[4]);
//                           i8 x[4][32]                                        XQ8_BLOCK
// where s_x = d_x * sum(x) (the activation side of Q4_K / Q5_K's mins).

import { f16_to_f32, hsum_i32 } from "./common";

export const X_I16: i32 = 0;
export const X_I8: i32 = 1;

export const XQ_BLOCK: usize = 272;
export const XQM_BLOCK: usize = 288;
export const XQ8_BLOCK: usize = 160;

const Q8_0_BYTES: usize = 34;

/** Bytes per block of a quad in layout L. */
// @ts-ignore: decorator
@inline export function quad_block_bytes(L: i32, MINS: bool): usize {
  return L == X_I16 ? (MINS ? XQM_BLOCK : XQ_BLOCK) : XQ8_BLOCK;
}

/** Row l of a quad's block at d from the Q8_0 block at xr (zeros when !valid: xr is not read). */
// @ts-ignore: decorator
@inline function block_store(L: i32, MINS: bool, d: usize, l: usize, xr: usize, valid: bool): void {
  const z = i32x4.splat(0);
  const v0 = valid ? v128.load(xr, 2) : z, v1 = valid ? v128.load(xr, 18) : z;
  const dx: f32 = valid ? f16_to_f32(load<u16>(xr)) : 0;
  store<f32>(d + (l << 2), dx);
  // |sum| <= 32 * 128: exact in i16
  const sum = hsum_i32(i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extadd_pairwise_i8x16_s(v0), i16x8.extadd_pairwise_i8x16_s(v1))));
  if (L == X_I16) {
    const e = d + (l << 6);
    v128.store(e, i16x8.extend_low_i8x16_s(v0), 16);
    v128.store(e, i16x8.extend_high_i8x16_s(v0), 32);
    v128.store(e, i16x8.extend_low_i8x16_s(v1), 48);
    v128.store(e, i16x8.extend_high_i8x16_s(v1), 64);
    if (MINS) store<f32>(d + (l << 2), dx * <f32>sum, XQ_BLOCK);
  } else {
    if (MINS) store<f32>(d + (l << 2), dx * <f32>sum, 16);
    else store<i32>(d + (l << 2), sum << 3, 16);
    v128.store(d + (l << 5), v0, 32);
    v128.store(d + (l << 5), v1, 48);
  }
}

/** Activation rows [j0, j1) of xq (row stride xs, nb blocks) as quads of layout L at sx. */
// @ts-ignore: decorator
@inline export function repack_quads(L: i32, MINS: bool, sx: usize, xq: usize, xs: usize, nb: i32, j0: i32, j1: i32): void {
  const XB = quad_block_bytes(L, MINS);
  const qs = <usize>nb * XB;
  const jend = j0 + ((j1 - j0 + 3) & ~3);
  for (let j = j0; j < jend; j++) {
    const l = <usize>((j - j0) & 3);
    const valid = j < j1;
    let d = sx + <usize>((j - j0) >> 2) * qs;
    let xr = xq + <usize>j * xs;
    for (let b = 0; b < nb; b++) {
      block_store(L, MINS, d, l, xr, valid);
      d += XB;
      xr += Q8_0_BYTES;
    }
  }
}
