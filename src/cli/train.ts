// `pangu train` (a Pangu Pro MoE or Embedded model on the CPU) and `pangu train-tokenizer`
// (a SentencePiece BPE tokenizer.model with Pangu's specials).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { STATE_FILE } from '../train/checkpoint.js';
import { trainTokenizerFiles } from '../train/bpe.js';
import { TRAIN_DEFAULTS, train, type TrainOptions } from '../train/trainer.js';
import { integer, number, parse, UsageError } from './options.js';

export const TRAIN_HELP = 'train --data FILES --out DIR [--config FILE] [--tokenizer DIR] [--steps N --batch B --seq T --lr X --warmup N --min-lr X ' +
  '--weight-decay X --clip X --aux-coef X --router moge|topk --eval FILE --eval-every N --save-every N --resume DIR --stop-at N --seed S --threads N --dtype bf16|f32]';
export const TRAIN_TOKENIZER_HELP = 'train-tokenizer --data FILES --vocab N --out DIR      SentencePiece BPE tokenizer.model + Pangu tokenizer_config.json';

function files(value: string | undefined, flag: string): string[] {
  if (!value) throw new UsageError(`--${flag} is required (comma-separated text files)`);
  const list = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const f of list) if (!fs.existsSync(f)) throw new UsageError(`--${flag}: ${f} does not exist`);
  return list;
}

export async function runTrain(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    data: { type: 'string' }, out: { type: 'string' }, config: { type: 'string' }, tokenizer: { type: 'string' },
    steps: { type: 'string' }, batch: { type: 'string' }, seq: { type: 'string' }, lr: { type: 'string' },
    warmup: { type: 'string' }, 'min-lr': { type: 'string' }, 'weight-decay': { type: 'string' }, clip: { type: 'string' },
    'aux-coef': { type: 'string' }, router: { type: 'string' }, eval: { type: 'string' }, 'eval-every': { type: 'string' },
    'eval-windows': { type: 'string' }, 'save-every': { type: 'string' }, resume: { type: 'string' }, 'stop-at': { type: 'string' }, seed: { type: 'string' },
    threads: { type: 'string' }, dtype: { type: 'string' }, 'init-std': { type: 'string' }, 'log-every-ms': { type: 'string' },
  });
  // A resumed run continues with the options it was started with; flags given now override them.
  let prev: Record<string, unknown> = {};
  if (values.resume) {
    const f = path.join(values.resume, STATE_FILE);
    if (!fs.existsSync(f)) throw new UsageError(`--resume ${values.resume}: no ${STATE_FILE} there`);
    prev = (JSON.parse(fs.readFileSync(f, 'utf8')) as { options?: Record<string, unknown> }).options ?? {};
  }
  const d = { ...TRAIN_DEFAULTS, ...prev } as typeof TRAIN_DEFAULTS & Record<string, unknown>;
  const router = values.router ?? (d.router as string);
  if (router !== 'moge' && router !== 'topk') throw new UsageError(`--router must be moge or topk, got ${JSON.stringify(router)}`);
  const dtype = values.dtype ? values.dtype.toLowerCase() : d.dtype.toLowerCase();
  if (dtype !== 'bf16' && dtype !== 'f32') throw new UsageError(`--dtype must be bf16 or f32, got ${JSON.stringify(values.dtype)}`);
  const data = values.data ? files(values.data, 'data') : (prev['data'] as string[] | undefined) ?? files(undefined, 'data');
  const out = values.out ?? values.resume;
  if (!out) throw new UsageError('--out DIR is required');
  const o: TrainOptions = {
    data, out,
    steps: integer('steps', values.steps, d.steps, 1),
    batch: integer('batch', values.batch, d.batch, 1),
    seq: integer('seq', values.seq, d.seq, 2),
    lr: number('lr', values.lr, d.lr, 0),
    warmup: integer('warmup', values.warmup, d.warmup, 0),
    minLr: number('min-lr', values['min-lr'], d.minLr, 0),
    weightDecay: number('weight-decay', values['weight-decay'], d.weightDecay, 0),
    clip: number('clip', values.clip, d.clip, 0),
    router,
    evalEvery: integer('eval-every', values['eval-every'], d.evalEvery, 0),
    evalWindows: integer('eval-windows', values['eval-windows'], d.evalWindows, 0),
    saveEvery: integer('save-every', values['save-every'], d.saveEvery, 0),
    seed: integer('seed', values.seed, d.seed, 0, 2 ** 32 - 1),
    threads: integer('threads', values.threads, d.threads, 1, 64),
    dtype: dtype === 'bf16' ? 'BF16' : 'F32',
    initStd: number('init-std', values['init-std'], d.initStd, 0),
  };
  if (values.config) o.config = values.config;
  else if (typeof prev['config'] === 'string' && !values.resume) o.config = prev['config'];
  if (values.tokenizer) o.tokenizer = values.tokenizer;
  const auxPrev = prev['auxCoef'];
  if (values['aux-coef'] !== undefined) o.auxCoef = number('aux-coef', values['aux-coef'], 0, 0);
  else if (typeof auxPrev === 'number') o.auxCoef = auxPrev;
  const evalFile = values.eval ?? (prev['eval'] as string | undefined);
  if (evalFile) {
    if (!fs.existsSync(evalFile)) throw new UsageError(`--eval: ${evalFile} does not exist`);
    o.eval = evalFile;
  }
  if (values.resume) o.resume = values.resume;
  if (values['stop-at'] !== undefined) o.stopAt = integer('stop-at', values['stop-at'], o.steps, 1);
  if (values['log-every-ms'] !== undefined) o.logIntervalMs = integer('log-every-ms', values['log-every-ms'], 0, 0);
  if (o.warmup >= o.steps && o.steps > 1) o.warmup = Math.max(0, o.steps - 1);
  const s = await train(o);
  process.stdout.write(JSON.stringify(s) + '\n');
  return 0;
}

export async function runTrainTokenizer(argv: string[]): Promise<number> {
  const { values } = parse(argv, { data: { type: 'string' }, vocab: { type: 'string' }, out: { type: 'string' }, coverage: { type: 'string' } });
  const data = files(values.data, 'data');
  if (!values.out) throw new UsageError('--out DIR is required');
  const vocabSize = integer('vocab', values.vocab, 4096, 300, 1 << 20);
  const t0 = performance.now();
  const pieces = trainTokenizerFiles(data, values.out, {
    vocabSize, characterCoverage: number('coverage', values.coverage, 0.9995, 0, 1),
    onProgress: (done, total) => { if (done % 1000 === 0) process.stderr.write(`train-tokenizer: ${done}/${total} merges\n`); },
  });
  process.stderr.write(`train-tokenizer: ${pieces.length} pieces in ${((performance.now() - t0) / 1000).toFixed(1)} s; wrote ${path.join(values.out, 'tokenizer.model')} and tokenizer_config.json\n`);
  return 0;
}
