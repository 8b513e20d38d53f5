// The WebAssembly backend against the PyTorch reference fixtures, for several thread counts
// (each thread holds its own shard of the weights), with and without the KV cache.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CpuBackend, splitRange } from '../../src/backend/cpu/backend.js';
import { loadModel } from '../../src/models/load.js';
import { FIXTURES, maxAbsDiff } from '../helpers.js';

interface Expected { tokens: number[]; logits: number[][] }

function worstError(logits: Float32Array, expected: number[][], v: number, from = 0): number {
  let worst = 0;
  expected.forEach((row, i) => { worst = Math.max(worst, maxAbsDiff(logits.subarray((i - from) * v, (i - from + 1) * v), row)); });
  return worst;
}

test('splitRange cuts a range into aligned contiguous parts', () => {
  assert.deepEqual(splitRange(10, 3), [[0, 3], [3, 6], [6, 10]]);
  assert.deepEqual(splitRange(200, 2, 32), [[0, 96], [96, 200]]);
  assert.deepEqual(splitRange(2, 3), [[0, 0], [0, 1], [1, 2]]);
  assert.deepEqual(splitRange(64, 1, 32), [[0, 64]]);
});

for (const name of ['moe-tiny', 'embedded-tiny']) {
  const dir = path.join(FIXTURES, 'models', name);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;
  for (const threads of [1, 2, 3]) {
    test(`${name} on ${threads} thread(s): logits within 1e-5 of the reference, full forward and token by token`, async () => {
      const backend = await CpuBackend.create({ threads });
      try {
        const model = loadModel(dir, { backend });
        const v = model.args.vocab_size;
        const full = model.forward(expected.tokens, model.newCache(32), 'all');
        assert.ok(worstError(full, expected.logits, v) <= 1e-5, `full: ${worstError(full, expected.logits, v)}`);
        const cache = model.newCache(32);
        model.forward(expected.tokens.slice(0, 5), cache, 'last');
        for (let i = 5; i < expected.tokens.length; i++) {
          const step = model.forward([expected.tokens[i]!], cache, 'last');
          const err = maxAbsDiff(step, expected.logits[i]!);
          assert.ok(err <= 1e-5, `position ${i}: ${err}`);
        }
      } finally {
        await backend.close();
      }
    });
  }
  test(`${name} quantized to q8_0 and q4_0 at load: logits within the quantization bound`, async () => {
    // Bounds measured on these fixtures (2.9e-2 / 4.6e-2 for q8_0), with headroom; far below the
    // logits' spread between positions (> 1).
    for (const [quant, bound] of [['q8_0', 0.1], ['q4_0', 0.6]] as const) {
      const backend = await CpuBackend.create({ threads: 2, quant });
      try {
        const model = loadModel(dir, { backend });
        const full = model.forward(expected.tokens, model.newCache(32), 'all');
        const err = worstError(full, expected.logits, model.args.vocab_size);
        assert.ok(err <= bound, `${quant}: ${err}`);
        assert.ok(err > 1e-4, `${quant} must differ from the float weights (${err})`);
      } finally {
        await backend.close();
      }
    }
  });
}
