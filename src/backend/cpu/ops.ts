// The operations a shard (main thread or worker) runs on its own WebAssembly memory.
// The main thread decides every address and writes them into the shard's argument slots;
// this file only reads them and calls the kernels. Each shard owns a shard of the weights
// (rows of a matrix, a slice of an MLP's intermediate dimension, or whole experts).
import type { Kernels, WeightType } from '../../kernels/wasm.js';
import { ropeNeox } from '../host.js';

export const enum Op {
  /** Several matrices over one input: out_j[n, rows_j] = x[n, in] · W_jᵀ. */
  Matmuls = 1,
  /** Store K/V is done by the main thread; this is attention over the shard's heads. */
  Attention = 2,
  /** A SwiGLU slice: out[n, hidden] = down[:, slice] · (silu(gate[slice] x) * up[slice] x), a partial sum. */
  SwiGLU = 3,
  /** Whole experts over their tokens: out[n, hidden] = Σ w · expert(x[token]) for this shard's experts. */
  Experts = 4,
  /** A whole attention block over the shard's heads: q/k/v, rope, KV store, attention, its o_proj partial sum. */
  SelfAttention = 5,
}

/** Words per sequence segment in the SelfAttention op's table (u32 each): start, n, pos0, K cache, V cache. */
export const SEGMENT_WORDS = 5;

export const WEIGHT_TYPES: readonly WeightType[] = ['f32', 'bf16', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'];

/** True for block-quantized weights, whose matmul takes Q8_0-quantized activations. */
export function isQuantized(type: WeightType): boolean {
  return type === 'q8_0' || type === 'q4_0' || type === 'q4_k' || type === 'q5_k' || type === 'q6_k';
}

/** Words per expert task in the Experts op's table (u32 each). */
export const TASK_WORDS = 8;

/**
 * Argument slot of every op holding the shard's matmul scratch (0: none): the quantized kernels
 * repack several activation rows there. A share runs on one thread at a time, so one per shard.
 */
export const SCRATCH_SLOT = 63;

/** A matmul of m rows of x (f32 at x, or already quantized at xq) by a weight of `type`. */
function matmul(k: Kernels, type: WeightType, out: number, x: number, xq: number, w: number, m: number, inDim: number, rows: number, scratch: number): void {
  if (isQuantized(type)) k.matmul(type, out, xq, w, m, inDim, rows, 0, rows, m > 1 ? scratch : 0);
  else k.matmul(type, out, x, w, m, inDim, rows);
}

/**
 * One SwiGLU over m rows: y[m, hidden] = down · (silu(gate x) * up x).
 * x[m, hidden] f32 and, when the weights are quantized, xq its Q8_0 blocks (filled here).
 * g, u [m, inter] and aq (Q8_0 of g) are scratch.
 */
function swiglu(k: Kernels, type: WeightType, downType: WeightType, gate: number, up: number, down: number, hidden: number, inter: number,
  x: number, xq: number, g: number, u: number, aq: number, y: number, m: number, scratch: number): void {
  if (isQuantized(type)) k.quantizeQ8_0(xq, x, m * hidden);
  matmul(k, type, g, x, xq, gate, m, hidden, inter, scratch);
  matmul(k, type, u, x, xq, up, m, hidden, inter, scratch);
  k.exports.swiglu(g, g, u, m * inter);
  if (isQuantized(downType)) k.quantizeQ8_0(aq, g, m * inter);
  matmul(k, downType, y, g, aq, down, m, inter, hidden, scratch);
}

/** rows[n, dim] += bias[dim] for every row (bias 0: none). */
function addBias(k: Kernels, rows: number, bias: number, n: number, dim: number): void {
  if (bias === 0) return;
  for (let i = 0; i < n; i++) k.exports.add(rows + i * dim * 4, rows + i * dim * 4, bias, dim);
}

/**
 * One shard's share of an attention block: its heads' q/k/v rows, rope, their K/V appended to each
 * sequence's cache, attention, and o_proj over its heads' columns (a partial sum of the output).
 * a: n, hidden, x, xq, hLocal, kvLocal, headDim, ropeTheta, then (type, w, bias) for q, k, v,
 *    then o type, o w, buffers q, k, v, y, yq, attention scratch, out, then segment count, table,
 *    and 1 when the KV cache holds f16.
 */
function selfAttention(k: Kernels, a: Float64Array, scratch: number): void {
  const n = a[0]!, hidden = a[1]!, x = a[2]!, xq = a[3]!, hLocal = a[4]!, kvLocal = a[5]!, hd = a[6]!, theta = a[7]!;
  if (hLocal === 0) return;
  const qd = hLocal * hd, kvd = kvLocal * hd;
  const qType = WEIGHT_TYPES[a[8]!]!, kType = WEIGHT_TYPES[a[11]!]!, vType = WEIGHT_TYPES[a[14]!]!, oType = WEIGHT_TYPES[a[17]!]!;
  const q = a[19]!, kb = a[20]!, vb = a[21]!, y = a[22]!, yq = a[23]!, attnScratch = a[24]!, out = a[25]!, kvF16 = a[28] === 1;
  // q[n, hLocal, hd], k/v[n, kvLocal, hd] = x[n, hidden] · W_slice^T + bias_slice
  if (isQuantized(qType) || isQuantized(kType) || isQuantized(vType)) k.quantizeQ8_0(xq, x, n * hidden);
  matmul(k, qType, q, x, xq, a[9]!, n, hidden, qd, scratch);
  matmul(k, kType, kb, x, xq, a[12]!, n, hidden, kvd, scratch);
  matmul(k, vType, vb, x, xq, a[15]!, n, hidden, kvd, scratch);
  addBias(k, q, a[10]!, n, qd);
  addBias(k, kb, a[13]!, n, kvd);
  addBias(k, vb, a[16]!, n, kvd);
  const buf = k.memory.buffer as SharedArrayBuffer;
  const f32 = new Float32Array(buf);
  const segments = a[26]!, table = new Uint32Array(buf, a[27]!, segments * SEGMENT_WORDS);
  for (let s = 0; s < segments; s++) {
    const start = table[s * SEGMENT_WORDS]!, m = table[s * SEGMENT_WORDS + 1]!, pos0 = table[s * SEGMENT_WORDS + 2]!;
    const kCache = table[s * SEGMENT_WORDS + 3]!, vCache = table[s * SEGMENT_WORDS + 4]!;
    ropeNeox(new Float32Array(buf, q + start * qd * 4, m * qd), m, hLocal, hd, pos0, theta);
    ropeNeox(new Float32Array(buf, kb + start * kvd * 4, m * kvd), m, kvLocal, hd, pos0, theta);
    // cache[pos0 + i] = k[start + i] (rows of kvLocal heads are contiguous in both)
    if (kvF16) {
      k.exports.f32_to_f16_row(kCache + pos0 * kvd * 2, kb + start * kvd * 4, m * kvd);
      k.exports.f32_to_f16_row(vCache + pos0 * kvd * 2, vb + start * kvd * 4, m * kvd);
    } else {
      f32.copyWithin((kCache >>> 2) + pos0 * kvd, (kb >>> 2) + start * kvd, (kb >>> 2) + (start + m) * kvd);
      f32.copyWithin((vCache >>> 2) + pos0 * kvd, (vb >>> 2) + start * kvd, (vb >>> 2) + (start + m) * kvd);
    }
    const attend = kvF16 ? k.exports.attention_f16kv : k.exports.attention;
    attend(y + start * qd * 4, q + start * qd * 4, kCache, vCache, attnScratch, m, pos0, hLocal, kvLocal, hd, 1 / Math.sqrt(hd), 0, hLocal);
  }
  // out[n, hidden] = y[n, hLocal*hd] · Wo[:, heads]^T: this shard's part of o_proj (no bias)
  if (isQuantized(oType)) k.quantizeQ8_0(yq, y, n * qd);
  matmul(k, oType, out, y, yq, a[18]!, n, qd, hidden, scratch);
}

export function runOp(k: Kernels, op: Op, a: Float64Array): void {
  const scratch = a[SCRATCH_SLOT]!;
  switch (op) {
    case Op.Matmuls: {
      // a: n, inDim, x, xq, count, then (type, w, rows, out) per matrix
      const n = a[0]!, inDim = a[1]!, x = a[2]!, xq = a[3]!, count = a[4]!;
      let quantizedDone = false;
      for (let j = 0; j < count; j++) {
        const type = WEIGHT_TYPES[a[5 + 4 * j]!]!, w = a[6 + 4 * j]!, rows = a[7 + 4 * j]!, out = a[8 + 4 * j]!;
        if (rows === 0) continue;
        if (isQuantized(type) && !quantizedDone) {
          k.quantizeQ8_0(xq, x, n * inDim);
          quantizedDone = true;
        }
        matmul(k, type, out, x, xq, w, n, inDim, rows, scratch);
      }
      return;
    }
    case Op.Attention: {
      // a: out, q, kCache, vCache, scratch, n, pos0, heads, kvHeads, headDim, scale, f16 cache
      const heads = a[7]!;
      if (heads === 0) return;
      // a[11]: the cache holds f16
      const run = a[11] ? k.exports.attention_f16kv : k.exports.attention;
      run(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, heads, a[8]!, a[9]!, a[10]!, 0, heads);
      return;
    }
    case Op.SwiGLU: {
      // a: n, hidden, inter, gate/up type, gate, up, down, x, xq, g, u, aq, out, down type
      const inter = a[2]!;
      if (inter === 0) {
        new Float32Array((k.memory.buffer as SharedArrayBuffer), a[12]!, a[0]! * a[1]!).fill(0);
        return;
      }
      swiglu(k, WEIGHT_TYPES[a[3]!]!, WEIGHT_TYPES[a[13]!]!, a[4]!, a[5]!, a[6]!, a[1]!, inter, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, a[12]!, a[0]!, scratch);
      return;
    }
    case Op.Experts: {
      // a: n, hidden, x, out, table, tasks, tokens, weights, xe, xeq, g, u, aq, ye
      // table[task]: gate/up type, gate, up, down, inter, count, first (index into tokens/weights), down type
      const n = a[0]!, hidden = a[1]!, x = a[2]!, out = a[3]!, tasks = a[5]!;
      const xe = a[8]!, xeq = a[9]!, g = a[10]!, u = a[11]!, aq = a[12]!, ye = a[13]!;
      const buf = k.memory.buffer as SharedArrayBuffer;
      const f32 = new Float32Array(buf);
      const table = new Uint32Array(buf, a[4]!, tasks * TASK_WORDS);
      const tokens = new Uint32Array(buf, a[6]!);
      const weights = new Float32Array(buf, a[7]!);
      f32.fill(0, out / 4, out / 4 + n * hidden);
      for (let t = 0; t < tasks; t++) {
        const o = t * TASK_WORDS;
        const type = WEIGHT_TYPES[table[o]!]!, downType = WEIGHT_TYPES[table[o + 7]!]!;
        const inter = table[o + 4]!, count = table[o + 5]!, first = table[o + 6]!;
        // Gather this expert's tokens: xe[count, hidden]
        for (let i = 0; i < count; i++) {
          const src = x / 4 + tokens[first + i]! * hidden;
          f32.copyWithin(xe / 4 + i * hidden, src, src + hidden);
        }
        swiglu(k, type, downType, table[o + 1]!, table[o + 2]!, table[o + 3]!, hidden, inter, xe, xeq, g, u, aq, ye, count, scratch);
        // Scatter: out[token] += weight * ye[i]
        for (let i = 0; i < count; i++) {
          k.exports.axpy(out + tokens[first + i]! * hidden * 4, ye + i * hidden * 4, weights[first + i]!, hidden);
        }
      }
      return;
    }
    case Op.SelfAttention:
      selfAttention(k, a, scratch);
      return;
    default:
      throw new Error(`unknown op ${op}`);
  }
}
