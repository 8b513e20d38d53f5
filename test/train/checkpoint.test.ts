// Checkpoints written by the trainer load in the inference code with the same logits and experts;
// a run split in two by --stop-at / --resume equals the run in one go; the CLI commands work on them.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { CpuBackend } from '../../src/backend/cpu/backend.js';
import { ReferenceBackend } from '../../src/backend/reference.js';
import { Rng } from '../../src/engine/sampler.js';
import { MixtureOfExperts } from '../../src/models/layers/moe.js';
import { loadModel, parseModelArgs } from '../../src/models/load.js';
import { panguEmbeddedConfig, panguMoeConfig } from '../../src/models/synthetic.js';
import { loadTrainModel, saveCheckpoint } from '../../src/train/checkpoint.js';
import { WasmOps } from '../../src/train/gemm.js';
import { TrainModel } from '../../src/train/model.js';
import { AdamW, clipGradNorm } from '../../src/train/optim.js';
import { train, TRAIN_DEFAULTS } from '../../src/train/trainer.js';
import { FIXTURES, runCli, tempDir } from '../helpers.js';

const TOKENIZER = path.join(FIXTURES, 'tokenizer', 'bpe'); // 3000 pieces, Pangu specials and chat template
const opsPromise = WasmOps.create(1);
after(async () => (await opsPromise).close());

const moeConfig = panguMoeConfig({ vocab_size: 3000, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
  num_experts: 16, num_experts_per_tok: 8, moe_intermediate_size: 24, shared_expert_intermediate_size: 48, max_position_embeddings: 64 });
const denseConfig = panguEmbeddedConfig({ vocab_size: 3000, hidden_size: 64, intermediate_size: 96, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, max_position_embeddings: 64 });

/** A model trained a few steps on random tokens (so biases, norms and router_scale have moved off their init). */
async function trainedModel(config: Record<string, unknown>): Promise<TrainModel> {
  const ops = await opsPromise;
  const model = new TrainModel(parseModelArgs(config), ops);
  model.init({ seed: 3, std: 0.15 });
  const opt = new AdamW(model.params);
  const rng = new Rng(9);
  for (let s = 0; s < 3; s++) {
    const B = 2, T = 12;
    const inputs = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * 3000));
    const targets = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * 3000));
    model.zeroGrad();
    model.forward({ B, T, inputs, targets });
    model.backward();
    clipGradNorm(model.params, 1);
    opt.step(3e-2);
  }
  return model;
}

const TOKENS = [1, 57, 900, 33, 2048, 7, 1500, 260, 42, 2999, 318, 5, 77, 1024, 610, 2];

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

for (const [name, config] of [['Pangu Pro MoE', moeConfig], ['Pangu Pro MoE with plain top-k routing', { ...moeConfig, pangu_ts_router: 'topk' }],
  ['Pangu Embedded', denseConfig]] as const) {
  for (const dtype of ['F32', 'BF16'] as const) {
    test(`${name}, ${dtype} checkpoint: the inference code's logits (reference and cpu backends) equal the trainer's forward`, async () => {
      const trained = await trainedModel(config);
      const dir = tempDir();
      saveCheckpoint(dir, { model: trained, config, tokenizerDir: TOKENIZER, dtype });
      // The trainer's view of the saved file (bf16-rounded when the file is bf16).
      const { model } = loadTrainModel(dir, await opsPromise);
      const T = TOKENS.length;
      const r = model.forward({ B: 1, T, inputs: Int32Array.from(TOKENS), targets: new Int32Array(T).fill(-1) }, { keep: false, wantLogits: true });
      for (const backend of [new ReferenceBackend(), await CpuBackend.create({ threads: 1 })]) {
        const inf = loadModel(dir, { backend });
        const logits = inf.forward(TOKENS, inf.newCache(64), 'all');
        const err = relErr(logits, r.logits!);
        assert.ok(err < 2e-5, `${backend.constructor.name}: max |Δlogit| / max |logit| = ${err}`);
        if (process.env["PANGU_TEST_VERBOSE"]) process.stderr.write(`${name} ${dtype} ${backend.constructor.name}: relative error ${err}\n`);
        inf.layers.forEach((layer, i) => {
          if (layer.mlp instanceof MixtureOfExperts) assert.deepEqual([...layer.mlp.lastExpertIds], [...r.expertIds[i]!], `layer ${i} experts`);
        });
        if ('close' in backend) await (backend as CpuBackend).close();
      }
      const files = fs.readdirSync(dir).sort();
      assert.deepEqual(files, ['config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.model', 'tokenizer_config.json'].filter((f) => f !== 'special_tokens_map.json' || fs.existsSync(path.join(TOKENIZER, f))));
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype, dtype === 'BF16' ? 'bfloat16' : 'float32');
    });
  }
}

function corpus(dir: string): string {
  const words = ['the', 'cat', 'sat', 'on', 'a', 'mat', 'and', 'dog', 'ran', 'to', 'house', 'with', 'big', 'red', 'ball'];
  const rng = new Rng(4);
  const paras: string[] = [];
  for (let p = 0; p < 60; p++) {
    const n = 8 + Math.floor(rng.next() * 20);
    paras.push(Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(' ') + '.');
  }
  const f = path.join(dir, 'train.txt');
  fs.writeFileSync(f, paras.join('\n\n') + '\n');
  return f;
}

test('a run stopped at step 3 and resumed equals the same run in one go (weights, optimizer, data order, losses)', async () => {
  const base = tempDir();
  const data = corpus(base);
  const cfgFile = path.join(base, 'config.json');
  fs.writeFileSync(cfgFile, JSON.stringify(moeConfig));
  const sink = { write: () => true };
  const common = { ...TRAIN_DEFAULTS, data: [data], config: cfgFile, tokenizer: TOKENIZER, steps: 6, batch: 2, seq: 16, warmup: 2, stream: sink, eval: data, evalWindows: 4 };
  const a = path.join(base, 'a'), b = path.join(base, 'b');
  const sa = await train({ ...common, out: a });
  await train({ ...common, out: b, stopAt: 3 });
  const mid = JSON.parse(fs.readFileSync(path.join(b, 'trainer_state.json'), 'utf8'));
  assert.equal(mid.step, 3);
  assert.equal(mid.dataPosition, 6);
  const sb = await train({ ...common, out: b, resume: b });
  assert.equal(sb.steps, 6);
  assert.equal(sb.loss, sa.loss);
  assert.equal(sb.evalLoss, sa.evalLoss);
  for (const f of ['model.safetensors', 'optimizer.safetensors']) {
    assert.ok(fs.readFileSync(path.join(a, f)).equals(fs.readFileSync(path.join(b, f))), `${f} differs`);
  }
  const losses = (d: string) => fs.readFileSync(path.join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => 'loss' in r).map((r) => r.loss);
  assert.deepEqual(losses(b), losses(a));
  const rec = fs.readFileSync(path.join(a, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))[0];
  assert.deepEqual(rec.is8, [0, 0], 'MoGE keeps IS = 0 on 8 devices');
  assert.equal(rec.is4.length, 2);
});

test('pangu train → pangu logits / pangu run load the checkpoint; pangu train-tokenizer → pangu tokenize', () => {
  const base = tempDir();
  const data = corpus(base);
  const cfgFile = path.join(base, 'dense.json');
  fs.writeFileSync(cfgFile, JSON.stringify(denseConfig));
  const out = path.join(base, 'model');
  const r = runCli(['train', '--data', data, '--config', cfgFile, '--tokenizer', TOKENIZER, '--out', out, '--steps', '3', '--batch', '2', '--seq', '16', '--eval', data, '--eval-windows', '2', '--dtype', 'f32']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /tok\/s/);
  assert.match(r.stderr, /eval loss/);
  const summary = JSON.parse(r.stdout);
  assert.equal(summary.steps, 3);
  const logits = runCli(['logits', '--model', out, '--tokens', '1,5,9']);
  assert.equal(logits.status, 0, logits.stderr);
  const rows = JSON.parse(logits.stdout) as number[][];
  assert.equal(rows.length, 3);
  assert.equal(rows[0]!.length, 3000);
  const run = runCli(['run', '--model', out, '--raw', '--max-tokens', '4', '--seed', '1', 'the cat']);
  assert.equal(run.status, 0, run.stderr);
  const bad = runCli(['train', '--data', data, '--out', out, '--router', 'nope']);
  assert.equal(bad.status, 2);

  const tokDir = path.join(base, 'tok');
  const t = runCli(['train-tokenizer', '--data', data, '--vocab', '320', '--out', tokDir]);
  assert.equal(t.status, 0, t.stderr);
  const ids = runCli(['tokenize', '--model', tokDir, 'the cat sat [unused9] on a mat']);
  assert.equal(ids.status, 0, ids.stderr);
  const list = JSON.parse(ids.stdout) as number[];
  assert.equal(list[0], 1);
  assert.ok(list.includes(3 + 2 + 9), '[unused9] is its own token (id 14: after <unk> <s> </s> <|User|>: <|Bot|>: [unused0..8])');
});
