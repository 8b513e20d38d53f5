// Generating tokens for one sequence. A Session keeps the KV cache of the tokens it has seen, so a
// follow-up prompt that starts with them (the next turn of a chat) only runs its new tokens.
import type { KVCache } from './kv-cache.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import type { Transformer } from '../models/transformer.js';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** Generation ends after any of these tokens (it is included in the output). */
  stopTokens?: readonly number[];
}

export type FinishReason = 'stop' | 'length';

/** Prompt tokens per forward call; bounds activation memory during prefill. */
export const PREFILL_CHUNK = 256;

export class Session {
  readonly cache: KVCache;
  /** The tokens whose keys and values the cache holds, in order. */
  private readonly seen: number[] = [];

  constructor(readonly model: Transformer, contextLength: number) {
    this.cache = model.newCache(Math.min(contextLength, model.args.max_position_embeddings));
  }

  get contextLength(): number {
    return this.cache.maxSeq;
  }

  /** Runs `prompt`, reusing the cached prefix it shares with what ran before; returns the last logits. */
  prefill(prompt: readonly number[]): Float32Array {
    if (prompt.length === 0) throw new RangeError('the prompt is empty');
    if (prompt.length > this.cache.maxSeq) {
      throw new RangeError(`the prompt has ${prompt.length} tokens, more than the context of ${this.cache.maxSeq}`);
    }
    let keep = 0;
    while (keep < this.seen.length && keep < prompt.length - 1 && this.seen[keep] === prompt[keep]) keep++;
    this.cache.truncate(keep);
    this.seen.length = keep;
    let logits: Float32Array | undefined;
    for (let i = keep; i < prompt.length; i += PREFILL_CHUNK) {
      const chunk = prompt.slice(i, i + PREFILL_CHUNK);
      logits = this.model.forward(chunk, this.cache, 'last');
      this.seen.push(...chunk);
    }
    return logits!;
  }

  /** Appends one token and returns the logits that follow it. */
  step(token: number): Float32Array {
    const logits = this.model.forward([token], this.cache, 'last');
    this.seen.push(token);
    return logits;
  }

  /**
   * Yields generated tokens one by one; returns why it stopped. Stops at maxTokens, after a stop
   * token, or when the context is full (reported as 'length').
   */
  *generate(prompt: readonly number[], opts: GenerateOptions): Generator<number, FinishReason> {
    const sampler = new Sampler(opts);
    const stop = new Set(opts.stopTokens ?? []);
    const history = [...prompt];
    let logits = this.prefill(prompt);
    for (let index = 0; index < opts.maxTokens; index++) {
      const token = sampler.sample(logits, history);
      history.push(token);
      yield token;
      if (stop.has(token)) return 'stop';
      if (index + 1 === opts.maxTokens || this.cache.length >= this.cache.maxSeq) return 'length';
      logits = this.step(token);
    }
    return 'length';
  }
}

/** Generates from a fresh session sized for the prompt and maxTokens. */
export function* generate(model: Transformer, prompt: readonly number[], opts: GenerateOptions): Generator<number, FinishReason> {
  return yield* new Session(model, prompt.length + opts.maxTokens).generate(prompt, opts);
}
