// The benchmark models: random checkpoints shaped like Pangu Pro MoE and Pangu Embedded scaled
// down, generated once into a cache directory (nothing this size is committed), and their GGUF
// conversions.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConvertType } from '../src/models/convert.js';
import { panguEmbeddedConfig, panguMoeConfig, writeSyntheticModel } from '../src/models/synthetic.js';
import type { RawConfig } from '../src/models/config.js';

export interface BenchModel {
  name: string;
  description: string;
  config: RawConfig;
}

export const BENCH_MODELS: readonly BenchModel[] = [
  {
    // Pro MoE's proportions: 64 experts in 8 groups, 8 active, expert FFN ~0.26 x hidden, GQA 5:1.
    name: 'pangu-moe-mini',
    description: 'Pro MoE shapes scaled down: hidden 1280, 8 layers, 64 experts in 8 groups (8 active), expert FFN 320, shared expert 1280, 10/2 heads',
    config: panguMoeConfig({
      vocab_size: 32768, hidden_size: 1280, num_hidden_layers: 8, num_attention_heads: 10, num_key_value_heads: 2,
      num_experts: 64, num_experts_per_tok: 8, moe_intermediate_size: 320, shared_expert_intermediate_size: 1280,
      max_position_embeddings: 4096,
    }),
  },
  {
    // Embedded 7B's proportions: FFN 3.125 x hidden, 4:1 GQA, head_dim 128.
    name: 'pangu-embedded-mini',
    description: 'Embedded 7B shapes scaled down: hidden 2048, 12 layers, FFN 6400, 16/4 heads',
    config: panguEmbeddedConfig({
      vocab_size: 32768, hidden_size: 2048, intermediate_size: 6400, num_hidden_layers: 12,
      num_attention_heads: 16, num_key_value_heads: 4, max_position_embeddings: 4096,
    }),
  },
  {
    // Embedded 7B's own widths and vocabulary with 4 of its 34 layers: matrices of the real shapes,
    // and weights big enough (2.2 GB) that the runtime's fixed memory (Node, a worker) weighs as it
    // would next to the real model.
    name: 'pangu-embedded-4l',
    description: 'Embedded 7B widths: hidden 4096, FFN 12800, 32/8 heads, vocab 153376; 4 of its 34 layers',
    config: panguEmbeddedConfig({
      vocab_size: 153376, hidden_size: 4096, intermediate_size: 12800, num_hidden_layers: 4,
      num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 4096,
    }),
  },
];

export const BENCH_DIR = process.env['PANGU_BENCH_DIR'] ?? path.join(os.tmpdir(), 'pangu-bench');

/** The HF checkpoint directory of a bench model, written on first use. */
export function ensureCheckpoint(m: BenchModel): string {
  const dir = path.join(BENCH_DIR, m.name);
  const stamp = path.join(dir, '.complete');
  if (!fs.existsSync(stamp) || fs.readFileSync(stamp, 'utf8') !== JSON.stringify(m.config)) {
    fs.rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`bench: writing ${dir} ...\n`);
    writeSyntheticModel(dir, m.config, { seed: 7, dtype: 'BF16', shardBytes: 1 << 30 });
    fs.writeFileSync(stamp, JSON.stringify(m.config));
  }
  return dir;
}

/**
 * The GGUF conversion of a bench model, written on first use by `pangu convert` in a child
 * process: a process forked from one that has just held a converted model would start with that
 * memory resident, and its peak RSS would count it.
 */
export function ensureGguf(m: BenchModel, type: ConvertType): string {
  const dir = ensureCheckpoint(m);
  const file = path.join(BENCH_DIR, `${m.name}.${type}.gguf`);
  const stamp = `${file}.complete`;
  if (!fs.existsSync(stamp) || fs.statSync(stamp).mtimeMs < fs.statSync(path.join(dir, '.complete')).mtimeMs) {
    process.stderr.write(`bench: converting to ${file} ...\n`);
    const bin = fileURLToPath(new URL('../../bin/pangu.js', import.meta.url));
    const r = spawnSync(process.execPath, [bin, 'convert', '--model', dir, '--out', file, '--type', type, '--name', m.name], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`bench: pangu convert failed on ${dir} (exit ${r.status ?? r.signal})`);
    fs.writeFileSync(stamp, '');
  }
  return file;
}
