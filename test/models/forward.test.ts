import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadModel } from '../../src/models/load.js';
import { MixtureOfExperts } from '../../src/models/layers/moe.js';
import { panguEmbeddedConfig, panguMoeConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { maxAbsDiff, tempDir } from '../helpers.js';

const tokens = [1, 17, 300, 5, 42, 511, 7, 99, 250, 3];

for (const [name, config] of [
  ['PanguProMoE', panguMoeConfig({ hidden_size: 60, num_attention_heads: 6, num_key_value_heads: 2 })],
  ['PanguEmbedded', panguEmbeddedConfig({ hidden_size: 60, num_attention_heads: 6, num_key_value_heads: 3 })],
] as const) {
  test(`${name}: decoding token by token with the KV cache equals one full forward`, () => {
    const dir = tempDir();
    writeSyntheticModel(dir, config, { seed: 11, shardBytes: 100_000 });
    const model = loadModel(dir);
    const v = model.args.vocab_size;
    const full = model.forward(tokens, model.newCache(64), 'all');
    const cache = model.newCache(64);
    // A prompt chunk first, then single tokens: both paths of the cache.
    const chunk = model.forward(tokens.slice(0, 4), cache, 'all');
    assert.ok(maxAbsDiff(chunk, full.subarray(0, 4 * v)) <= 1e-5);
    for (let i = 4; i < tokens.length; i++) {
      const step = model.forward([tokens[i]!], cache, 'last');
      const diff = maxAbsDiff(step, full.subarray(i * v, (i + 1) * v));
      assert.ok(diff <= 1e-5, `position ${i}: max abs diff ${diff}`);
    }
    assert.equal(cache.length, tokens.length);
    assert.ok(full.some((x) => Math.abs(x) > 0.1), 'logits are not all near zero');
  });
}

test('MoGE picks exactly one expert in each group for every token', () => {
  const dir = tempDir();
  writeSyntheticModel(dir, panguMoeConfig({ num_experts: 32 }), { seed: 5 });
  const model = loadModel(dir);
  model.forward(tokens, model.newCache(16), 'last');
  for (const layer of model.layers) {
    const moe = layer.mlp as MixtureOfExperts;
    assert.equal(moe.lastExpertIds.length, tokens.length * 8);
    for (let i = 0; i < tokens.length; i++) {
      const groups = Array.from(moe.lastExpertIds.subarray(i * 8, i * 8 + 8), (e) => Math.floor(e / 4));
      assert.deepEqual(groups, [0, 1, 2, 3, 4, 5, 6, 7]);
    }
  }
});

test('a forward past the cache or with an unknown token is refused', () => {
  const dir = tempDir();
  writeSyntheticModel(dir, panguEmbeddedConfig(), { seed: 1 });
  const model = loadModel(dir);
  assert.throws(() => model.forward([1, 2, 3], model.newCache(2)), /sequence of 3 tokens exceeds the context of 2/);
  assert.throws(() => model.forward([1, 512], model.newCache(4)), /token id 512 is outside the vocabulary \(0\.\.511\)/);
});

test('a batch of sequences at different positions gives each the logits it gets alone', async () => {
  const { CpuBackend } = await import('../../src/backend/cpu/backend.js');
  const dir = tempDir();
  writeSyntheticModel(dir, panguMoeConfig({ hidden_size: 64, num_attention_heads: 4, num_key_value_heads: 2 }), { seed: 21 });
  const cpu = await CpuBackend.create({ threads: 2 });
  try {
    for (const model of [loadModel(dir), loadModel(dir, { backend: cpu })]) {
      const prompts = [[1, 2, 3, 4, 5], [9, 8], [100, 200, 300]];
      const alone = prompts.map((p) => { const c = model.newCache(16); model.forward(p, c); return { c, next: model.forward([7], c, 'all') }; });
      const caches = prompts.map((p) => { const c = model.newCache(16); model.forward(p, c); return c; });
      // One decode step for all three, then a step that mixes a new prompt with a decode step.
      const step = model.forwardBatch(caches.map((cache) => ({ tokens: [7], cache })));
      step.forEach((l, b) => assert.ok(maxAbsDiff(l, alone[b]!.next) <= 1e-5, `${model.backend.name} sequence ${b}`));
      const fresh = model.newCache(16);
      const mixed = model.forwardBatch([{ tokens: [11, 12, 13], cache: fresh }, { tokens: [5], cache: caches[1]! }], 'all');
      const want = model.forward([11, 12, 13], model.newCache(16), 'all');
      assert.ok(maxAbsDiff(mixed[0]!, want) <= 1e-5);
      assert.ok(maxAbsDiff(mixed[1]!, model.forward([5], alone[1]!.c, 'all')) <= 1e-5);
      assert.throws(() => model.forwardBatch([{ tokens: [1], cache: fresh }, { tokens: [2], cache: fresh }]), /its own cache/);
    }
  } finally {
    await cpu.close();
  }
});
