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

export interface SyntheticOptions {
  dtype?: DType;
  seed?: number;
  /** Shard size in bytes; the default keeps small models in one file. */
  shardBytes?: number;
}

/** Writes config.json and random weights for `config` into dir. */
export function writeSyntheticModel(dir: string, config: RawConfig, opts: SyntheticOptions = {}): void {
  const args = parseModelArgs(config);
  const dtype = opts.dtype ?? 'BF16';
  const tensors: TensorToWrite[] = expectedTensors(args).map(({ name, shape }, i) => ({
    name, dtype, shape,
    data: () => fromFloat32(dtype, randomValues(name, shape, (opts.seed ?? 0) * 100003 + i)),
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
