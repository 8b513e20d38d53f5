import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { generate, Session } from '../../src/engine/generate.js';
import { generateText } from '../../src/engine/text.js';
import { loadModel } from '../../src/models/load.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { FIXTURES } from '../helpers.js';

const dir = path.join(FIXTURES, 'models', 'moe-tiny');

test('a session reuses the cached prefix of a follow-up prompt and generates the same tokens as a fresh one', () => {
  const model = loadModel(dir);
  const first = [1, 20, 30, 40, 50];
  const session = new Session(model, 64);
  const answer = [...session.generate(first, { maxTokens: 6 })];
  const followUp = [...first, ...answer, 7, 8, 9];
  const reused = [...session.generate(followUp, { maxTokens: 6 })];
  const fresh = [...generate(model, followUp, { maxTokens: 6 })];
  assert.deepEqual(reused, fresh);
  // Changing an early token invalidates the cache from there on.
  const edited = [1, 21, ...followUp.slice(2)];
  assert.deepEqual([...session.generate(edited, { maxTokens: 6 })], [...generate(model, edited, { maxTokens: 6 })]);
});

test('generation stops at a stop token, and at the end of the context with reason length', () => {
  const model = loadModel(dir);
  const free = [...generate(model, [1, 2, 3], { maxTokens: 8 })];
  const stopAt = free[3]!;
  const it = generate(model, [1, 2, 3], { maxTokens: 8, stopTokens: [stopAt] });
  const got: number[] = [];
  let r = it.next();
  for (; !r.done; r = it.next()) got.push(r.value);
  assert.deepEqual(got, free.slice(0, free.indexOf(stopAt) + 1));
  assert.equal(r.value, 'stop');
  const small = new Session(model, 5).generate([1, 2, 3], { maxTokens: 10 });
  const out: number[] = [];
  let s = small.next();
  for (; !s.done; s = small.next()) out.push(s.value);
  assert.equal(out.length, 3, 'two positions left after the prompt, plus the token sampled from the last');
  assert.equal(s.value, 'length');
  assert.throws(() => new Session(model, 2).prefill([1, 2, 3]), /the prompt has 3 tokens, more than the context of 2/);
});

test('generateText streams the same text as decoding the generated ids, without the stop token', () => {
  const model = loadModel(dir);
  const tok = Tokenizer.load(dir);
  const prompt = tok.encode('The quick brown fox');
  const ids = [...generate(model, prompt, { maxTokens: 24 })];
  const gen = generateText(new Session(model, 64), tok, prompt, { maxTokens: 24, stopTokens: [] });
  let text = '';
  let r = gen.next();
  for (; !r.done; r = gen.next()) text += r.value.reasoning + r.value.content;
  assert.equal(r.value.completionTokens, 24);
  // Markers of the reasoning block are dropped by the splitter; everything else is the decode.
  assert.equal(text, tok.decode(ids).replace(/\[unused1[67]\]/g, ''));
});
