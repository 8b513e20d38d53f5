// Mixture of experts with a shared expert, and the routers that pick each token's experts.
// MoGE (Pangu Pro MoE): softmax over all experts, then the best k/groups experts inside each of
// `groups` contiguous groups, weights = the chosen probabilities (not renormalised) times a learned
// per-expert router_scale. Every group, hence every device holding one, gets the same load.
import type { Backend, FeedForwardBlock, Linear, MogeBlock, SwiGLU } from '../../backend/backend.js';
import type { FeedForward } from './feed-forward.js';
import type { Scratch } from './scratch.js';

/** In place: each row of x[n, e] becomes softmax(row), computed in float64, stored as float32. */
export function softmaxRows(x: Float32Array, n: number, e: number): void {
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * e, (i + 1) * e);
    let max = -Infinity;
    for (const v of row) if (v > max) max = v;
    let sum = 0;
    for (let j = 0; j < e; j++) sum += Math.exp(row[j]! - max);
    for (let j = 0; j < e; j++) row[j] = Math.exp(row[j]! - max) / sum;
  }
}

/**
 * Routes one token. probs[e] over all experts; writes k expert ids and their weights.
 * Implementations must pick the same experts whatever the batch (no cross-token state).
 */
export type Router = (probs: Float32Array, ids: Int32Array, weights: Float32Array) => void;

/** MoGE: top-(k/groups) inside each of `groups` contiguous expert groups. */
export function groupedRouter(numExperts: number, groups: number, k: number): Router {
  const perGroup = numExperts / groups;
  const pick = k / groups;
  return (probs, ids, weights) => {
    let j = 0;
    for (let g = 0; g < groups; g++) {
      const first = g * perGroup;
      for (const e of topK(probs.subarray(first, first + perGroup), pick)) {
        ids[j] = first + e;
        weights[j++] = probs[first + e]!;
      }
    }
  };
}

/** Plain top-k over all experts (e.g. Qwen/Mixtral style, used to compare with MoGE). */
export function topKRouter(k: number): Router {
  return (probs, ids, weights) => {
    topK(probs, k).forEach((e, j) => {
      ids[j] = e;
      weights[j] = probs[e]!;
    });
  };
}

/** Indices of the k largest values, largest first; ties go to the lower index. */
export function topK(values: Float32Array, k: number): number[] {
  const best = new Int32Array(Math.min(k, values.length));
  return [...best.subarray(0, topKInto(values, 0, values.length, k, best, 0))];
}

/**
 * topK of values[from, from + len) without allocating (the routing inside a thread job runs per
 * token and layer): writes the indices (relative to `from`) to out[at..], returns how many.
 */
export function topKInto(values: Float32Array, from: number, len: number, k: number, out: Int32Array, at: number): number {
  let count = 0;
  for (let i = 0; i < len; i++) {
    const v = values[from + i]!;
    let j = count;
    while (j > 0 && values[from + out[at + j - 1]!]! < v) j--;
    if (j >= k) continue;
    // insert i at j, dropping the last when k are held
    for (let m = Math.min(count, k - 1); m > j; m--) out[at + m] = out[at + m - 1]!;
    out[at + j] = i;
    if (count < k) count++;
  }
  return count;
}

export class MixtureOfExperts implements FeedForward {
  /** Expert ids chosen for the tokens of the last forward, [n, k]; read by tests and balance stats. */
  lastExpertIds: Int32Array = new Int32Array(0);

  constructor(
    readonly gate: Linear,              // router [numExperts, hidden], no bias
    readonly routerScale: Float32Array, // [numExperts]
    readonly experts: readonly SwiGLU[],
    readonly sharedExpert: SwiGLU | null,
    readonly k: number,
    readonly router: Router,
    /** The same layer taken whole by the backend (MoGE routing and experts in one pass), if it could. */
    readonly fused: MogeBlock | null = null,
  ) {
    this.block = fused ? { kind: 'moge', block: fused } : null;
  }

  readonly block: FeedForwardBlock | null;

  ranFused(expertIds: Int32Array | null): void {
    if (expertIds) this.lastExpertIds = expertIds;
  }

  forward(be: Backend, out: Float32Array, h: Float32Array, n: number, s: Scratch): void {
    const chosen = this.fused ? be.moge!(out, h, n, this.fused) : null;
    if (chosen) {
      this.lastExpertIds = chosen;
      return;
    }
    const e = this.experts.length, k = this.k;
    const probs = s.get('moe.probs', n * e); // [n, numExperts]
    be.matmul(probs, h, n, this.gate);
    softmaxRows(probs, n, e);
    const ids = new Int32Array(n * k), weights = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      const tokIds = ids.subarray(i * k, (i + 1) * k), tokW = weights.subarray(i * k, (i + 1) * k);
      this.router(probs.subarray(i * e, (i + 1) * e), tokIds, tokW);
      for (let j = 0; j < k; j++) tokW[j]! *= this.routerScale[tokIds[j]!]!;
    }
    this.lastExpertIds = ids;
    be.experts(out, h, n, this.experts, ids, weights, k, this.sharedExpert);
  }
}
