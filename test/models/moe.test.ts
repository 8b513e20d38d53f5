import assert from 'node:assert/strict';
import { test } from 'node:test';
import { groupedRouter, softmaxRows, topK, topKRouter } from '../../src/models/layers/moe.js';

test('topK returns the largest values first, ties to the lower index', () => {
  assert.deepEqual(topK(Float32Array.from([0.1, 0.5, 0.3, 0.5, 0.2]), 3), [1, 3, 2]);
  assert.deepEqual(topK(Float32Array.from([3, 2, 1]), 5), [0, 1, 2]);
});

test('grouped router: best expert of each contiguous group, probability unchanged', () => {
  // 16 experts in 8 groups of 2; the winner alternates between the first and second of a pair.
  const logits = Float32Array.from({ length: 16 }, (_, e) => ((e % 2) === (Math.floor(e / 2) % 2) ? 1 + e / 10 : 0));
  const probs = Float32Array.from(logits);
  softmaxRows(probs, 1, 16);
  const ids = new Int32Array(8), w = new Float32Array(8);
  groupedRouter(16, 8, 8)(probs, ids, w);
  assert.deepEqual([...ids], [0, 3, 4, 7, 8, 11, 12, 15]);
  ids.forEach((e, j) => assert.equal(w[j], probs[e]));
  // Not renormalised: the 8 weights sum to less than 1 (the other 8 experts hold the rest).
  assert.ok(w.reduce((a, b) => a + b, 0) < 0.99);
});

test('grouped router with two picks per group', () => {
  const probs = Float32Array.from([0.1, 0.4, 0.3, 0.2, 0.05, 0.05, 0.6, 0.3]);
  const ids = new Int32Array(4), w = new Float32Array(4);
  groupedRouter(8, 2, 4)(probs, ids, w);
  assert.deepEqual([...ids], [1, 2, 6, 7]);
});

test('plain top-k router can put every pick in one group', () => {
  const probs = Float32Array.from([0.3, 0.3, 0.2, 0.1, 0.05, 0.05, 0, 0]);
  const ids = new Int32Array(3), w = new Float32Array(3);
  topKRouter(3)(probs, ids, w);
  assert.deepEqual([...ids], [0, 1, 2]);
});

test('softmaxRows is a stable softmax per row', () => {
  const x = Float32Array.from([1000, 1001, 0, Math.log(3)]);
  softmaxRows(x, 2, 2);
  assert.ok(Math.abs(x[1]! - 1 / (1 + Math.exp(-1))) < 1e-6);
  assert.ok(Math.abs(x[3]! - 0.75) < 1e-6);
});
