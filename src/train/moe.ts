// The Pangu Pro MoE block for training: router (softmax over ALL experts), expert choice (MoGE:
// the best expert in each of `groups` contiguous groups; or plain top-k over all), weights = the
// chosen probabilities, not renormalised, times the learned router_scale of the chosen expert;
// SwiGLU experts; an ungated shared expert; the Switch/Qwen load-balancing loss.
import { groupedRouter, topKRouter, type Router } from '../models/layers/moe.js';
import { type Arr, type MatOps } from './gemm.js';
import { softmaxRow, swigluBackward, swigluForward, type SwigluCache } from './layers.js';

export type RouterKind = 'moge' | 'topk';

export interface MoeShape {
  D: number;
  E: number;
  k: number;
  groups: number;
  I: number;
  /** Shared expert intermediate size; 0: none. */
  sharedI: number;
  router: RouterKind;
}

/** The weights of one MoE block (HF names: mlp.gate.weight, mlp.router_scale, mlp.experts.{e}.*, mlp.shared_expert.*). */
export interface MoeWeights {
  gate: Arr; // [E, D]
  routerScale: Arr; // [E] (stored [1, E])
  experts: { g: Arr; u: Arr; d: Arr }[]; // [I, D], [I, D], [D, I]
  shared: { g: Arr; u: Arr; d: Arr } | null;
}

export type MoeGrads = MoeWeights;

export interface MoeCache {
  n: number;
  probs: Arr; // [n, E] softmax over all experts
  ids: Int32Array; // [n, k] chosen experts
  /** Rows routed to each expert: token index and slot j (ids[t*k + j] = e). */
  rows: { tok: Int32Array; slot: Int32Array }[];
  expertCaches: (SwigluCache | null)[];
  expertOut: (Arr | null)[]; // [m_e, D] expert outputs before weighting
  sharedCache: SwigluCache | null;
  /** Per expert: number of tokens that chose it. */
  counts: Float64Array;
  /** The layer's aux loss E · Σ_e f_e · P_e with f_e = counts_e / n and P_e = mean_t probs[t, e]. */
  aux: number;
}

export function makeRouter(s: MoeShape): Router {
  return s.router === 'moge' ? groupedRouter(s.E, s.groups, s.k) : topKRouter(s.k);
}

/** out[n, D] = MoE(h[n, D]). */
export function moeForward(ops: MatOps, out: Arr, h: Arr, w: MoeWeights, n: number, s: MoeShape, router: Router = makeRouter(s)): MoeCache {
  const { D, E, k, I } = s;
  const probs = ops.zeros(n * E);
  ops.gemm(probs, h, w.gate, n, D, E, { tb: true });
  const ids = new Int32Array(n * k);
  const chosenW = new Float32Array(k);
  const p32 = new Float32Array(E);
  const counts = new Float64Array(E);
  for (let t = 0; t < n; t++) {
    const row = probs.subarray(t * E, (t + 1) * E);
    softmaxRow(row);
    p32.set(row); // the routing decision is made on float32 probabilities, as in inference
    router(p32, ids.subarray(t * k, (t + 1) * k), chosenW);
    for (let j = 0; j < k; j++) counts[ids[t * k + j]!]!++;
  }
  const rows = Array.from({ length: E }, (_, e) => ({ tok: new Int32Array(counts[e]!), slot: new Int32Array(counts[e]!) }));
  const fill = new Int32Array(E);
  for (let t = 0; t < n; t++) for (let j = 0; j < k; j++) {
    const e = ids[t * k + j]!;
    rows[e]!.tok[fill[e]!] = t;
    rows[e]!.slot[fill[e]!++] = j;
  }
  out.fill(0, 0, n * D);
  const expertCaches: (SwigluCache | null)[] = [], expertOut: (Arr | null)[] = [];
  for (let e = 0; e < E; e++) {
    const m = rows[e]!.tok.length;
    if (m === 0) {
      expertCaches.push(null);
      expertOut.push(null);
      continue;
    }
    const xe = gatherRows(ops, h, rows[e]!.tok, D);
    const ye = ops.zeros(m * D);
    const ex = w.experts[e]!;
    expertCaches.push(swigluForward(ops, ye, xe, ex.g, ex.u, ex.d, m, D, I));
    expertOut.push(ye);
    const scale = w.routerScale[e]!;
    for (let r = 0; r < m; r++) {
      const t = rows[e]!.tok[r]!;
      const wt = probs[t * E + e]! * scale;
      for (let c = 0; c < D; c++) out[t * D + c]! += wt * ye[r * D + c]!;
    }
  }
  let sharedCache: SwigluCache | null = null;
  if (w.shared) {
    const ys = ops.zeros(n * D);
    sharedCache = swigluForward(ops, ys, h, w.shared.g, w.shared.u, w.shared.d, n, D, s.sharedI);
    for (let i = 0; i < n * D; i++) out[i]! += ys[i]!;
  }
  let aux = 0;
  for (let e = 0; e < E; e++) {
    let pe = 0;
    for (let t = 0; t < n; t++) pe += probs[t * E + e]!;
    aux += (counts[e]! / n) * (pe / n);
  }
  aux *= E;
  return { n, probs, ids, rows, expertCaches, expertOut, sharedCache, counts, aux };
}

function gatherRows(ops: MatOps, h: Arr, tok: Int32Array, D: number): Arr {
  const x = ops.zeros(tok.length * D);
  for (let r = 0; r < tok.length; r++) x.set(h.subarray(tok[r]! * D, (tok[r]! + 1) * D), r * D);
  return x;
}

/**
 * Backward of the MoE block: dh (+)= input gradient, parameter gradients accumulate into g.
 * auxGrad is d(total loss)/d(this layer's aux value), i.e. coef / numLayers.
 */
export function moeBackward(ops: MatOps, dh: Arr, g: MoeGrads, dy: Arr, h: Arr, w: MoeWeights, c: MoeCache, s: MoeShape,
  auxGrad: number, accumulate: boolean): void {
  const { D, E, I } = s;
  const n = c.n;
  if (!accumulate) dh.fill(0, 0, n * D);
  const dprobs = ops.zeros(n * E);
  for (let e = 0; e < E; e++) {
    const ye = c.expertOut[e];
    if (!ye) continue;
    const { tok } = c.rows[e]!;
    const m = tok.length, scale = w.routerScale[e]!;
    const dye = ops.zeros(m * D);
    let dScale = 0;
    for (let r = 0; r < m; r++) {
      const t = tok[r]!, p = c.probs[t * E + e]!;
      let dw = 0;
      for (let cc = 0; cc < D; cc++) {
        dw += dy[t * D + cc]! * ye[r * D + cc]!;
        dye[r * D + cc] = p * scale * dy[t * D + cc]!;
      }
      dScale += dw * p;
      dprobs[t * E + e]! += dw * scale;
    }
    g.routerScale[e]! += dScale;
    const xe = gatherRows(ops, h, tok, D);
    const dxe = ops.zeros(m * D);
    const ex = w.experts[e]!, ge = g.experts[e]!;
    swigluBackward(ops, dxe, ge.g, ge.u, ge.d, dye, xe, ex.g, ex.u, ex.d, c.expertCaches[e]!, m, D, I, false);
    for (let r = 0; r < m; r++) {
      const t = tok[r]!;
      for (let cc = 0; cc < D; cc++) dh[t * D + cc]! += dxe[r * D + cc]!;
    }
  }
  if (w.shared && g.shared) {
    swigluBackward(ops, dh, g.shared.g, g.shared.u, g.shared.d, dy, h, w.shared.g, w.shared.u, w.shared.d, c.sharedCache!, n, D, s.sharedI, true);
  }
  // aux = E Σ_e (counts_e / n)(Σ_t p_te / n): the counts are constants, so ∂aux/∂p_te = E counts_e / n².
  if (auxGrad !== 0) {
    for (let e = 0; e < E; e++) {
      const gp = (auxGrad * E * c.counts[e]!) / (n * n);
      if (gp !== 0) for (let t = 0; t < n; t++) dprobs[t * E + e]! += gp;
    }
  }
  // Softmax backward: dz = p ⊙ (dp − Σ p dp).
  const dlogits = dprobs;
  for (let t = 0; t < n; t++) {
    let dot = 0;
    for (let e = 0; e < E; e++) dot += c.probs[t * E + e]! * dprobs[t * E + e]!;
    for (let e = 0; e < E; e++) dlogits[t * E + e] = c.probs[t * E + e]! * (dprobs[t * E + e]! - dot);
  }
  ops.gemm(g.gate, dlogits, h, E, n, D, { ta: true, acc: true });
  ops.gemm(dh, dlogits, w.gate, n, E, D, { acc: true });
}

/**
 * The paper's Imbalance Score over `devices` devices holding contiguous blocks of experts:
 * (max_i T_i − min_i T_i) / |X|, T_i = expert calls landing on device i, |X| = tokens.
 */
export function imbalanceScore(counts: ArrayLike<number>, devices: number, tokens: number): number {
  const E = counts.length, per = E / devices;
  let max = -Infinity, min = Infinity;
  for (let i = 0; i < devices; i++) {
    let t = 0;
    for (let e = i * per; e < (i + 1) * per; e++) t += counts[e]!;
    if (t > max) max = t;
    if (t < min) min = t;
  }
  return (max - min) / tokens;
}
