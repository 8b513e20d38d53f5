// AdamW (decoupled weight decay), the learning-rate schedule (linear warmup, then cosine decay to a
// floor) and global gradient-norm clipping.
import type { Param } from './model.js';

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAMW_DEFAULTS: AdamWOptions = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };

export class AdamW {
  /** First and second moments, one pair per parameter (float32). */
  readonly m: Float32Array[];
  readonly v: Float32Array[];
  /** Number of updates done so far (bias correction). */
  t = 0;

  constructor(readonly params: readonly Param[], readonly opts: AdamWOptions = ADAMW_DEFAULTS) {
    this.m = params.map((p) => new Float32Array(p.data.length));
    this.v = params.map((p) => new Float32Array(p.data.length));
  }

  /** One update with learning rate lr; weight decay only on parameters marked `decay`. */
  step(lr: number): void {
    this.t++;
    const { beta1, beta2, eps, weightDecay } = this.opts;
    const c1 = 1 - Math.pow(beta1, this.t), c2 = 1 - Math.pow(beta2, this.t);
    this.params.forEach((p, i) => {
      const m = this.m[i]!, v = this.v[i]!, w = p.data, g = p.grad;
      const decay = p.decay ? 1 - lr * weightDecay : 1;
      for (let j = 0; j < w.length; j++) {
        const gj = g[j]!;
        const mj = (m[j] = beta1 * m[j]! + (1 - beta1) * gj);
        const vj = (v[j] = beta2 * v[j]! + (1 - beta2) * gj * gj);
        w[j] = w[j]! * decay - (lr * (mj / c1)) / (Math.sqrt(vj / c2) + eps);
      }
    });
  }
}

export interface Schedule {
  lr: number;
  minLr: number;
  warmup: number;
  steps: number;
}

/** Learning rate at step s (0-based): linear warmup over `warmup` steps, then cosine from lr to minLr at `steps`. */
export function learningRate(s: number, sch: Schedule): number {
  if (sch.warmup > 0 && s < sch.warmup) return (sch.lr * (s + 1)) / sch.warmup;
  const span = Math.max(1, sch.steps - sch.warmup);
  const frac = Math.min(1, Math.max(0, (s - sch.warmup) / span));
  return sch.minLr + 0.5 * (sch.lr - sch.minLr) * (1 + Math.cos(Math.PI * frac));
}

/** Global L2 norm of all gradients; when it exceeds maxNorm (> 0), scales them down to maxNorm. Returns the norm before clipping. */
export function clipGradNorm(params: readonly Param[], maxNorm: number): number {
  let ss = 0;
  for (const p of params) for (let j = 0; j < p.grad.length; j++) ss += p.grad[j]! * p.grad[j]!;
  const norm = Math.sqrt(ss);
  if (maxNorm > 0 && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-12);
    for (const p of params) for (let j = 0; j < p.grad.length; j++) p.grad[j]! *= s;
  }
  return norm;
}
