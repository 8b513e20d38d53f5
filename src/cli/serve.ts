// `pangu serve`: an OpenAI-compatible HTTP server with a web chat page, decoding up to --parallel
// requests together. Runs until SIGTERM or Ctrl-C, which end the streams in flight and exit.
import * as path from 'node:path';
import { Scheduler } from '../engine/scheduler.js';
import { warmUp } from '../engine/warmup.js';
import { PanguServer } from '../server/server.js';
import { ModelService } from '../server/service.js';
import { MODEL_FLAGS, openModel } from './model-flags.js';
import { integer, parse } from './options.js';

export const SERVE_HELP = 'serve [--model DIR|FILE.gguf] [--host 127.0.0.1] [--port 8080] [--api-key K] [--parallel N] [--ctx N] [--queue N] [--no-warmup] [--backend cpu|reference --threads N --quant q8_0|q4_0]      OpenAI-compatible server and web chat';

/** At most this long warming up at start (a large model runs fewer tokens, and needs fewer: its kernels dominate). */
const WARMUP_BUDGET_MS = 3000;

export async function runServe(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    ...MODEL_FLAGS,
    host: { type: 'string' }, port: { type: 'string' }, 'api-key': { type: 'string' },
    parallel: { type: 'string' }, queue: { type: 'string' }, quiet: { type: 'boolean' }, 'no-warmup': { type: 'boolean' },
  });
  const port = integer('port', values.port, 8080, 0, 65535);
  const host = values.host ?? '127.0.0.1';
  const parallel = integer('parallel', values.parallel, 4, 1, 256);
  const maxQueue = integer('queue', values.queue, 64, 0, 100000);
  const apiKey = values['api-key'] ?? process.env['PANGU_API_KEY'];
  const opened = await openModel(values);
  const { model } = opened;
  // V8 compiles the per-token code in the first tokens: spend them here, not on the first client
  const warm = values['no-warmup'] ? undefined : await warmUp(model, WARMUP_BUDGET_MS);
  const max = model.args.max_position_embeddings;
  const ctx = integer('ctx', values.ctx, Math.min(4096, max), 2, max);
  const scheduler = new Scheduler(model, { parallel, contextLength: ctx, maxQueue });
  const service = new ModelService({
    id: path.basename(path.resolve(opened.dir)).replace(/\.gguf$/, ''),
    scheduler, tokenizer: opened.tokenizer, samplingDefaults: opened.generationDefaults,
  });
  const log = values.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
  const server = new PanguServer(service, { apiKey, log });
  const addr = await server.listen(port, host);
  const a = model.args;
  const kvBytes = parallel * a.num_hidden_layers * ctx * a.num_key_value_heads * a.head_dim * 2 * 4;
  process.stdout.write(`pangu serve: ${service.id} on ${addr.url}/ (API at ${addr.url}/v1), ` +
    `${parallel} slots of ${ctx} tokens (KV cache ${(kvBytes / 2 ** 20).toFixed(0)} MiB), ${model.backend.name} backend` +
    `${apiKey ? ', API key required' : ''}${warm ? `; warmed up: ${warm.tokens} tokens in ${(warm.ms / 1000).toFixed(1)} s` : ''}\n`);

  // Runs until a signal; a second one exits at once.
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      process.stderr.write(`pangu serve: ${signal}, stopping\n`);
      process.removeListener('SIGTERM', onTerm);
      process.removeListener('SIGINT', onInt);
      process.once('SIGINT', () => process.exit(130));
      resolve();
    };
    const onTerm = () => stop('SIGTERM'), onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  await server.close();
  scheduler.close();
  await (model.backend as { close?: () => Promise<void> }).close?.();
  return 0;
}
