// `npm run bench`: the fixed benchmark set. Generates (once, into $PANGU_BENCH_DIR) random models
// shaped like Pangu Pro MoE and Pangu Embedded scaled down, converts them to GGUF (Q8_0, or --type), measures the
// machine's memory bandwidth, then runs `pangu bench --json` on each in its own process. With
// --llama DIR (a llama.cpp build directory holding bin/llama-bench) it alternates our runs with
// llama-bench on the same file (for the MoE, on a qwen2moe twin of the same shapes) and reports
// the ratios of the medians.
//
//   npm run bench -- [--llama /tmp/llama.cpp/build] [--reps 3] [--threads 2] [-p 128] [-n 64] [-d 0] [--json FILE]
//     [--type q8_0|q4_0|q4_k_m|…] [--variant simd|relaxed]
//
// -d: tokens of history in the cache before the prompt and before the generation, for both engines
// (llama-bench's -d): long conversations, where attention over the cache weighs.
//
// --type: the GGUF weight type of every model, any type `pangu convert` writes (default Q8_0;
// q4_k_m is llama-quantize's recipe; rows that a K-quant block does not divide, such as the MoE's
// expert down projection of 320, fall back to Q8_0). Our runs use the kernels `pangu` picks (relaxed
// SIMD wherever the engine has it, Node 20 included); --variant simd|relaxed forces one build.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { measureBandwidth, type Bandwidth } from './bandwidth.js';
import { CONVERT_TYPES, type ConvertType } from '../src/models/convert.js';
import { BENCH_DIR, BENCH_MODELS, ensureGguf } from './models.js';
import { writeQwen2MoeTwin } from './qwen2moe.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

interface Sample {
  prompt_tokens_per_s: number; gen_tokens_per_s: number; gen_cold_tokens_per_s?: number; peak_rss_bytes?: number; weight_bytes?: number; kv_cache_bytes?: number;
  weight_bytes_per_token?: number; gen_jobs_per_token?: number; gen_wait_fraction?: number; gen_serial_fraction?: number;
  backend?: string;
}

/** GNU time (Debian package `time`): the peak RSS of llama-bench, which Node cannot read of a child. */
const GNU_TIME = '/usr/bin/time';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** The command as a user runs it (its #! line sets Node's flags); `variant`: PANGU_KERNELS_VARIANT, if given. */
function ours(file: string, threads: number, p: number, n: number, depth: number, variant: string | undefined): Sample {
  const bin = path.join(REPO, 'bin', 'pangu.js');
  const args = ['bench', '--model', file, '--threads', String(threads), '-p', String(p), '-n', String(n), '-d', String(depth), '--reps', '1', '--json'];
  const env = { ...process.env };
  if (variant) env['PANGU_KERNELS_VARIANT'] = variant;
  else delete env['PANGU_KERNELS_VARIANT'];
  const r = spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 26, env });
  if (r.status !== 0) throw new Error(`pangu bench failed on ${file}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Sample;
}

function llama(bin: string, file: string, threads: number, p: number, n: number, depth: number): Sample {
  const args = ['-m', file, '-t', String(threads), '-p', String(p), '-n', String(n), '-d', String(depth), '-r', '1', '-o', 'json'];
  const timed = fs.existsSync(GNU_TIME);
  const r = timed
    ? spawnSync(GNU_TIME, ['-f', 'maxrss_kb=%M', bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 })
    : spawnSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`llama-bench failed on ${file}: ${r.stderr}`);
  const rows = JSON.parse(r.stdout) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  const rss = /maxrss_kb=(\d+)/.exec(r.stderr)?.[1];
  return {
    prompt_tokens_per_s: rows.find((x) => x.n_prompt > 0)!.avg_ts,
    gen_tokens_per_s: rows.find((x) => x.n_gen > 0)!.avg_ts,
    ...(rss ? { peak_rss_bytes: Number(rss) * 1024 } : {}),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      llama: { type: 'string' }, reps: { type: 'string' }, threads: { type: 'string' },
      prompt: { type: 'string', short: 'p' }, gen: { type: 'string', short: 'n' }, depth: { type: 'string', short: 'd' }, json: { type: 'string' },
      type: { type: 'string' }, variant: { type: 'string' },
    },
  });
  const type = (values.type ?? 'q8_0') as ConvertType, forced = values.variant;
  if (!(CONVERT_TYPES as readonly string[]).includes(type)) throw new Error(`--type must be one of ${CONVERT_TYPES.join(', ')}, got ${type}`);
  if (forced !== undefined && forced !== 'simd' && forced !== 'relaxed') throw new Error(`--variant must be simd or relaxed, got ${forced}`);
  let variant = forced ?? '';
  const reps = Number(values.reps ?? 3), threads = Number(values.threads ?? Math.min(2, os.availableParallelism()));
  const p = Number(values.prompt ?? 128), n = Number(values.gen ?? 64), depth = Number(values.depth ?? 0);
  const llamaBench = values.llama ? path.join(values.llama, 'bin', 'llama-bench') : undefined;
  if (llamaBench && !fs.existsSync(llamaBench)) throw new Error(`no llama-bench at ${llamaBench}`);

  const bw: Bandwidth = await measureBandwidth(threads);
  process.stdout.write(`memory bandwidth (${threads} threads, WebAssembly): triad ${bw.triad_gb_s.toFixed(1)} GB/s, read ${bw.read_gb_s.toFixed(1)} GB/s\n\n`);
  const limit = Math.max(bw.triad_gb_s, bw.read_gb_s);

  const results = [];
  for (const m of BENCH_MODELS) {
    const file = ensureGguf(m, type);
    let peer = file;
    if (llamaBench && m.config['model_type'] === 'PanguProMoE') {
      peer = path.join(BENCH_DIR, `${m.name}.qwen2moe-twin.${type}.gguf`);
      if (!fs.existsSync(peer) || fs.statSync(peer).mtimeMs < fs.statSync(file).mtimeMs) writeQwen2MoeTwin(file, peer);
    }
    const a: Sample[] = [], b: Sample[] = [];
    for (let r = 0; r < reps; r++) {
      a.push(ours(file, threads, p, n, depth, forced));
      if (llamaBench) b.push(llama(llamaBench, peer, threads, p, n, depth));
    }
    const last = a.at(-1)!;
    variant = /wasm (\w+)/.exec(last.backend ?? '')?.[1] ?? '?';
    const row = {
      model: m.name, description: m.description, type, variant, threads, reps,
      weight_bytes: last.weight_bytes, weight_bytes_per_token: last.weight_bytes_per_token,
      kv_cache_bytes: last.kv_cache_bytes, peak_rss_bytes: median(a.map((s) => s.peak_rss_bytes!)),
      ours: {
        prompt_tokens_per_s: median(a.map((s) => s.prompt_tokens_per_s)), gen_tokens_per_s: median(a.map((s) => s.gen_tokens_per_s)),
        gen_cold_tokens_per_s: median(a.map((s) => s.gen_cold_tokens_per_s ?? 0)),
        gen_jobs_per_token: median(a.map((s) => s.gen_jobs_per_token ?? 0)),
        gen_wait_fraction: median(a.map((s) => s.gen_wait_fraction ?? 0)),
        gen_serial_fraction: median(a.map((s) => s.gen_serial_fraction ?? 0)),
      },
      llama: llamaBench ? {
        prompt_tokens_per_s: median(b.map((s) => s.prompt_tokens_per_s)), gen_tokens_per_s: median(b.map((s) => s.gen_tokens_per_s)),
        peak_rss_bytes: b.every((s) => s.peak_rss_bytes) ? median(b.map((s) => s.peak_rss_bytes!)) : null,
      } : null,
      gen_gb_s: 0, of_bandwidth: 0,
    };
    row.gen_gb_s = (row.weight_bytes_per_token! * row.ours.gen_tokens_per_s) / 1e9;
    row.of_bandwidth = row.gen_gb_s / limit;
    results.push(row);
    const mb = (x: number) => `${(x / 1e6).toFixed(0)} MB`;
    process.stdout.write(`${m.name}: ${m.description}\n`);
    process.stdout.write(`  weights ${mb(row.weight_bytes!)} ${type.toUpperCase()} (${variant} kernels), ${mb(row.weight_bytes_per_token!)} read per generated token; peak RSS ${mb(row.peak_rss_bytes)} (KV cache ${mb(row.kv_cache_bytes!)})\n`);
    process.stdout.write(`  pangu-ts   prompt ${row.ours.prompt_tokens_per_s.toFixed(1)} tok/s   generation ${row.ours.gen_tokens_per_s.toFixed(2)} tok/s = ${row.gen_gb_s.toFixed(1)} GB/s, ${(100 * row.of_bandwidth).toFixed(0)}% of the measured bandwidth\n`);
    process.stdout.write(`             first ${n} tokens after load (V8 still optimising): ${row.ours.gen_cold_tokens_per_s.toFixed(2)} tok/s\n`);
    process.stdout.write(`             ${row.ours.gen_jobs_per_token.toFixed(0)} thread jobs per token; main thread waiting ${(100 * row.ours.gen_wait_fraction).toFixed(0)}%, alone ${(100 * row.ours.gen_serial_fraction).toFixed(0)}% of generation\n`);
    if (row.llama) {
      process.stdout.write(`  llama.cpp  prompt ${row.llama.prompt_tokens_per_s.toFixed(1)} tok/s   generation ${row.llama.gen_tokens_per_s.toFixed(2)} tok/s${peer !== file ? ' (qwen2moe twin)' : ''}` +
        `${row.llama.peak_rss_bytes ? `; peak RSS ${mb(row.llama.peak_rss_bytes)}` : ''}\n`);
      process.stdout.write(`  ratio      prompt ${(row.ours.prompt_tokens_per_s / row.llama.prompt_tokens_per_s).toFixed(2)}x   generation ${(row.ours.gen_tokens_per_s / row.llama.gen_tokens_per_s).toFixed(2)}x\n`);
    }
    process.stdout.write('\n');
  }
  const report = { date: new Date().toISOString(), machine: `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}`, node: process.version, type, variant, bandwidth: bw, prompt_tokens: p, gen_tokens: n, depth, results };
  if (values.json) fs.writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n');
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
