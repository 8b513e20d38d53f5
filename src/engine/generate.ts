// The generation loop of one sequence: prompt in one forward, then one token at a time.
import type { KVCache } from './kv-cache.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import type { Transformer } from '../models/transformer.js';

export interface GenerateOptions extends SamplingOptions {
  maxTokens: number;
  /** Generation ends after any of these tokens (it is included in the output). */
  stopTokens?: readonly number[];
  /** Prompt tokens per forward call; bounds activation memory. */
  chunkSize?: number;
  cache?: KVCache;
}

export interface GenerateStep {
  token: number;
  /** Index of this token among the generated ones. */
  index: number;
}

/** Feeds `tokens` through the model in chunks; returns the logits of the last one. */
export function prefill(model: Transformer, tokens: readonly number[], cache: KVCache, chunkSize = 256): Float32Array {
  let logits: Float32Array | undefined;
  for (let i = 0; i < tokens.length; i += chunkSize) logits = model.forward(tokens.slice(i, i + chunkSize), cache, 'last');
  if (!logits) throw new RangeError('the prompt is empty');
  return logits;
}

/** Yields generated tokens one by one; stops at maxTokens or after a stop token. */
export function* generate(model: Transformer, prompt: readonly number[], opts: GenerateOptions): Generator<GenerateStep> {
  const cache = opts.cache ?? model.newCache(Math.min(model.args.max_position_embeddings, prompt.length + opts.maxTokens));
  const sampler = new Sampler(opts);
  const stop = new Set(opts.stopTokens ?? []);
  const history = [...prompt];
  let logits = prefill(model, prompt, cache, opts.chunkSize);
  for (let index = 0; index < opts.maxTokens; index++) {
    const token = sampler.sample(logits, history);
    history.push(token);
    yield { token, index };
    if (stop.has(token) || index + 1 === opts.maxTokens) return;
    logits = model.forward([token], cache, 'last');
  }
}
