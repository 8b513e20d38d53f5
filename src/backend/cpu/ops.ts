// The operations a shard (main thread or worker) runs on its own WebAssembly memory.
// The main thread decides every address and writes them into the shard's argument slots;
// this file only reads them and calls the kernels. Each shard owns a shard of the weights
// (rows of a matrix, a slice of an MLP's intermediate dimension, or whole experts).
// A job runs in phases (see pool.ts), and the big matrix products of a phase are cut into chunks
// of rows that any thread may claim: the arguments say what the whole share does, `unit` which
// chunk of which phase to run now.
import { activationType, Q8_K_BYTES, type Kernels, type PackedWeightType, type QuantWeightType, type WeightType } from '../../kernels/wasm.js';
import { softmaxRows, topKInto } from '../../models/layers/moe.js';
import { ropeNeox } from '../host.js';
import type { Unit } from './pool.js';

/**
 * What a thread sees of a job beyond its share: every shard's kernels (on its memory) and every
 * share's arguments, whose second block of 64 slots a decoder layer gives its feed-forward.
 */
export interface JobContext {
  kernels: readonly Kernels[];
  args: readonly Float64Array[];
  /** The same kernels over the second block of every share's arguments (absent in that context itself). */
  ffn?: JobContext;
}

/** The context over the argument views of every share (the pool's). */
export function jobContext(kernels: readonly Kernels[], args: readonly Float64Array[]): JobContext {
  return { kernels, args, ffn: { kernels, args: args.map((a) => a.subarray(FFN_ARGS)) } };
}

/** First argument slot of a decoder layer's feed-forward block (its own slots 0..63, as its op reads them). */
export const FFN_ARGS = 64;

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
  /** A MoGE layer: the shard's router rows, then it routes its own groups and runs their experts (a partial sum). */
  Moge = 6,
  /** A whole decoder layer in generation: residual and norms, SelfAttention, then Moge or SwiGLU (see decoderLayer). */
  DecoderLayer = 7,
}

/** Words per expert in a shard's MoGE directory (u32 each): gate/up type, gate, up, down, inter (0: not on this shard), down type. */
export const DIR_WORDS = 6;

/** Words per sequence segment in the SelfAttention op's table (u32 each): start, n, pos0, K cache, V cache. */
export const SEGMENT_WORDS = 5;

export const WEIGHT_TYPES: readonly WeightType[] = ['f32', 'bf16', 'f16', 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k', 'q5_0', 'q4_k_x4', 'q8_0_x4', 'q5_0_x4', 'q4_0_x4'];

/** True for block-quantized weights, whose matmul takes quantized activations (Q8_0 or Q8_K, see activationType). */
export function isQuantized(type: WeightType): type is QuantWeightType | PackedWeightType {
  return type !== 'f32' && type !== 'bf16' && type !== 'f16';
}

/**
 * Words per expert task in the Experts op's table (u32 each): gate/up type, gate, up, down, inter,
 * count, first row (into tokens / weights, and into xe / ye in chunked mode), down type, and in
 * chunked mode the task's first element in g / u.
 */
export const TASK_WORDS = 9;

/**
 * Argument slots of every op locating the matmul scratch in the shard's memory (0: none): the
 * quantized kernels repack several activation rows there. Two threads may run chunks of one share
 * at once, so each thread has its own: SCRATCH_SLOT holds the first, SCRATCH_BYTES_SLOT the size of each.
 */
export const SCRATCH_SLOT = 63;
export const SCRATCH_BYTES_SLOT = 62;

/**
 * Argument slots of the Q8_K buffers beside an op's Q8_0 ones (the K-quants' dot products read Q8_K
 * activations, see activationType): XK_SLOT beside the input's (xq / xeq), AK_SLOT beside the
 * second quantized input's (attention's yq, the MLPs' aq).
 */
export const XK_SLOT = 61;
export const AK_SLOT = 60;

/**
 * Bytes per 32 activations of a Q8_K buffer: 37 >= Q8_K_BYTES / 8, so that a run of rows starting at any
 * element offset e (a multiple of 32) can have its Q8_K blocks at e / 32 * 37 without overlapping the
 * next run (the experts' down-projection inputs, one run per expert).
 */
export const Q8_K_BYTES_PER_32 = 37;

/** Bytes of a Q8_K buffer for `count` activations (runs of rows laid out as above), with slack. */
export function q8kBytes(count: number): number {
  return Math.ceil(count / 32) * Q8_K_BYTES_PER_32 + 64;
}

/** Row boundaries of chunks fall on multiples of this: the quantized matmul tiles are 16 rows. */
export const ROW_ALIGN = 16;

/** Boundary p of [0, total) cut into `parts` contiguous ranges on multiples of `align` (part p is [cut(p), cut(p + 1))). */
export function cut(total: number, parts: number, p: number, align = 1): number {
  return Math.min(total, Math.floor((Math.ceil(total / align) * p) / parts) * align);
}

/** This thread's matmul scratch for the share whose arguments are a. */
function scratchOf(a: Float64Array, unit: Unit): number {
  return a[SCRATCH_SLOT] === 0 ? 0 : a[SCRATCH_SLOT]! + unit.participant * a[SCRATCH_BYTES_SLOT]!;
}

/**
 * Rows [r0, r1) of a matmul of m rows of x by a weight of `type` with `rows` rows: f32 at x, or for
 * quantized weights already quantized at xq (Q8_0) or xk (Q8_K), whichever the type reads.
 */
function matmul(k: Kernels, type: WeightType, out: number, x: number, xq: number, xk: number, w: number, m: number, inDim: number,
  rows: number, r0: number, r1: number, scratch: number): void {
  if (r1 <= r0) return;
  const s = m > 1 ? scratch : 0;
  if (!isQuantized(type)) k.matmul(type, out, x, w, m, inDim, rows, r0, r1, s);
  else k.matmul(type, out, activationType(type, m, s !== 0) === 'q8_k' ? xk : xq, w, m, inDim, rows, r0, r1, s);
}

/** Whether a matmul of m rows by a weight of `type` reads Q8_0 (1) or Q8_K (2) activations, 0 for neither. */
function reads(type: WeightType, m: number, a: Float64Array): number {
  if (!isQuantized(type)) return 0;
  return activationType(type, m, m > 1 && a[SCRATCH_SLOT] !== 0) === 'q8_k' ? 2 : 1;
}

/** x[count] quantized for matmuls of m rows that read `need` (reads(), or-ed): Q8_0 into xq, Q8_K into xk. */
function quantizeInput(k: Kernels, need: number, x: number, xq: number, xk: number, count: number): void {
  if (need & 1) k.quantizeQ8_0(xq, x, count);
  if (need & 2) k.quantizeQ8_K(xk, x, count);
}

/** Rows [r0, r1) of chunk `unit.chunk` of `rows` (the whole range when the phase has one chunk). */
function chunkRows(rows: number, unit: Unit, align: number): [number, number] {
  return [cut(rows, unit.chunks, unit.chunk, align), cut(rows, unit.chunks, unit.chunk + 1, align)];
}

/**
 * The gate/up half of a SwiGLU for intermediate units [j0, j1) over m rows:
 * g[:, j0..j1) = silu(x · gateᵀ) * (x · upᵀ), and when the down projection is quantized its blocks
 * as that projection reads them (reads()): Q8_0 in aq, Q8_K in ak. x[m, hidden] f32 and xq / xk
 * its quantized blocks (filled beforehand); g, u [m, inter]. j0 and j1 are multiples of 32 (of 256
 * for Q8_K, chunkAlign) when aq / ak are filled, so the blocks are those of whole rows.
 */
function swigluGateUp(k: Kernels, a: Float64Array, type: WeightType, downType: WeightType, gate: number, up: number, hidden: number,
  inter: number, x: number, xq: number, xk: number, g: number, u: number, aq: number, ak: number, m: number, j0: number, j1: number,
  scratch: number): void {
  if (j1 <= j0) return;
  matmul(k, type, g, x, xq, xk, gate, m, hidden, inter, j0, j1, scratch);
  matmul(k, type, u, x, xq, xk, up, m, hidden, inter, j0, j1, scratch);
  const need = reads(downType, m, a);
  if (j0 === 0 && j1 === inter) {
    k.exports.swiglu(g, g, u, m * inter);
    quantizeInput(k, need, g, aq, ak, m * inter);
    return;
  }
  for (let i = 0; i < m; i++) {
    const at = (i * inter + j0) * 4;
    k.exports.swiglu(g + at, g + at, u + at, j1 - j0);
    // Q8_K: j0, j1 on multiples of 256 (the chunks' alignment, chunkAlign)
    if (need & 1) k.quantizeQ8_0(aq + ((i * inter + j0) / 32) * 34, g + at, j1 - j0);
    if (need & 2) k.quantizeQ8_K(ak + ((i * inter + j0) / 256) * Q8_K_BYTES, g + at, j1 - j0);
  }
}

/** Alignment of chunks of a SwiGLU's intermediate units whose down projection (`downType`, m rows) reads its activations: whole blocks. */
export function chunkAlign(downType: WeightType, m: number, withScratch: boolean): number {
  return isQuantized(downType) && activationType(downType, m, m > 1 && withScratch) === 'q8_k' ? 256 : 32;
}

/**
 * One SwiGLU over m rows, whole: y[m, hidden] = down · (silu(gate x) * up x).
 * x[m, hidden] f32 and, when the weights are quantized, xq / xk its Q8_0 / Q8_K blocks (filled here).
 * g, u [m, inter] and aq / ak (g quantized) are scratch.
 */
function swiglu(k: Kernels, a: Float64Array, type: WeightType, downType: WeightType, gate: number, up: number, down: number, hidden: number,
  inter: number, x: number, xq: number, xk: number, g: number, u: number, aq: number, ak: number, y: number, m: number, scratch: number): void {
  quantizeInput(k, reads(type, m, a), x, xq, xk, m * hidden);
  swigluGateUp(k, a, type, downType, gate, up, hidden, inter, x, xq, xk, g, u, aq, ak, m, 0, inter, scratch);
  matmul(k, downType, y, g, aq, ak, down, m, inter, hidden, 0, hidden, scratch);
}

/** rows[n, dim] columns [c0, c1) += bias[c0..c1) for every row (bias 0: none). */
function addBias(k: Kernels, rows: number, bias: number, n: number, dim: number, c0: number, c1: number): void {
  if (bias === 0 || c1 <= c0) return;
  for (let i = 0; i < n; i++) k.exports.add(rows + (i * dim + c0) * 4, rows + (i * dim + c0) * 4, bias + c0 * 4, c1 - c0);
}

/**
 * One shard's share of an attention block: its heads' q/k/v rows, rope, their K/V appended to each
 * sequence's cache, attention, and o_proj over its heads' columns (a partial sum of the output).
 * a: n, hidden, x, xq, hLocal, kvLocal, headDim, ropeTheta, then (type, w, bias) for q, k, v,
 *    then o type, o w, buffers q, k, v, y, yq, attention scratch, out, then segment count, table,
 *    and the KV cache's element type (its index in KV_TYPES); 29 oRows, 30 the width of every
 *    head (heads * headDim), 31 this shard's first column in it, 32 yAll, 33 o's rows here.
 * Phases: 0 quantizes x; 1 computes q/k/v, by chunks of rows; 2 runs rope, the KV store and
 * attention; 3 computes o_proj, by chunks of its output rows. With oRows (o_proj cut by output
 * rows, see CpuAttentionBlock) phase 2 also writes this shard's heads into every shard's yAll
 * [n, width], and phase 3 (one chunk per share) quantizes yAll and runs this shard's rows of o_proj
 * over all of it: out [n, rows here].
 */
function selfAttention(ctx: JobContext, k: Kernels, a: Float64Array, unit: Unit): void {
  const n = a[0]!, hidden = a[1]!, x = a[2]!, xq = a[3]!, hLocal = a[4]!, kvLocal = a[5]!, hd = a[6]!, theta = a[7]!;
  const xk = a[XK_SLOT]!, yk = a[AK_SLOT]!;
  if (hLocal === 0) return;
  const qd = hLocal * hd, kvd = kvLocal * hd;
  const qType = WEIGHT_TYPES[a[8]!]!, kType = WEIGHT_TYPES[a[11]!]!, vType = WEIGHT_TYPES[a[14]!]!, oType = WEIGHT_TYPES[a[17]!]!;
  const q = a[19]!, kb = a[20]!, vb = a[21]!, y = a[22]!, yq = a[23]!, attnScratch = a[24]!, out = a[25]!, kv = a[28]!;
  const scratch = scratchOf(a, unit);
  switch (unit.phase) {
    case 0:
      quantizeInput(k, reads(qType, n, a) | reads(kType, n, a) | reads(vType, n, a), x, xq, xk, n * hidden);
      return;
    case 1: {
      // q[n, hLocal, hd], k/v[n, kvLocal, hd] = x[n, hidden] · W_slice^T + bias_slice, rows of this chunk
      const [q0, q1] = chunkRows(qd, unit, ROW_ALIGN), [k0, k1] = chunkRows(kvd, unit, ROW_ALIGN);
      matmul(k, qType, q, x, xq, xk, a[9]!, n, hidden, qd, q0, q1, scratch);
      matmul(k, kType, kb, x, xq, xk, a[12]!, n, hidden, kvd, k0, k1, scratch);
      matmul(k, vType, vb, x, xq, xk, a[15]!, n, hidden, kvd, k0, k1, scratch);
      addBias(k, q, a[10]!, n, qd, q0, q1);
      addBias(k, kb, a[13]!, n, kvd, k0, k1);
      addBias(k, vb, a[16]!, n, kvd, k0, k1);
      return;
    }
    case 2: {
      const buf = k.memory.buffer as SharedArrayBuffer;
      const segments = a[26]!, table = new Uint32Array(buf, a[27]!, segments * SEGMENT_WORDS);
      const elem = kv === 0 ? 4 : 2; // bytes per cached element
      for (let s = 0; s < segments; s++) {
        const start = table[s * SEGMENT_WORDS]!, m = table[s * SEGMENT_WORDS + 1]!, pos0 = table[s * SEGMENT_WORDS + 2]!;
        const kCache = table[s * SEGMENT_WORDS + 3]!, vCache = table[s * SEGMENT_WORDS + 4]!;
        ropeNeox(new Float32Array(buf, q + start * qd * 4, m * qd), m, hLocal, hd, pos0, theta);
        ropeNeox(new Float32Array(buf, kb + start * kvd * 4, m * kvd), m, kvLocal, hd, pos0, theta);
        // cache[pos0 + i] = k[start + i] (rows of kvLocal heads are contiguous in both)
        k.storeKV(kv, kCache + pos0 * kvd * elem, kb + start * kvd * 4, m * kvd);
        k.storeKV(kv, vCache + pos0 * kvd * elem, vb + start * kvd * 4, m * kvd);
        k.attentionKernel(kv)(y + start * qd * 4, q + start * qd * 4, kCache, vCache, attnScratch, m, pos0, hLocal, kvLocal, hd, 1 / Math.sqrt(hd), 0, hLocal);
      }
      if (a[29] === 0) {
        quantizeInput(k, reads(oType, n, a), y, yq, yk, n * qd);
        return;
      }
      // yAll[:, c0 .. c0 + qd) of every shard = y
      const width = a[30]!, c0 = a[31]!, mine = new Float32Array(buf, y, n * qd);
      for (let s = 0; s < ctx.args.length; s++) {
        const yAll = ctx.args[s]![32]!;
        if (ctx.args[s]![4] === 0 || yAll === 0) continue;
        const dst = new Float32Array(ctx.kernels[s]!.memory.buffer, yAll, n * width);
        for (let i = 0; i < n; i++) dst.set(mine.subarray(i * qd, (i + 1) * qd), i * width + c0);
      }
      return;
    }
    default: {
      if (a[29] !== 0) {
        // out[n, rows here] = yAll[n, width] · Wo[rows here, :]^T (one chunk per share: yAll quantized once)
        const width = a[30]!, yAll = a[32]!, rows = a[33]!;
        quantizeInput(k, reads(oType, n, a), yAll, yq, yk, n * width);
        matmul(k, oType, out, yAll, yq, yk, a[18]!, n, width, rows, 0, rows, scratch);
        return;
      }
      // out[n, hidden] = y[n, hLocal*hd] · Wo[:, heads]^T: this shard's part of o_proj (no bias), rows of this chunk
      const [h0, h1] = chunkRows(hidden, unit, ROW_ALIGN);
      matmul(k, oType, out, y, yq, yk, a[18]!, n, qd, hidden, h0, h1, scratch);
    }
  }
}

/**
 * A shard's experts, each over its tokens: out[n, hidden] = Σ weight · expert(x[token]).
 * a: n, hidden, x, out, table, tasks, tokens, weights, xe, xeq, g, u, aq, ye, chunked, rows,
 * and in prompt processing 28 the bytes between two threads' xe .. ak, 29 the tasks in the order
 * they are claimed (u32 each: the largest first).
 * Prompt processing (a[14] = 0): phase 0 runs the task that chunk `unit.chunk` claims whole (chunks:
 * the most tasks of any share), on whichever thread claimed it, in that thread's xe .. ak (sized for
 * the largest task), into its own rows of ye; phase 1 adds the weighted rows up into out, task
 * after task.
 * Chunked (a[14] = 1, generation): every task has its own rows of xe / ye and elements of g / u;
 * phase 0 gathers and quantizes the rows, 1 runs gate/up by chunks of every expert's intermediate
 * units, 2 down by chunks of every expert's output rows, 3 adds the weighted outputs up.
 * Either way the output is added up in task order: the same bits whichever thread ran what.
 */
function experts(k: Kernels, a: Float64Array, unit: Unit, phase = unit.phase): void {
  const n = a[0]!, hidden = a[1]!, x = a[2]!, out = a[3]!, tasks = a[5]!, chunked = a[14] === 1, rows = a[15]!;
  const scratch = scratchOf(a, unit);
  const { f32, u32 } = k.views();
  const tableAt = a[4]! / 4, tokensAt = a[6]! / 4, weightsAt = a[7]! / 4, ye = a[13]!;
  // this thread's xe .. ak (prompt processing), or the share's
  const mine = chunked ? 0 : unit.participant * a[28]!;
  const xe = a[8]! + mine, xeq = a[9]! + mine, g = a[10]! + mine, u = a[11]! + mine, aq = a[12]! + mine;
  const xek = a[XK_SLOT]! + mine, ak = a[AK_SLOT]! + mine;
  const xqRow = (hidden / 32) * 34, xkRow = Math.floor(hidden / 256) * Q8_K_BYTES;
  // a task's g / u start at element `at`: its down projection's input at these (see Q8_K_BYTES_PER_32)
  const aqAt = (at: number) => aq + (at / 32) * 34, akAt = (at: number) => ak + (at / 32) * Q8_K_BYTES_PER_32;
  // xe[row0 + i] = x[token of row i] for count rows
  const gather = (xeAt: number, first: number, count: number) => {
    for (let i = 0; i < count; i++) {
      const src = x / 4 + u32[tokensAt + first + i]! * hidden;
      f32.copyWithin(xeAt / 4 + i * hidden, src, src + hidden);
    }
  };
  // out = Σ weight * ye[row] over every task's rows, in task order
  const scatterAll = () => {
    f32.fill(0, out / 4, out / 4 + n * hidden);
    for (let t = 0; t < tasks; t++) {
      const o = tableAt + t * TASK_WORDS, count = u32[o + 5]!, first = u32[o + 6]!;
      for (let i = 0; i < count; i++) {
        k.exports.axpy(out + u32[tokensAt + first + i]! * hidden * 4, ye + (first + i) * hidden * 4, f32[weightsAt + first + i]!, hidden);
      }
    }
  };
  if (!chunked) {
    if (phase === 1) {
      scatterAll();
      return;
    }
    if (unit.chunk >= tasks) return;
    const o = tableAt + u32[a[29]! / 4 + unit.chunk]! * TASK_WORDS, count = u32[o + 5]!, first = u32[o + 6]!;
    gather(xe, first, count);
    swiglu(k, a, WEIGHT_TYPES[u32[o]!]!, WEIGHT_TYPES[u32[o + 7]!]!, u32[o + 1]!, u32[o + 2]!, u32[o + 3]!, hidden, u32[o + 4]!,
      xe, xeq, xek, g, u, aq, ak, ye + first * hidden * 4, count, scratch);
    return;
  }
  if (phase === 3) {
    scatterAll();
    return;
  }
  // Phases 1 and 2 cut the tasks' rows laid end to end (gate/up: intermediate units, in blocks of
  // 32; down: output rows, in blocks of ROW_ALIGN), so a chunk is a run of rows of one or two
  // experts. Where a down projection reads Q8_K, gate/up's cuts inside its task fall back to the
  // 256-block below (each boundary moves the same way for the chunks on both sides of it).
  const align = phase === 1 ? 32 : ROW_ALIGN;
  let units = 0;
  if (phase === 1 || phase === 2) {
    for (let t = 0; t < tasks; t++) units += Math.ceil((phase === 1 ? u32[tableAt + t * TASK_WORDS + 4]! : hidden) / align);
  }
  const u0 = cut(units, unit.chunks, unit.chunk), u1 = cut(units, unit.chunks, unit.chunk + 1);
  let need = 0;
  for (let t = 0, tu = 0; t < tasks; t++) {
    const o = tableAt + t * TASK_WORDS;
    const type = WEIGHT_TYPES[u32[o]!]!, downType = WEIGHT_TYPES[u32[o + 7]!]!;
    const inter = u32[o + 4]!, count = u32[o + 5]!, first = u32[o + 6]!, at = u32[o + 8]!;
    // This chunk's rows [r0, r1) of this task's `len` rows, which start at unit tu of the run.
    const len = phase === 1 ? inter : hidden, taskUnits = Math.ceil(len / align);
    const block = phase === 1 ? chunkAlign(downType, count, a[SCRATCH_SLOT] !== 0) : align;
    let r0 = Math.min(len, Math.max(0, u0 - tu) * align), r1 = Math.min(len, Math.max(0, u1 - tu) * align);
    if (r0 < len) r0 -= r0 % block;
    if (r1 < len) r1 -= r1 % block;
    tu += taskUnits;
    switch (phase) {
      case 0:
        gather(xe + first * hidden * 4, first, count);
        need |= reads(type, count, a);
        break;
      case 1:
        swigluGateUp(k, a, type, downType, u32[o + 1]!, u32[o + 2]!, hidden, inter, xe + first * hidden * 4, xeq + first * xqRow,
          xek + first * xkRow, g + at * 4, u + at * 4, aqAt(at), akAt(at), count, r0, r1, scratch);
        break;
      default:
        matmul(k, downType, ye + first * hidden * 4, g + at * 4, aqAt(at), akAt(at), u32[o + 3]!, count, inter, hidden, r0, r1, scratch);
    }
  }
  // every row in both formats if the tasks read both (Q8_K: those of fewer than 3 rows)
  if (phase === 0) quantizeInput(k, need, xe, xeq, xek, rows * hidden);
}

/**
 * Phase 1 of the MoGE op on share p: the router logits of every expert (each shard computed its
 * rows in phase 0; read here from their memories), softmax over all in float64, then for each
 * group this shard holds (g = p, p + S, ...) its top k/groups experts, weighted by probability
 * times router_scale: MixtureOfExperts' grouped router, line for line. Writes this shard's picks
 * per token (its groups in order) and the experts' task table, tokens and weights as the Experts
 * op wants them (experts by id, tokens in order, then the shared expert's slice over every token).
 * a (beyond the Experts op's 0..15): 16 experts, 17 groups, 18 k, 19 shards, 20 router type,
 * 21 router rows' weights, 22 router rows here, 23 their logits [n, rows], 24 router_scale (in
 * shard 0's memory), 25 the directory (DIR_WORDS per expert, then the shared expert's slice),
 * 26 picks [n, picks here], 27 the first router row here.
 */
function route(ctx: JobContext, share: number, a: Float64Array): void {
  const n = a[0]!, experts = a[16]!, groups = a[17]!, kAll = a[18]!, shards = a[19]!;
  const per = experts / groups, pick = kAll / groups;
  const picksHere = Math.ceil((groups - share) / shards) * pick;
  const own = ctx.kernels[share]!.views(), scale = ctx.kernels[0]!.views().f32, scaleAt = a[24]! / 4;
  const { probs, ids, tokens: pt, weights: pw, count } = routeScratch(experts, n * picksHere);
  const picksAt = a[26]! / 4;
  let np = 0;
  for (let i = 0; i < n; i++) {
    // probs[experts] = this token's router logits, each shard's rows from its memory
    for (let q = 0; q < shards; q++) {
      const aq = ctx.args[q]!, rows = aq[22]!, r0 = aq[27]!;
      if (rows === 0) continue;
      const logits = ctx.kernels[q]!.views().f32, at = aq[23]! / 4 + i * rows;
      for (let j = 0; j < rows; j++) probs[r0 + j] = logits[at + j]!;
    }
    softmaxRows(probs, 1, experts);
    for (let g = share; g < groups; g += shards) {
      const got = topKInto(probs, g * per, per, pick, ids, np);
      for (let j = np; j < np + got; j++) {
        const id = g * per + ids[j]!;
        own.i32[picksAt + i * picksHere + (j - np) + ((g - share) / shards) * pick] = id;
        ids[j] = id; pt[j] = i; pw[j] = probs[id]! * scale[scaleAt + id]!;
      }
      np += got;
    }
  }
  // Tasks: experts in id order, each over its tokens in order (a counting sort of the picks by expert, stable).
  count.fill(0);
  for (let j = 0; j < np; j++) count[ids[j]! + 1]!++;
  for (let e = 0; e < experts; e++) count[e + 1]! += count[e]!;
  const tableAt = a[4]! / 4, tokensAt = a[6]! / 4, weightsAt = a[7]! / 4, dirAt = a[25]! / 4;
  for (let j = 0; j < np; j++) {
    const r = count[ids[j]!]!++;
    own.u32[tokensAt + r] = pt[j]!;
    own.f32[weightsAt + r] = pw[j]!;
  }
  let tasks = 0, rows = 0, elems = 0;
  // one task: the expert at directory entry d over `c` rows starting at `rows`
  const task = (d: number, c: number) => {
    const o = dirAt + d * DIR_WORDS, t = tableAt + tasks++ * TASK_WORDS, inter = own.u32[o + 4]!;
    own.u32[t] = own.u32[o]!; own.u32[t + 1] = own.u32[o + 1]!; own.u32[t + 2] = own.u32[o + 2]!; own.u32[t + 3] = own.u32[o + 3]!;
    own.u32[t + 4] = inter; own.u32[t + 5] = c; own.u32[t + 6] = rows; own.u32[t + 7] = own.u32[o + 5]!; own.u32[t + 8] = elems;
    rows += c;
    elems += c * inter;
  };
  // after the placement count[e] is the end of expert e's rows, which start at count[e - 1] (0 for e = 0)
  for (let e = 0; e < experts; e++) {
    const c = count[e]! - (e === 0 ? 0 : count[e - 1]!);
    if (c > 0) task(e, c);
  }
  if (own.u32[dirAt + experts * DIR_WORDS + 4]! > 0) {
    for (let i = 0; i < n; i++) { own.u32[tokensAt + rows + i] = i; own.f32[weightsAt + rows + i] = 1; }
    task(experts, n);
  }
  a[5] = tasks;
  a[15] = rows;
}

/** route()'s buffers, one set per thread, grown as needed: routing runs per token and layer, so it allocates nothing. */
let routeBuffers = { probs: new Float32Array(0), ids: new Int32Array(0), tokens: new Int32Array(0), weights: new Float32Array(0), count: new Int32Array(1) };
function routeScratch(experts: number, picks: number): typeof routeBuffers {
  const b = routeBuffers;
  if (b.probs.length !== experts || b.ids.length < picks) {
    const p = Math.max(picks, b.ids.length);
    routeBuffers = { probs: new Float32Array(experts), ids: new Int32Array(p), tokens: new Int32Array(p), weights: new Float32Array(p), count: new Int32Array(experts + 1) };
  }
  return routeBuffers;
}

/**
 * A MoGE layer on one shard (see route): phase 0 computes this shard's router rows, 1 routes and
 * gathers the tokens, 2-4 are the chunked Experts op's phases 1-3.
 */
function moge(k: Kernels, a: Float64Array, unit: Unit, share: number, ctx: JobContext): void {
  if (unit.phase === 0) {
    const rows = a[22]!, type = WEIGHT_TYPES[a[20]!]!;
    if (rows === 0) return;
    quantizeInput(k, reads(type, a[0]!, a), a[2]!, a[9]!, a[XK_SLOT]!, a[0]! * a[1]!);
    matmul(k, type, a[23]!, a[2]!, a[9]!, a[XK_SLOT]!, a[21]!, a[0]!, a[1]!, rows, 0, rows, scratchOf(a, unit));
    return;
  }
  if (unit.phase === 1) route(ctx, share, a);
  experts(k, a, unit, unit.phase - 1);
}

/**
 * Slots of a decoder layer beyond its attention's (in the first block, see selfAttention): the
 * residual stream X [n, hidden] of this shard (every shard holds the same bits), the normed input
 * H of both blocks, F this shard's partial output of the feed-forward (read by every shard in the
 * next layer), T and T2 [n, hidden] scratch, the two norms' weights, eps, whether F of the
 * previous layer is still to be added to X, the feed-forward (Op.Moge or Op.SwiGLU), o_proj's
 * bias (0: none), and with oRows this shard's first output row.
 */
export const enum LayerSlot { X = 34, H, F, T, T2, InputNorm, PostNorm, Eps, AddPrevious, Ffn, OBias, O0 }

/**
 * x += y, then h = rmsnorm(x, w), where y is what the composed model adds between two blocks: the
 * shares' partial sums [n, hidden] at slot `at` of each (in share order, one after the other as
 * sumPartials adds them), or with `rows` the rows [o0, o1) of the output each share computed;
 * then + bias (0: none). Each f32 addition is correctly rounded, as the host's are: the same bits
 * as the composed model, on this share's copy of x. Shares with `skip` set in their slot 4 (an
 * attention part with no heads) add nothing; `at` < 0: nothing to add, only the norm. T / T2 are
 * scratch.
 */
function residualNorm(ctx: JobContext, k: Kernels, a: Float64Array, w: number, at: number, rows: boolean, skip: boolean, bias: number): void {
  const n = a[0]!, hidden = a[1]!, x = a[LayerSlot.X]!, h = a[LayerSlot.H]!, t = a[LayerSlot.T]!, t2 = a[LayerSlot.T2]!;
  const f32 = k.views().f32, e = k.exports;
  let first = true;
  for (let q = 0; q < ctx.args.length && at >= 0; q++) {
    const aq = ctx.args[q]!;
    if (skip && aq[4] === 0) continue;
    const src = ctx.kernels[q]!.views().f32, from = aq[at]! / 4;
    if (rows) {
      // T[:, o0 .. o0 + rows) = share q's rows of the output
      const o0 = aq[LayerSlot.O0]!, r = aq[33]!;
      for (let i = 0; i < n; i++) f32.set(src.subarray(from + i * r, from + (i + 1) * r), t / 4 + i * hidden + o0);
    } else {
      f32.set(src.subarray(from, from + n * hidden), (first ? t : t2) / 4);
      if (!first) e.add(t, t, t2, n * hidden);
    }
    first = false;
  }
  if (!first) {
    if (bias !== 0) for (let i = 0; i < n; i++) e.add(t + i * hidden * 4, t + i * hidden * 4, bias, hidden);
    e.add(x, x, t, n * hidden);
  }
  e.rmsnorm_f64(h, x, w, hidden, a[LayerSlot.Eps]!, 0, n);
}

/** The feed-forward's piece of a decoder layer's chunk, one per thread (a layer runs per token: no allocation). */
const ffnUnit: Unit = { phase: 0, chunk: 0, chunks: 1, participant: 0 };

/**
 * A decoder layer on one share, for a few rows (generation): x += attn(norm(x)); x += ffn(norm(x)),
 * with x resident in every shard's memory from one layer to the next. Phase 0 adds the previous
 * layer's feed-forward partial sums to x (every share's, in order) and norms it, then runs the
 * attention's phase 0; 1-3 are the attention's; 4 adds the attention's output (its partial sums,
 * or with oRows its rows) and o_proj's bias, norms, and runs the feed-forward's phase 0; the rest
 * are the feed-forward's (Moge 1-4, SwiGLU 1-2), whose output F stays a partial sum.
 * a: the attention's slots and LayerSlot's; ctx.ffn.args[share]: the feed-forward's.
 */
function decoderLayer(ctx: JobContext, k: Kernels, share: number, unit: Unit): void {
  const a = ctx.args[share]!, phase = unit.phase;
  if (phase === 0) residualNorm(ctx, k, a, a[LayerSlot.InputNorm]!, a[LayerSlot.AddPrevious] ? LayerSlot.F : -1, false, false, 0);
  if (phase === 4) residualNorm(ctx, k, a, a[LayerSlot.PostNorm]!, 25, a[29] !== 0, true, a[LayerSlot.OBias]!); // 25: attention's out, 29: oRows
  if (phase < 4) {
    selfAttention(ctx, k, a, unit);
    return;
  }
  ffnUnit.phase = phase - 4; ffnUnit.chunk = unit.chunk; ffnUnit.chunks = unit.chunks; ffnUnit.participant = unit.participant;
  runOp(ctx.ffn!, a[LayerSlot.Ffn]!, share, ffnUnit);
}

/** Phases of each op: in how many phases it runs (the backend gives each phase its chunks; a decoder layer: at most). */
export const PHASES_OF: Readonly<Record<Op, number>> = {
  [Op.Matmuls]: 2, [Op.Attention]: 1, [Op.SwiGLU]: 3, [Op.Experts]: 4, [Op.SelfAttention]: 4, [Op.Moge]: 5, [Op.DecoderLayer]: 9,
};

/** Runs chunk `unit` of share `share` of op on this thread. */
export function runOp(ctx: JobContext, op: Op, share: number, unit: Unit): void {
  const k = ctx.kernels[share]!, a = ctx.args[share]!;
  switch (op) {
    case Op.Matmuls: {
      // a: n, inDim, x, xq, count, then (type, w, rows, out) per matrix.
      // Phase 0 quantizes x once; phase 1 computes this chunk's rows of every matrix.
      const n = a[0]!, inDim = a[1]!, x = a[2]!, xq = a[3]!, count = a[4]!, xk = a[XK_SLOT]!;
      if (unit.phase === 0) {
        let need = 0;
        for (let j = 0; j < count; j++) need |= reads(WEIGHT_TYPES[a[5 + 4 * j]!]!, n, a);
        quantizeInput(k, need, x, xq, xk, n * inDim);
        return;
      }
      const scratch = scratchOf(a, unit);
      for (let j = 0; j < count; j++) {
        const type = WEIGHT_TYPES[a[5 + 4 * j]!]!, w = a[6 + 4 * j]!, rows = a[7 + 4 * j]!, out = a[8 + 4 * j]!;
        const [r0, r1] = chunkRows(rows, unit, ROW_ALIGN);
        matmul(k, type, out, x, xq, xk, w, n, inDim, rows, r0, r1, scratch);
      }
      return;
    }
    case Op.Attention: {
      // a: out, q, kCache, vCache, scratch, n, pos0, heads, kvHeads, headDim, scale, the cache's element type (index in KV_TYPES)
      const heads = a[7]!;
      if (heads === 0) return;
      k.attentionKernel(a[11]!)(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, heads, a[8]!, a[9]!, a[10]!, 0, heads);
      return;
    }
    case Op.SwiGLU: {
      // a: n, hidden, inter, gate/up type, gate, up, down, x, xq, g, u, aq, out, down type, alignment of intermediate chunks.
      // Phase 0 quantizes x; 1 runs gate/up by chunks of the intermediate units; 2 down by chunks of output rows.
      const n = a[0]!, hidden = a[1]!, inter = a[2]!, type = WEIGHT_TYPES[a[3]!]!, downType = WEIGHT_TYPES[a[13]!]!;
      const x = a[7]!, xq = a[8]!, g = a[9]!, u = a[10]!, aq = a[11]!, out = a[12]!, xk = a[XK_SLOT]!, ak = a[AK_SLOT]!;
      if (unit.phase === 0) {
        if (inter === 0) new Float32Array((k.memory.buffer as SharedArrayBuffer), out, n * hidden).fill(0);
        else quantizeInput(k, reads(type, n, a), x, xq, xk, n * hidden);
        return;
      }
      if (inter === 0) return;
      const scratch = scratchOf(a, unit);
      if (unit.phase === 1) {
        const [j0, j1] = chunkRows(inter, unit, a[14]!);
        swigluGateUp(k, a, type, downType, a[4]!, a[5]!, hidden, inter, x, xq, xk, g, u, aq, ak, n, j0, j1, scratch);
      } else {
        const [h0, h1] = chunkRows(hidden, unit, ROW_ALIGN);
        matmul(k, downType, out, g, aq, ak, a[6]!, n, inter, hidden, h0, h1, scratch);
      }
      return;
    }
    case Op.Experts:
      experts(k, a, unit);
      return;
    case Op.SelfAttention:
      selfAttention(ctx, k, a, unit);
      return;
    case Op.Moge:
      moge(k, a, unit, share, ctx);
      return;
    case Op.DecoderLayer:
      decoderLayer(ctx, k, share, unit);
      return;
    default:
      throw new Error(`unknown op ${op}`);
  }
}
