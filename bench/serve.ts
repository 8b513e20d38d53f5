// Aggregate generation speed of `pangu serve` at 1, 4 and 16 concurrent streams.
// Makes (once, cached under the temp dir) a random Pangu Embedded model of a few hundred MB with
// the bpe test tokenizer (vocab 3000, model vocab_size to match), starts `pangu serve` on it as a
// separate process, and times streamed /v1/completions requests of G tokens each (ignore_eos, so
// every stream runs its full length).
//   node dist/bench/serve.js [--concurrency 1,4,16] [--gen 128] [--prompt 16 (words)] [--threads N] [--quant q8_0|q4_0] [--json]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { panguEmbeddedConfig, writeSyntheticModel } from '../src/models/synthetic.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOKENIZER = path.join(REPO, 'test', 'fixtures', 'tokenizer', 'bpe');

/** ~141M parameters: 12 layers of hidden 1024 (16 heads, 4 kv heads), MLP 2816; bf16 on disk. */
const CONFIG = panguEmbeddedConfig({
  vocab_size: 3000, hidden_size: 1024, intermediate_size: 2816, num_hidden_layers: 12,
  num_attention_heads: 16, num_key_value_heads: 4, max_position_embeddings: 4096,
});

function modelDir(): string {
  const dir = path.join(os.tmpdir(), 'pangu-bench-serve-embedded-141m');
  if (!fs.existsSync(path.join(dir, 'model.safetensors.index.json')) && !fs.existsSync(path.join(dir, 'model.safetensors'))) {
    process.stderr.write(`writing the benchmark model to ${dir}\n`);
    writeSyntheticModel(dir, CONFIG, { seed: 5 });
    for (const f of ['tokenizer.model', 'tokenizer_config.json']) fs.copyFileSync(path.join(TOKENIZER, f), path.join(dir, f));
  }
  return dir;
}

function diskBytes(dir: string): number {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
}

async function startServer(dir: string, parallel: number, threads: number, quant?: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [path.join(REPO, 'bin', 'pangu.js'), 'serve', '--model', dir, '--port', '0',
    '--parallel', String(parallel), '--ctx', '1024', '--threads', String(threads), ...(quant ? ['--quant', quant] : []), '--quiet'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /API at (http:\/\/\S+)\/v1/.exec(out);
      if (m) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error('pangu serve exited')));
  });
  process.stderr.write(out);
  return { url, stop: async () => { child.kill('SIGTERM'); await exited; } };
}

interface StreamResult { tokens: number; promptTokens: number; firstTokenMs: number; endMs: number }

/** One streamed completion; times its first text and its end from `t0`. */
async function stream(url: string, prompt: string, gen: number, t0: number): Promise<StreamResult> {
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ prompt, max_tokens: gen, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (!r.ok) throw new Error(`${r.status}: ${await r.text()}`);
  const reader = r.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '', firstTokenMs = -1, tokens = 0, promptTokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (firstTokenMs < 0) firstTokenMs = performance.now() - t0;
    buf += decoder.decode(value, { stream: true });
    const m = /"prompt_tokens":(\d+),"completion_tokens":(\d+)/.exec(buf);
    if (m) { promptTokens = Number(m[1]); tokens = Number(m[2]); }
    buf = buf.slice(Math.max(0, buf.lastIndexOf('\n\n')));
  }
  return { tokens, promptTokens, firstTokenMs, endMs: performance.now() - t0 };
}

/** A distinct prompt of about `words` words per stream, so that no prefix is shared. */
function promptOf(i: number, words: number): string {
  const vocab = ['river', 'stone', 'light', 'model', 'expert', 'token', 'garden', 'number', 'window', 'signal', 'paper', 'cloud'];
  return Array.from({ length: words }, (_, j) => vocab[(i * 7 + j * 5 + ((i * j) % 3)) % vocab.length]).join(' ') + ` ${i}`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    concurrency: { type: 'string', default: '1,4,16' }, gen: { type: 'string', default: '128' },
    prompt: { type: 'string', default: '16' }, threads: { type: 'string', default: String(os.availableParallelism()) },
    quant: { type: 'string' }, json: { type: 'boolean' },
  } });
  const levels = values.concurrency!.split(',').map(Number);
  const gen = Number(values.gen), words = Number(values.prompt), threads = Number(values.threads);
  const dir = modelDir();
  const server = await startServer(dir, Math.max(...levels), threads, values.quant);
  const rows: Record<string, number>[] = [];
  try {
    await stream(server.url, 'warm up', 8, performance.now());
    for (const c of levels) {
      const t0 = performance.now();
      const results = await Promise.all(Array.from({ length: c }, (_, i) => stream(server.url, promptOf(i + c * 100, words), gen, t0)));
      const wall = Math.max(...results.map((r) => r.endMs)) / 1000;
      const tokens = results.reduce((a, r) => a + r.tokens, 0);
      const ttft = results.map((r) => r.firstTokenMs).sort((a, b) => a - b);
      rows.push({
        streams: c, prompt_tokens: results.reduce((a, r) => a + r.promptTokens, 0), tokens, wall_s: +wall.toFixed(2), aggregate_tokens_per_s: +(tokens / wall).toFixed(1),
        per_stream_tokens_per_s: +(tokens / c / wall).toFixed(1), median_first_token_ms: Math.round(ttft[Math.floor(c / 2)]!),
      });
      process.stderr.write(`${JSON.stringify(rows[rows.length - 1])}\n`);
    }
  } finally {
    await server.stop();
  }
  const head = `model: synthetic Pangu Embedded (12 x 1024, MLP 2816, vocab 3000), ${(diskBytes(dir) / 1e6).toFixed(0)} MB bf16 on disk${values.quant ? `, quantized to ${values.quant} at load` : ''}; ` +
    `cpu backend, ${threads} threads, ${os.cpus()[0]?.model ?? 'cpu'}; ${words}-word prompts, ${gen} tokens per stream, greedy`;
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ setup: head, rows })}\n`);
    return;
  }
  process.stdout.write(`${head}\n\n| streams | prompt tokens | generated tokens | wall (s) | aggregate tokens/s | per stream tokens/s | median first token (ms) |\n|---|---|---|---|---|---|---|\n`);
  for (const r of rows) {
    process.stdout.write(`| ${r['streams']} | ${r['prompt_tokens']} | ${r['tokens']} | ${r['wall_s']} | ${r['aggregate_tokens_per_s']} | ${r['per_stream_tokens_per_s']} | ${r['median_first_token_ms']} |\n`);
  }
}

await main();
