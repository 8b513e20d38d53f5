// `pangu bench --model M [--quant T] [--threads N] [-p 128] [-n 64] [-d 0] [--reps R] [--json]`:
// prompt processing and generation speed, weight bytes streamed per generated token and the
// bandwidth that makes. As llama-bench does, the prompt and the generation are timed apart, each
// after the same -d tokens already in the cache (the depth: a conversation's history).
// With --json the last line of stdout is one JSON object.
import * as path from 'node:path';
import { CpuBackend } from '../backend/cpu/backend.js';
import { Session } from '../engine/generate.js';
import { Rng, argmax } from '../engine/sampler.js';
import { loadModelFromFlags, MODEL_FLAGS } from './model-flags.js';
import { integer, parse, UsageError } from './options.js';

export interface BenchResult {
  model: string;
  backend: string;
  threads: number;
  quant: string;
  prompt_tokens: number;
  gen_tokens: number;
  /** Tokens in the cache before the prompt and before the generation (llama-bench's -d). */
  depth: number;
  load_s: number;
  prompt_tokens_per_s: number;
  gen_tokens_per_s: number;
  /**
   * Generation right after load (after one prompt), before V8 has optimised the per-token
   * JavaScript: the first n tokens of a fresh process. gen_tokens_per_s is measured after it.
   */
  gen_cold_tokens_per_s: number;
  weight_bytes: number;
  weight_bytes_per_token: number;
  gen_bandwidth_gb_s: number;
  kv_cache_bytes: number;
  peak_rss_bytes: number;
  /** Thread pool jobs per generated token (each a hand-off to the workers and back). */
  gen_jobs_per_token: number;
  /** Share of generation time the main thread spent waiting for workers to finish their shares. */
  gen_wait_fraction: number;
  /** Share of generation time outside thread pool jobs (the main thread alone: norms, routing, sampling, copies). */
  gen_serial_fraction: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

export async function runBench(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    ...MODEL_FLAGS, prompt: { type: 'string', short: 'p' }, gen: { type: 'string', short: 'n' },
    depth: { type: 'string', short: 'd' }, reps: { type: 'string', short: 'r' }, json: { type: 'boolean' },
  });
  if (!values.model) throw new UsageError('--model is required');
  if (values.backend === 'reference') throw new UsageError('bench measures the cpu backend');
  const p = integer('prompt', values.prompt, 128, 1), n = integer('gen', values.gen, 64, 1), reps = integer('reps', values.reps, 3, 1, 100);
  const depth = integer('depth', values.depth, 0, 0);
  const t0 = performance.now();
  const model = await loadModelFromFlags(values);
  const loadS = (performance.now() - t0) / 1000;
  const be = model.backend as CpuBackend;
  const context = depth + Math.max(p, n + 1), most = model.args.max_position_embeddings;
  if (context > most) throw new UsageError(`-d ${depth} with -p ${p} / -n ${n} needs ${context} positions, more than the model's ${most} (max_position_embeddings)`);
  const session = new Session(model, context);
  const rng = new Rng(1234);
  const randomTokens = (count: number) => Array.from({ length: count }, () => Math.floor(rng.next() * model.args.vocab_size));
  const prompt = randomTokens(p);
  // The history: computed once, kept in the cache under every timed run.
  if (depth > 0) session.prefill(randomTokens(depth));
  const cache = session.cache;
  // Warm-up, as llama-bench does one: a whole prompt pass, then n generation steps, timed apart as
  // the cold figure. V8 optimises a per-token function only after it has run for a while (the
  // functions called once per layer take tens of tokens), and its compiler thread competes with
  // ours for the cores meanwhile: the first pass runs up to ~40% slower than the later ones at
  // 2 threads on 2 cores.
  let logits = model.forward(prompt, cache, 'last');
  cache.truncate(depth);
  const cold0 = performance.now();
  for (let i = 0; i < n; i++) logits = model.forward([argmax(logits)], cache, 'last');
  const coldTps = n / ((performance.now() - cold0) / 1000);
  const pp: number[] = [], tg: number[] = [];
  let bytesPerToken = 0, jobsPerToken = 0;
  const waitFraction: number[] = [], serialFraction: number[] = [];
  for (let r = 0; r < reps; r++) {
    cache.truncate(depth);
    const a = performance.now();
    logits = model.forward(prompt, cache, 'last');
    const b = performance.now();
    pp.push(p / ((b - a) / 1000));
    cache.truncate(depth);
    be.weightBytesRead = 0;
    const jobs0 = be.poolStats.jobs, wait0 = be.poolStats.waitMs, job0 = be.poolStats.jobMs;
    const c = performance.now();
    for (let i = 0; i < n; i++) logits = model.forward([argmax(logits)], cache, 'last');
    const d = performance.now();
    tg.push(n / ((d - c) / 1000));
    bytesPerToken = be.weightBytesRead / n;
    jobsPerToken = (be.poolStats.jobs - jobs0) / n;
    waitFraction.push((be.poolStats.waitMs - wait0) / (d - c));
    serialFraction.push(1 - (be.poolStats.jobMs - job0) / (d - c));
  }
  const genTps = median(tg);
  const result: BenchResult = {
    model: path.basename(path.resolve(values.model)),
    backend: be.name,
    threads: be.threads,
    quant: values.quant ?? 'none',
    prompt_tokens: p,
    gen_tokens: n,
    depth,
    load_s: loadS,
    prompt_tokens_per_s: median(pp),
    gen_tokens_per_s: genTps,
    gen_cold_tokens_per_s: coldTps,
    weight_bytes: be.weightBytes,
    weight_bytes_per_token: bytesPerToken,
    gen_bandwidth_gb_s: (bytesPerToken * genTps) / 1e9,
    kv_cache_bytes: be.kvBytes,
    peak_rss_bytes: process.resourceUsage().maxRSS * 1024,
    gen_jobs_per_token: jobsPerToken,
    gen_wait_fraction: median(waitFraction),
    gen_serial_fraction: median(serialFraction),
  };
  const mb = (x: number) => `${(x / 1e6).toFixed(1)} MB`;
  process.stdout.write([
    `model      ${result.model} (${mb(result.weight_bytes)} of weights, ${result.backend})`,
    `load       ${loadS.toFixed(2)} s`,
    ...(depth > 0 ? [`depth      ${depth} tokens in the cache before the prompt and before the generation`] : []),
    `prompt     ${p} tokens: ${result.prompt_tokens_per_s.toFixed(1)} tokens/s (median of ${reps})`,
    `generate   ${n} tokens: ${genTps.toFixed(2)} tokens/s, ${mb(bytesPerToken)} of weights per token, ${result.gen_bandwidth_gb_s.toFixed(2)} GB/s` +
      ` (first ${n} tokens after load: ${coldTps.toFixed(2)} tokens/s)`,
    `threads    ${jobsPerToken.toFixed(1)} jobs per generated token, main thread waiting for workers ${(result.gen_wait_fraction * 100).toFixed(1)}% of the time, alone ${(result.gen_serial_fraction * 100).toFixed(1)}%`,
    `memory     peak RSS ${mb(result.peak_rss_bytes)} (weights ${mb(result.weight_bytes)} + KV cache ${mb(result.kv_cache_bytes)})`,
  ].join('\n') + '\n');
  if (values.json) process.stdout.write(JSON.stringify(result) + '\n');
  await be.close();
  return 0;
}
