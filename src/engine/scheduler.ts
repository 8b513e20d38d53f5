// Continuous batching: up to `parallel` sequences decode together, one token each per
// model.forwardBatch call. A new request's prompt joins the running batch (in chunks, so a long
// prompt does not stall the others' decoding for long), a slot frees as soon as its sequence ends
// or is cancelled, and requests wait in a bounded queue while every slot is busy.
//
// Each slot owns a KV cache that outlives its requests: a new request goes to the free slot whose
// cached tokens share the longest prefix with its prompt, and only the rest of the prompt runs.
//
// forwardBatch is synchronous CPU work, so the loop runs one batch per macrotask (setImmediate):
// between two steps the event loop serves I/O (new requests, disconnects, writes).
import type { KVCache } from './kv-cache.js';
import type { FinishReason } from './generate.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import type { Transformer } from '../models/transformer.js';

export interface SchedulerOptions {
  /** Sequences decoded together (slots, each with its own KV cache). */
  parallel: number;
  /** Positions of each slot's cache (prompt + generated tokens). */
  contextLength: number;
  /** Requests that may wait for a slot; past that submit() throws QueueFullError. */
  maxQueue?: number;
  /** Prompt tokens run per step, over all sequences being prefilled (chunked prefill). */
  prefillChunk?: number;
}

export interface SequenceRequest {
  prompt: readonly number[];
  /** Tokens to generate at most (the stop token counts). */
  maxTokens: number;
  sampling?: SamplingOptions;
  /** Generation ends after any of these (it is passed to onToken too). */
  stopTokens?: readonly number[];
  /** Called synchronously with each generated token; may call cancel() on the handle. */
  onToken(token: number): void;
}

export type SequenceFinish = FinishReason | 'cancelled';

export interface SequenceResult {
  finishReason: SequenceFinish;
  promptTokens: number;
  /** Prompt tokens whose K/V were already in the slot's cache (not run again). */
  cachedTokens: number;
  completionTokens: number;
}

/** Thrown by submit() when every slot is busy and the queue is full. */
export class QueueFullError extends Error {
  override name = 'QueueFullError';
}

export interface SchedulerStats {
  slots: number;
  busy: number;
  queued: number;
  maxQueue: number;
  contextLength: number;
  /** Totals since start. */
  requests: number;
  promptTokens: number;
  cachedTokens: number;
  generatedTokens: number;
  steps: number;
}

/** A submitted request: wait for `done`, or cancel it. */
export class Sequence {
  readonly done: Promise<SequenceResult>;
  /** queued -> prefill -> decode -> finished */
  state: 'queued' | 'prefill' | 'decode' | 'finished' = 'queued';
  /** Prompt tokens already in the cache (reused or run). */
  fed = 0;
  cachedTokens = 0;
  generated = 0;
  /** The token to feed next while decoding. */
  next = -1;
  readonly history: number[];
  readonly sampler: Sampler;
  readonly stops: Set<number>;
  slot: Slot | undefined;
  private settle!: { resolve: (r: SequenceResult) => void; reject: (e: unknown) => void };

  constructor(readonly request: SequenceRequest, private readonly scheduler: Scheduler) {
    this.done = new Promise((resolve, reject) => { this.settle = { resolve, reject }; });
    this.history = [...request.prompt];
    this.sampler = new Sampler(request.sampling ?? {});
    this.stops = new Set(request.stopTokens ?? []);
  }

  /** Ends the sequence now (frees its slot or leaves the queue); `done` resolves as 'cancelled'. */
  cancel(): void {
    this.scheduler.finish(this, 'cancelled');
  }

  /** @internal */
  end(reason: SequenceFinish | Error): void {
    if (this.state === 'finished') return;
    this.state = 'finished';
    if (reason instanceof Error) {
      this.settle.reject(reason);
      return;
    }
    this.settle.resolve({
      finishReason: reason, promptTokens: this.request.prompt.length,
      cachedTokens: this.cachedTokens, completionTokens: this.generated,
    });
  }
}

interface Slot {
  readonly index: number;
  readonly cache: KVCache;
  /** The tokens whose K/V the cache holds, in order (cache.length of them). */
  readonly seen: number[];
  seq: Sequence | undefined;
  /** When the slot last ended a sequence, to pick the least recently used among equals. */
  lastUsed: number;
}

export class Scheduler {
  readonly parallel: number;
  readonly contextLength: number;
  readonly maxQueue: number;
  readonly prefillChunk: number;
  private readonly slots: Slot[];
  private readonly queue: Sequence[] = [];
  /** Admission order of the running sequences: prefill proceeds first come, first served. */
  private running: Sequence[] = [];
  private scheduled = false;
  private closed = false;
  private clock = 0;
  private totals = { requests: 0, promptTokens: 0, cachedTokens: 0, generatedTokens: 0, steps: 0 };

  constructor(readonly model: Transformer, opts: SchedulerOptions) {
    if (!Number.isInteger(opts.parallel) || opts.parallel < 1) throw new RangeError(`parallel must be a positive integer, got ${opts.parallel}`);
    this.parallel = opts.parallel;
    this.contextLength = Math.min(opts.contextLength, model.args.max_position_embeddings);
    this.maxQueue = opts.maxQueue ?? 64;
    this.prefillChunk = Math.max(1, opts.prefillChunk ?? 256);
    this.slots = Array.from({ length: this.parallel }, (_, index) => ({
      index, cache: model.newCache(this.contextLength), seen: [], seq: undefined, lastUsed: 0,
    }));
  }

  /** Queues a request; throws RangeError for a prompt that cannot fit, QueueFullError when full. */
  submit(request: SequenceRequest): Sequence {
    if (this.closed) throw new Error('the scheduler is closed');
    const n = request.prompt.length;
    if (n === 0) throw new RangeError('the prompt is empty');
    if (n >= this.contextLength) {
      throw new RangeError(`the prompt has ${n} tokens, which leaves no room to generate in the context of ${this.contextLength}`);
    }
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) throw new RangeError(`maxTokens must be a positive integer, got ${request.maxTokens}`);
    // Queued requests that a free slot will take at the next step are not waiting.
    const freeSlots = this.slots.filter((s) => !s.seq).length;
    if (this.queue.length - freeSlots >= this.maxQueue) {
      throw new QueueFullError(`all ${this.parallel} slots are busy and ${this.queue.length - freeSlots} requests are already waiting`);
    }
    const seq = new Sequence(request, this);
    this.queue.push(seq);
    this.totals.requests++;
    this.kick();
    return seq;
  }

  stats(): SchedulerStats {
    return {
      slots: this.parallel, busy: this.slots.filter((s) => s.seq).length, queued: this.queue.length,
      maxQueue: this.maxQueue, contextLength: this.contextLength, ...this.totals,
    };
  }

  /** Cancels every sequence and refuses new ones. */
  close(): void {
    this.closed = true;
    for (const seq of [...this.queue, ...this.running]) this.finish(seq, 'cancelled');
  }

  /** @internal Ends a sequence and frees what it holds. */
  finish(seq: Sequence, reason: SequenceFinish | Error): void {
    if (seq.state === 'finished') return;
    const q = this.queue.indexOf(seq);
    if (q >= 0) this.queue.splice(q, 1);
    if (seq.slot) {
      seq.slot.seq = undefined;
      seq.slot.lastUsed = ++this.clock;
      seq.slot = undefined;
      this.running = this.running.filter((s) => s !== seq);
    }
    seq.end(reason);
    if (this.queue.length > 0) this.kick();
  }

  private kick(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.tick();
    });
  }

  /** One step of the loop: admit waiting requests, run one batch, schedule the next step. */
  private tick(): void {
    if (this.closed) return;
    try {
      this.admit();
      if (this.running.length === 0) return;
      this.step();
    } catch (e) {
      // A bug must not take the process (and every other request) down: fail what was running.
      const err = e instanceof Error ? e : new Error(String(e));
      for (const seq of [...this.running]) {
        seq.slot!.cache.truncate(0);
        seq.slot!.seen.length = 0;
        this.finish(seq, err);
      }
    }
    if (this.running.length > 0 || this.queue.length > 0) this.kick();
  }

  /** Moves queued requests into free slots, reusing the longest cached prefix. */
  private admit(): void {
    while (this.queue.length > 0) {
      const free = this.slots.filter((s) => !s.seq);
      if (free.length === 0) return;
      const seq = this.queue.shift()!;
      const prompt = seq.request.prompt;
      let best = free[0]!, bestKeep = -1;
      for (const slot of free) {
        // At least the last prompt token must run, to give the logits of the first new token.
        const keep = commonPrefix(slot.seen, prompt, prompt.length - 1);
        if (keep > bestKeep || (keep === bestKeep && slot.lastUsed < best.lastUsed)) { best = slot; bestKeep = keep; }
      }
      best.cache.truncate(bestKeep);
      best.seen.length = bestKeep;
      best.seq = seq;
      seq.slot = best;
      seq.fed = bestKeep;
      seq.cachedTokens = bestKeep;
      seq.state = 'prefill';
      this.running.push(seq);
      this.totals.promptTokens += prompt.length;
      this.totals.cachedTokens += bestKeep;
    }
  }

  private step(): void {
    // Every decoding sequence feeds its last token; prefilling ones share the chunk budget.
    const work: { seq: Sequence; slot: Slot; tokens: number[] }[] = [];
    let budget = this.prefillChunk;
    for (const seq of this.running) {
      if (seq.state === 'decode') work.push({ seq, slot: seq.slot!, tokens: [seq.next] });
    }
    for (const seq of this.running) {
      if (seq.state !== 'prefill' || budget <= 0) continue;
      const prompt = seq.request.prompt;
      const n = Math.min(budget, prompt.length - seq.fed);
      work.push({ seq, slot: seq.slot!, tokens: prompt.slice(seq.fed, seq.fed + n) });
      budget -= n;
    }
    let logits: Float32Array[];
    try {
      logits = this.model.forwardBatch(work.map(({ slot, tokens }) => ({ tokens, cache: slot.cache })), 'last');
    } catch (e) {
      // The caches may be half-written: forget what they hold, and fail these sequences.
      for (const { seq, slot } of work) {
        slot.cache.truncate(0);
        slot.seen.length = 0;
        this.finish(seq, e instanceof Error ? e : new Error(String(e)));
      }
      return;
    }
    this.totals.steps++;
    work.forEach(({ seq, slot, tokens }, b) => {
      slot.seen.push(...tokens);
      if (seq.state === 'finished') return; // ended by another sequence's callback during this loop
      if (seq.state === 'prefill') {
        seq.fed += tokens.length;
        if (seq.fed < seq.request.prompt.length) return;
        seq.state = 'decode';
      }
      this.emit(seq, logits[b]!);
    });
  }

  /** Samples the sequence's next token from its logits and hands it over; ends the sequence when due. */
  private emit(seq: Sequence, logits: Float32Array): void {
    const token = seq.sampler.sample(logits, seq.history);
    seq.history.push(token);
    seq.generated++;
    this.totals.generatedTokens++;
    try {
      seq.request.onToken(token);
    } catch (e) {
      this.finish(seq, e instanceof Error ? e : new Error(String(e)));
      return;
    }
    if (seq.state === 'finished') return; // cancelled by onToken
    const cache = seq.slot!.cache;
    if (seq.stops.has(token)) this.finish(seq, 'stop');
    else if (seq.generated >= seq.request.maxTokens || cache.length >= cache.maxSeq) this.finish(seq, 'length');
    else seq.next = token;
  }
}

function commonPrefix(a: readonly number[], b: readonly number[], limit: number): number {
  let i = 0;
  while (i < limit && i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}
