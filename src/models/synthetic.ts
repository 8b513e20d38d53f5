// Random checkpoints in the released format (config.json + safetensors, sharded when large), for
// tests and benchmarks: no model weights can be downloaded here. Values are drawn so activations
// stay O(1): uniform with the variance of N(0, 1/fan_in) for matrices, 1 ± 0.1 for norms.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fromFloat32, type DType } from '../formats/dtype.js';
import { writeCheckpoint } from '../formats/checkpoint.js';
import type { TensorToWrite } from '../formats/safetensors.js';
import { Rng } from '../engine/sampler.js';
import type { RawConfig } from './config.js';
import { expectedTensors, parseModelArgs } from './load.js';
import type { PanguMoeArgs } from './pangu-moe.js';

export interface SyntheticOptions {
  dtype?: DType;
  seed?: number;
  /** Shard size in bytes; the default keeps small models in one file. */
  shardBytes?: number;
  /**
   * Pangu Pro MoE only: weights whose every routing decision is clear by construction, so that
   * lower-precision paths (bf16, quantized) pick the same experts (see clearRoutingValues).
   */
  clearRouting?: boolean;
}

/** Writes config.json and random weights for `config` into dir. */
export function writeSyntheticModel(dir: string, config: RawConfig, opts: SyntheticOptions = {}): void {
  const args = parseModelArgs(config);
  const dtype = opts.dtype ?? 'BF16';
  if (opts.clearRouting && args.model_type !== 'PanguProMoE') throw new Error('clearRouting applies to Pangu Pro MoE models only');
  const tensors: TensorToWrite[] = expectedTensors(args).map(({ name, shape }, i) => ({
    name, dtype, shape,
    data: () => {
      const values = randomValues(name, shape, (opts.seed ?? 0) * 100003 + i);
      if (opts.clearRouting) clearRoutingValues(args as PanguMoeArgs, name, shape, values, (opts.seed ?? 0) * 7919 + i);
      return fromFloat32(dtype, values);
    },
  }));
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  writeCheckpoint(dir, tensors, opts.shardBytes);
}

function randomValues(name: string, shape: number[], seed: number): Float32Array {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const uniform = (center: number, halfWidth: number) => {
    for (let i = 0; i < n; i++) out[i] = center + (2 * rng.next() - 1) * halfWidth;
  };
  const sqrt3 = Math.sqrt(3);
  if (name.endsWith('norm.weight')) uniform(1, 0.1 * sqrt3);
  else if (name.endsWith('.bias')) uniform(0, 0.1 * sqrt3);
  else if (name.endsWith('router_scale')) uniform(1, 0.5);
  else if (name === 'model.embed_tokens.weight') uniform(0, sqrt3);
  else uniform(0, sqrt3 / Math.sqrt(shape[shape.length - 1]!));
  return out;
}

/** Routing signal magnitude in the embedding's routing coordinates, and router weight on them. */
const ROUTE_EMBED = 2;
const ROUTE_GATE = 4;

/**
 * Rewrites (in place) random MoE weights so that routing is decided by a strong signal:
 * coordinate g of the hidden state (g < number of groups) holds ±ROUTE_EMBED from the token
 * embedding, and nothing else writes it (o_proj, its bias and every down_proj are zero there), so
 * it reaches every layer's router unchanged but for the RMS norm. Inside group g the router gives
 * expert j the weight ±ROUTE_GATE on coordinates g, g+1, .. (one per bit of j): the expert whose
 * sign pattern matches the token's wins by about 2 * ROUTE_GATE * |h_g|, ~8 router-logit units,
 * against random parts of ~1. Routing still differs from token to token.
 */
export function clearRoutingValues(args: PanguMoeArgs, name: string, shape: number[], values: Float32Array, seed: number): void {
  const groups = args.num_groups, d = args.hidden_size;
  const perGroup = args.num_experts / groups;
  const bits = Math.round(Math.log2(perGroup));
  if (2 ** bits !== perGroup || bits > groups) throw new Error(`clearRouting needs a power-of-two number of experts per group, at most 2^${groups}`);
  if (d < groups) throw new Error(`clearRouting needs hidden_size >= ${groups}`);
  const cols = shape[shape.length - 1]!;
  if (name === 'model.embed_tokens.weight') {
    const rng = new Rng(seed);
    for (let t = 0; t < shape[0]!; t++) for (let c = 0; c < groups; c++) values[t * cols + c] = rng.next() < 0.5 ? -ROUTE_EMBED : ROUTE_EMBED;
  } else if (/\.(self_attn\.o_proj|down_proj)\.weight$/.test(name)) {
    values.fill(0, 0, groups * cols); // rows of the routing coordinates
  } else if (name.endsWith('.self_attn.o_proj.bias')) {
    values.fill(0, 0, groups);
  } else if (name.endsWith('.mlp.gate.weight')) {
    for (let e = 0; e < args.num_experts; e++) {
      const g = Math.floor(e / perGroup), j = e % perGroup;
      for (let c = 0; c < groups; c++) values[e * cols + c] = 0;
      for (let b = 0; b < bits; b++) values[e * cols + ((g + b) % groups)] = (j >> b) & 1 ? ROUTE_GATE : -ROUTE_GATE;
    }
  }
}

/** A Pangu Pro MoE config with the real key set, scaled to the sizes given. */
export function panguMoeConfig(sizes: Partial<Record<string, number>> = {}): RawConfig {
  return {
    architectures: ['PanguProMoEForCausalLM'],
    model_type: 'PanguProMoE',
    vocab_size: 512, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: 16000000.0, max_position_embeddings: 4096,
    tie_word_embeddings: false, num_experts: 16, num_experts_per_tok: 8, moe_intermediate_size: 32,
    shared_expert_intermediate_size: 64, router_aux_loss_coef: 0.001, torch_dtype: 'bfloat16',
    bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
    ...sizes,
  };
}

/** A Pangu Embedded config with the real key set, scaled to the sizes given. */
export function panguEmbeddedConfig(sizes: Partial<Record<string, number>> = {}): RawConfig {
  return {
    architectures: ['PanguEmbeddedForCausalLM'],
    model_type: 'PanguEmbedded', bias: true,
    vocab_size: 512, hidden_size: 64, intermediate_size: 160, num_hidden_layers: 2, num_attention_heads: 4,
    num_key_value_heads: 2, hidden_act: 'silu', rms_norm_eps: 1e-5, rope_theta: 16000000.0,
    max_position_embeddings: 4096, tie_word_embeddings: false, torch_dtype: 'bfloat16',
    bos_token_id: 1, eos_token_id: 2, pad_token_id: 0,
    ...sizes,
  };
}
