// Training checkpoints in the Hugging Face layout every other command loads:
//   config.json              the model's config (PanguProMoE / PanguEmbedded keys)
//   model.safetensors        weights, bf16 (default) or f32, under the HF tensor names
//   tokenizer.model, tokenizer_config.json (copied from the tokenizer directory)
//   generation_config.json   sampling defaults for `pangu run`
//   optimizer.safetensors    AdamW moments (f32), and the f32 master weights when the model file is bf16
//   trainer_state.json       step, data position, options, optimizer step count
// Every file is written under a temporary name and renamed, so an interrupted save leaves the
// previous checkpoint readable.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Checkpoint, expectShape } from '../formats/checkpoint.js';
import { fromFloat32, toFloat32, type DType } from '../formats/dtype.js';
import { FormatError, SafetensorsFile, writeSafetensors, type TensorToWrite } from '../formats/safetensors.js';
import { readConfigFile, type RawConfig } from '../models/config.js';
import { parseModelArgs } from '../models/load.js';
import { type MatOps } from './gemm.js';
import { TrainModel } from './model.js';
import type { RouterKind } from './moe.js';
import { AdamW, type AdamWOptions } from './optim.js';

export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const STATE_FILE = 'trainer_state.json';

export interface TrainerState {
  /** Optimizer steps done. */
  step: number;
  /** Training windows consumed (the data sampler's position). */
  dataPosition: number;
  /** Tokens trained on so far. */
  tokens: number;
  seed: number;
  router: RouterKind;
  adam: AdamWOptions & { t: number };
  /** The options of the run (for the record, and defaults on resume). */
  options: Record<string, unknown>;
}

/** One safetensors file with float32 reads by name. */
function openTensors(file: string) {
  const f = SafetensorsFile.open(file);
  return {
    has: (name: string) => f.tensors.has(name),
    readF32(name: string, shape: readonly number[]): Float32Array {
      const info = f.tensors.get(name);
      if (!info) throw new FormatError(file, 'missing', name);
      expectShape(info, shape);
      return toFloat32(info.dtype, f.read(name));
    },
    close: () => f.close(),
  };
}

function f32(a: ArrayLike<number>): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

function writeAtomic(file: string, write: (tmp: string) => void): void {
  const tmp = `${file}.tmp-${process.pid}`;
  write(tmp);
  fs.renameSync(tmp, file);
}

function copyAtomic(from: string, to: string): void {
  if (path.resolve(from) === path.resolve(to)) return;
  writeAtomic(to, (tmp) => fs.copyFileSync(from, tmp));
}

/** Writes model weights (+ config and tokenizer) and, when `opt` is given, the optimizer and trainer state. */
export function saveCheckpoint(dir: string, o: {
  model: TrainModel;
  config: RawConfig;
  tokenizerDir: string;
  dtype: 'BF16' | 'F32';
  opt?: AdamW;
  state?: TrainerState;
  generationConfig?: Record<string, unknown>;
}): void {
  fs.mkdirSync(dir, { recursive: true });
  const dtype: DType = o.dtype;
  const config = { ...o.config, torch_dtype: dtype === 'BF16' ? 'bfloat16' : 'float32' };
  writeAtomic(path.join(dir, 'config.json'), (tmp) => fs.writeFileSync(tmp, JSON.stringify(config, null, 2) + '\n'));
  const tensors: TensorToWrite[] = o.model.params.map((p) => ({ name: p.name, dtype, shape: p.shape, data: () => fromFloat32(dtype, f32(p.data)) }));
  writeAtomic(path.join(dir, 'model.safetensors'), (tmp) => writeSafetensors(tmp, tensors, { format: 'pt' }));
  for (const f of ['tokenizer.model', 'tokenizer_config.json', 'special_tokens_map.json']) {
    const from = path.join(o.tokenizerDir, f);
    if (fs.existsSync(from)) copyAtomic(from, path.join(dir, f));
  }
  if (o.generationConfig) {
    writeAtomic(path.join(dir, 'generation_config.json'), (tmp) => fs.writeFileSync(tmp, JSON.stringify(o.generationConfig, null, 2) + '\n'));
  }
  if (o.opt && o.state) {
    const opt = o.opt;
    const t: TensorToWrite[] = [];
    o.model.params.forEach((p, i) => {
      const bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      t.push({ name: `${p.name}.exp_avg`, dtype: 'F32', shape: p.shape, data: bytes(opt.m[i]!) });
      t.push({ name: `${p.name}.exp_avg_sq`, dtype: 'F32', shape: p.shape, data: bytes(opt.v[i]!) });
      if (dtype !== 'F32') t.push({ name: `${p.name}.master`, dtype: 'F32', shape: p.shape, data: () => fromFloat32('F32', f32(p.data)) });
    });
    writeAtomic(path.join(dir, OPTIMIZER_FILE), (tmp) => writeSafetensors(tmp, t, { format: 'pangu-ts-adamw' }));
    const state = { ...o.state, adam: { ...opt.opts, t: opt.t } };
    writeAtomic(path.join(dir, STATE_FILE), (tmp) => fs.writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n'));
  }
}

/** Loads the weights of a checkpoint directory into a new TrainModel (f32 master weights when the optimizer file has them). */
export function loadTrainModel(dir: string, ops: MatOps, router?: RouterKind): { model: TrainModel; config: RawConfig } {
  const { file, raw } = readConfigFile(dir);
  const args = parseModelArgs(raw, file);
  const model = new TrainModel(args, ops, router);
  const ck = Checkpoint.open(dir);
  const optFile = path.join(dir, OPTIMIZER_FILE);
  const opt = fs.existsSync(optFile) ? openTensors(optFile) : null;
  try {
    for (const p of model.params) {
      const master = opt?.has(`${p.name}.master`) ? opt.readF32(`${p.name}.master`, p.shape) : ck.readF32(p.name, p.shape);
      p.data.set(master);
    }
  } finally {
    ck.close();
    opt?.close();
  }
  return { model, config: raw };
}

/** Loads a full training checkpoint: model, optimizer moments and trainer state. */
export function loadTrainingCheckpoint(dir: string, ops: MatOps): { model: TrainModel; config: RawConfig; opt: AdamW; state: TrainerState } {
  const stateFile = path.join(dir, STATE_FILE);
  if (!fs.existsSync(stateFile)) throw new Error(`${dir}: no ${STATE_FILE}: not a resumable training checkpoint`);
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as TrainerState;
  const { model, config } = loadTrainModel(dir, ops, state.router);
  const { t, ...adamOpts } = state.adam;
  const opt = new AdamW(model.params, adamOpts);
  opt.t = t;
  const of = openTensors(path.join(dir, OPTIMIZER_FILE));
  try {
    model.params.forEach((p, i) => {
      opt.m[i]!.set(of.readF32(`${p.name}.exp_avg`, p.shape));
      opt.v[i]!.set(of.readF32(`${p.name}.exp_avg_sq`, p.shape));
    });
  } finally {
    of.close();
  }
  return { model, config, opt, state };
}
