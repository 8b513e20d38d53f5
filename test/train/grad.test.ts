// Every backward pass of the trainer against central finite differences, in float64 on tiny shapes.
// A layer's output y is reduced to the scalar L = Σ y ⊙ R (R fixed random), so dL/dy = R; the
// analytic gradient of each input and parameter must match (L(θ+ε) − L(θ−ε)) / 2ε at sampled
// entries within a relative error of 1e-6 (ε = 1e-6; float64 differences are good to ~1e-9).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/engine/sampler.js';
import { panguEmbeddedConfig, panguMoeConfig } from '../../src/models/synthetic.js';
import { parseModelArgs } from '../../src/models/load.js';
import { F64Ops, type Arr } from '../../src/train/gemm.js';
import {
  attentionBackward, attentionForward, crossEntropy, embedBackward, embedForward, linearBackward, linearForward,
  ropeApply, ropeTable, rmsnormBackward, rmsnormForward, swigluBackward, swigluForward,
} from '../../src/train/layers.js';
import { moeBackward, moeForward, type MoeShape, type MoeWeights } from '../../src/train/moe.js';
import { TrainModel } from '../../src/train/model.js';

const ops = new F64Ops();
const EPS = 1e-6;
const TOL = 1e-6;

function rand(rng: Rng, n: number, scale = 1, center = 0): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = center + (2 * rng.next() - 1) * scale;
  return a;
}

function dot(a: Arr, b: Arr): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Checks analytic[i] against the central difference of f at up to `samples` entries of x. */
function check(what: string, f: () => number, x: Arr, analytic: Arr, rng: Rng, samples = 12): number {
  let worst = 0;
  const idx = x.length <= samples ? Array.from({ length: x.length }, (_, i) => i) : Array.from({ length: samples }, () => Math.floor(rng.next() * x.length));
  for (const i of idx) {
    const old = x[i]!;
    x[i] = old + EPS;
    const fp = f();
    x[i] = old - EPS;
    const fm = f();
    x[i] = old;
    const num = (fp - fm) / (2 * EPS);
    const ana = analytic[i]!;
    const err = Math.abs(num - ana) / Math.max(1e-7, Math.abs(num) + Math.abs(ana));
    worst = Math.max(worst, err);
    assert.ok(err < TOL || Math.abs(num - ana) < 1e-9, `${what}[${i}]: numeric ${num} vs analytic ${ana} (relative error ${err})`);
  }
  if (process.env['PANGU_TEST_VERBOSE']) process.stderr.write(`${what}: worst relative error ${worst.toExponential(2)}\n`);
  return worst;
}

test('embedding backward', () => {
  const rng = new Rng(1);
  const V = 7, d = 5, ids = [3, 1, 3, 6];
  const table = rand(rng, V * d), R = rand(rng, ids.length * d);
  const f = () => {
    const x = new Float64Array(ids.length * d);
    embedForward(x, table, ids, d);
    return dot(x, R);
  };
  const g = new Float64Array(V * d);
  embedBackward(g, R, ids, d);
  check('table', f, table, g, rng, V * d);
});

test('RMSNorm backward (input and weight)', () => {
  const rng = new Rng(2);
  const n = 3, d = 8, eps = 1e-5;
  const x = rand(rng, n * d), w = rand(rng, d, 0.3, 1), R = rand(rng, n * d);
  const f = () => {
    const y = new Float64Array(n * d);
    rmsnormForward(ops, y, x, w, n, d, eps);
    return dot(y, R);
  };
  const y = new Float64Array(n * d);
  const r = rmsnormForward(ops, y, x, w, n, d, eps);
  const dx = new Float64Array(n * d), dw = new Float64Array(d);
  rmsnormBackward(dx, dw, R, x, w, r, n, d, false);
  check('x', f, x, dx, rng, n * d);
  check('weight', f, w, dw, rng, d);
});

test('biased linear backward (input, weight, bias)', () => {
  const rng = new Rng(3);
  const n = 4, i = 6, o = 5;
  const x = rand(rng, n * i), w = rand(rng, o * i), b = rand(rng, o), R = rand(rng, n * o);
  const f = () => {
    const y = new Float64Array(n * o);
    linearForward(ops, y, x, w, b, n, i, o);
    return dot(y, R);
  };
  const dx = new Float64Array(n * i), dw = new Float64Array(o * i), db = new Float64Array(o);
  linearBackward(ops, dx, dw, db, R, x, w, n, i, o, false);
  check('x', f, x, dx, rng, n * i);
  check('weight', f, w, dw, rng, o * i);
  check('bias', f, b, db, rng, o);
});

test('NeoX rope backward', () => {
  const rng = new Rng(4);
  const T = 5, B = 2, heads = 3, hd = 8;
  const table = ropeTable(T, hd, 10000);
  const x = rand(rng, B * T * heads * hd), R = rand(rng, x.length);
  const f = () => {
    const y = x.slice();
    ropeApply(y, B * T, T, heads, hd, table);
    return dot(y, R);
  };
  const g = R.slice();
  ropeApply(g, B * T, T, heads, hd, table, -1);
  check('x', f, x, g, rng, 40);
});

test('causal GQA attention backward (q, k, v)', () => {
  const rng = new Rng(5);
  const s = { B: 2, T: 5, heads: 4, kvHeads: 2, headDim: 6 };
  const n = s.B * s.T;
  const q = rand(rng, n * s.heads * s.headDim), k = rand(rng, n * s.kvHeads * s.headDim), v = rand(rng, n * s.kvHeads * s.headDim);
  const R = rand(rng, n * s.heads * s.headDim);
  const f = () => {
    const y = new Float64Array(R.length);
    attentionForward(ops, y, q, k, v, s);
    return dot(y, R);
  };
  const y = new Float64Array(R.length);
  const c = attentionForward(ops, y, q, k, v, s);
  const dq = new Float64Array(q.length), dk = new Float64Array(k.length), dv = new Float64Array(v.length);
  attentionBackward(ops, dq, dk, dv, R, q, k, v, c, s);
  check('q', f, q, dq, rng, 30);
  check('k', f, k, dk, rng, 30);
  check('v', f, v, dv, rng, 30);
  // Causality: the first position's output depends on nothing later.
  const y2 = new Float64Array(R.length);
  const k2 = k.slice();
  k2[(1 * s.kvHeads) * s.headDim] = 50;
  attentionForward(ops, y2, q, k2, v, s);
  for (let c0 = 0; c0 < s.heads * s.headDim; c0++) assert.equal(y2[c0], y[c0]);
});

test('SwiGLU backward (input, gate, up, down)', () => {
  const rng = new Rng(6);
  const m = 4, D = 6, I = 5;
  const x = rand(rng, m * D), wg = rand(rng, I * D), wu = rand(rng, I * D), wd = rand(rng, D * I), R = rand(rng, m * D);
  const f = () => {
    const y = new Float64Array(m * D);
    swigluForward(ops, y, x, wg, wu, wd, m, D, I);
    return dot(y, R);
  };
  const y = new Float64Array(m * D);
  const c = swigluForward(ops, y, x, wg, wu, wd, m, D, I);
  const dx = new Float64Array(m * D), dg = new Float64Array(I * D), du = new Float64Array(I * D), dd = new Float64Array(D * I);
  swigluBackward(ops, dx, dg, du, dd, R, x, wg, wu, wd, c, m, D, I, false);
  check('x', f, x, dx, rng, m * D);
  check('gate', f, wg, dg, rng, 20);
  check('up', f, wu, du, rng, 20);
  check('down', f, wd, dd, rng, 20);
});

test('cross-entropy backward (with ignored targets)', () => {
  const rng = new Rng(7);
  const n = 4, V = 9, targets = [3, -1, 0, 8];
  const logits = rand(rng, n * V, 3);
  const f = () => crossEntropy(logits.slice(), targets, n, V).loss;
  const g = logits.slice();
  const { loss, count } = crossEntropy(g, targets, n, V);
  assert.equal(count, 3);
  assert.ok(loss > 0);
  check('logits', f, logits, g, rng, n * V);
});

function moeSetup(router: 'moge' | 'topk', seed: number) {
  const rng = new Rng(seed);
  const s: MoeShape = { D: 6, E: 16, k: 8, groups: 8, I: 4, sharedI: 5, router };
  const n = 7;
  const sw = (I: number) => ({ g: rand(rng, I * s.D), u: rand(rng, I * s.D), d: rand(rng, s.D * I) });
  const w: MoeWeights = {
    gate: rand(rng, s.E * s.D, 1.5), routerScale: rand(rng, s.E, 0.5, 1),
    experts: Array.from({ length: s.E }, () => sw(s.I)), shared: sw(s.sharedI),
  };
  const zero = (a: Arr) => new Float64Array(a.length);
  const g: MoeWeights = {
    gate: zero(w.gate), routerScale: zero(w.routerScale),
    experts: w.experts.map((e) => ({ g: zero(e.g), u: zero(e.u), d: zero(e.d) })), shared: { g: zero(w.shared!.g), u: zero(w.shared!.u), d: zero(w.shared!.d) },
  };
  return { rng, s, n, w, g, h: rand(rng, n * s.D), R: rand(rng, n * s.D) };
}

for (const router of ['moge', 'topk'] as const) {
  test(`MoE backward, ${router} router: input, router (softmax over all experts), router_scale, experts, shared expert`, () => {
    const { rng, s, n, w, g, h, R } = moeSetup(router, router === 'moge' ? 8 : 9);
    const f = () => {
      const y = new Float64Array(n * s.D);
      moeForward(ops, y, h, w, n, s);
      return dot(y, R);
    };
    const y = new Float64Array(n * s.D);
    const c = moeForward(ops, y, h, w, n, s);
    if (router === 'moge') {
      for (let t = 0; t < n; t++) for (let j = 0; j < s.k; j++) assert.equal(Math.floor(c.ids[t * s.k + j]! / 2), j, 'one expert per group');
    }
    const dh = new Float64Array(n * s.D);
    moeBackward(ops, dh, g, R, h, w, c, s, 0, false);
    check('h', f, h, dh, rng, n * s.D);
    check('router', f, w.gate, g.gate, rng, 40);
    check('router_scale', f, w.routerScale, g.routerScale, rng, s.E);
    const used = c.ids[0]!;
    check(`expert ${used} gate`, f, w.experts[used]!.g, g.experts[used]!.g, rng, 10);
    check(`expert ${used} up`, f, w.experts[used]!.u, g.experts[used]!.u, rng, 10);
    check(`expert ${used} down`, f, w.experts[used]!.d, g.experts[used]!.d, rng, 10);
    check('shared gate', f, w.shared!.g, g.shared!.g, rng, 10);
    check('shared down', f, w.shared!.d, g.shared!.d, rng, 10);
    // The router weights are the chosen probabilities (not renormalised) times router_scale.
    let sum = 0;
    for (let j = 0; j < s.k; j++) sum += c.probs[c.ids[j]!]!;
    assert.ok(sum < 1 - 1e-3, 'chosen probabilities are not renormalised');
  });
}

test('auxiliary load-balancing loss backward (router and input through the softmax)', () => {
  const { rng, s, n, w, g, h } = moeSetup('moge', 10);
  const f = () => moeForward(ops, new Float64Array(n * s.D), h, w, n, s).aux;
  const c = moeForward(ops, new Float64Array(n * s.D), h, w, n, s);
  // The aux value: E Σ f_e P_e, f_e = counts / n; k at perfect balance.
  let ref = 0;
  for (let e = 0; e < s.E; e++) {
    let pe = 0;
    for (let t = 0; t < n; t++) pe += c.probs[t * s.E + e]!;
    ref += (c.counts[e]! / n) * (pe / n);
  }
  assert.ok(Math.abs(c.aux - s.E * ref) < 1e-12);
  const dh = new Float64Array(n * s.D);
  moeBackward(ops, dh, g, new Float64Array(n * s.D), h, w, c, s, 1, false);
  check('h', f, h, dh, rng, n * s.D);
  check('router', f, w.gate, g.gate, rng, 40);
  assert.ok(g.routerScale.every((x) => x === 0), 'the aux loss does not reach router_scale');
});

function modelCheck(config: Record<string, unknown>, seed: number, router: 'moge' | 'topk' = 'moge') {
  const args = parseModelArgs(config);
  const model = new TrainModel(args, ops, router);
  model.init({ seed, std: 0.3 });
  const rng = new Rng(seed + 1);
  for (const p of model.params) {
    if (p.name.endsWith('.bias') || p.name.endsWith('norm.weight') || p.name.endsWith('router_scale')) {
      for (let i = 0; i < p.data.length; i++) p.data[i]! += (2 * rng.next() - 1) * 0.2;
    }
  }
  const B = 2, T = 5, V = args.vocab_size;
  const inputs = Int32Array.from({ length: B * T }, () => Math.floor(rng.next() * V));
  const targets = Int32Array.from({ length: B * T }, (_, i) => (i === 3 ? -1 : Math.floor(rng.next() * V)));
  const batch = { B, T, inputs, targets };
  const f = () => model.forward(batch, { keep: false }).loss;
  model.zeroGrad();
  const r = model.forward(batch);
  model.backward();
  return { model, f, rng, r };
}

test('whole Pangu Pro MoE model backward (with the aux loss) against finite differences', () => {
  const cfg = panguMoeConfig({ vocab_size: 11, hidden_size: 8, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    num_experts: 16, num_experts_per_tok: 8, moe_intermediate_size: 3, shared_expert_intermediate_size: 4, rope_theta: 100 });
  (cfg as Record<string, unknown>)['router_aux_loss_coef'] = 0.1;
  const { model, f, rng, r } = modelCheck(cfg, 11);
  assert.ok(r.aux > 0);
  for (const p of model.params) {
    if (/experts\.(\d+)\./.test(p.name) && !/experts\.(0|1|5)\./.test(p.name)) continue;
    check(p.name, f, p.data, p.grad, rng, 3);
  }
});

test('whole Pangu Embedded (dense) model backward against finite differences', () => {
  const cfg = panguEmbeddedConfig({ vocab_size: 13, hidden_size: 8, intermediate_size: 12, num_hidden_layers: 2,
    num_attention_heads: 2, num_key_value_heads: 1, rope_theta: 100 });
  const { model, f, rng } = modelCheck(cfg, 12);
  for (const p of model.params) check(p.name, f, p.data, p.grad, rng, 4);
});
