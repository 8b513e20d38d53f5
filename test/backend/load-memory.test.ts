// What loading leaves in memory on the cpu backend: the weights once, in the shards' WebAssembly
// memories (plus the embedding table in JS), and no per-tensor copies made on the way there.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../../src/backend/cpu/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import type { TensorSource } from '../../src/formats/tensor-source.js';
import { buildModel, expectedTensors, loadModel, openModelSource } from '../../src/models/load.js';
import { panguEmbeddedConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { WeightLoader } from '../../src/models/transformer.js';
import { FIXTURES, maxAbsDiff, tempDir } from '../helpers.js';

/** A source that counts the bytes read whole (read) and in pieces (readInto). */
function counting(source: TensorSource): { source: TensorSource; whole: Map<string, number>; pieces: Map<string, number> } {
  const whole = new Map<string, number>();
  const pieces = new Map<string, number>();
  const wrapped: TensorSource = {
    location: source.location,
    names: () => source.names(),
    has: (name) => source.has(name),
    info: (name) => source.info(name),
    read: (name) => {
      const b = source.read(name);
      whole.set(name, (whole.get(name) ?? 0) + b.byteLength);
      return b;
    },
    readInto: (name, start, dst) => {
      pieces.set(name, (pieces.get(name) ?? 0) + dst.byteLength);
      source.readInto!(name, start, dst);
    },
    close: () => source.close(),
  };
  return { source: wrapped, whole, pieces };
}

for (const [name, quant] of [['moe-tiny', undefined], ['embedded-tiny', undefined], ['moe-tiny', 'q8_0'], ['embedded-tiny', 'q4_0']] as const) {
  test(`${name}${quant ? ` quantized to ${quant}` : ''}: matrices are read straight into the shards, once (split down projections once per shard), nothing kept in JS but the embedding`, async () => {
    const backend = await CpuBackend.create({ threads: 2, shards: 2, ...(quant ? { quant } : {}) });
    const { args, source } = openModelSource(path.join(FIXTURES, 'models', name));
    const c = counting(source);
    try {
      buildModel(args, new WeightLoader(c.source, backend));
      const embedding = args.vocab_size * args.hidden_size * 2; // bf16
      // Read whole: the embedding table (kept, in JS) and 1-D tensors (norms, biases, router scale).
      for (const [tensor, bytes] of c.whole) {
        const info = source.info(tensor);
        assert.equal(bytes, info.byteLength, `${tensor} read whole more than once`);
        assert.ok(tensor === 'model.embed_tokens.weight' || info.shape.length === 1 || info.shape[0] === 1, `${tensor} ${JSON.stringify(info.shape)} was read whole`);
      }
      // Every tensor is read once, but the matrices split by column over the two shards (MLP down
      // projections, o_proj of a fused attention block): each shard reads the rows and keeps its columns.
      for (const { name: tensor } of expectedTensors(args)) {
        const read = (c.whole.get(tensor) ?? 0) + (c.pieces.get(tensor) ?? 0);
        const times = /mlp\.(shared_expert\.)?down_proj|self_attn\.o_proj\.weight/.test(tensor) ? 2 : 1;
        assert.equal(read, times * source.info(tensor).byteLength, `${tensor} read ${read} bytes`);
      }
      // What the shards hold is the weights placed there, and the rest is the JS embedding table.
      const used = backend.memoryUse().reduce((s, b) => s + b, 0);
      assert.ok(used >= backend.weightBytes - embedding, `${used} bytes in the shards for ${backend.weightBytes - embedding} of weights`);
      assert.ok(used <= backend.weightBytes - embedding + 64 * 2000, `${used} bytes in the shards for ${backend.weightBytes - embedding} of weights`);
    } finally {
      c.source.close();
      await backend.close();
    }
  });
}

test('tied word embeddings are kept once, in the shards, when the output projection keeps their type', async () => {
  const dir = tempDir();
  writeSyntheticModel(dir, { ...panguEmbeddedConfig(), tie_word_embeddings: true }, { dtype: 'F32', seed: 3 });
  const tokens = [1, 17, 300, 5, 511, 42, 0, 99];
  const ref = loadModel(dir, { backend: new ReferenceBackend() });
  const want = ref.forward(tokens, ref.newCache(16), 'all');
  for (const [threads, shards] of [[1, 1], [2, 3]] as const) {
    const backend = await CpuBackend.create({ threads, shards });
    try {
      const model = loadModel(dir, { backend });
      const table = model.args.vocab_size * model.args.hidden_size * 4;
      const used = backend.memoryUse().reduce((s, b) => s + b, 0);
      assert.ok(backend.weightBytes <= used, `weights ${backend.weightBytes} > ${used} bytes in the shards: a JS copy of the table`);
      assert.ok(used > table, 'the table is in the shards');
      const got = model.forward(tokens, model.newCache(16), 'all');
      assert.ok(maxAbsDiff(got, want) <= 1e-4, `logits differ by ${maxAbsDiff(got, want)}`);
    } finally {
      await backend.close();
    }
  }
  // Quantized at load, the output projection no longer has the table's type: the table stays in JS.
  const backend = await CpuBackend.create({ threads: 1, quant: 'q8_0' });
  try {
    const model = loadModel(dir, { backend });
    const used = backend.memoryUse().reduce((s, b) => s + b, 0);
    assert.ok(backend.weightBytes >= used + model.args.vocab_size * model.args.hidden_size * 4);
    const got = model.forward(tokens, model.newCache(16), 'all');
    assert.ok(maxAbsDiff(got, want) <= 0.5, `logits differ by ${maxAbsDiff(got, want)}`);
  } finally {
    await backend.close();
  }
});
