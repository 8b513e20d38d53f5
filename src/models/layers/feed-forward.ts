// The position-wise block after attention: a dense SwiGLU or a mixture of experts.
import type { Backend, SwiGLU } from '../../backend/backend.js';
import type { Scratch } from './scratch.js';

export interface FeedForward {
  /** out[n, hidden] = block(h[n, hidden]) */
  forward(be: Backend, out: Float32Array, h: Float32Array, n: number, s: Scratch): void;
}

export class DenseMLP implements FeedForward {
  constructor(readonly mlp: SwiGLU) {}

  forward(be: Backend, out: Float32Array, h: Float32Array, n: number): void {
    be.swiglu(out, h, n, this.mlp);
  }
}
