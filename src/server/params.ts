// Request bodies of /v1/chat/completions and /v1/completions, checked field by field into typed
// parameters. Unknown fields are ignored (clients send many); a known field of the wrong type or
// out of range is a 400 naming it.
import type { SamplingOptions } from '../engine/sampler.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { badParam } from './errors.js';

export interface GenerationParams {
  model: string | undefined;
  /** Unset: as much as the context leaves. */
  maxTokens: number | undefined;
  /** Only the fields the request set; the model's defaults fill the rest. */
  sampling: SamplingOptions;
  stop: string[];
  stream: boolean;
  includeUsage: boolean;
  /** vLLM's and llama.cpp's ignore_eos: generate max_tokens whatever comes (for benchmarks). */
  ignoreEos: boolean;
}

export interface ChatParams extends GenerationParams {
  messages: ChatMessage[];
}

export interface CompletionParams extends GenerationParams {
  prompt: string;
}

type Body = Record<string, unknown>;

const ROLES: Record<string, string> = { system: 'system', developer: 'system', user: 'user', assistant: 'assistant' };

export function parseChatParams(body: Body): ChatParams {
  const messages = body['messages'];
  if (!Array.isArray(messages)) throw badParam('messages', '"messages" must be an array of {role, content} objects');
  if (messages.length === 0) throw badParam('messages', '"messages" must hold at least one message');
  const parsed = messages.map((m, i): ChatMessage => {
    const param = `messages[${i}]`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw badParam(param, `${param} must be an object with "role" and "content"`);
    const { role, content } = m as Body;
    if (typeof role !== 'string' || !(role in ROLES)) {
      throw badParam(`${param}.role`, `${param}.role must be one of "system", "user", "assistant" (got ${JSON.stringify(role)})`);
    }
    return { role: ROLES[role]!, content: messageText(content, `${param}.content`, role === 'assistant') };
  });
  return { ...parseGenerationParams(body), messages: parsed };
}

/** A message's content: a string, or an array of text parts (the only part type we take). */
function messageText(content: unknown, param: string, mayBeNull: boolean): string {
  if (typeof content === 'string') return content;
  if (content == null && mayBeNull) return '';
  if (Array.isArray(content)) {
    return content.map((part, j) => {
      const p = part as Body | null;
      if (p && typeof p === 'object' && p['type'] === 'text' && typeof p['text'] === 'string') return p['text'];
      throw badParam(`${param}[${j}]`, `${param}[${j}] must be a {"type": "text", "text": string} part (this model reads text only)`);
    }).join('');
  }
  throw badParam(param, `${param} must be a string or an array of text parts`);
}

export function parseCompletionParams(body: Body): CompletionParams {
  let prompt = body['prompt'];
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string') throw badParam('prompt', '"prompt" must be a string (one prompt per request)');
  return { ...parseGenerationParams(body), prompt };
}

function parseGenerationParams(body: Body): GenerationParams {
  const model = optional(body, 'model', 'string');
  const n = optionalNumber(body, 'n', 1, 128, true);
  if (n !== undefined && n !== 1) throw badParam('n', `only n=1 is supported (got ${n})`);
  const maxTokens = optionalNumber(body, 'max_completion_tokens', 1, Number.MAX_SAFE_INTEGER, true) ??
    optionalNumber(body, 'max_tokens', 1, Number.MAX_SAFE_INTEGER, true);
  const sampling: SamplingOptions = {};
  const set = <K extends keyof SamplingOptions>(key: K, value: SamplingOptions[K] | undefined) => { if (value !== undefined) sampling[key] = value; };
  set('temperature', optionalNumber(body, 'temperature', 0, 2));
  set('topP', optionalNumber(body, 'top_p', 0, 1));
  set('topK', optionalNumber(body, 'top_k', 0, Number.MAX_SAFE_INTEGER, true));
  set('minP', optionalNumber(body, 'min_p', 0, 1));
  set('presencePenalty', optionalNumber(body, 'presence_penalty', -2, 2));
  set('frequencyPenalty', optionalNumber(body, 'frequency_penalty', -2, 2));
  set('repetitionPenalty', optionalNumber(body, 'repetition_penalty', 0.01, 100));
  set('seed', optionalNumber(body, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true));
  if (sampling.seed !== undefined) sampling.seed = sampling.seed >>> 0; // the generator takes 32 bits
  const stream = optional(body, 'stream', 'boolean') ?? false;
  let includeUsage = false;
  const so = body['stream_options'];
  if (so != null) {
    if (typeof so !== 'object' || Array.isArray(so)) throw badParam('stream_options', '"stream_options" must be an object');
    if (!stream) throw badParam('stream_options', '"stream_options" is only allowed when "stream" is true');
    includeUsage = optional(so as Body, 'include_usage', 'boolean', 'stream_options.include_usage') ?? false;
  }
  const ignoreEos = optional(body, 'ignore_eos', 'boolean') ?? false;
  return { model, maxTokens, sampling, stop: parseStop(body['stop']), stream, includeUsage, ignoreEos };
}

function parseStop(stop: unknown): string[] {
  if (stop == null) return [];
  const list = typeof stop === 'string' ? [stop] : stop;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    throw badParam('stop', '"stop" must be a string or an array of strings');
  }
  if (list.length > 16) throw badParam('stop', `"stop" takes at most 16 strings (got ${list.length})`);
  return (list as string[]).filter((s) => s.length > 0);
}

function optional<T extends 'string' | 'boolean'>(body: Body, key: string, type: T, param = key): (T extends 'string' ? string : boolean) | undefined {
  const v = body[key];
  if (v == null) return undefined;
  if (typeof v !== type) throw badParam(param, `"${param}" must be a ${type} (got ${describe(v)})`);
  return v as T extends 'string' ? string : boolean;
}

function optionalNumber(body: Body, key: string, min: number, max: number, integer = false): number | undefined {
  const v = body[key];
  if (v == null) return undefined;
  const what = integer ? 'an integer' : 'a number';
  if (typeof v !== 'number' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw badParam(key, `"${key}" must be ${what} (got ${describe(v)})`);
  }
  if (v < min || v > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `at least ${min}` : `between ${min} and ${max}`;
    throw badParam(key, `"${key}" must be ${range} (got ${v})`);
  }
  return v;
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return typeof v === 'object' ? 'an object' : `${typeof v} ${String(v)}`;
}
