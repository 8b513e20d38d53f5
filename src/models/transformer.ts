// The decoder stack shared by both Pangu architectures (a Llama layout with biased attention):
// embed -> L x [x += attn(norm(x)); x += ffn(norm(x))] -> norm -> lm_head.
// Architecture files supply the args and the feed-forward block of each layer.
import type { AttentionSegment, AttentionShape, AttentionTensors, Backend, Embedding, ExpertPlacement, HostTensor, LayerBlock, Linear, SwiGLU } from '../backend/backend.js';
import { expectShape } from '../formats/checkpoint.js';
import type { TensorSource } from '../formats/tensor-source.js';
import { KVCache } from '../engine/kv-cache.js';
import { ConfigReader } from './config.js';
import { Attention, FusedAttention, type SelfAttention } from './layers/attention.js';
import type { FeedForward } from './layers/feed-forward.js';
import { Scratch } from './layers/scratch.js';

/** config.json keys common to both architectures (names as in the file). */
export interface DecoderArgs {
  model_type: string;
  vocab_size: number;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  /** Not a config key: hidden_size / num_attention_heads. */
  head_dim: number;
  rms_norm_eps: number;
  rope_theta: number;
  max_position_embeddings: number;
  tie_word_embeddings: boolean;
  bos_token_id: number;
  eos_token_id: number[];
}

export function parseDecoderArgs(c: ConfigReader, modelType: string): DecoderArgs {
  const hidden = c.int('hidden_size');
  const heads = c.int('num_attention_heads');
  const kvHeads = c.int('num_key_value_heads', heads);
  c.divisible('hidden_size', hidden, 'num_attention_heads', heads);
  c.divisible('num_attention_heads', heads, 'num_key_value_heads', kvHeads);
  const headDim = hidden / heads;
  if (headDim % 2 !== 0) c.fail(`head dimension hidden_size / num_attention_heads = ${headDim} must be even for rope`);
  const act = c.string('hidden_act', 'silu');
  if (act !== 'silu') c.fail(`"hidden_act" ${JSON.stringify(act)} is not supported (Pangu uses "silu")`);
  if (c.raw['rope_scaling'] != null) c.fail('"rope_scaling" is not supported: Pangu uses plain rope');
  return {
    model_type: modelType,
    vocab_size: c.int('vocab_size'),
    hidden_size: hidden,
    num_hidden_layers: c.int('num_hidden_layers'),
    num_attention_heads: heads,
    num_key_value_heads: kvHeads,
    head_dim: headDim,
    rms_norm_eps: c.positive('rms_norm_eps', 1e-5),
    rope_theta: c.positive('rope_theta', 10000),
    max_position_embeddings: c.int('max_position_embeddings', 4096),
    tie_word_embeddings: c.bool('tie_word_embeddings', false),
    bos_token_id: c.ids('bos_token_id', [1])[0]!,
    eos_token_id: c.ids('eos_token_id', [2]),
  };
}

/** Reads named tensors from a checkpoint or GGUF file, checks their shapes, hands them to the backend. */
export class WeightLoader {
  constructor(readonly source: TensorSource | null, readonly backend: Backend) {}

  /** Every tensor a model reads passes through here. */
  tensor(name: string, shape: readonly number[]): HostTensor {
    if (!this.source) throw new Error('WeightLoader has no tensor source');
    const source = this.source;
    const info = source.info(name);
    expectShape(info, shape);
    // Nothing is read yet: a backend reads the tensor whole (bytes) or in pieces straight into
    // its own memory (readRange), so loading keeps no per-tensor copy alive.
    let bytes: Uint8Array | undefined;
    const t: HostTensor = {
      name, dtype: info.dtype, shape: info.shape,
      get bytes(): Uint8Array {
        return (bytes ??= source.read(name));
      },
    };
    if (source.readInto) t.readRange = (start, dst) => source.readInto!(name, start, dst);
    return t;
  }

  linear(prefix: string, outFeatures: number, inFeatures: number, bias: boolean): Linear {
    const w = this.tensor(`${prefix}.weight`, [outFeatures, inFeatures]);
    return bias ? this.backend.linear(w, this.tensor(`${prefix}.bias`, [outFeatures])) : this.backend.linear(w);
  }

  /** q/k/v/o_proj (+ biases) under prefix: taken whole by the backend if it can fuse the block. */
  attention(prefix: string, shape: AttentionShape, hidden: number): SelfAttention {
    const { heads: h, kvHeads: kv, headDim: hd } = shape;
    const t: AttentionTensors = {
      q: this.tensor(`${prefix}.q_proj.weight`, [h * hd, hidden]), qBias: this.tensor(`${prefix}.q_proj.bias`, [h * hd]),
      k: this.tensor(`${prefix}.k_proj.weight`, [kv * hd, hidden]), kBias: this.tensor(`${prefix}.k_proj.bias`, [kv * hd]),
      v: this.tensor(`${prefix}.v_proj.weight`, [kv * hd, hidden]), vBias: this.tensor(`${prefix}.v_proj.bias`, [kv * hd]),
      o: this.tensor(`${prefix}.o_proj.weight`, [hidden, h * hd]), oBias: this.tensor(`${prefix}.o_proj.bias`, [hidden]),
    };
    const fused = this.backend.attentionBlock?.(t, shape);
    if (fused) return new FusedAttention(fused);
    const be = this.backend;
    return new Attention(shape, be.linear(t.q, t.qBias), be.linear(t.k, t.kBias), be.linear(t.v, t.vBias), be.linear(t.o, t.oBias));
  }

  vector(name: string, shape: readonly number[]): Float32Array {
    return this.backend.vector(this.tensor(name, shape));
  }

  swiglu(prefix: string, hidden: number, intermediate: number, placement?: ExpertPlacement): SwiGLU {
    return this.backend.mlp(
      this.tensor(`${prefix}.gate_proj.weight`, [intermediate, hidden]),
      this.tensor(`${prefix}.up_proj.weight`, [intermediate, hidden]),
      this.tensor(`${prefix}.down_proj.weight`, [hidden, intermediate]),
      placement);
  }
}

export interface DecoderLayer {
  input_layernorm: Float32Array;          // [hidden]
  self_attn: SelfAttention;
  post_attention_layernorm: Float32Array; // [hidden]
  mlp: FeedForward;
}

export type LogitsMode = 'all' | 'last';

export class Transformer {
  private readonly scratch: Scratch;
  /** Every layer taken whole by the backend (Backend.layerBlock), or null: the layers run block by block. */
  private readonly fused: LayerBlock[] | null;

  constructor(
    readonly args: DecoderArgs,
    readonly backend: Backend,
    readonly embed_tokens: Embedding,     // [vocab, hidden]
    readonly layers: DecoderLayer[],
    readonly norm: Float32Array,          // [hidden]
    readonly lm_head: Linear,             // [vocab, hidden]
  ) {
    this.scratch = new Scratch(backend);
    this.fused = fuseLayers(backend, layers, args.rms_norm_eps);
  }

  /** Loads the layers common to both architectures; `ffn(i)` builds layer i's feed-forward block. */
  static load(args: DecoderArgs, w: WeightLoader, ffn: (layer: number) => FeedForward): Transformer {
    const { hidden_size: d, vocab_size: v, num_attention_heads: h, num_key_value_heads: kv, head_dim: hd } = args;
    const shape = { heads: h, kvHeads: kv, headDim: hd, ropeTheta: args.rope_theta };
    const layers: DecoderLayer[] = [];
    for (let i = 0; i < args.num_hidden_layers; i++) {
      const p = `model.layers.${i}`;
      layers.push({
        input_layernorm: w.vector(`${p}.input_layernorm.weight`, [d]),
        self_attn: w.attention(`${p}.self_attn`, shape, d),
        post_attention_layernorm: w.vector(`${p}.post_attention_layernorm.weight`, [d]),
        mlp: ffn(i),
      });
    }
    const embed = w.tensor('model.embed_tokens.weight', [v, d]);
    const lmHead = args.tie_word_embeddings ? w.backend.linear(embed) : w.linear('lm_head', v, d, false);
    return new Transformer(args, w.backend, w.backend.embedding(embed), layers,
      w.vector('model.norm.weight', [d]), lmHead);
  }

  newCache(maxSeq = this.args.max_position_embeddings): KVCache {
    return new KVCache(this.backend, this.args.num_hidden_layers, maxSeq, this.args.num_key_value_heads, this.args.head_dim);
  }

  /**
   * Runs `tokens` at positions cache.length.. and appends their K/V to the cache.
   * Returns logits [n, vocab] ('all') or [1, vocab] for the last token ('last').
   */
  forward(tokens: ArrayLike<number>, cache: KVCache, mode: LogitsMode = 'last'): Float32Array {
    return this.forwardBatch([{ tokens, cache }], mode)[0]!;
  }

  /**
   * Runs several sequences in one pass (continuous batching): their tokens share every matmul,
   * each attends to its own cache. Returns each sequence's logits as `forward` would.
   */
  forwardBatch(batch: readonly { tokens: ArrayLike<number>; cache: KVCache }[], mode: LogitsMode = 'last'): Float32Array[] {
    const be = this.backend, s = this.scratch;
    const { hidden_size: d, vocab_size: v, rms_norm_eps: eps } = this.args;
    const segments: Segment[] = [];
    let n = 0;
    for (const { tokens, cache } of batch) {
      if (tokens.length === 0) throw new RangeError('forward needs at least one token per sequence');
      if (cache.length + tokens.length > cache.maxSeq) {
        throw new RangeError(`sequence of ${cache.length + tokens.length} tokens exceeds the context of ${cache.maxSeq}`);
      }
      segments.push({ start: n, n: tokens.length, pos0: cache.length, cache });
      n += tokens.length;
    }
    if (new Set(batch.map((b) => b.cache)).size !== batch.length) throw new Error('each sequence of a batch needs its own cache');
    const ids = new Int32Array(n);
    batch.forEach(({ tokens }, b) => ids.set(Array.from(tokens), segments[b]!.start));
    const x = s.get('x', n * d);     // [n, hidden] residual stream
    const h = s.get('h', n * d);     // [n, hidden] normed input of a block
    const y = s.get('y', n * d);     // [n, hidden] output of a block
    be.embed(x, ids, this.embed_tokens);
    const layerSegments = (i: number): AttentionSegment[] => segments.map((g) => ({ start: g.start, n: g.n, pos0: g.pos0, kv: g.cache.layers[i]! }));
    // The same layers taken whole by the backend where it can (a few rows: generation).
    const expertIds = this.fused && be.decoderLayers!(x, n, this.layers.map((_, i) => layerSegments(i)), this.fused);
    if (expertIds) this.layers.forEach((layer, i) => layer.mlp.ranFused?.(expertIds[i]!));
    else {
      this.layers.forEach((layer, i) => {
        be.rmsnorm(h, x, n, layer.input_layernorm, eps);
        layer.self_attn.forward(be, y, h, n, layerSegments(i), s);
        addInPlace(x, y, n * d);
        be.rmsnorm(h, x, n, layer.post_attention_layernorm, eps);
        layer.mlp.forward(be, y, h, n, s);
        addInPlace(x, y, n * d);
      });
    }
    for (const g of segments) g.cache.length = g.pos0 + g.n;
    // Rows whose logits are wanted: every row, or the last of each sequence.
    const rows = mode === 'all' ? Array.from({ length: n }, (_, r) => r) : segments.map((g) => g.start + g.n - 1);
    const last = s.get('last', rows.length * d);
    rows.forEach((r, j) => last.set(x.subarray(r * d, (r + 1) * d), j * d));
    be.rmsnorm(h, last, rows.length, this.norm, eps);
    // The caller's own array, not scratch: each sequence's logits are a view of it.
    const out = new Float32Array(rows.length * v);
    be.matmul(out, h, rows.length, this.lm_head);
    return segments.map((g, b) => mode === 'all'
      ? out.subarray(g.start * v, (g.start + g.n) * v)
      : out.subarray(b * v, (b + 1) * v));
  }
}

/** The rows [start, start+n) of a batch that belong to one sequence, at positions pos0.. */
interface Segment {
  start: number;
  n: number;
  pos0: number;
  cache: KVCache;
}

/** Each layer as the backend takes it whole, or null when the backend cannot take every one. */
function fuseLayers(be: Backend, layers: readonly DecoderLayer[], eps: number): LayerBlock[] | null {
  if (!be.layerBlock || !be.decoderLayers) return null;
  const blocks: LayerBlock[] = [];
  for (const l of layers) {
    const attention = l.self_attn.block, ffn = l.mlp.block;
    const block = attention && ffn ? be.layerBlock(l.input_layernorm, attention, l.post_attention_layernorm, ffn, eps) : null;
    if (!block) return null;
    blocks.push(block);
  }
  return blocks;
}

function addInPlace(x: Float32Array, y: Float32Array, len: number): void {
  for (let i = 0; i < len; i++) x[i]! += y[i]!;
}
