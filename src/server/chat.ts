// POST /v1/chat/completions: messages through the chat template; the reasoning (between Pangu's
// thinking markers) comes back as `reasoning_content`, apart from the answer's `content`.
import type { ServerResponse } from 'node:http';
import { parseChatParams } from './params.js';
import { newId, respond, type ActiveSet, type ResponseFormat } from './respond.js';
import type { ModelService } from './service.js';

export async function handleChat(res: ServerResponse, body: Record<string, unknown>,
  service: ModelService, active: ActiveSet): Promise<void> {
  const p = parseChatParams(body);
  service.checkModel(p.model);
  const prompt = service.encodeChat(p.messages);
  const id = newId('chatcmpl'), created = Math.floor(Date.now() / 1000), model = service.id;
  const chunk = (delta: Record<string, unknown>, finish: string | null, usage?: null) => ({
    id, object: 'chat.completion.chunk', created, model,
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
    ...(usage === null ? { usage: null } : {}),
  });
  const format: ResponseFormat = {
    start: () => chunk({ role: 'assistant', content: '' }, null, p.includeUsage ? null : undefined),
    chunk: (piece) => {
      const delta: Record<string, string> = {};
      if (piece.reasoning) delta['reasoning_content'] = piece.reasoning;
      if (piece.content) delta['content'] = piece.content;
      return chunk(delta, null, p.includeUsage ? null : undefined);
    },
    finish: (reason, withUsage) => chunk({}, reason, withUsage ? null : undefined),
    usage: (usage) => ({ id, object: 'chat.completion.chunk', created, model, choices: [], usage }),
    whole: (text, reason, usage) => ({
      id, object: 'chat.completion', created, model,
      choices: [{
        index: 0,
        message: { role: 'assistant', content: text.content, reasoning_content: text.reasoning || null },
        logprobs: null, finish_reason: reason,
      }],
      usage,
    }),
  };
  await respond(res, service, {
    prompt, maxTokens: p.maxTokens, sampling: p.sampling, stop: p.stop, ignoreEos: p.ignoreEos, splitReasoning: true,
  }, p, format, active);
}
