// Our logits against the independent PyTorch reference (tools/reference/), computed in float64
// from the same bf16 checkpoints. Tolerance: max abs error <= 1e-3 (our math is float32).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../src/models/load.js';
import { MixtureOfExperts } from '../../src/models/layers/moe.js';
import { FIXTURES, maxAbsDiff, runCli } from '../helpers.js';

interface Expected {
  tokens: number[];
  logits: number[][];
  experts?: number[][][]; // [layer][token][8]
}

const TOLERANCE = 1e-3;

for (const name of ['moe-tiny', 'embedded-tiny']) {
  const dir = path.join(FIXTURES, 'models', name);
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Expected;

  test(`${name}: logits of every position within ${TOLERANCE} of the reference`, () => {
    const model = loadModel(dir);
    const v = model.args.vocab_size;
    const logits = model.forward(expected.tokens, model.newCache(expected.tokens.length), 'all');
    let worst = 0;
    expected.logits.forEach((row, i) => { worst = Math.max(worst, maxAbsDiff(logits.subarray(i * v, (i + 1) * v), row)); });
    assert.ok(worst <= TOLERANCE, `max abs error ${worst}`);
    // The tolerance must be able to fail: the logits vary far more than it between positions.
    assert.ok(maxAbsDiff(expected.logits[0]!, expected.logits[1]!) > 100 * TOLERANCE);
    if (expected.experts) {
      model.layers.forEach((layer, l) => {
        const ids = (layer.mlp as MixtureOfExperts).lastExpertIds;
        expected.experts![l]!.forEach((chosen, t) =>
          assert.deepEqual([...ids.subarray(t * 8, t * 8 + 8)].sort((a, b) => a - b), [...chosen].sort((a, b) => a - b), `layer ${l} token ${t}`));
      });
    }
  });

  test(`${name}: \`pangu logits\` prints the same JSON shape and values`, () => {
    const r = runCli(['logits', '--model', dir, '--tokens', expected.tokens.join(',')]);
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as number[][];
    assert.equal(out.length, expected.tokens.length);
    out.forEach((row, i) => {
      assert.equal(row.length, expected.logits[i]!.length);
      assert.ok(maxAbsDiff(row, expected.logits[i]!) <= TOLERANCE);
    });
  });
}
