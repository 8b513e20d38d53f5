// Q4_K_M files written by llama.cpp's llama-quantize (test/fixtures/gguf/kquant/README.md), one of
// them with Q5_0 and Q8_0 fallbacks: pangu-ts loads them on the reference and cpu backends and
// decodes llama.cpp's greedy tokens, and its own q4_k_m conversion of the same checkpoint is
// byte-identical.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CpuBackend } from '../../src/backend/cpu/backend.js';
import { generate } from '../../src/engine/generate.js';
import { GgufFile } from '../../src/formats/gguf.js';
import { convertToGguf } from '../../src/models/convert.js';
import { loadModel } from '../../src/models/load.js';
import { FusedAttention } from '../../src/models/layers/attention.js';
import { panguEmbeddedConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { FIXTURES, forwardSteps, maxAbsDiff, tempDir } from '../helpers.js';
import { writeClearModel } from './gguf-helpers.js';

const dir = path.join(FIXTURES, 'gguf', 'kquant');

interface Fixture {
  file: string; tensor_types: Record<string, number>; prompt: number[]; greedy_llama_cpp: number[];
}

// The checkpoints of the fixtures, as tools/gguf/make-kquant-fixture.ts writes them: every row a
// whole number of 256-blocks, and (ffn320) ffn_down rows of 320 values, which llama-quantize's
// Q4_K_M stores as Q5_0 (layer 0) and Q8_0 (layer 1, Q6_K by use_more_bits).
const FIXTURES_KQ = [
  { json: 'expected.json', config: { vocab_size: 256, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2 }, down: ['Q4_K', 'Q6_K'] },
  { json: 'expected-ffn320.json', config: { vocab_size: 256, hidden_size: 256, intermediate_size: 320, num_hidden_layers: 2 }, down: ['Q5_0', 'Q8_0'] },
];

for (const { json, config, down } of FIXTURES_KQ) {
  const expected = JSON.parse(fs.readFileSync(path.join(dir, json), 'utf8')) as Fixture;
  const file = path.join(dir, expected.file);

  test(`llama-quantize Q4_K_M file ${expected.file}: its tensor types; the reference backend decodes llama.cpp's 64 greedy tokens`, () => {
    const g = GgufFile.open(file);
    const types: Record<string, number> = {};
    try {
      for (const t of g.tensors.values()) types[t.dtype] = (types[t.dtype] ?? 0) + 1;
      assert.equal(g.tensors.get('output.weight')!.dtype, 'Q6_K');
      assert.equal(g.tensors.get('blk.0.ffn_down.weight')!.dtype, down[0]);
      assert.equal(g.tensors.get('blk.1.ffn_down.weight')!.dtype, down[1]);
    } finally {
      g.close();
    }
    assert.deepEqual(types, expected.tensor_types);
    const model = loadModel(file);
    assert.deepEqual([...generate(model, expected.prompt, { maxTokens: 64, temperature: 0 })], expected.greedy_llama_cpp);
  });

  test(`llama-quantize Q4_K_M file ${expected.file} on the cpu backend: logits within 5% of the dequantized model, llama.cpp's greedy tokens`, async () => {
    const exact = loadModel(file);
    const sequence = [...expected.prompt, ...expected.greedy_llama_cpp.slice(0, 12)];
    const want = exact.forward(sequence, exact.newCache(sequence.length), 'all');
    const scale = Math.sqrt(want.reduce((s, x) => s + x * x, 0) / want.length);
    // Two threads: the MLP's intermediate dimension is split between them (512: at 256, so the
    // Q6_K ffn_down of layer 1 is cut between its super-blocks; 320: at 160, in Q5_0's blocks).
    const backend = await CpuBackend.create({ threads: 2 });
    try {
      const fast = loadModel(file, { backend });
      const got = fast.forward(sequence, fast.newCache(sequence.length), 'all');
      // Only the rounding of the activations (Q8_0 / Q8_K) differs (measured 3.5% at the worst logit).
      const rel = maxAbsDiff(got, want) / scale;
      assert.ok(rel <= 0.05, `max abs diff ${rel} of the logits' RMS`);
      assert.deepEqual([...generate(fast, expected.prompt, { maxTokens: 64, temperature: 0 })], expected.greedy_llama_cpp);
    } finally {
      await backend.close();
    }
  });

  test(`pangu convert --type q4_k_m of the same checkpoint equals llama-quantize's ${expected.file} tensor by tensor`, () => {
    const tmp = tempDir();
    const hf = path.join(tmp, 'hf');
    writeClearModel(hf, panguEmbeddedConfig(config), { seed: 7, dtype: 'F32' });
    const ours = path.join(tmp, 'ours.gguf');
    convertToGguf(hf, ours, { type: 'q4_k_m' });
    const a = GgufFile.open(file), b = GgufFile.open(ours);
    try {
      assert.deepEqual([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
      for (const [name, t] of a.tensors) {
        assert.equal(b.tensors.get(name)!.dtype, t.dtype, name);
        assert.ok(Buffer.from(b.read(name)).equals(Buffer.from(a.read(name))), `${name} (${t.dtype}) bytes`);
      }
    } finally {
      a.close();
      b.close();
    }
  });
}

test('Q4_K_M attention whose shards\' heads end off o_proj\'s 256-blocks: the fused block (o_proj cut by rows) computes the very logits of the composed one', async () => {
  const tmp = tempDir();
  const hf = path.join(tmp, 'hf');
  // 6 heads of 128 over 2 kv heads: 2 shards hold 3 heads each, o_proj columns [0, 384) and [384, 768)
  writeSyntheticModel(hf, panguEmbeddedConfig({
    vocab_size: 256, hidden_size: 768, intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 6, num_key_value_heads: 2,
  }), { seed: 3, dtype: 'F32' });
  const gguf = path.join(tmp, 'model.gguf');
  convertToGguf(hf, gguf, { type: 'q4_k_m' });
  const tokens = Array.from({ length: 24 }, (_, i) => (i * 53 + 7) % 256);
  const runs: Float32Array[][] = [];
  for (const fuseAttention of [true, false]) {
    const backend = await CpuBackend.create({ threads: 2, shards: 2, fuseAttention, smallMatrixBytes: fuseAttention ? undefined : 0 });
    try {
      const model = loadModel(gguf, { backend });
      assert.equal(model.layers[0]!.self_attn instanceof FusedAttention, fuseAttention);
      runs.push(forwardSteps(model, tokens, 18, 3, 32));
    } finally {
      await backend.close();
    }
  }
  runs[0]!.forEach((want, i) => assert.deepEqual(runs[1]![i], want, `output ${i}`));
});

/** forwardSteps (a prompt of 18, a step of 3, single tokens) on 2 threads with the rows interleaved and without. */
async function withAndWithoutInterleaving(gguf: string, tokens: number[]): Promise<[Float32Array[], Float32Array[]]> {
  const runs: Float32Array[][] = [];
  for (const interleave of [true, false]) {
    const backend = await CpuBackend.create({ threads: 2, interleave });
    try {
      runs.push(forwardSteps(loadModel(gguf, { backend }), tokens, 18, 3, 32));
    } finally {
      await backend.close();
    }
  }
  return [runs[0]!, runs[1]!];
}

test('rows interleaved by four (q4_k_x4, q8_0_x4: the cpu backend\'s default) compute the logits of the file\'s own layout; a tied embedding reads its rows back', async () => {
  const tmp = tempDir();
  // q4_k_m: Q4_K (and Q6_K); q4_k tied: every matrix Q4_K, token_embd and output one tensor; q8_0
  // untied and tied
  for (const [type, tied] of [['q4_k_m', false], ['q4_k', true], ['q8_0', false], ['q8_0', true]] as const) {
    const hf = path.join(tmp, `hf-${type}-${tied}`);
    writeSyntheticModel(hf, {
      ...panguEmbeddedConfig({ vocab_size: 256, hidden_size: 512, intermediate_size: 768, num_hidden_layers: 2, num_attention_heads: 8, num_key_value_heads: 2 }),
      tie_word_embeddings: tied,
    }, { seed: 5, dtype: 'F32' });
    const gguf = path.join(tmp, `model-${type}-${tied}.gguf`);
    convertToGguf(hf, gguf, { type });
    const [x4, plain] = await withAndWithoutInterleaving(gguf, Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 256));
    const what = `${type}${tied ? ' tied' : ''}`;
    if (type === 'q8_0') {
      // q8_0_x4 does q8_0's arithmetic: every logit bit for bit
      x4.forEach((got, i) => assert.deepEqual(got, plain[i], `${what}: output ${i}`));
      continue;
    }
    // the tiles compute q4_k's values: the prompt's logits bit for bit
    assert.deepEqual(x4[0], plain[0], `${what}: prompt`);
    // the matvec sums in another order: within float rounding, and not bit for bit (another kernel ran)
    for (let i = 1; i < x4.length; i++) {
      const scale = Math.sqrt(plain[i]!.reduce((s, v) => s + v * v, 0) / plain[i]!.length);
      assert.ok(maxAbsDiff(x4[i]!, plain[i]!) <= 1e-4 * scale, `${what}: output ${i} differs by ${maxAbsDiff(x4[i]!, plain[i]!) / scale} of the RMS`);
    }
    assert.notDeepEqual(x4.slice(1), plain.slice(1), `${what}: the interleaved matvec ran`);
  }
});

test('a matrix whose rows are not whole groups of four (a vocabulary of 250) stays in the file\'s layout, the others interleave: the same logits', async () => {
  const tmp = tempDir();
  const hf = path.join(tmp, 'hf');
  writeSyntheticModel(hf, panguEmbeddedConfig({ vocab_size: 250, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2 }), { seed: 9, dtype: 'F32' });
  const gguf = path.join(tmp, 'model.gguf');
  convertToGguf(hf, gguf, { type: 'q8_0' });
  const [x4, plain] = await withAndWithoutInterleaving(gguf, Array.from({ length: 24 }, (_, i) => (i * 37 + 11) % 250));
  x4.forEach((got, i) => assert.deepEqual(got, plain[i], `output ${i}`));
});
