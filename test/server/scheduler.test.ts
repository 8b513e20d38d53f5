import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { Session } from '../../src/engine/generate.js';
import { QueueFullError, Scheduler, type SequenceRequest } from '../../src/engine/scheduler.js';
import { StopStringMatcher } from '../../src/engine/stop-strings.js';
import { loadModel } from '../../src/models/load.js';
import { FIXTURES } from '../helpers.js';

const model = loadModel(path.join(FIXTURES, 'models', 'moe-tiny'));

function prompts(count: number): number[][] {
  return Array.from({ length: count }, (_, i) => Array.from({ length: 3 + (i * 7) % 30 }, (_, j) => 1 + (i * 31 + j * 17) % 500));
}

/** Submits and collects the tokens; resolves with them and the result. */
function run(s: Scheduler, req: Omit<SequenceRequest, 'onToken'>) {
  const tokens: number[] = [];
  const seq = s.submit({ ...req, onToken: (t) => tokens.push(t) });
  return { seq, result: seq.done.then((r) => ({ ...r, tokens })) };
}

test('sequences decoded together give each the tokens it gets alone (greedy), prompts joining mid-run in chunks', async () => {
  const ps = prompts(10);
  const alone = ps.map((p, i) => [...new Session(model, 128).generate(p, { maxTokens: 8 + i })]);
  const s = new Scheduler(model, { parallel: 3, contextLength: 128, prefillChunk: 8 });
  const results = await Promise.all(ps.map((p, i) => run(s, { prompt: p, maxTokens: 8 + i }).result));
  results.forEach((r, i) => {
    assert.deepEqual(r.tokens, alone[i], `sequence ${i}`);
    assert.equal(r.finishReason, 'length');
    assert.equal(r.completionTokens, 8 + i);
    assert.equal(r.promptTokens, ps[i]!.length);
  });
  const st = s.stats();
  assert.equal(st.busy, 0);
  assert.equal(st.generatedTokens, results.reduce((a, r) => a + r.completionTokens, 0));
  // 3 slots for 10 sequences: far fewer batches than tokens generated.
  assert.ok(st.steps < st.generatedTokens / 2, `${st.steps} steps for ${st.generatedTokens} tokens`);
});

test('sampled sequences with a seed are reproducible in a batch', async () => {
  const p = prompts(1)[0]!;
  const sampling = { temperature: 0.8, topK: 40, topP: 0.95, seed: 7, presencePenalty: 0.5, frequencyPenalty: 0.2 };
  const alone = [...new Session(model, 64).generate(p, { maxTokens: 12, ...sampling })];
  const s = new Scheduler(model, { parallel: 4, contextLength: 64 });
  const rs = await Promise.all([0, 1, 2].map(() => run(s, { prompt: p, maxTokens: 12, sampling }).result));
  for (const r of rs) assert.deepEqual(r.tokens, alone);
});

test('a long prompt is read in chunks while the others keep decoding', async () => {
  const s = new Scheduler(model, { parallel: 2, contextLength: 512, prefillChunk: 16 });
  const decoding: number[] = [];
  let atFirstToken = -1;
  const a = s.submit({ prompt: [1, 2, 3], maxTokens: 60, onToken: (t) => decoding.push(t) });
  await new Promise((r) => setTimeout(r, 5));
  const longPrompt = Array.from({ length: 200 }, (_, i) => 5 + (i * 13) % 500);
  const b = s.submit({ prompt: longPrompt, maxTokens: 1, onToken: () => { atFirstToken = decoding.length; } });
  const before = decoding.length;
  await Promise.all([a.done, b.done]);
  // 200 prompt tokens at 16 per step: 13 steps, each of which also decoded one token of `a`.
  assert.ok(atFirstToken - before >= 12, `a decoded ${atFirstToken - before} tokens while b's prompt was read`);
});

test('a stop token ends a sequence with "stop"; a full context with "length"', async () => {
  const p = [1, 2, 3];
  const free = [...new Session(model, 64).generate(p, { maxTokens: 8 })];
  const s = new Scheduler(model, { parallel: 2, contextLength: 6 });
  const stopped = await run(s, { prompt: p, maxTokens: 8, stopTokens: [free[2]!] }).result;
  assert.deepEqual(stopped.tokens, free.slice(0, free.indexOf(free[2]!) + 1));
  assert.equal(stopped.finishReason, 'stop');
  const full = await run(s, { prompt: p, maxTokens: 100 }).result;
  assert.equal(full.tokens.length, 4, 'three positions left after the prompt, plus the token sampled from the last');
  assert.equal(full.finishReason, 'length');
  assert.throws(() => s.submit({ prompt: [1, 2, 3, 4, 5, 6], maxTokens: 1, onToken() {} }), /leaves no room to generate in the context of 6/);
  assert.throws(() => s.submit({ prompt: [], maxTokens: 1, onToken() {} }), /the prompt is empty/);
});

test('a slot reuses the cached prefix of a follow-up prompt', async () => {
  const s = new Scheduler(model, { parallel: 2, contextLength: 128 });
  const first = prompts(3)[2]!;
  const a = await run(s, { prompt: first, maxTokens: 6 }).result;
  assert.equal(a.cachedTokens, 0);
  const follow = [...first, ...a.tokens, 9, 10, 11];
  const b = await run(s, { prompt: follow, maxTokens: 6 }).result;
  // Everything but the last generated token (never fed) was cached.
  assert.equal(b.cachedTokens, first.length + a.tokens.length - 1);
  assert.deepEqual(b.tokens, [...new Session(model, 128).generate(follow, { maxTokens: 6 })]);
});

test('cancel frees the slot at once; requests queue while slots are busy; a full queue refuses', async () => {
  const s = new Scheduler(model, { parallel: 1, contextLength: 512, maxQueue: 1 });
  const long = run(s, { prompt: [1, 2, 3], maxTokens: 400 });
  const waiting = run(s, { prompt: [4, 5, 6], maxTokens: 3 });
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual([s.stats().busy, s.stats().queued], [1, 1]);
  assert.throws(() => s.submit({ prompt: [7], maxTokens: 1, onToken() {} }), QueueFullError);
  long.seq.cancel();
  assert.equal(s.stats().busy, 0, 'freed before the next step');
  const r = await long.result;
  assert.equal(r.finishReason, 'cancelled');
  assert.ok(r.completionTokens < 400);
  assert.equal((await waiting.result).tokens.length, 3);
  // A queued request that is cancelled never runs.
  const a = run(s, { prompt: [1, 2], maxTokens: 50 }), b = run(s, { prompt: [3, 4], maxTokens: 50 });
  b.seq.cancel();
  assert.equal((await b.result).completionTokens, 0);
  assert.equal((await a.result).completionTokens, 50);
});

test('the event loop gets turns between steps', async () => {
  const s = new Scheduler(model, { parallel: 1, contextLength: 256 });
  let steps = 0, ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  const r = run(s, { prompt: [1, 2, 3], maxTokens: 60 });
  await r.result;
  clearInterval(timer);
  steps = s.stats().steps;
  assert.ok(ticks >= 5, `timers ran ${ticks} times during ${steps} steps`);
});

test('an onToken callback that throws fails its sequence only', async () => {
  const s = new Scheduler(model, { parallel: 2, contextLength: 64 });
  const bad = s.submit({ prompt: [1, 2], maxTokens: 5, onToken() { throw new Error('boom'); } });
  const good = run(s, { prompt: [3, 4], maxTokens: 5 });
  await assert.rejects(bad.done, /boom/);
  assert.equal((await good.result).tokens.length, 5);
});

test('stop strings: text passes as it comes, a possible start is held, the match and what follows are dropped', () => {
  const m = new StopStringMatcher(['END', 'xyz']);
  assert.deepEqual(m.push('hello E'), { text: 'hello ', stopped: false });
  assert.deepEqual(m.push('N'), { text: '', stopped: false });
  assert.deepEqual(m.push('x more'), { text: 'ENx more', stopped: false });
  assert.deepEqual(m.push(' and xy'), { text: ' and ', stopped: false });
  assert.deepEqual(m.push('zzz END'), { text: '', stopped: true });
  assert.deepEqual(m.push('later'), { text: '', stopped: true });
  const n = new StopStringMatcher(['</a>']);
  assert.deepEqual(n.push('a</'), { text: 'a', stopped: false });
  assert.equal(n.flush(), '</');
  const none = new StopStringMatcher([]);
  assert.deepEqual(none.push('abc'), { text: 'abc', stopped: false });
});
