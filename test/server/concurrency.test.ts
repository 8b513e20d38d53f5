// Continuous batching seen from clients: many concurrent streams each get exactly their own
// answer, and a client that disconnects frees its slot at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Session } from '../../src/engine/generate.js';
import { stopTokensOf } from '../../src/engine/text.js';
import type { ChatMessage } from '../../src/tokenizer/tokenizer.js';
import { expectedChat, fixture, health, startServer, waitFor, type TestServer, type WithReasoning } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer({ parallel: 8, ctx: 512, maxQueue: 64 }); });
after(async () => { await t.close(); });

test('32 concurrent streaming clients each get the answer a single-sequence generation gives (greedy)', async () => {
  const requests = Array.from({ length: 32 }, (_, i) => {
    const messages: ChatMessage[] = [{ role: 'user', content: `Question ${i}: ${'why '.repeat(i % 9)}is the sky ${['blue', 'red', 'green', 'grey'][i % 4]}?${i % 3 === 0 ? ' /no_think' : ''}` }];
    return { messages, maxTokens: 12 + (i % 5) * 6 };
  });
  const want = requests.map((r) => expectedChat(r.messages, r.maxTokens));
  let maxBusy = 0;
  const poll = setInterval(() => { void health(t.url).then((h) => { maxBusy = Math.max(maxBusy, h.slots.busy); }); }, 20);
  const got = await Promise.all(requests.map(async (r) => {
    const stream = await t.client.chat.completions.create({
      model: 'moe-tiny', messages: r.messages as never, max_tokens: r.maxTokens, temperature: 0, stream: true,
      stream_options: { include_usage: true },
    });
    let content = '', reasoning = '', finish = '', tokens = -1;
    for await (const c of stream) {
      const ch = c.choices[0];
      if (c.usage) tokens = c.usage.completion_tokens;
      if (!ch) continue;
      content += ch.delta.content ?? '';
      reasoning += (ch.delta as WithReasoning).reasoning_content ?? '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    return { content, reasoning, finish, tokens };
  }));
  clearInterval(poll);
  got.forEach((g, i) => {
    assert.equal(g.content, want[i]!.content, `client ${i}: content`);
    assert.equal(g.reasoning, want[i]!.reasoning, `client ${i}: reasoning`);
    assert.equal(g.finish, want[i]!.finishReason, `client ${i}: finish_reason`);
    assert.equal(g.tokens, want[i]!.completionTokens, `client ${i}: completion tokens`);
  });
  assert.ok(maxBusy >= 4, `slots were shared: at most ${maxBusy} busy at once`);
  const h = await health(t.url);
  assert.equal(h.slots.busy, 0);
  assert.ok(h.totals['batches']! < h.totals['generated_tokens']! / 3, `${h.totals['batches']} batches for ${h.totals['generated_tokens']} tokens`);
});

/** A prompt whose greedy continuation runs at least `n` tokens without a stop token. */
function longRunningPrompt(n: number): string {
  const { model, tokenizer } = fixture();
  for (const p of ['Once upon a time', 'The quick brown fox', 'In the beginning', 'Hello world', 'abc']) {
    const session = new Session(model, 512);
    const stops = stopTokensOf(session, tokenizer);
    const ids = [...session.generate(tokenizer.encode(p), { maxTokens: n, stopTokens: stops })];
    if (!stops.includes(ids[ids.length - 1]!)) return p;
  }
  throw new Error(`no candidate prompt runs ${n} tokens`);
}

test('a client that disconnects (AbortController) frees its slot at once, streamed or not', async () => {
  const prompt = longRunningPrompt(400);
  const before = (await health(t.url)).totals['generated_tokens']!;
  for (const stream of [true, false]) {
    const ac = new AbortController();
    const req = t.client.completions.create({ model: 'moe-tiny', prompt, max_tokens: 400, temperature: 0, stream }, { signal: ac.signal });
    if (stream) {
      const s = await req as AsyncIterable<unknown>;
      const it = s[Symbol.asyncIterator]();
      await it.next();
      await it.next();
    } else {
      void (req as Promise<unknown>).catch(() => undefined);
    }
    await waitFor(async () => (await health(t.url)).slots.busy === 1, 5000, 'the request to take a slot');
    const abortedAt = Date.now();
    ac.abort();
    await waitFor(async () => (await health(t.url)).slots.busy === 0, 2000, 'the slot to free');
    assert.ok(Date.now() - abortedAt < 1000, `freed ${Date.now() - abortedAt} ms after the disconnect`);
  }
  // Neither generation ran to its 400 tokens.
  const h = await health(t.url);
  const generated = h.totals['generated_tokens']! - before;
  assert.ok(generated < 400, `${generated} tokens generated for the two aborted requests`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await health(t.url)).totals['generated_tokens'], h.totals['generated_tokens'], 'nothing runs after the disconnects');
});
