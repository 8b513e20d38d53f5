// Bad requests get OpenAI-style errors with the right status and a clear message; none of them
// hurts the server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import OpenAI from 'openai';
import { health, startServer, waitFor, type TestServer } from './helpers.js';

let t: TestServer;
before(async () => { t = await startServer({ parallel: 1, ctx: 128, maxQueue: 1, bodyLimit: 4096 }); });
after(async () => { await t.close(); });

/** Posts a raw body; returns the status and the parsed error. */
async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const r = await fetch(`${t.url}${path}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
  const json = await r.json() as { error: { message: string; type: string; param: string | null; code: string | null } };
  return { status: r.status, error: json.error };
}

/** The openai client's error for a request expected to fail. */
async function apiError(p: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> {
  try {
    await p;
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e;
    throw e;
  }
  assert.fail('the request succeeded');
}

const user = [{ role: 'user' as const, content: 'hi' }];

test('through the openai client: n > 1, an unknown model, wrong field types and ranges', async () => {
  let e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: user, n: 2 }));
  assert.equal(e.status, 400);
  assert.match(e.message, /only n=1 is supported/);
  assert.equal((e.error as { param: string }).param, 'n');
  e = await apiError(t.client.chat.completions.create({ model: 'gpt-9', messages: user }));
  assert.equal(e.status, 404);
  assert.match(e.message, /The model 'gpt-9' does not exist; this server serves 'moe-tiny'/);
  assert.equal(e.code, 'model_not_found');
  e = await apiError(t.client.models.retrieve('gpt-9'));
  assert.equal(e.status, 404);
  e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: user, temperature: 'hot' as never }));
  assert.equal(e.status, 400);
  assert.match(e.message, /"temperature" must be a number \(got the string "hot"\)/);
  e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: user, top_p: 3 }));
  assert.match(e.message, /"top_p" must be between 0 and 1 \(got 3\)/);
  e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: user, max_tokens: 2.5 }));
  assert.match(e.message, /"max_tokens" must be an integer/);
  e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: user, stop: [1, 2] as never }));
  assert.match(e.message, /"stop" must be a string or an array of strings/);
  e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: [{ role: 'robot', content: 'x' }] as never }));
  assert.match(e.message, /messages\[0\]\.role must be one of "system", "user", "assistant" \(got "robot"\)/);
  e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: [] }));
  assert.match(e.message, /"messages" must hold at least one message/);
  e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'x' } }] }] }));
  assert.match(e.message, /this model reads text only/);
  e = await apiError(t.client.completions.create({ model: 'moe-tiny', prompt: ['a', 'b'] }));
  assert.match(e.message, /"prompt" must be a string/);
});

test('a prompt longer than the context and max_tokens beyond it are 400 context_length_exceeded', async () => {
  const long = 'many words '.repeat(200);
  let e = await apiError(t.client.chat.completions.create({ model: 'moe-tiny', messages: [{ role: 'user', content: long }] }));
  assert.equal(e.status, 400);
  assert.equal(e.code, 'context_length_exceeded');
  assert.match(e.message, /the prompt has \d+ tokens, but the context is 128 tokens/);
  e = await apiError(t.client.completions.create({ model: 'moe-tiny', prompt: 'hello', max_tokens: 1000 }));
  assert.equal(e.status, 400);
  assert.equal(e.code, 'context_length_exceeded');
  assert.match(e.message, /max_tokens is 1000, but the prompt's \d+ tokens leave only \d+ of the context of 128 tokens/);
});

test('malformed JSON, a body that is not an object, an oversized body, unknown routes and methods', async () => {
  let r = await post('/v1/chat/completions', '{"messages": [');
  assert.equal(r.status, 400);
  assert.match(r.error.message, /the request body is not valid JSON/);
  assert.equal(r.error.type, 'invalid_request_error');
  r = await post('/v1/chat/completions', '[1, 2]');
  assert.equal(r.status, 400);
  assert.match(r.error.message, /must be a JSON object/);
  r = await post('/v1/chat/completions', '');
  assert.match(r.error.message, /the request body is empty/);
  r = await post('/v1/completions', JSON.stringify({ prompt: 'x'.repeat(5000) }));
  assert.equal(r.status, 413);
  assert.match(r.error.message, /larger than the limit of 4096 bytes/);
  r = await post('/v1/embeddings', '{}');
  assert.equal(r.status, 404);
  assert.match(r.error.message, /no such endpoint: POST \/v1\/embeddings/);
  const g = await fetch(`${t.url}/v1/chat/completions`);
  assert.equal(g.status, 405);
  assert.match((await g.json() as { error: { message: string } }).error.message, /takes POST, not GET/);
});

test('a full queue answers 429; a client that leaves a queued request frees its place', async () => {
  // One slot, a queue of one: a long generation, one waiting request, then a refusal.
  const busy = new AbortController(), waiting = new AbortController();
  const first = t.client.completions.create({ model: 'moe-tiny', prompt: 'a', max_tokens: 120, stream: true }, { signal: busy.signal });
  const s1 = await first;
  const second = t.client.completions.create({ model: 'moe-tiny', prompt: 'b', max_tokens: 120, stream: true }, { signal: waiting.signal });
  await waitFor(async () => (await health(t.url)).queue.waiting === 1, 5000, 'the second request to queue');
  const e = await apiError(t.client.completions.create({ model: 'moe-tiny', prompt: 'c', max_tokens: 1 }));
  assert.equal(e.status, 429);
  assert.equal(e.code, 'queue_full');
  assert.match(e.message, /the server is busy: all 1 slots are busy and 1 requests are already waiting/);
  waiting.abort();
  await second.catch(() => undefined);
  busy.abort();
  void s1;
  await waitFor(async () => { const h = await health(t.url); return h.slots.busy === 0 && h.queue.waiting === 0; }, 5000, 'slots and queue to empty');
  const ok = await t.client.completions.create({ model: 'moe-tiny', prompt: 'c', max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
});

test('with --api-key, /v1 needs the bearer key (401 otherwise); the page and /health do not', async () => {
  const k = await startServer({ apiKey: 's3cret' });
  try {
    let r = await fetch(`${k.url}/v1/models`);
    assert.equal(r.status, 401);
    assert.match((await r.json() as { error: { message: string } }).error.message, /needs an API key: send the header "Authorization: Bearer <key>"/);
    const wrong = new OpenAI({ baseURL: `${k.url}/v1`, apiKey: 'nope', maxRetries: 0 });
    const e = await apiError(wrong.chat.completions.create({ model: 'moe-tiny', messages: user, max_tokens: 1 }));
    assert.equal(e.status, 401);
    assert.equal(e.code, 'invalid_api_key');
    const ok = await k.client.chat.completions.create({ model: 'moe-tiny', messages: user, max_tokens: 1 });
    assert.equal(ok.choices.length, 1);
    r = await fetch(`${k.url}/`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /text\/html/);
    assert.equal((await fetch(`${k.url}/health`)).status, 200);
  } finally {
    await k.close();
  }
});

test('after all that the server still answers', async () => {
  const h = await health(t.url);
  assert.equal(h.status, 'ok');
  assert.equal(h.slots.busy, 0);
  const r = await t.client.chat.completions.create({ model: 'moe-tiny', messages: user, max_tokens: 3 });
  assert.ok(r.usage!.completion_tokens >= 1);
});
