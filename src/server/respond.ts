// Running one generation for an HTTP request and answering it, streamed (SSE) or whole. The chat
// and completion endpoints differ only in the JSON they build (a ResponseFormat).
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { ApiError } from './errors.js';
import { sendError, sendJson, SseWriter } from './http-util.js';
import type { ModelService, RunningText, TextOutcome, TextPiece, TextRequest } from './service.js';

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export type FinishReason = 'stop' | 'length';

export interface ResponseFormat {
  /** First stream chunk (chat: the assistant role), if any. */
  start?(): unknown;
  /** A stream chunk carrying new text. */
  chunk(piece: TextPiece): unknown;
  /** The stream chunk with finish_reason (usage: null when stream_options.include_usage). */
  finish(reason: FinishReason, withUsageField: boolean): unknown;
  /** The extra chunk with usage and no choices (stream_options.include_usage). */
  usage(usage: Usage): unknown;
  /** The non-streamed response. */
  whole(text: TextPiece, reason: FinishReason, usage: Usage): unknown;
}

/** In-flight generations, so that a shutdown can end them. */
export class ActiveSet {
  private readonly running = new Set<RunningText>();
  closing = false;

  add(r: RunningText): void { this.running.add(r); }
  delete(r: RunningText): void { this.running.delete(r); }
  get size(): number { return this.running.size; }

  /** Ends every generation; their responses say the server is shutting down. */
  closeAll(): void {
    this.closing = true;
    for (const r of this.running) r.cancel();
  }
}

export function newId(prefix: string): string {
  return `${prefix}-${randomBytes(12).toString('hex')}`;
}

export function shutdownError(): ApiError {
  return new ApiError(503, 'the server is shutting down; the generation was stopped', 'server_error', null, 'server_shutdown');
}

export async function respond(res: ServerResponse, service: ModelService, text: TextRequest,
  opts: { stream: boolean; includeUsage: boolean }, format: ResponseFormat, active: ActiveSet): Promise<void> {
  if (active.closing) throw shutdownError();
  let sse: SseWriter | undefined;
  const whole: TextPiece = { reasoning: '', content: '' };
  // Throws (400/429) before anything is written when the request cannot run.
  const running = service.generate(text, (piece) => {
    if (sse) sse.send(format.chunk(piece));
    else { whole.reasoning += piece.reasoning; whole.content += piece.content; }
  });
  active.add(running);
  // A client that goes away frees its slot at once.
  let clientGone = false;
  const onClose = () => {
    if (!res.writableFinished) { clientGone = true; running.cancel(); }
  };
  res.on('close', onClose);
  if (opts.stream) {
    sse = new SseWriter(res);
    const first = format.start?.();
    if (first !== undefined) sse.send(first);
  }
  let outcome: TextOutcome;
  try {
    outcome = await running.done;
  } catch (e) {
    const err = e instanceof ApiError ? e : new ApiError(500, `generation failed: ${(e as Error).message}`, 'server_error', null, 'generation_failed');
    if (sse) { sse.send(err.toJSON()); sse.end(); } else sendError(res, err);
    return;
  } finally {
    active.delete(running);
  }
  if (clientGone) return;
  if (outcome.finishReason === 'cancelled') {
    // Not the client: the server is shutting down.
    const err = shutdownError();
    if (sse) { sse.send(err.toJSON()); sse.end(); } else sendError(res, err);
    return;
  }
  const usage: Usage = {
    prompt_tokens: outcome.promptTokens,
    completion_tokens: outcome.completionTokens,
    total_tokens: outcome.promptTokens + outcome.completionTokens,
    prompt_tokens_details: { cached_tokens: outcome.cachedTokens },
  };
  if (sse) {
    sse.send(format.finish(outcome.finishReason, opts.includeUsage));
    if (opts.includeUsage) sse.send(format.usage(usage));
    sse.end();
  } else {
    sendJson(res, 200, format.whole(whole, outcome.finishReason, usage));
  }
}
