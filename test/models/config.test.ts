import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ConfigError } from '../../src/models/config.js';
import { expectedTensors, loadModel, parseModelArgs, readModelArgs } from '../../src/models/load.js';
import type { PanguMoeArgs } from '../../src/models/pangu-moe.js';
import { panguEmbeddedConfig, panguMoeConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { FormatError } from '../../src/formats/safetensors.js';
import { FIXTURES, tempDir } from '../helpers.js';

function rejects(config: Record<string, unknown>, pattern: RegExp): void {
  assert.throws(() => parseModelArgs(config, 'x/config.json'), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.match(e.message, /^x\/config\.json: /);
    assert.match(e.message, pattern);
    return true;
  });
}

test('the real Pangu Embedded 7B config.json parses into typed args', () => {
  const dir = path.join(FIXTURES, 'configs', 'embedded-7b');
  const args = readModelArgs(dir);
  assert.equal(args.model_type, 'PanguEmbedded');
  assert.equal(args.head_dim, 128);
  assert.equal(args.num_key_value_heads, 8);
  assert.equal(args.rope_theta, 16e6);
  assert.deepEqual(args.eos_token_id, [45892]);
});

test('Pangu Pro MoE config: the official defaults give 8 groups of 8 experts', () => {
  const args = parseModelArgs(panguMoeConfig({
    vocab_size: 153376, hidden_size: 5120, num_hidden_layers: 48, num_attention_heads: 40, num_key_value_heads: 8,
    num_experts: 64, num_experts_per_tok: 8, moe_intermediate_size: 1344, shared_expert_intermediate_size: 5376,
  })) as PanguMoeArgs;
  assert.equal(args.head_dim, 128);
  assert.equal(args.num_groups, 8);
  assert.equal(args.num_experts / args.num_groups, 8);
});

test('architecture chosen by architectures[] when model_type is absent', () => {
  const { model_type: _, ...cfg } = panguEmbeddedConfig();
  assert.equal(parseModelArgs(cfg).model_type, 'PanguEmbedded');
});

test('inconsistent or unknown configs are rejected with the key named', () => {
  rejects({ ...panguMoeConfig(), model_type: 'llama', architectures: ['LlamaForCausalLM'] }, /unsupported model_type "llama".*supported: PanguProMoE, PanguEmbedded/);
  rejects(panguMoeConfig({ hidden_size: 66 }), /"hidden_size" \(66\) is not divisible by "num_attention_heads" \(4\)/);
  rejects(panguMoeConfig({ num_key_value_heads: 3 }), /"num_attention_heads" \(4\) is not divisible by "num_key_value_heads" \(3\)/);
  rejects(panguMoeConfig({ num_experts: 12 }), /"num_experts" \(12\) is not divisible by "the number of expert groups" \(8\)/);
  rejects(panguMoeConfig({ num_experts_per_tok: 4 }), /"num_experts_per_tok" \(4\) is not divisible/);
  rejects({ ...panguEmbeddedConfig(), intermediate_size: undefined }, /missing required key "intermediate_size"/);
  rejects({ ...panguEmbeddedConfig(), vocab_size: '512' }, /"vocab_size" must be an integer >= 1, got "512"/);
  rejects({ ...panguEmbeddedConfig(), rope_theta: -1 }, /"rope_theta" must be a positive number/);
  rejects({ ...panguEmbeddedConfig(), hidden_act: 'gelu' }, /"hidden_act" "gelu" is not supported/);
  rejects(panguEmbeddedConfig({ hidden_size: 36, num_attention_heads: 4, num_key_value_heads: 4 }), /head dimension .* = 9 must be even/);
});

test('config.json that is missing or not JSON', () => {
  const dir = tempDir();
  assert.throws(() => readModelArgs(dir), /config\.json: cannot read/);
  fs.writeFileSync(path.join(dir, 'config.json'), '{"model_type": ');
  assert.throws(() => readModelArgs(dir), /config\.json: not valid JSON/);
});

test('missing and misshapen tensors are named at load', () => {
  const dir = tempDir();
  writeSyntheticModel(dir, panguMoeConfig(), { seed: 3 });
  const cfg = panguMoeConfig({ moe_intermediate_size: 48 });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(cfg));
  assert.throws(() => loadModel(dir), (e: unknown) =>
    e instanceof FormatError && /tensor 'model\.layers\.0\.mlp\.experts\.0\.gate_proj\.weight': has shape \[32,64\], expected \[48,64\]/.test(e.message));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(panguMoeConfig({ num_hidden_layers: 3 })));
  assert.throws(() => loadModel(dir), /tensor 'model\.layers\.2\.input_layernorm\.weight': missing from the checkpoint/);
});

test('tensor names match the released Pangu Embedded 7B index exactly', () => {
  const dir = path.join(FIXTURES, 'configs', 'embedded-7b');
  const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  const released = Object.keys(index.weight_map).filter((n) => !n.endsWith('rotary_emb.inv_freq')).sort();
  const ours = expectedTensors(readModelArgs(dir)).map((t) => t.name).sort();
  assert.deepEqual(ours, released);
});
