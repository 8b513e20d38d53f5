// Grouped-query self-attention with biased q/k/v/o projections and NeoX rope (Pangu, both models).
import type { AttentionBlock, AttentionSegment, AttentionShape, Backend, Linear } from '../../backend/backend.js';
import type { Scratch } from './scratch.js';

export type { AttentionSegment, AttentionShape };

export interface SelfAttention {
  /**
   * out[n, hidden] = attention of h[n, hidden]; the rows [start, start+n) of each segment are one
   * sequence at positions pos0.., whose K/V go into its own store.
   */
  forward(be: Backend, out: Float32Array, h: Float32Array, n: number, segments: readonly AttentionSegment[], s: Scratch): void;
  /** The block as the backend took it (Backend.attentionBlock), which a fused decoder layer can take in turn. */
  readonly block?: AttentionBlock;
}

/** The block composed from the backend's primitives: what every backend can run. */
export class Attention implements SelfAttention {
  constructor(
    readonly shape: AttentionShape,
    readonly q_proj: Linear, // [heads*headDim, hidden] + bias
    readonly k_proj: Linear, // [kvHeads*headDim, hidden] + bias
    readonly v_proj: Linear, // [kvHeads*headDim, hidden] + bias
    readonly o_proj: Linear, // [hidden, heads*headDim] + bias
  ) {}

  forward(be: Backend, out: Float32Array, h: Float32Array, n: number, segments: readonly AttentionSegment[], s: Scratch): void {
    const { heads, kvHeads, headDim, ropeTheta } = this.shape;
    const kvDim = kvHeads * headDim;
    const q = s.get('attn.q', n * heads * headDim); // [n, heads, headDim]
    const k = s.get('attn.k', n * kvDim);           // [n, kvHeads, headDim]
    const v = s.get('attn.v', n * kvDim);           // [n, kvHeads, headDim]
    const y = s.get('attn.y', n * heads * headDim); // [n, heads, headDim]
    be.project([q, k, v], h, n, [this.q_proj, this.k_proj, this.v_proj]);
    const qDim = heads * headDim;
    for (const { start, n: m, pos0, kv } of segments) {
      const qs = q.subarray(start * qDim, (start + m) * qDim), ks = k.subarray(start * kvDim, (start + m) * kvDim);
      be.rope(qs, m, heads, headDim, pos0, ropeTheta);
      be.rope(ks, m, kvHeads, headDim, pos0, ropeTheta);
      be.attention(y.subarray(start * qDim, (start + m) * qDim), qs, ks, v.subarray(start * kvDim, (start + m) * kvDim),
        kv, m, pos0, heads, kvHeads, headDim);
    }
    be.matmul(out, y, n, this.o_proj);
  }
}

/** The same block run whole by a backend that took its weights (Backend.attentionBlock). */
export class FusedAttention implements SelfAttention {
  constructor(readonly block: AttentionBlock) {}

  forward(be: Backend, out: Float32Array, h: Float32Array, n: number, segments: readonly AttentionSegment[]): void {
    be.selfAttention!(out, h, n, segments, this.block);
  }
}
