// Training end to end on small synthetic tasks, and the optimizer pieces.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Rng } from '../../src/engine/sampler.js';
import { parseModelArgs } from '../../src/models/load.js';
import { panguEmbeddedConfig, panguMoeConfig } from '../../src/models/synthetic.js';
import { WasmOps } from '../../src/train/gemm.js';
import { TrainModel, type Batch } from '../../src/train/model.js';
import { imbalanceScore, type RouterKind } from '../../src/train/moe.js';
import { AdamW, clipGradNorm, learningRate } from '../../src/train/optim.js';

const opsPromise = WasmOps.create(1);
after(async () => (await opsPromise).close());

/** Copy task: <s> x1..x8 SEP x1..x8 with x from 16 symbols; only the copied half is scored (chance: ln 16 = 2.77). */
function copyBatch(rng: Rng, B: number): Batch {
  const L = 8, T = 2 * L + 1;
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) {
    const xs = Array.from({ length: L }, () => 4 + Math.floor(rng.next() * 16));
    const seq = [1, ...xs, 3, ...xs];
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = seq[t]!;
      if (t >= L + 1) targets[b * T + t] = seq[t + 1]!;
    }
  }
  return { B, T, inputs, targets };
}

async function trainCopy(config: Record<string, unknown>, router: RouterKind, steps: number, lr: number): Promise<{ first: number; last: number; model: TrainModel; is: number[] }> {
  const ops = await opsPromise;
  const model = new TrainModel(parseModelArgs(config), ops, router);
  model.init({ seed: 1 });
  const opt = new AdamW(model.params, { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0 });
  const rng = new Rng(5);
  let first = NaN, last = NaN;
  const is: number[] = [];
  for (let s = 0; s < steps; s++) {
    const batch = copyBatch(rng, 8);
    model.zeroGrad();
    const r = model.forward(batch);
    model.backward();
    clipGradNorm(model.params, 1);
    opt.step(learningRate(s, { lr, minLr: lr / 10, warmup: 20, steps }));
    if (s === 0) first = r.ce;
    last = r.ce;
    if (s === steps - 1) for (const c of r.counts) is.push(imbalanceScore(c, 8, batch.B * batch.T));
  }
  return { first, last, model, is };
}

const tinyMoe = panguMoeConfig({ vocab_size: 20, hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1,
  num_experts: 16, num_experts_per_tok: 8, moe_intermediate_size: 16, shared_expert_intermediate_size: 32 });

test('a tiny Pangu Pro MoE (MoGE) learns the copy task: loss on the copied half < 0.05 after 150 steps (from ~2.8)', async () => {
  const { first, last, is } = await trainCopy(tinyMoe, 'moge', 150, 1e-2);
  assert.ok(first > 2.5, `starts near chance, got ${first}`);
  assert.ok(last < 0.05, `copy loss after 150 steps: ${last}`);
  assert.deepEqual(is, [0, 0], 'MoGE: every device gets the same load (IS = 0)');
});

test('a tiny Pangu Embedded (dense) learns the copy task: loss < 0.05 after 150 steps', async () => {
  const cfg = panguEmbeddedConfig({ vocab_size: 20, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 2, num_key_value_heads: 1 });
  const { first, last } = await trainCopy(cfg, 'moge', 150, 1e-2);
  assert.ok(first > 2.5);
  assert.ok(last < 0.05, `copy loss after 150 steps: ${last}`);
});

test('learning-rate schedule: linear warmup, cosine to the floor', () => {
  const sch = { lr: 1e-3, minLr: 1e-4, warmup: 10, steps: 110 };
  assert.ok(Math.abs(learningRate(0, sch) - 1e-4) < 1e-15);
  assert.ok(Math.abs(learningRate(9, sch) - 1e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(10, sch) - 1e-3) < 1e-15);
  assert.ok(Math.abs(learningRate(60, sch) - 5.5e-4) < 1e-12); // half-way: the mean of lr and minLr
  assert.ok(Math.abs(learningRate(110, sch) - 1e-4) < 1e-15);
  assert.ok(learningRate(30, sch) > learningRate(31, sch));
});

test('AdamW: one step by hand (bias-corrected moments, decoupled decay only on matrices); global norm clipping', () => {
  const mk = (name: string, shape: number[], data: number[], grad: number[], decay: boolean) =>
    ({ name, shape, data: Float32Array.from(data), grad: Float32Array.from(grad), decay });
  const w = mk('w', [2, 1], [1, -2], [3, 4], true), b = mk('b', [2], [0.5, 0.5], [0, 0], false);
  const norm = clipGradNorm([w, b], 1);
  assert.ok(Math.abs(norm - 5) < 1e-12);
  assert.ok(Math.abs(w.grad[0]! - 0.6) < 1e-6 && Math.abs(w.grad[1]! - 0.8) < 1e-6);
  const opt = new AdamW([w, b], { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 });
  opt.step(0.01);
  // First step: m̂ = g, v̂ = g², update = lr · g / (|g| + eps) = lr · sign(g).
  assert.ok(Math.abs(w.data[0]! - (1 * (1 - 0.001) - 0.01)) < 1e-6);
  assert.ok(Math.abs(w.data[1]! - (-2 * (1 - 0.001) - 0.01)) < 1e-6);
  assert.deepEqual([...b.data], [0.5, 0.5]);
});

test('Imbalance Score: (max − min) device load / tokens over contiguous expert blocks', () => {
  assert.equal(imbalanceScore([1, 1, 1, 1, 1, 1, 1, 1], 4, 4), 0);
  assert.equal(imbalanceScore([4, 0, 0, 0, 2, 2, 0, 0], 4, 2), 2); // devices get 4, 0, 4, 0 calls
  assert.equal(imbalanceScore([3, 1, 2, 2], 2, 4), 0);
});
