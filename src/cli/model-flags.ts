// Opening the model (and its tokenizer) that a text command runs on: --model DIR or the bundled default.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Backend } from '../backend/backend.js';
import { CpuBackend, type CpuBackendOptions } from '../backend/cpu/backend.js';
import { ReferenceBackend } from '../backend/reference.js';
import { Session } from '../engine/generate.js';
import type { SamplingOptions } from '../engine/sampler.js';
import { GgufFile } from '../formats/gguf.js';
import { isGgufFile, loadModel, modelBytes } from '../models/load.js';
import { tokenizerFromGguf } from '../tokenizer/gguf-vocab.js';
import type { Transformer } from '../models/transformer.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { integer, UsageError } from './options.js';

/** models/default in the package, shipped trained weights used when no --model is given. */
export const DEFAULT_MODEL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../models/default');

export const MODEL_FLAGS = {
  model: { type: 'string', short: 'm' },
  ctx: { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string' },
  quant: { type: 'string' },
  'kv-type': { type: 'string' },
} as const;

export type BackendFlags = { backend?: string | undefined; threads?: string | undefined; quant?: string | undefined; 'kv-type'?: string | undefined };

/**
 * --backend cpu (default: WebAssembly on --threads threads, --quant q8_0|q4_0 at load, --kv-type
 * f32|f16|bf16 for the KV cache) or reference.
 * `weightBytes` sizes the cpu backend's shards (each holds at most 4 GiB).
 */
export async function createBackend(values: BackendFlags, weightBytes = 0): Promise<Backend> {
  const name = values.backend ?? 'cpu';
  if (name === 'reference') {
    if (values.quant || values.threads || values['kv-type']) throw new UsageError('--quant, --threads and --kv-type need --backend cpu');
    return new ReferenceBackend();
  }
  if (name !== 'cpu') throw new UsageError(`--backend must be cpu or reference, got ${JSON.stringify(name)}`);
  if (values.quant !== undefined && values.quant !== 'q8_0' && values.quant !== 'q4_0') {
    throw new UsageError(`--quant must be q8_0 or q4_0, got ${JSON.stringify(values.quant)}`);
  }
  const kvType = values['kv-type'];
  if (kvType !== undefined && kvType !== 'f32' && kvType !== 'f16' && kvType !== 'bf16') throw new UsageError(`--kv-type must be f32, f16 or bf16, got ${JSON.stringify(kvType)}`);
  const threads = integer('threads', values.threads, os.availableParallelism(), 1, 256);
  const opts: CpuBackendOptions = { threads, shards: CpuBackend.shardsFor(weightBytes, threads) };
  if (values.quant) opts.quant = values.quant;
  if (kvType) opts.kvType = kvType;
  return CpuBackend.create(opts);
}

/** The model at --model DIR (or the default), on the backend the flags ask for. */
export async function loadModelFromFlags(values: BackendFlags & { model?: string | undefined }): Promise<Transformer> {
  const dir = modelDir(values.model);
  return loadModel(dir, { backend: await createBackend(values, modelBytes(dir)) });
}

export interface OpenedModel {
  dir: string;
  model: Transformer;
  tokenizer: Tokenizer;
  /** Sampling defaults from generation_config.json, when the model has one. */
  generationDefaults: SamplingOptions;
}

export function modelDir(value: string | undefined): string {
  if (value) return value;
  if (!fs.existsSync(path.join(DEFAULT_MODEL_DIR, 'config.json'))) {
    throw new UsageError(`no --model given, and the bundled default model is missing (${DEFAULT_MODEL_DIR})`);
  }
  return DEFAULT_MODEL_DIR;
}

/**
 * The tokenizer of a model: tokenizer.model + tokenizer_config.json of a directory, or the
 * vocabulary in a GGUF file's metadata (an error naming the file when it has none).
 */
export function loadTokenizer(modelPath: string): Tokenizer {
  if (!isGgufFile(modelPath)) return Tokenizer.load(modelPath);
  const g = GgufFile.open(modelPath);
  try {
    return tokenizerFromGguf(g);
  } finally {
    g.close();
  }
}

export async function openModel(values: BackendFlags & { model?: string | undefined }): Promise<OpenedModel> {
  const dir = modelDir(values.model);
  const tokenizer = loadTokenizer(dir);
  const model = await loadModelFromFlags(values);
  if (tokenizer.vocabSize > model.args.vocab_size) {
    throw new Error(`${dir}: the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${model.args.vocab_size}`);
  }
  return { dir, model, tokenizer, generationDefaults: readGenerationConfig(dir) };
}

/** A session with --ctx positions (default 4096, at most the model's max_position_embeddings). */
export function openSession(opened: OpenedModel, values: { ctx?: string | undefined }): Session {
  const max = opened.model.args.max_position_embeddings;
  return new Session(opened.model, integer('ctx', values.ctx, Math.min(4096, max), 1, max));
}

/** generation_config.json's sampling settings (do_sample false or absent temperature: greedy). */
function readGenerationConfig(dir: string): SamplingOptions {
  const file = path.join(dir, 'generation_config.json');
  if (!fs.existsSync(file)) return {};
  let g: Record<string, unknown>;
  try {
    g = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  const num = (k: string) => (typeof g[k] === 'number' ? (g[k] as number) : undefined);
  if (g['do_sample'] !== true) return {};
  const opts: SamplingOptions = { temperature: num('temperature') ?? 1 };
  if (num('top_k') !== undefined) opts.topK = num('top_k')!;
  if (num('top_p') !== undefined) opts.topP = num('top_p')!;
  if (num('min_p') !== undefined) opts.minP = num('min_p')!;
  if (num('repetition_penalty') !== undefined) opts.repetitionPenalty = num('repetition_penalty')!;
  return opts;
}
