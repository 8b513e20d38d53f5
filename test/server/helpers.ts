// A real server on a free port of 127.0.0.1 for the tests, and what a single-sequence generation
// gives for the same request (the answers the server must reproduce with greedy decoding).
import * as path from 'node:path';
import OpenAI from 'openai';
import { Session } from '../../src/engine/generate.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import { generateText, stopTokensOf } from '../../src/engine/text.js';
import { loadModel } from '../../src/models/load.js';
import type { Transformer } from '../../src/models/transformer.js';
import { PanguServer } from '../../src/server/server.js';
import { ModelService } from '../../src/server/service.js';
import { Tokenizer, type ChatMessage } from '../../src/tokenizer/tokenizer.js';
import { FIXTURES } from '../helpers.js';

export const MODEL_DIR = path.join(FIXTURES, 'models', 'moe-tiny');

let shared: { model: Transformer; tokenizer: Tokenizer } | undefined;

/** The fixture model and tokenizer, loaded once per test file (reference backend). */
export function fixture(): { model: Transformer; tokenizer: Tokenizer } {
  shared ??= { model: loadModel(MODEL_DIR), tokenizer: Tokenizer.load(MODEL_DIR) };
  return shared;
}

export interface TestServer {
  url: string;
  server: PanguServer;
  scheduler: Scheduler;
  /** The openai client pointed at the server (no retries, so errors show as they are). */
  client: OpenAI;
  close(): Promise<void>;
}

export async function startServer(opts: { parallel?: number; ctx?: number; maxQueue?: number; apiKey?: string; bodyLimit?: number } = {}): Promise<TestServer> {
  const { model, tokenizer } = fixture();
  const scheduler = new Scheduler(model, { parallel: opts.parallel ?? 4, contextLength: opts.ctx ?? 512, maxQueue: opts.maxQueue ?? 64 });
  const service = new ModelService({ id: 'moe-tiny', scheduler, tokenizer });
  const server = new PanguServer(service, { apiKey: opts.apiKey, bodyLimit: opts.bodyLimit ?? 1 << 20 });
  const { url } = await server.listen(0, '127.0.0.1');
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: opts.apiKey ?? 'unused', maxRetries: 0 });
  return {
    url, server, scheduler, client,
    close: async () => { await server.close(); scheduler.close(); },
  };
}

export interface Expected {
  reasoning: string;
  content: string;
  completionTokens: number;
  promptTokens: number;
  finishReason: string;
}

/** The greedy chat answer of a fresh single-sequence session. */
export function expectedChat(messages: ChatMessage[], maxTokens: number): Expected {
  const { model, tokenizer } = fixture();
  const prompt = tokenizer.encodeChat(messages, { addGenerationPrompt: true });
  const gen = generateText(new Session(model, 512), tokenizer, prompt, { maxTokens });
  let reasoning = '', content = '';
  for (;;) {
    const r = gen.next();
    if (r.done) return { reasoning, content, completionTokens: r.value.completionTokens, promptTokens: prompt.length, finishReason: r.value.finishReason };
    reasoning += r.value.reasoning;
    content += r.value.content;
  }
}

/** The greedy raw continuation of a prompt string, decoded without the stop token. */
export function expectedCompletion(prompt: string, maxTokens: number): { text: string; tokens: number; finishReason: string } {
  const { model, tokenizer } = fixture();
  const session = new Session(model, 512);
  const stops = stopTokensOf(session, tokenizer);
  const it = session.generate(tokenizer.encode(prompt), { maxTokens, stopTokens: stops });
  const ids: number[] = [];
  for (;;) {
    const r = it.next();
    if (r.done) {
      const text = tokenizer.decode(ids.filter((t) => !stops.includes(t)));
      return { text, tokens: ids.length, finishReason: r.value };
    }
    ids.push(r.value);
  }
}

/** Fields the openai package does not type. */
export type WithReasoning = { reasoning_content?: string | null };

/** Polls until `cond` holds (or throws after `ms`). */
export async function waitFor(cond: () => Promise<boolean> | boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function health(url: string): Promise<{ status: string; slots: { total: number; busy: number }; queue: { waiting: number; max: number }; totals: Record<string, number> }> {
  return (await fetch(`${url}/health`)).json() as never;
}
