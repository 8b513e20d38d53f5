// The position-wise block after attention: a dense SwiGLU or a mixture of experts.
import type { Backend, FeedForwardBlock, SwiGLU } from '../../backend/backend.js';
import type { Scratch } from './scratch.js';

export interface FeedForward {
  /** out[n, hidden] = block(h[n, hidden]) */
  forward(be: Backend, out: Float32Array, h: Float32Array, n: number, s: Scratch): void;
  /** The block as a backend can take it into a fused decoder layer (Backend.layerBlock), or null. */
  readonly block: FeedForwardBlock | null;
  /** Told, after a fused decoder layer ran this block, which experts it chose (null: a dense block). */
  ranFused?(expertIds: Int32Array | null): void;
}

export class DenseMLP implements FeedForward {
  readonly block: FeedForwardBlock;

  constructor(readonly mlp: SwiGLU) {
    this.block = { kind: 'swiglu', mlp };
  }

  forward(be: Backend, out: Float32Array, h: Float32Array, n: number): void {
    be.swiglu(out, h, n, this.mlp);
  }
}
