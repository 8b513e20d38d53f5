// A model whose weights exceed one WebAssembly memory (4 GiB): generated here (nothing this size is
// committed), loaded on the cpu backend across several shards, checked against the reference.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { test } from 'node:test';
import { CpuBackend } from '../../src/backend/cpu/backend.js';
import { loadModel, modelBytes } from '../../src/models/load.js';
import { panguEmbeddedConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { maxAbsDiff, tempDir } from '../helpers.js';

test('a model of more than 4 GiB of weights loads across shards and computes what the reference computes', async () => {
  const dir = tempDir('pangu-big-');
  // Pangu Embedded 7B's layer shapes (hidden 4096, FFN 12800, 32/8 heads), 11 layers: 4.4 GB of bf16.
  writeSyntheticModel(dir, panguEmbeddedConfig({
    vocab_size: 1024, hidden_size: 4096, intermediate_size: 12800, num_hidden_layers: 11,
    num_attention_heads: 32, num_key_value_heads: 8,
  }), { seed: 5, dtype: 'BF16', shardBytes: 2e9 });
  const bytes = modelBytes(dir);
  assert.ok(bytes > 4 * 2 ** 30, `${bytes} bytes`);
  const tokens = [1, 300, 7];
  let got: Float32Array;
  {
    // One shard cannot hold it: a clear error, not a crash.
    const one = await CpuBackend.create({ threads: 1, shards: 1 });
    assert.throws(() => loadModel(dir, { backend: one }), /weight shard 0 is full after [\d.]+ GiB of weights: each of the 1 shards holds at most 4 GiB/);
    await one.close();
    const backend = await CpuBackend.create({ threads: 2, shards: CpuBackend.shardsFor(bytes, 2) });
    const model = loadModel(dir, { backend });
    assert.ok(backend.memoryUse().every((b) => b < 4 * 2 ** 30));
    assert.ok(backend.memoryUse().reduce((a, b) => a + b, 0) > 4 * 2 ** 30);
    got = model.forward(tokens, model.newCache(8), 'all');
    await backend.close();
  }
  const ref = loadModel(dir);
  const want = ref.forward(tokens, ref.newCache(8), 'all');
  const err = maxAbsDiff(got, want);
  assert.ok(err <= 1e-3, `max abs diff ${err}`);
  fs.rmSync(dir, { recursive: true, force: true });
});
