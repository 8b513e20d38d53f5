import assert from 'node:assert/strict';
import { test } from 'node:test';
import { argmax, Rng, Sampler } from '../../src/engine/sampler.js';

const logits = Float32Array.from([0.5, 2.0, 1.9, -1, 0]);

test('temperature 0 is greedy', () => {
  assert.equal(new Sampler({}).sample(logits), 1);
  assert.equal(argmax(logits), 1);
});

test('argmax: the first of equal maxima, whatever its lane; -Infinity and NaN; what a plain scan finds on random logits', () => {
  assert.equal(argmax([1, 3, 2, 3, 0, 3, 3, 1, 3]), 1);
  assert.equal(argmax([0, 0, 0, 0, 0, 5, 1, 5, 5]), 5);
  assert.equal(argmax([1, 2, 3, 4, 5, 6, 7, 8, 9]), 8); // in the tail
  assert.equal(argmax([-Infinity, -Infinity, -Infinity, -Infinity, -Infinity]), 0);
  assert.equal(argmax([-Infinity, -Infinity, -Infinity, -Infinity, -3]), 4);
  assert.equal(argmax([NaN, 1, NaN, 2, NaN, 2]), 3);
  assert.equal(argmax([NaN, NaN, NaN, NaN, NaN]), 0);
  assert.equal(argmax([7]), 0);
  assert.equal(argmax([]), 0);
  const rng = new Rng(3);
  for (let t = 0; t < 200; t++) {
    // a small range of values so that ties are common
    const v = Float32Array.from({ length: 1 + Math.floor(rng.next() * 40) }, () => Math.floor(rng.next() * 6));
    let want = 0;
    for (let i = 1; i < v.length; i++) if (v[i]! > v[want]!) want = i;
    assert.equal(argmax(v), want, Array.from(v).join(','));
  }
});

test('the same seed gives the same draws; different seeds differ', () => {
  const draw = (seed: number) => Array.from({ length: 50 }, (() => { const s = new Sampler({ temperature: 1, seed }); return () => s.sample(logits); })());
  assert.deepEqual(draw(7), draw(7));
  assert.notDeepEqual(draw(7), draw(8));
});

test('sampled frequencies follow softmax(logits / T)', () => {
  const s = new Sampler({ temperature: 0.7, seed: 1 });
  const counts = new Array(5).fill(0);
  const n = 20000;
  for (let i = 0; i < n; i++) counts[s.sample(logits)]++;
  const e = Array.from(logits, (l) => Math.exp(l / 0.7));
  const z = e.reduce((a, b) => a + b, 0);
  e.forEach((x, i) => assert.ok(Math.abs(counts[i] / n - x / z) < 0.015, `token ${i}: ${counts[i] / n} vs ${x / z}`));
});

test('top-k, top-p and min-p restrict the candidates', () => {
  const seen = (opts: object) => {
    const s = new Sampler({ temperature: 5, seed: 3, ...opts });
    return new Set(Array.from({ length: 400 }, () => s.sample(logits)));
  };
  assert.deepEqual([...seen({ topK: 2 })].sort(), [1, 2]);
  assert.deepEqual([...seen({ topP: 0.01 })], [1]);
  assert.equal(seen({}).size, 5);
  // min-p 0.9 of the best at T=5: only tokens within 5*ln(1/0.9) ≈ 0.53 of the top logit.
  assert.deepEqual([...seen({ minP: 0.9 })].sort(), [1, 2]);
});

test('repetition and frequency penalties push seen tokens down', () => {
  assert.equal(new Sampler({ repetitionPenalty: 1.2 }).sample(logits, [1]), 2);
  assert.equal(new Sampler({ frequencyPenalty: 0.05 }).sample(logits, [1, 1, 1]), 2);
  assert.equal(new Sampler({ presencePenalty: 0.2 }).sample(logits, [1]), 2);
  assert.equal(new Sampler({}).sample(logits, [1]), 1);
});

test('Rng is uniform in [0, 1)', () => {
  const r = new Rng(123);
  let sum = 0;
  for (let i = 0; i < 10000; i++) { const x = r.next(); assert.ok(x >= 0 && x < 1); sum += x; }
  assert.ok(Math.abs(sum / 10000 - 0.5) < 0.02);
});

test('top-p keeps exactly the smallest most-likely set reaching p', () => {
  const probs = [0.5, 0.3, 0.15, 0.05];
  const l = Float32Array.from(probs, Math.log);
  const seen = (topP: number) => {
    const s = new Sampler({ temperature: 1, topP, seed: 9 });
    return [...new Set(Array.from({ length: 2000 }, () => s.sample(l)))].sort();
  };
  assert.deepEqual(seen(0.5), [0]);
  assert.deepEqual(seen(0.79), [0, 1]);
  assert.deepEqual(seen(0.81), [0, 1, 2]);
  assert.deepEqual(seen(0.99), [0, 1, 2, 3]);
  // With top-k 3 the same nucleus is taken over the renormalised top 3.
  const k = new Sampler({ temperature: 1, topK: 3, topP: 0.9, seed: 2 });
  assert.deepEqual([...new Set(Array.from({ length: 2000 }, () => k.sample(l)))].sort(), [0, 1, 2]);
});
