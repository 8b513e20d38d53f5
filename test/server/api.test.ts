// The API through the official openai client against a real server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { ChatMessage } from '../../src/tokenizer/tokenizer.js';
import { expectedChat, expectedCompletion, startServer, type TestServer, type WithReasoning } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer({ parallel: 2 }); });
after(async () => { await t.close(); });

const conversation: ChatMessage[] = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is a mixture of experts?' },
  { role: 'assistant', content: 'A layer that routes each token to a few experts.' },
  { role: 'user', content: 'And grouped routing? /no_think' },
];

test('GET /v1/models lists the served model', async () => {
  const models = [];
  for await (const m of t.client.models.list()) models.push(m);
  assert.equal(models.length, 1);
  assert.equal(models[0]!.id, 'moe-tiny');
  assert.equal(models[0]!.object, 'model');
  assert.equal((await t.client.models.retrieve('moe-tiny')).id, 'moe-tiny');
});

test('chat completion, not streamed: the greedy answer of a single-sequence generation, reasoning apart, with usage', async () => {
  const want = expectedChat(conversation, 40);
  const r = await t.client.chat.completions.create({ model: 'moe-tiny', messages: conversation as never, max_tokens: 40, temperature: 0 });
  const choice = r.choices[0]!;
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'moe-tiny');
  assert.equal(choice.message.role, 'assistant');
  assert.equal(choice.message.content, want.content);
  assert.equal((choice.message as WithReasoning).reasoning_content ?? '', want.reasoning);
  assert.equal(choice.finish_reason, want.finishReason);
  assert.deepEqual([r.usage!.prompt_tokens, r.usage!.completion_tokens, r.usage!.total_tokens],
    [want.promptTokens, want.completionTokens, want.promptTokens + want.completionTokens]);
});

test('chat completion, streamed: deltas add up to the same answer; include_usage adds a usage chunk', async () => {
  const messages: ChatMessage[] = [{ role: 'user', content: 'Tell me a story.' }];
  const want = expectedChat(messages, 60);
  const stream = await t.client.chat.completions.create({
    model: 'moe-tiny', messages: messages as never, max_completion_tokens: 60, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  });
  let content = '', reasoning = '', finish: string | null = null, usage = null, chunks = 0, role = '';
  for await (const c of stream) {
    chunks++;
    assert.equal(c.object, 'chat.completion.chunk');
    if (c.usage) usage = c.usage;
    const choice = c.choices[0];
    if (!choice) continue;
    if (choice.delta.role) role = choice.delta.role;
    content += choice.delta.content ?? '';
    reasoning += (choice.delta as WithReasoning).reasoning_content ?? '';
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(role, 'assistant');
  assert.equal(content, want.content);
  assert.equal(reasoning, want.reasoning);
  assert.equal(finish, want.finishReason);
  assert.ok(chunks > 3, 'streamed in pieces');
  assert.ok(usage);
  assert.equal(usage.completion_tokens, want.completionTokens);
  assert.equal(usage.prompt_tokens, want.promptTokens);
});

test('completions: raw prompt, no template, streamed and not', async () => {
  const want = expectedCompletion('Once upon a time', 30);
  const r = await t.client.completions.create({ model: 'moe-tiny', prompt: 'Once upon a time', max_tokens: 30, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0]!.text, want.text);
  assert.equal(r.choices[0]!.finish_reason, want.finishReason);
  assert.equal(r.usage!.completion_tokens, want.tokens);
  let text = '';
  for await (const c of await t.client.completions.create({ model: 'moe-tiny', prompt: 'Once upon a time', max_tokens: 30, temperature: 0, stream: true })) {
    text += c.choices[0]?.text ?? '';
  }
  assert.equal(text, want.text);
  // Without max_tokens, OpenAI's default of 16.
  const d = await t.client.completions.create({ model: 'moe-tiny', prompt: 'Once upon a time', temperature: 0 });
  assert.ok(d.usage!.completion_tokens <= 16);
});

test('stop strings cut the text before the first match, with finish_reason stop', async () => {
  const want = expectedCompletion('The quick brown fox', 40);
  // A stop string from the middle of the greedy text (at least 2 characters into it).
  const stop = want.text.slice(12, 15);
  assert.equal(stop.length, 3, `the fixture's text is long enough: ${JSON.stringify(want.text)}`);
  const cut = want.text.slice(0, want.text.indexOf(stop));
  const r = await t.client.completions.create({ model: 'moe-tiny', prompt: 'The quick brown fox', max_tokens: 40, temperature: 0, stop: ['no such text ✗', stop] });
  assert.equal(r.choices[0]!.text, cut);
  assert.equal(r.choices[0]!.finish_reason, 'stop');
  let streamed = '', finish = null;
  for await (const c of await t.client.completions.create({ model: 'moe-tiny', prompt: 'The quick brown fox', max_tokens: 40, temperature: 0, stop, stream: true })) {
    streamed += c.choices[0]?.text ?? '';
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(streamed, cut);
  assert.equal(finish, 'stop');
});

test('max_tokens ends with finish_reason length; a seed makes sampling reproducible', async () => {
  const extensions = { top_k: 50, min_p: 0.01 }; // llama.cpp / vLLM fields the openai types lack
  const ask = (seed: number) => t.client.chat.completions.create({
    model: 'moe-tiny', messages: [{ role: 'user', content: 'Pick a word.' }], max_tokens: 5,
    temperature: 1.2, top_p: 0.9, presence_penalty: 0.5, frequency_penalty: 0.5, seed, ...extensions,
  });
  const [a, b, c] = await Promise.all([ask(1), ask(1), ask(2)]);
  const text = (r: typeof a) => ((r.choices[0]!.message as WithReasoning).reasoning_content ?? '') + r.choices[0]!.message.content;
  assert.equal(text(a), text(b));
  assert.equal(a.usage!.completion_tokens, b.usage!.completion_tokens);
  if (a.choices[0]!.finish_reason === 'length') assert.equal(a.usage!.completion_tokens, 5);
  assert.ok(c.usage!.completion_tokens <= 5);
});

test('a follow-up turn reuses the cached prefix (prompt_tokens_details.cached_tokens)', async () => {
  const first: ChatMessage[] = [{ role: 'user', content: 'A long first question about the weather today. /no_think' }];
  await t.client.chat.completions.create({ model: 'moe-tiny', messages: first as never, max_tokens: 4, temperature: 0 });
  const follow = [...first, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'and tomorrow?' }];
  const r = await t.client.chat.completions.create({ model: 'moe-tiny', messages: follow as never, max_tokens: 4, temperature: 0 });
  const cached = (r.usage as { prompt_tokens_details?: { cached_tokens?: number } }).prompt_tokens_details?.cached_tokens ?? 0;
  assert.ok(cached >= 10, `cached ${cached} of ${r.usage!.prompt_tokens}`);
  assert.equal(r.choices[0]!.message.content, expectedChat(follow, 4).content);
});
