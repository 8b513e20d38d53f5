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
  /** All of its bytes (for a tensor from a WeightLoader: read from the file on first use). */
  bytes: Uint8Array;
  /**
   * Reads dst.byteLength bytes from byte `start` on into `dst`, without reading the whole tensor:
   * backends that copy weights into memory of their own read them straight there, in pieces.
   */
  readRange?(start: number, dst: Uint8Array): void;
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

/** The keys and values of one layer for every position of one sequence: [maxSeq, kvHeads, headDim] each. */
export interface KVStore {
  readonly maxSeq: number;
}

/** down(silu(gate(x)) * up(x)), no biases. */
export interface SwiGLU {
  readonly hidden: number;
  readonly intermediate: number;
}

/**
 * Where an expert belongs: experts of one group live together (MoGE's expert parallelism: with one
 * group per device, every device does the same work for every token).
 */
export interface ExpertPlacement {
  group: number;
  groups: number;
}

/** The head layout of an attention block. */
export interface AttentionShape {
  heads: number;
  kvHeads: number;
  headDim: number;
  ropeTheta: number;
}

/** The four projections of an attention block (q/k/v [out, hidden] + bias, o [hidden, heads*headDim] + bias). */
export interface AttentionTensors {
  q: HostTensor; qBias?: HostTensor;
  k: HostTensor; kBias?: HostTensor;
  v: HostTensor; vBias?: HostTensor;
  o: HostTensor; oBias?: HostTensor;
}

/** An attention block whose weights a backend took whole (see `Backend.attentionBlock`). */
export interface AttentionBlock {
  readonly shape: AttentionShape;
}

/** A MoGE layer whose routing and experts a backend took over (see `Backend.mogeBlock`). */
export interface MogeBlock {
  readonly experts: number;
  readonly groups: number;
  /** Experts per token (k / groups in each group). */
  readonly k: number;
}

/** A decoder layer's feed-forward block as a backend may take it into the layer (see `Backend.layerBlock`). */
export type FeedForwardBlock = { kind: 'moge'; block: MogeBlock } | { kind: 'swiglu'; mlp: SwiGLU };

/** A decoder layer whose norms, blocks and residual additions a backend took over (see `Backend.layerBlock`). */
export interface LayerBlock {
  readonly hidden: number;
}

/** The rows [start, start+n) of a batch that are one sequence at positions pos0.., with its layer's K/V store. */
export interface AttentionSegment {
  start: number;
  n: number;
  pos0: number;
  kv: KVStore;
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
  /** Takes the three matrices of a SwiGLU: gate/up [inter, hidden], down [hidden, inter]. */
  mlp(gate: HostTensor, up: HostTensor, down: HostTensor, placement?: ExpertPlacement): SwiGLU;

  /** out[n, dim] = table[ids[i]] */
  embed(out: Float32Array, ids: ArrayLike<number>, table: Embedding): void;
  /** A key/value store of one layer, positions 0 .. maxSeq-1. */
  kvStore(maxSeq: number, kvHeads: number, headDim: number): KVStore;

  /** out[n, w.out] = x[n, w.in] · Wᵀ (+ bias) */
  matmul(out: Float32Array, x: Float32Array, n: number, w: Linear): void;
  /** outs[j][n, ws[j].out] = x[n, in] · W_jᵀ (+ bias_j): several projections of one input at once. */
  project(outs: readonly Float32Array[], x: Float32Array, n: number, ws: readonly Linear[]): void;
  /** out[n, dim] = x / sqrt(mean(x²) + eps) * weight, per row, in float32 */
  rmsnorm(out: Float32Array, x: Float32Array, n: number, weight: Float32Array, eps: number): void;
  /** In place on x[n, heads, headDim]: NeoX rotate-half rope at positions pos0 .. pos0+n-1. */
  rope(x: Float32Array, n: number, heads: number, headDim: number, pos0: number, theta: number): void;
  /**
   * Stores k, v at positions pos0 .. pos0+n-1 of the cache, then causal grouped-query attention
   * of the n queries against positions 0 .. pos0+i, softmax(q·kᵀ/sqrt(headDim)) in float32.
   * q[n, heads, headDim], k/v[n, kvHeads, headDim], out[n, heads, headDim]
   */
  attention(out: Float32Array, q: Float32Array, k: Float32Array, v: Float32Array, cache: KVStore,
    n: number, pos0: number, heads: number, kvHeads: number, headDim: number): void;
  /** out[n, dim] = down(silu(gate x) * up x) */
  swiglu(out: Float32Array, x: Float32Array, n: number, mlp: SwiGLU): void;
  /**
   * out[n, dim] = Σ_j weights[i, j] · experts[expertIds[i, j]](x[i]) for j < k (+ shared(x[i])):
   * each token runs only its own k experts, and the ungated shared expert when given.
   */
  experts(out: Float32Array, x: Float32Array, n: number, experts: readonly SwiGLU[],
    expertIds: Int32Array, weights: Float32Array, k: number, shared?: SwiGLU | null): void;

  /**
   * Optional fusion: takes an attention block's weights to run the whole block in one pass
   * (`selfAttention`), e.g. each thread its own heads from the q/k/v projections through rope, the
   * KV store and attention to its share of o_proj. Null when this block's shapes do not allow it:
   * the model then composes the block from project / rope / attention / matmul.
   */
  attentionBlock?(t: AttentionTensors, shape: AttentionShape): AttentionBlock | null;
  /** out[n, hidden] = o_proj(attention(rope(q_proj h), rope(k_proj h), v_proj h)), as the composed block. */
  selfAttention?(out: Float32Array, h: Float32Array, n: number, segments: readonly AttentionSegment[], block: AttentionBlock): void;

  /**
   * Optional fusion: a MoGE layer (router `gate` [experts, hidden] without bias, its per-expert
   * `routerScale`, the experts placed by group, the shared expert) whose routing and experts run in
   * one pass (`moge`), e.g. each thread routing the groups whose experts it holds. Null when the
   * placement does not allow it: the model then routes and calls `experts`.
   */
  mogeBlock?(gate: Linear, routerScale: Float32Array, experts: readonly SwiGLU[], shared: SwiGLU | null, groups: number, k: number): MogeBlock | null;
  /**
   * out[n, hidden] as MixtureOfExperts computes it with the grouped router (softmax over all
   * experts in float64, the top k/groups of each group, weights times router_scale), and the
   * chosen expert ids [n, k] in the router's order. Null when it does not take n rows at once
   * (the model then routes and calls `experts`).
   */
  moge?(out: Float32Array, h: Float32Array, n: number, block: MogeBlock): Int32Array | null;

  /**
   * Optional fusion: a whole decoder layer, x += attention(norm(x)); x += ffn(norm(x)), from its
   * norms' weights (vectors of this backend), its attention block and its feed-forward block,
   * to run in one pass with the next layers (`decoderLayers`), e.g. the residual stream kept in
   * the threads' memory from layer to layer. Null when the blocks do not allow it.
   */
  layerBlock?(inputNorm: Float32Array, attention: AttentionBlock, postNorm: Float32Array, ffn: FeedForwardBlock, eps: number): LayerBlock | null;
  /**
   * x[n, hidden] through the layers in order, in place, bit for bit as the composed layers compute
   * it (segments[i]: the sequences' segments with layer i's K/V stores); returns each MoGE layer's
   * expert ids [n, k] in the router's order (null for a dense one). Null, with x untouched, when it
   * does not take n rows at once (the model then runs the layers one block at a time).
   */
  decoderLayers?(x: Float32Array, n: number, segments: readonly (readonly AttentionSegment[])[], layers: readonly LayerBlock[]): (Int32Array | null)[] | null;
}
