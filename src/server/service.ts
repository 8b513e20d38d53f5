// The model behind the API: prompts to tokens, the context limits, and text generation on the
// scheduler: tokens -> UTF-8-safe text -> stop strings -> (chat) reasoning split.
import { QueueFullError, type Scheduler, type SequenceFinish } from '../engine/scheduler.js';
import type { SamplingOptions } from '../engine/sampler.js';
import { StopStringMatcher } from '../engine/stop-strings.js';
import { ChatTemplateError, type ChatMessage, type Tokenizer } from '../tokenizer/tokenizer.js';
import { ReasoningSplitter } from '../tokenizer/thinking.js';
import { ApiError, badParam } from './errors.js';

export interface ModelServiceOptions {
  /** The id clients name the model by (GET /v1/models). */
  id: string;
  scheduler: Scheduler;
  tokenizer: Tokenizer;
  /** Used for the sampling fields a request leaves out (e.g. generation_config.json's). */
  samplingDefaults?: SamplingOptions;
}

export interface TextRequest {
  prompt: number[];
  maxTokens: number | undefined;
  sampling: SamplingOptions;
  stop: string[];
  /** Chat: text between the thinking markers goes to `reasoning`. */
  splitReasoning: boolean;
  /** Run on past the end-of-turn tokens (they are then text like any other). */
  ignoreEos?: boolean;
}

export interface TextPiece {
  reasoning: string;
  content: string;
}

export interface TextOutcome {
  finishReason: SequenceFinish;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
}

export interface RunningText {
  done: Promise<TextOutcome>;
  /** Stops generating (a client went away); `done` resolves with 'cancelled'. */
  cancel(): void;
}

export class ModelService {
  readonly id: string;
  readonly scheduler: Scheduler;
  readonly tokenizer: Tokenizer;
  readonly created = Math.floor(Date.now() / 1000);
  private readonly defaults: SamplingOptions;
  /** The tokens that end a turn: the tokenizer's eos ([unused10] for Pangu) and the config's. */
  private readonly stopTokens: number[];

  constructor(opts: ModelServiceOptions) {
    this.id = opts.id;
    this.scheduler = opts.scheduler;
    this.tokenizer = opts.tokenizer;
    this.defaults = opts.samplingDefaults ?? {};
    const ids = [...this.scheduler.model.args.eos_token_id];
    if (this.tokenizer.eosId !== undefined) ids.push(this.tokenizer.eosId);
    this.stopTokens = [...new Set(ids)];
  }

  get contextLength(): number {
    return this.scheduler.contextLength;
  }

  /** 404 unless `model` is ours (absent means ours). */
  checkModel(model: string | undefined): void {
    if (model !== undefined && model !== this.id) {
      throw new ApiError(404, `The model '${model}' does not exist; this server serves '${this.id}'`, 'invalid_request_error', 'model', 'model_not_found');
    }
  }

  encodeChat(messages: ChatMessage[]): number[] {
    if (this.tokenizer.chatTemplateNames.length === 0) {
      throw new ApiError(400, `the model '${this.id}' has no chat template; use /v1/completions`, 'invalid_request_error', 'messages');
    }
    try {
      return this.tokenizer.encodeChat(messages, { addGenerationPrompt: true });
    } catch (e) {
      if (e instanceof ChatTemplateError) throw badParam('messages', e.message);
      throw e;
    }
  }

  encodeText(text: string): number[] {
    return this.tokenizer.encode(text);
  }

  /**
   * Starts generating. Throws 400 when the prompt and max_tokens do not fit the context and 429
   * when the queue is full; `onText` gets each new piece of text as it is decided.
   */
  generate(req: TextRequest, onText: (piece: TextPiece) => void): RunningText {
    const ctx = this.contextLength, n = req.prompt.length;
    if (n >= ctx) {
      const which = req.splitReasoning ? 'messages' : 'prompt';
      throw new ApiError(400, `the prompt has ${n} tokens, but the context is ${ctx} tokens (at least one must be left to generate)`,
        'invalid_request_error', which, 'context_length_exceeded');
    }
    if (req.maxTokens !== undefined && n + req.maxTokens > ctx) {
      throw new ApiError(400, `max_tokens is ${req.maxTokens}, but the prompt's ${n} tokens leave only ${ctx - n} of the context of ${ctx} tokens`,
        'invalid_request_error', 'max_tokens', 'context_length_exceeded');
    }
    const decoder = this.tokenizer.createStreamDecoder();
    const matcher = new StopStringMatcher(req.stop);
    const splitter = req.splitReasoning ? new ReasoningSplitter({ stopMarker: '' }) : undefined;
    const stopTokens = req.ignoreEos ? [] : this.stopTokens;
    const stops = new Set(stopTokens);
    const pass = (text: string) => {
      if (!text) return;
      const piece = splitter ? splitter.push(text) : { reasoning: '', content: text };
      if (piece.reasoning || piece.content) onText({ reasoning: piece.reasoning, content: piece.content });
    };
    const end = (text: string) => {
      pass(text);
      if (splitter) {
        const tail = splitter.flush();
        if (tail.reasoning || tail.content) onText({ reasoning: tail.reasoning, content: tail.content });
      }
    };
    let stoppedByString = false;
    let seq: ReturnType<Scheduler['submit']>;
    try {
      seq = this.scheduler.submit({
        prompt: req.prompt,
        maxTokens: req.maxTokens ?? ctx - n,
        sampling: { ...this.defaults, ...req.sampling },
        stopTokens,
        onToken: (token) => {
          if (stops.has(token)) return; // the end of the turn is not text
          const m = matcher.push(decoder.push(token));
          if (m.stopped) {
            stoppedByString = true;
            end(m.text);
            seq.cancel();
          } else {
            pass(m.text);
          }
        },
      });
    } catch (e) {
      if (e instanceof QueueFullError) {
        throw new ApiError(429, `the server is busy: ${e.message}; retry later`, 'rate_limit_error', null, 'queue_full');
      }
      throw e;
    }
    const done = seq.done.then((r): TextOutcome => {
      let finishReason = r.finishReason;
      if (stoppedByString) finishReason = 'stop';
      else if (finishReason !== 'cancelled') {
        // Bytes the decoder held (an unfinished character) may still complete a stop string.
        const m = matcher.push(decoder.flush());
        if (m.stopped) finishReason = 'stop';
        end(m.text + matcher.flush());
      }
      return { finishReason, promptTokens: r.promptTokens, cachedTokens: r.cachedTokens, completionTokens: r.completionTokens };
    });
    return { done, cancel: () => seq.cancel() };
  }
}
