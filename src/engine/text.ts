// Generated tokens as text: UTF-8-safe streaming detokenisation, split into reasoning and answer.
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { ReasoningSplitter } from '../tokenizer/thinking.js';
import type { FinishReason, GenerateOptions, Session } from './generate.js';

export interface TextDelta {
  token: number;
  /** New reasoning text (between the thinking markers). */
  reasoning: string;
  /** New answer text. */
  content: string;
}

export interface TextResult {
  finishReason: FinishReason;
  promptTokens: number;
  completionTokens: number;
}

/** The tokens that end a turn: the tokenizer's eos ([unused10] for Pangu) and the config's. */
export function stopTokensOf(session: Session, tokenizer: Tokenizer): number[] {
  const ids = [...session.model.args.eos_token_id];
  if (tokenizer.eosId !== undefined) ids.push(tokenizer.eosId);
  return [...new Set(ids)];
}

/** Streams generated text; the stop token itself is not shown. */
export function* generateText(session: Session, tokenizer: Tokenizer, prompt: readonly number[],
  opts: GenerateOptions): Generator<TextDelta, TextResult> {
  const stopTokens = opts.stopTokens ?? stopTokensOf(session, tokenizer);
  const stops = new Set(stopTokens);
  const decoder = tokenizer.createStreamDecoder();
  const splitter = new ReasoningSplitter({ stopMarker: '' });
  const it = session.generate(prompt, { ...opts, stopTokens });
  let completionTokens = 0;
  for (;;) {
    const r = it.next();
    if (r.done) {
      const tail = splitter.push(decoder.flush());
      const end = splitter.flush();
      const reasoning = tail.reasoning + end.reasoning, content = tail.content + end.content;
      if (reasoning || content) yield { token: -1, reasoning, content };
      return { finishReason: r.value, promptTokens: prompt.length, completionTokens };
    }
    completionTokens++;
    if (stops.has(r.value)) continue;
    const d = splitter.push(decoder.push(r.value));
    yield { token: r.value, reasoning: d.reasoning, content: d.content };
  }
}
