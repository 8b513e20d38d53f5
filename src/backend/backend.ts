// The compute interface between model code and the machine. Model code owns the order of
// operations; a backend owns where tensors live and how each operation runs. Activations are
// Float32Arrays obtained from `alloc`, so a backend can place them in its own (e.g. WebAssembly)
// memory; weights are handed over once at load and come back as opaque handles.
import type { TensorDType } from '../formats/ggml-quants.js';

/** A tensor as read from a checkpoint: raw little-endian bytes, plain or block-quantized (GGUF). */
export interface HostTensor {
  name: string;
  dtype: TensorDType;
  shape: number[];
  bytes: Uint8Array;
}

/** A weight matrix W[outFeatures, inFeatures] with an optional bias[outFeatures]. */
export interface Linear {
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** An embedding table [vocab, dim]. */
export interface Embedding {
  readonly vocab: number;
  readonly dim: number;
}

/** down(silu(gate(x)) * up(x)), no biases. */
export interface SwiGLU {
  gate: Linear;
  up: Linear;
  down: Linear;
}

export interface Backend {
  readonly name: string;

  /** A zeroed activation buffer of n floats. */
  alloc(n: number): Float32Array;

  /** Takes ownership of a weight matrix [out, in] and its optional bias [out]. */
  linear(weight: HostTensor, bias?: HostTensor): Linear;
  /** A small float32 parameter (norm weight, router scale). */
  vector(t: HostTensor): Float32Array;
  embedding(t: HostTensor): Embedding;

  /** out[n, dim] = table[ids[i]] */
  embed(out: Float32Array, ids: ArrayLike<number>, table: Embedding): void;
  /** out[n, w.out] = x[n, w.in] · Wᵀ (+ bias) */
  matmul(out: Float32Array, x: Float32Array, n: number, w: Linear): void;
  /** out[n, dim] = x / sqrt(mean(x²) + eps) * weight, per row, in float32 */
  rmsnorm(out: Float32Array, x: Float32Array, n: number, weight: Float32Array, eps: number): void;
  /** In place on x[n, heads, headDim]: NeoX rotate-half rope at positions pos0 .. pos0+n-1. */
  rope(x: Float32Array, n: number, heads: number, headDim: number, pos0: number, theta: number): void;
  /**
   * Causal grouped-query attention of n queries at positions pos0.. against a cache holding
   * positions 0 .. pos0+n-1.
   * q[n, heads, headDim], kCache/vCache[maxSeq, kvHeads, headDim], out[n, heads, headDim]
   */
  attention(out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array,
    n: number, pos0: number, heads: number, kvHeads: number, headDim: number): void;
  /** out[n, dim] = down(silu(gate x) * up x) */
  swiglu(out: Float32Array, x: Float32Array, n: number, mlp: SwiGLU): void;
  /**
   * out[n, dim] = Σ_j weights[i, j] · experts[expertIds[i, j]](x[i]) for j < k:
   * each token runs only its own k experts.
   */
  experts(out: Float32Array, x: Float32Array, n: number, experts: readonly SwiGLU[],
    expertIds: Int32Array, weights: Float32Array, k: number): void;
}
