// The warm-up `pangu serve` runs before its first request: two short greedy requests decoded
// together on a scheduler of its own, stopped at a time budget, leaving the model as it was.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { generate } from '../../src/engine/generate.js';
import { warmUp } from '../../src/engine/warmup.js';
import { loadModel } from '../../src/models/load.js';
import { FIXTURES } from '../helpers.js';

const model = loadModel(path.join(FIXTURES, 'models', 'moe-tiny'));
const prompt = [1, 17, 300, 5, 42];

test('warmUp decodes two requests of up to 64 tokens, and the model answers as before', async () => {
  const before = [...generate(model, prompt, { maxTokens: 16, temperature: 0 })];
  const w = await warmUp(model, 60_000);
  // 64 each unless one ends at an end-of-sequence token first
  assert.ok(w.tokens > 2 && w.tokens <= 128, `${w.tokens} tokens`);
  assert.ok(w.ms > 0);
  assert.deepEqual([...generate(model, prompt, { maxTokens: 16, temperature: 0 })], before);
});

test('warmUp stops at its time budget: with none, after each request\'s first token', async () => {
  const w = await warmUp(model, 0);
  assert.equal(w.tokens, 2);
});
