import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Checkpoint } from '../../src/formats/checkpoint.js';
import { GgufFile, kv, writeGguf, type GgufMetadata, type GgufTensorToWrite } from '../../src/formats/gguf.js';
import { generate } from '../../src/engine/generate.js';
import { convertToGguf, planTensors, tensorTypeFor, type ConvertType } from '../../src/models/convert.js';
import { f32Decimal, ggufMetadata, ggufModelArgs, GgufTensorSource, hfToGguf } from '../../src/models/gguf-arch.js';
import { MixtureOfExperts } from '../../src/models/layers/moe.js';
import { expectedTensors, loadModel, parseModelArgs, readModelArgs } from '../../src/models/load.js';
import { panguEmbeddedConfig, panguMoeConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import type { Transformer } from '../../src/models/transformer.js';
import { FIXTURES, maxAbsDiff, tempDir } from '../helpers.js';
import { writeClearModel } from './gguf-helpers.js';

const prompt = [1, 17, 300, 5];

function allLogits(model: Transformer, tokens: number[]): Float32Array {
  return model.forward(tokens, model.newCache(tokens.length), 'all');
}

/** Expert ids chosen in each layer by the last forward ([] for dense layers). */
function chosenExperts(model: Transformer): number[][] {
  return model.layers.map((l) => (l.mlp instanceof MixtureOfExperts ? Array.from(l.mlp.lastExpertIds) : []));
}

function greedy(model: Transformer, n = 64): number[] {
  return [...generate(model, prompt, { maxTokens: n, temperature: 0 })];
}

function rms(a: Float32Array): number {
  return Math.sqrt(a.reduce((s, x) => s + x * x, 0) / a.length);
}

/** Smallest gap between the best and second-best logit over the rows of [n, v]. */
function minTop2Gap(logits: Float32Array, v: number): number {
  let gap = Infinity;
  for (let r = 0; r < logits.length / v; r++) {
    let a = -Infinity, b = -Infinity;
    for (const x of logits.subarray(r * v, (r + 1) * v)) {
      if (x > a) { b = a; a = x; } else if (x > b) b = x;
    }
    gap = Math.min(gap, a - b);
  }
  return gap;
}

const archs = [
  ['PanguProMoE', panguMoeConfig, { clearRouting: true }],
  ['PanguEmbedded', panguEmbeddedConfig, {}],
] as const;

for (const [name, config] of archs) {
  test(`${name}: HF f32 -> GGUF f32 loads with the same args and logits`, () => {
    const dir = tempDir();
    writeSyntheticModel(path.join(dir, 'hf'), config(), { seed: 4, dtype: 'F32', shardBytes: 200_000 });
    const out = path.join(dir, 'm.gguf');
    const result = convertToGguf(path.join(dir, 'hf'), out, { type: 'f32' });
    assert.deepEqual(Object.keys(result.types), ['F32']);
    const ref = loadModel(path.join(dir, 'hf')), got = loadModel(out);
    assert.deepEqual(got.args, ref.args);
    const tokens = [...prompt, 42, 511, 0, 250];
    const diff = maxAbsDiff(allLogits(got, tokens), allLogits(ref, tokens));
    assert.ok(diff <= 1e-6, `max abs diff ${diff}`);
    assert.deepEqual(chosenExperts(got), chosenExperts(ref));
  });

  test(`${name}: a bf16 checkpoint converted to GGUF bf16 gives identical logits`, () => {
    const dir = tempDir();
    writeSyntheticModel(path.join(dir, 'hf'), config(), { seed: 5, dtype: 'BF16' });
    const out = path.join(dir, 'm.gguf');
    convertToGguf(path.join(dir, 'hf'), out, { type: 'bf16' });
    const ref = loadModel(path.join(dir, 'hf')), got = loadModel(out);
    assert.deepEqual(allLogits(got, prompt), allLogits(ref, prompt));
    // Matrices keep their bytes; norms are widened to F32 exactly.
    const ckpt = Checkpoint.open(path.join(dir, 'hf'));
    const src = new GgufTensorSource(GgufFile.open(out));
    try {
      assert.deepEqual(src.read('model.layers.1.self_attn.k_proj.weight'), ckpt.read('model.layers.1.self_attn.k_proj.weight'));
      assert.equal(src.info('model.norm.weight').dtype, 'F32');
      assert.deepEqual(src.readF32('model.norm.weight'), ckpt.readF32('model.norm.weight'));
    } finally {
      src.close();
      ckpt.close();
    }
  });
}

/**
 * Documented bounds (docs/GGUF.md) for converted test models: max |Δlogit| and RMS(Δlogit),
 * both over RMS(reference logits), on the prompt plus 64 greedy tokens.
 */
const BOUNDS: Record<Exclude<ConvertType, 'f32'>, { max: number; rms: number }> = {
  f16: { max: 0.01, rms: 0.002 },
  bf16: { max: 0.05, rms: 0.01 },
  q8_0: { max: 0.1, rms: 0.02 },
  q4_0: { max: 1.5, rms: 0.3 },
  q4_k: { max: 1.0, rms: 0.2 },
  q5_k: { max: 0.5, rms: 0.1 },
  q6_k: { max: 0.25, rms: 0.05 },
  q4_k_m: { max: 1.0, rms: 0.2 },
  q5_k_m: { max: 0.5, rms: 0.1 },
};

function checkConverted(hf: string, types: Exclude<ConvertType, 'f32'>[], big: boolean): void {
  const ref = loadModel(hf);
  const v = ref.args.vocab_size;
  const tokens = greedy(ref);
  const sequence = [...prompt, ...tokens.slice(0, -1)];
  const refLogits = allLogits(ref, sequence);
  const refExperts = chosenExperts(ref);
  const scale = rms(refLogits);
  for (const type of types) {
    const file = `${hf}-${type}.gguf`;
    const result = convertToGguf(hf, file, { type });
    if (type === 'q4_k') assert.ok(result.types['Q4_K']! > 0, `Q4_K tensors in ${JSON.stringify(result.types)}`);
    if (type === 'q4_k_m') assert.ok(result.types['Q4_K']! > 0 && result.types['Q6_K']! > 0, `Q4_K and Q6_K tensors in ${JSON.stringify(result.types)}`);
    if (type === 'q5_k_m') assert.ok(result.types['Q5_K']! > 0 && result.types['Q6_K']! > 0, `Q5_K and Q6_K tensors in ${JSON.stringify(result.types)}`);
    const model = loadModel(file);
    const logits = allLogits(model, sequence);
    const diff = Float32Array.from(logits, (x, i) => x - refLogits[i]!);
    const maxRel = maxAbsDiff(logits, refLogits) / scale, rmsRel = rms(diff) / scale;
    const label = `${ref.args.model_type} ${big ? '256' : '64'}-wide ${type}`;
    assert.ok(maxRel <= BOUNDS[type].max && rmsRel <= BOUNDS[type].rms, `${label}: max ${maxRel}, rms ${rmsRel} of the logits' RMS`);
    assert.deepEqual(chosenExperts(model), refExperts, `${label}: the same experts in every layer for every token`);
    if (type === 'q8_0') {
      // The reference's greedy choices are clear by far more than Q8_0 moves any logit.
      assert.ok(minTop2Gap(refLogits.subarray((prompt.length - 1) * v), v) > 2 * maxAbsDiff(logits, refLogits));
      assert.deepEqual(greedy(model), tokens, `${label}: 64 greedy tokens identical`);
    }
  }
}

for (const [name, config, extra] of archs) {
  test(`${name}: f16 / bf16 / Q8_0 / Q4_0 conversions stay within bounds; Q8_0 decodes the same 64 greedy tokens`, () => {
    const dir = tempDir();
    const hf = path.join(dir, 'hf');
    writeClearModel(hf, config(), { seed: 2, dtype: 'F32', ...extra });
    checkConverted(hf, ['f16', 'bf16', 'q8_0', 'q4_0'], false);
  });

  test(`${name}: Q4_K / Q5_K / Q6_K / Q4_K_M / Q5_K_M conversions of a model with 256-wide rows stay within bounds`, () => {
    const dir = tempDir();
    const hf = path.join(dir, 'hf');
    writeClearModel(hf, config({ hidden_size: 256, intermediate_size: 512, moe_intermediate_size: 256, shared_expert_intermediate_size: 256, num_hidden_layers: 1 }),
      { seed: 1, dtype: 'F32', ...extra });
    checkConverted(hf, ['q4_k', 'q8_0', 'q5_k', 'q6_k', 'q4_k_m', 'q5_k_m'], true);
  });
}

test('tensor types: norms, biases, router and router scale stay F32; output is Q8_0 in Q4 files; fallbacks', () => {
  assert.equal(tensorTypeFor('blk.0.attn_norm.weight', [64], 'q4_0'), 'F32');
  assert.equal(tensorTypeFor('blk.0.attn_q.bias', [64], 'q8_0'), 'F32');
  assert.equal(tensorTypeFor('blk.0.ffn_gate_inp.weight', [16, 64], 'q8_0'), 'F32');
  assert.equal(tensorTypeFor('blk.0.ffn_down_exps.scale', [16], 'bf16'), 'F32');
  assert.equal(tensorTypeFor('token_embd.weight', [512, 64], 'q4_0'), 'Q4_0');
  assert.equal(tensorTypeFor('output.weight', [512, 64], 'q4_0'), 'Q8_0');
  assert.equal(tensorTypeFor('output.weight', [512, 256], 'q4_k'), 'Q8_0');
  assert.equal(tensorTypeFor('blk.0.ffn_down_exps.weight', [64, 5120, 1344], 'q4_k'), 'Q5_0'); // 1344 % 256 != 0
  assert.equal(tensorTypeFor('blk.0.ffn_down_exps.weight', [64, 5120, 1344], 'q5_k'), 'Q8_0'); // llama.cpp: Q5_1
  assert.equal(tensorTypeFor('blk.0.ffn_down_exps.weight', [64, 5120, 1344], 'q6_k'), 'Q8_0');
  assert.equal(tensorTypeFor('blk.0.ffn_up.weight', [160, 60], 'q8_0'), 'F16'); // 60 % 32 != 0
  assert.equal(tensorTypeFor('blk.0.ffn_up.weight', [160, 60], 'bf16'), 'BF16');
  // llama-quantize's Q4_K_M / Q5_K_M: output Q6_K; attn_v and ffn_down Q6_K in the layers of use_more_bits
  // (32 layers: 0-3, 28-31 and 6, 9, ..., 27), else the base type; rows that do not fit fall back
  // as llama-quantize's: Q4_K -> Q5_0, Q6_K -> Q8_0.
  assert.equal(tensorTypeFor('output.weight', [512, 256], 'q4_k_m', 32), 'Q6_K');
  assert.equal(tensorTypeFor('token_embd.weight', [512, 256], 'q4_k_m', 32), 'Q4_K');
  const sixes = Array.from({ length: 32 }, (_, i) => i).filter((i) => tensorTypeFor(`blk.${i}.ffn_down.weight`, [256, 512], 'q4_k_m', 32) === 'Q6_K');
  assert.deepEqual(sixes, [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  assert.equal(tensorTypeFor('blk.6.attn_v.weight', [64, 256], 'q5_k_m', 32), 'Q6_K');
  assert.equal(tensorTypeFor('blk.5.attn_v.weight', [64, 256], 'q5_k_m', 32), 'Q5_K');
  assert.equal(tensorTypeFor('blk.5.attn_q.weight', [256, 256], 'q4_k_m', 32), 'Q4_K');
  assert.equal(tensorTypeFor('blk.0.ffn_down.weight', [256, 320], 'q4_k_m', 32), 'Q8_0'); // 320 % 256 != 0, Q6_K here
  assert.equal(tensorTypeFor('blk.5.ffn_down.weight', [256, 320], 'q4_k_m', 32), 'Q5_0');
  assert.equal(tensorTypeFor('blk.0.ffn_up.weight', [256, 256], 'q6_k', 32), 'Q6_K');
});

test('GGUF names: stacked experts split into per-expert views; every checkpoint tensor has a place', () => {
  const dir = tempDir();
  const hf = path.join(dir, 'hf');
  writeSyntheticModel(hf, panguMoeConfig(), { seed: 3, dtype: 'F32' });
  const args = readModelArgs(hf);
  const plan = planTensors(args, 'q8_0');
  const exps = plan.find((t) => t.name === 'blk.1.ffn_down_exps.weight')!;
  assert.deepEqual(exps.shape, [16, 64, 32]);
  assert.equal(exps.dtype, 'Q8_0');
  assert.deepEqual(exps.sources.slice(0, 2), ['model.layers.1.mlp.experts.0.down_proj.weight', 'model.layers.1.mlp.experts.1.down_proj.weight']);
  assert.deepEqual(plan.find((t) => t.name === 'blk.0.ffn_down_exps.scale')!.shape, [16]);
  assert.deepEqual(plan.map((t) => t.name).slice(0, 2), ['token_embd.weight', 'blk.0.attn_norm.weight']);
  assert.deepEqual(plan.map((t) => t.name).slice(-2), ['output_norm.weight', 'output.weight']);
  assert.deepEqual(hfToGguf('model.layers.3.mlp.experts.7.up_proj.weight'), { name: 'blk.3.ffn_up_exps.weight', expert: 7 });
  assert.deepEqual(hfToGguf('model.layers.0.mlp.shared_expert.down_proj.weight'), { name: 'blk.0.ffn_down_shexp.weight' });
  assert.equal(hfToGguf('model.layers.0.self_attn.rotary_emb.inv_freq'), undefined);

  const out = path.join(dir, 'm.gguf');
  convertToGguf(hf, out, { type: 'f32' });
  const src = new GgufTensorSource(GgufFile.open(out));
  const ckpt = Checkpoint.open(hf);
  try {
    assert.deepEqual(src.names().sort(), expectedTensors(args).map((t) => t.name).sort());
    assert.deepEqual(src.unmapped, []);
    assert.deepEqual(src.info('model.layers.1.mlp.router_scale').shape, [1, 16]);
    for (const n of ['model.layers.1.mlp.experts.13.down_proj.weight', 'model.layers.0.mlp.experts.0.gate_proj.weight', 'model.layers.1.mlp.router_scale']) {
      assert.deepEqual(src.info(n).shape, ckpt.info(n).shape);
      assert.deepEqual(src.read(n), ckpt.read(n));
    }
  } finally {
    src.close();
    ckpt.close();
  }
});

test('tied embeddings: no output.weight in the GGUF, lm_head is token_embd', () => {
  const dir = tempDir();
  const hf = path.join(dir, 'hf');
  writeSyntheticModel(hf, { ...panguEmbeddedConfig(), tie_word_embeddings: true }, { seed: 6, dtype: 'F32' });
  const out = path.join(dir, 'm.gguf');
  convertToGguf(hf, out, { type: 'f32' });
  const g = GgufFile.open(out);
  assert.ok(!g.tensors.has('output.weight'));
  g.close();
  const got = loadModel(out);
  assert.equal(got.args.tie_word_embeddings, true);
  assert.ok(maxAbsDiff(allLogits(got, prompt), allLogits(loadModel(hf), prompt)) <= 1e-6);
});

/** Copies a GGUF file with edited metadata and tensors. */
function rewrite(src: string, dst: string, edit: (m: GgufMetadata, t: GgufTensorToWrite[]) => void): void {
  const g = GgufFile.open(src);
  const tensors: GgufTensorToWrite[] = [...g.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: g.read(t.name) }));
  const metadata = new Map(g.metadata);
  g.close();
  edit(metadata, tensors);
  writeGguf(dst, metadata, tensors);
}

test('GGUF models that cannot be run give errors naming the file, the key or the tensor', () => {
  const dir = tempDir();
  const hf = path.join(dir, 'hf');
  writeSyntheticModel(hf, panguEmbeddedConfig(), { seed: 7, dtype: 'F32' });
  const good = path.join(dir, 'good.gguf');
  convertToGguf(hf, good, { type: 'f32' });
  const bad = path.join(dir, 'bad.gguf');
  const expect = (edit: (m: GgufMetadata, t: GgufTensorToWrite[]) => void, re: RegExp) => {
    rewrite(good, bad, edit);
    assert.throws(() => loadModel(bad), (e: Error) => {
      assert.ok(e.message.startsWith(bad), e.message);
      assert.match(e.message, re);
      return true;
    });
  };
  expect((m) => m.set('general.architecture', kv.str('llama')), /general\.architecture 'llama' is not supported \(supported: pangu-embedded, pangu-moe\)/);
  expect((m) => m.delete('pangu-embedded.block_count'), /missing required key 'pangu-embedded\.block_count'/);
  expect((m) => m.set('pangu-embedded.attention.key_length', kv.u32(64)), /pangu-embedded\.attention\.key_length = 64 differs from embedding_length \/ head_count = 16/);
  expect((m) => m.set('pangu-embedded.rope.scaling.type', kv.str('yarn')), /rope\.scaling\.type 'yarn' is not supported/);
  // llama.cpp loads a file without q/k/v biases and silently computes without them; this runtime refuses.
  expect((_, t) => t.splice(t.findIndex((x) => x.name === 'blk.0.attn_q.bias'), 1),
    /tensor 'model\.layers\.0\.self_attn\.q_proj\.bias': missing from the GGUF file \(GGUF tensor 'blk\.0\.attn_q\.bias'\)/);
  expect((_, t) => { const x = t.find((y) => y.name === 'blk.1.ffn_down.weight')!; x.dtype = 'I8'; x.data = new Uint8Array(64 * 160); },
    /tensor 'blk\.1\.ffn_down\.weight': GGML type I8 is not supported by this runtime \(supported: F32, F16, BF16, F64, Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K\)/);
  expect((_, t) => { const x = t.find((y) => y.name === 'output.weight')!; x.shape = [500, 64]; x.data = new Uint8Array(500 * 64 * 4); },
    /tensor 'lm_head\.weight': has shape \[500,64\], expected \[512,64\]/);
});

test('a tensor of a GGML type this runtime cannot decode is named with its type', () => {
  const file = path.join(tempDir(), 'q3k.gguf');
  writeGguf(file, new Map([['general.architecture', kv.str('pangu-embedded')]]),
    [{ name: 'output_norm.weight', dtype: 'Q3_K', shape: [256], data: new Uint8Array(110) }]);
  const src = new GgufTensorSource(GgufFile.open(file));
  try {
    assert.throws(() => src.info('model.norm.weight'), /q3k\.gguf: tensor 'output_norm\.weight': GGML type Q3_K is not supported by this runtime/);
  } finally {
    src.close();
  }
});

test('pangu-moe metadata: expert groups, gating and weight normalisation are checked', () => {
  const dir = tempDir();
  const hf = path.join(dir, 'hf');
  writeSyntheticModel(hf, panguMoeConfig(), { seed: 8, dtype: 'F32' });
  const good = path.join(dir, 'good.gguf');
  convertToGguf(hf, good, { type: 'f32' });
  const g = GgufFile.open(good);
  assert.equal(g.uint('pangu-moe.expert_group_count'), 8);
  assert.equal(g.uint('pangu-moe.expert_count'), 16);
  assert.equal(g.uint('pangu-moe.expert_shared_feed_forward_length'), 64);
  assert.equal(g.string('tokenizer.ggml.model'), 'no_vocab');
  assert.equal(f32Decimal(g.float('pangu-moe.attention.layer_norm_rms_epsilon')), 1e-5);
  assert.deepEqual(ggufModelArgs(g), readModelArgs(hf));
  g.close();
  const bad = path.join(dir, 'bad.gguf');
  for (const [key, value, re] of [
    ['pangu-moe.expert_group_count', kv.u32(4), /expert_group_count = 4: Pangu Pro MoE routes over 8 expert groups/],
    ['pangu-moe.expert_gating_func', kv.u32(2), /expert_gating_func = 2: MoGE routes on a softmax/],
    ['pangu-moe.expert_weights_norm', kv.bool(true), /expert_weights_norm is true/],
    ['pangu-moe.expert_used_count', kv.u32(12), /"num_experts_per_tok" \(12\) is not divisible by "the number of expert groups" \(8\)/],
  ] as const) {
    rewrite(good, bad, (m) => m.set(key, value));
    assert.throws(() => loadModel(bad), re);
  }
});

test('f32Decimal recovers the decimal a float32 came from', () => {
  assert.equal(f32Decimal(Math.fround(1e-5)), 1e-5);
  assert.equal(f32Decimal(Math.fround(1e-6)), 1e-6);
  assert.equal(f32Decimal(16000000), 16000000);
  assert.equal(f32Decimal(Math.fround(0.1)), 0.1);
  assert.equal(Math.fround(f32Decimal(Math.fround(Math.PI))), Math.fround(Math.PI));
});

test('full-size plans: the released Pangu Embedded 7B and Pro MoE 72B shapes map to GGUF tensors', () => {
  const emb = readModelArgs(path.join(FIXTURES, 'configs', 'embedded-7b'));
  const embPlan = planTensors(emb, 'q4_k');
  assert.equal(embPlan.length, 3 + 34 * 13); // llama.cpp's pangu-embedded tensors, biases included
  const byName = new Map(embPlan.map((t) => [t.name, t]));
  assert.deepEqual(byName.get('token_embd.weight'), { name: 'token_embd.weight', dtype: 'Q4_K', shape: [153376, 4096], sources: ['model.embed_tokens.weight'] });
  assert.equal(byName.get('blk.33.ffn_down.weight')!.dtype, 'Q4_K'); // 12800 = 50 * 256
  assert.equal(byName.get('output.weight')!.dtype, 'Q8_0');
  assert.equal(byName.get('blk.0.attn_k.bias')!.dtype, 'F32');
  const meta = ggufMetadata(emb, { name: 'openPangu-Embedded-7B', fileType: 14 });
  assert.equal(meta.get('pangu-embedded.feed_forward_length')!.value, 12800);
  assert.equal(meta.get('pangu-embedded.rope.dimension_count')!.value, 128);
  assert.equal(meta.get('tokenizer.ggml.eos_token_id')!.value, 45892);

  const moe = parseModelArgs(panguMoeConfig({
    vocab_size: 153376, hidden_size: 5120, num_hidden_layers: 48, num_attention_heads: 40, num_key_value_heads: 8,
    num_experts: 64, num_experts_per_tok: 8, moe_intermediate_size: 1344, shared_expert_intermediate_size: 5376,
  }));
  const moePlan = new Map(planTensors(moe, 'q4_k').map((t) => [t.name, t]));
  assert.equal(moePlan.size, 3 + 48 * 18);
  const gate = moePlan.get('blk.47.ffn_gate_exps.weight')!;
  assert.deepEqual([gate.dtype, gate.shape, gate.sources.length], ['Q4_K', [64, 1344, 5120], 64]);
  const down = moePlan.get('blk.47.ffn_down_exps.weight')!;
  assert.deepEqual([down.dtype, down.shape], ['Q5_0', [64, 5120, 1344]]); // 1344 is not a multiple of 256
  assert.deepEqual([moePlan.get('blk.0.ffn_gate_inp.weight')!.dtype, moePlan.get('blk.0.ffn_gate_inp.weight')!.shape], ['F32', [64, 5120]]);
  assert.deepEqual(moePlan.get('blk.0.ffn_down_exps.scale')!.shape, [64]);
  assert.deepEqual(moePlan.get('blk.0.ffn_up_shexp.weight')!.shape, [5376, 5120]);
});
