// Grouped-query self-attention with biased q/k/v/o projections and NeoX rope (Pangu, both models).
import type { Backend, Linear } from '../../backend/backend.js';
import type { LayerCache } from '../../engine/kv-cache.js';
import type { Scratch } from './scratch.js';

export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  ropeTheta: number;
}

export class Attention {
  constructor(
    readonly shape: AttentionShape,
    readonly q_proj: Linear, // [heads*headDim, hidden] + bias
    readonly k_proj: Linear, // [kvHeads*headDim, hidden] + bias
    readonly v_proj: Linear, // [kvHeads*headDim, hidden] + bias
    readonly o_proj: Linear, // [hidden, heads*headDim] + bias
  ) {}

  /** out[n, hidden] = attention of h[n, hidden] at positions pos0.., writing K/V into cache. */
  forward(be: Backend, out: Float32Array, h: Float32Array, n: number, pos0: number, cache: LayerCache, s: Scratch): void {
    const { heads, kvHeads, headDim, ropeTheta } = this.shape;
    const kvDim = kvHeads * headDim;
    const q = s.get('attn.q', n * heads * headDim); // [n, heads, headDim]
    const k = s.get('attn.k', n * kvDim);           // [n, kvHeads, headDim]
    const v = s.get('attn.v', n * kvDim);           // [n, kvHeads, headDim]
    const y = s.get('attn.y', n * heads * headDim); // [n, heads, headDim]
    be.matmul(q, h, n, this.q_proj);
    be.matmul(k, h, n, this.k_proj);
    be.matmul(v, h, n, this.v_proj);
    be.rope(q, n, heads, headDim, pos0, ropeTheta);
    be.rope(k, n, kvHeads, headDim, pos0, ropeTheta);
    cache.k.set(k.subarray(0, n * kvDim), pos0 * kvDim);
    cache.v.set(v.subarray(0, n * kvDim), pos0 * kvDim);
    be.attention(y, q, cache.k, cache.v, n, pos0, heads, kvHeads, headDim);
    be.matmul(out, y, n, this.o_proj);
  }
}
