// POST /v1/completions: the prompt string is encoded as is (with <s>, no chat template) and the
// generated text is returned raw, thinking markers included.
import type { ServerResponse } from 'node:http';
import { badParam } from './errors.js';
import { parseCompletionParams } from './params.js';
import { newId, respond, type ActiveSet, type ResponseFormat } from './respond.js';
import type { ModelService } from './service.js';

export async function handleCompletion(res: ServerResponse, body: Record<string, unknown>,
  service: ModelService, active: ActiveSet): Promise<void> {
  const p = parseCompletionParams(body);
  service.checkModel(p.model);
  const prompt = service.encodeText(p.prompt);
  if (prompt.length === 0) throw badParam('prompt', 'the prompt encodes to no tokens');
  const id = newId('cmpl'), created = Math.floor(Date.now() / 1000), model = service.id;
  const chunk = (text: string, finish: string | null, usage?: null) => ({
    id, object: 'text_completion', created, model,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finish }],
    ...(usage === null ? { usage: null } : {}),
  });
  const format: ResponseFormat = {
    chunk: (piece) => chunk(piece.content, null, p.includeUsage ? null : undefined),
    finish: (reason, withUsage) => chunk('', reason, withUsage ? null : undefined),
    usage: (usage) => ({ id, object: 'text_completion', created, model, choices: [], usage }),
    whole: (text, reason, usage) => ({
      id, object: 'text_completion', created, model,
      choices: [{ index: 0, text: text.content, logprobs: null, finish_reason: reason }],
      usage,
    }),
  };
  await respond(res, service, {
    // OpenAI's default of 16 tokens, within what the context leaves.
    prompt, maxTokens: p.maxTokens ?? Math.max(1, Math.min(16, service.contextLength - prompt.length)), sampling: p.sampling, stop: p.stop, ignoreEos: p.ignoreEos, splitReasoning: false,
  }, p, format, active);
}
