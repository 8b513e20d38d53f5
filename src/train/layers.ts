// Forward and backward of every layer of the Pangu decoder, for training. Each forward returns
// what its backward needs (the saved activations); each backward adds parameter gradients into the
// given gradient arrays and returns or accumulates the gradient of its input. Arrays are float32 in
// training and float64 in the gradient checks (see gemm.ts).
import { type Arr, type MatOps } from './gemm.js';

// ------------------------------------------------------------------ embedding

/** x[n, d] = table[ids[i]] */
export function embedForward(x: Arr, table: Arr, ids: ArrayLike<number>, d: number): void {
  for (let i = 0; i < ids.length; i++) x.set(table.subarray(ids[i]! * d, (ids[i]! + 1) * d), i * d);
}

/** dTable[ids[i]] += dx[i] */
export function embedBackward(dTable: Arr, dx: Arr, ids: ArrayLike<number>, d: number): void {
  for (let i = 0; i < ids.length; i++) {
    const o = ids[i]! * d;
    for (let c = 0; c < d; c++) dTable[o + c]! += dx[i * d + c]!;
  }
}

// ------------------------------------------------------------------ RMSNorm

/** y = x / sqrt(mean(x²) + eps) * g per row; returns the per-row reciprocal rms. */
export function rmsnormForward(ops: MatOps, y: Arr, x: Arr, g: Arr, n: number, d: number, eps: number): Arr {
  const r = ops.zeros(n);
  for (let i = 0; i < n; i++) {
    let ss = 0;
    const o = i * d;
    for (let c = 0; c < d; c++) ss += x[o + c]! * x[o + c]!;
    const inv = 1 / Math.sqrt(ss / d + eps);
    r[i] = inv;
    for (let c = 0; c < d; c++) y[o + c] = x[o + c]! * inv * g[c]!;
  }
  return r;
}

/** dx (+)= ∂/∂x, dg += ∂/∂g of y = rmsnorm(x) * g, given dy. */
export function rmsnormBackward(dx: Arr, dg: Arr, dy: Arr, x: Arr, g: Arr, r: Arr, n: number, d: number, accumulate: boolean): void {
  for (let i = 0; i < n; i++) {
    const o = i * d, inv = r[i]!;
    let dot = 0;
    for (let c = 0; c < d; c++) {
      dot += dy[o + c]! * g[c]! * x[o + c]!;
      dg[c]! += dy[o + c]! * x[o + c]! * inv;
    }
    const k = (inv * inv * inv * dot) / d;
    for (let c = 0; c < d; c++) {
      const v = inv * dy[o + c]! * g[c]! - k * x[o + c]!;
      if (accumulate) dx[o + c]! += v;
      else dx[o + c] = v;
    }
  }
}

// ------------------------------------------------------------------ linear

/** y[n, out] = x[n, in] · Wᵀ + b */
export function linearForward(ops: MatOps, y: Arr, x: Arr, w: Arr, b: Arr | null, n: number, inDim: number, outDim: number): void {
  ops.gemm(y, x, w, n, inDim, outDim, { tb: true });
  if (b) for (let i = 0; i < n; i++) for (let j = 0; j < outDim; j++) y[i * outDim + j]! += b[j]!;
}

/** dW += dyᵀ x, db += Σ dy, dx (+)= dy · W (when dx is given). */
export function linearBackward(ops: MatOps, dx: Arr | null, dW: Arr, db: Arr | null, dy: Arr, x: Arr, w: Arr,
  n: number, inDim: number, outDim: number, accumulate: boolean): void {
  ops.gemm(dW, dy, x, outDim, n, inDim, { ta: true, acc: true });
  if (db) for (let i = 0; i < n; i++) for (let j = 0; j < outDim; j++) db[j]! += dy[i * outDim + j]!;
  if (dx) ops.gemm(dx, dy, w, n, outDim, inDim, { acc: accumulate });
}

// ------------------------------------------------------------------ rope

/** cos/sin tables [T, headDim/2] for positions 0..T-1 (NeoX layout, angles in float64). */
export interface RopeTable {
  cos: Float64Array;
  sin: Float64Array;
  half: number;
}

export function ropeTable(T: number, headDim: number, theta: number): RopeTable {
  const half = headDim / 2;
  const cos = new Float64Array(T * half), sin = new Float64Array(T * half);
  for (let p = 0; p < T; p++) {
    for (let j = 0; j < half; j++) {
      const a = p * Math.pow(theta, (-2 * j) / headDim);
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  }
  return { cos, sin, half };
}

/**
 * In place on x[B*T, heads, headDim]: row i sits at position i mod T. direction -1 applies the
 * inverse rotation (the backward of rope is rope by the negative angle).
 */
export function ropeApply(x: Arr, rows: number, T: number, heads: number, headDim: number, table: RopeTable, direction = 1): void {
  const half = table.half;
  for (let i = 0; i < rows; i++) {
    const p = i % T;
    for (let j = 0; j < half; j++) {
      const c = table.cos[p * half + j]!, s = direction * table.sin[p * half + j]!;
      for (let h = 0; h < heads; h++) {
        const o = (i * heads + h) * headDim;
        const a = x[o + j]!, b = x[o + j + half]!;
        x[o + j] = a * c - b * s;
        x[o + j + half] = b * c + a * s;
      }
    }
  }
}

// ------------------------------------------------------------------ causal GQA attention

export interface AttentionShape {
  B: number;
  T: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

export interface AttentionCache {
  /** Softmax probabilities [B, heads, T, T] (zero above the diagonal). */
  p: Arr;
}

function gatherHead(dst: Arr, src: Arr, b: number, h: number, T: number, nh: number, hd: number): void {
  for (let t = 0; t < T; t++) {
    const o = ((b * T + t) * nh + h) * hd;
    for (let c = 0; c < hd; c++) dst[t * hd + c] = src[o + c]!;
  }
}

function scatterHead(dst: Arr, src: Arr, b: number, h: number, T: number, nh: number, hd: number, accumulate: boolean): void {
  for (let t = 0; t < T; t++) {
    const o = ((b * T + t) * nh + h) * hd;
    if (accumulate) for (let c = 0; c < hd; c++) dst[o + c]! += src[t * hd + c]!;
    else for (let c = 0; c < hd; c++) dst[o + c] = src[t * hd + c]!;
  }
}

/**
 * y[B*T, heads*hd] = softmax(q kᵀ / sqrt(hd), causal) v per sequence and head; query head h reads
 * kv head floor(h / (heads / kvHeads)). q, k, v are already roped / projected.
 */
export function attentionForward(ops: MatOps, y: Arr, q: Arr, k: Arr, v: Arr, s: AttentionShape): AttentionCache {
  const { B, T, heads, kvHeads, headDim: hd } = s;
  const rep = heads / kvHeads, scale = 1 / Math.sqrt(hd);
  const p = ops.zeros(B * heads * T * T);
  const qh = ops.zeros(T * hd), kh = ops.zeros(T * hd), vh = ops.zeros(T * hd), oh = ops.zeros(T * hd);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < kvHeads; g++) {
      gatherHead(kh, k, b, g, T, kvHeads, hd);
      gatherHead(vh, v, b, g, T, kvHeads, hd);
      for (let r = 0; r < rep; r++) {
        const h = g * rep + r;
        gatherHead(qh, q, b, h, T, heads, hd);
        const ph = p.subarray((b * heads + h) * T * T, (b * heads + h + 1) * T * T);
        ops.gemm(ph, qh, kh, T, hd, T, { tb: true });
        for (let i = 0; i < T; i++) {
          const row = i * T;
          let max = -Infinity;
          for (let j = 0; j <= i; j++) {
            const z = ph[row + j]! * scale;
            ph[row + j] = z;
            if (z > max) max = z;
          }
          let sum = 0;
          for (let j = 0; j <= i; j++) {
            const e = Math.exp(ph[row + j]! - max);
            ph[row + j] = e;
            sum += e;
          }
          for (let j = 0; j <= i; j++) ph[row + j]! /= sum;
          for (let j = i + 1; j < T; j++) ph[row + j] = 0;
        }
        ops.gemm(oh, ph, vh, T, T, hd);
        scatterHead(y, oh, b, h, T, heads, hd, false);
      }
    }
  }
  return { p };
}

/** dq, dk, dv (overwritten) from dy, given the forward's inputs and cache. */
export function attentionBackward(ops: MatOps, dq: Arr, dk: Arr, dv: Arr, dy: Arr, q: Arr, k: Arr, v: Arr, c: AttentionCache, s: AttentionShape): void {
  const { B, T, heads, kvHeads, headDim: hd } = s;
  const rep = heads / kvHeads, scale = 1 / Math.sqrt(hd);
  const qh = ops.zeros(T * hd), kh = ops.zeros(T * hd), vh = ops.zeros(T * hd), doh = ops.zeros(T * hd);
  const dqh = ops.zeros(T * hd), dkh = ops.zeros(T * hd), dvh = ops.zeros(T * hd), dp = ops.zeros(T * T);
  for (let b = 0; b < B; b++) {
    for (let g = 0; g < kvHeads; g++) {
      gatherHead(kh, k, b, g, T, kvHeads, hd);
      gatherHead(vh, v, b, g, T, kvHeads, hd);
      dkh.fill(0);
      dvh.fill(0);
      for (let r = 0; r < rep; r++) {
        const h = g * rep + r;
        gatherHead(qh, q, b, h, T, heads, hd);
        gatherHead(doh, dy, b, h, T, heads, hd);
        const ph = c.p.subarray((b * heads + h) * T * T, (b * heads + h + 1) * T * T);
        ops.gemm(dp, doh, vh, T, hd, T, { tb: true });      // dP = dO Vᵀ
        ops.gemm(dvh, ph, doh, T, T, hd, { ta: true, acc: true }); // dV += Pᵀ dO
        for (let i = 0; i < T; i++) {
          const row = i * T;
          let dot = 0;
          for (let j = 0; j <= i; j++) dot += dp[row + j]! * ph[row + j]!;
          for (let j = 0; j <= i; j++) dp[row + j] = ph[row + j]! * (dp[row + j]! - dot) * scale;
          for (let j = i + 1; j < T; j++) dp[row + j] = 0;
        }
        ops.gemm(dqh, dp, kh, T, T, hd);                     // dQ = dS K
        ops.gemm(dkh, dp, qh, T, T, hd, { ta: true, acc: true }); // dK += dSᵀ Q
        scatterHead(dq, dqh, b, h, T, heads, hd, false);
      }
      scatterHead(dk, dkh, b, g, T, kvHeads, hd, false);
      scatterHead(dv, dvh, b, g, T, kvHeads, hd, false);
    }
  }
}

// ------------------------------------------------------------------ SwiGLU

export interface SwigluCache {
  a: Arr; // gate pre-activation [m, I]
  u: Arr; // up [m, I]
  act: Arr; // silu(a) * u [m, I]
}

function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

/** y[m, D] = down(silu(gate x) * up x), no biases. */
export function swigluForward(ops: MatOps, y: Arr, x: Arr, wg: Arr, wu: Arr, wd: Arr, m: number, D: number, I: number): SwigluCache {
  const a = ops.zeros(m * I), u = ops.zeros(m * I), act = ops.zeros(m * I);
  ops.gemm(a, x, wg, m, D, I, { tb: true });
  ops.gemm(u, x, wu, m, D, I, { tb: true });
  for (let i = 0; i < m * I; i++) {
    const z = a[i]!;
    act[i] = (z / (1 + Math.exp(-z))) * u[i]!;
  }
  ops.gemm(y, act, wd, m, I, D, { tb: true });
  return { a, u, act };
}

/** Gradients of the SwiGLU: dWg, dWu, dWd accumulate; dx (+)= input gradient. */
export function swigluBackward(ops: MatOps, dx: Arr, dwg: Arr, dwu: Arr, dwd: Arr, dy: Arr, x: Arr, wg: Arr, wu: Arr, wd: Arr,
  c: SwigluCache, m: number, D: number, I: number, accumulate: boolean): void {
  ops.gemm(dwd, dy, c.act, D, m, I, { ta: true, acc: true });
  const dact = ops.zeros(m * I);
  ops.gemm(dact, dy, wd, m, D, I);
  const da = ops.zeros(m * I), du = ops.zeros(m * I);
  for (let i = 0; i < m * I; i++) {
    const z = c.a[i]!, sg = sigmoid(z);
    du[i] = dact[i]! * z * sg;
    da[i] = dact[i]! * c.u[i]! * sg * (1 + z * (1 - sg));
  }
  ops.gemm(dwg, da, x, I, m, D, { ta: true, acc: true });
  ops.gemm(dwu, du, x, I, m, D, { ta: true, acc: true });
  ops.gemm(dx, da, wg, m, I, D, { acc: accumulate });
  ops.gemm(dx, du, wu, m, I, D, { acc: true });
}

// ------------------------------------------------------------------ cross-entropy

/**
 * Mean cross-entropy of logits[n, V] against targets (-1 = ignored). Overwrites logits with
 * dLoss/dlogits · gradScale. Returns the loss (a float64 sum divided by the counted rows).
 */
export function crossEntropy(logits: Arr, targets: ArrayLike<number>, n: number, V: number, gradScale = 1): { loss: number; count: number } {
  let count = 0;
  for (let i = 0; i < n; i++) if (targets[i]! >= 0) count++;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * V, (i + 1) * V);
    const t = targets[i]!;
    if (t < 0) {
      row.fill(0);
      continue;
    }
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (row[j]! > max) max = row[j]!;
    const target = row[t]!;
    let sum = 0;
    for (let j = 0; j < V; j++) {
      const e = Math.exp(row[j]! - max);
      row[j] = e;
      sum += e;
    }
    total += max + Math.log(sum) - target;
    const s = gradScale / count / sum;
    for (let j = 0; j < V; j++) row[j]! *= s;
    row[t]! -= gradScale / count;
  }
  return { loss: count ? total / count : 0, count };
}

/** Softmax of one row in float64, written back. */
export function softmaxRow(row: Arr): void {
  let max = -Infinity;
  for (let j = 0; j < row.length; j++) if (row[j]! > max) max = row[j]!;
  let sum = 0;
  for (let j = 0; j < row.length; j++) sum += Math.exp(row[j]! - max);
  for (let j = 0; j < row.length; j++) row[j] = Math.exp(row[j]! - max) / sum;
}
