// The training loop: data, model, AdamW with warmup + cosine schedule and gradient clipping,
// progress display, periodic eval and checkpoints, and a metrics.jsonl log (loss, aux loss,
// learning rate, gradient norm, and per MoE layer the Imbalance Score over 8 and 4 devices).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatDuration, type ProgressStream } from '../cli/progress.js';
import { ConfigError, type RawConfig } from '../models/config.js';
import { panguMoeConfig } from '../models/synthetic.js';
import { parseModelArgs } from '../models/load.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadTrainingCheckpoint, saveCheckpoint, type TrainerState } from './checkpoint.js';
import { evalBatches, tokenizeFiles, WindowSampler } from './data.js';
import { F64Ops, WasmOps, type MatOps } from './gemm.js';
import { isMoe, TrainModel, type Batch } from './model.js';
import { imbalanceScore, type RouterKind } from './moe.js';
import { ADAMW_DEFAULTS, AdamW, clipGradNorm, learningRate } from './optim.js';

export interface TrainOptions {
  data: string[];
  out: string;
  /** config.json to train (default: a small Pangu Pro MoE, see defaultTrainConfig). */
  config?: string;
  /** Directory with tokenizer.model and tokenizer_config.json (default: the config's directory, or the resumed checkpoint's). */
  tokenizer?: string;
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  warmup: number;
  minLr: number;
  weightDecay: number;
  clip: number;
  /** Overrides the config's router_aux_loss_coef. */
  auxCoef?: number;
  router: RouterKind;
  eval?: string;
  evalEvery: number;
  /** At most this many eval windows (0: all). */
  evalWindows: number;
  saveEvery: number;
  resume?: string;
  /** Stop after this step although the schedule runs to `steps` (split a run into parts; resume continues). */
  stopAt?: number;
  seed: number;
  threads: number;
  dtype: 'BF16' | 'F32';
  /** Std of the normal init of matrices. */
  initStd: number;
  /** float64 arithmetic (slow; for checks). */
  f64?: boolean;
  /** Where the progress goes (default stderr); a TTY gets a redrawn bar. */
  stream?: ProgressStream;
  /** Plain progress lines at most this often (default 10 s); every step when 0. */
  logIntervalMs?: number;
  /** Sampling defaults written to generation_config.json. */
  generationConfig?: Record<string, unknown>;
}

export const TRAIN_DEFAULTS = {
  steps: 1000, batch: 8, seq: 128, lr: 3e-3, warmup: 100, minLr: 3e-4, weightDecay: 0.1, clip: 1.0,
  router: 'moge' as RouterKind, evalEvery: 0, evalWindows: 64, saveEvery: 0, seed: 0, threads: 1, dtype: 'BF16' as const, initStd: 0.02,
};

export const DEFAULT_GENERATION_CONFIG = { do_sample: true, temperature: 0.8, top_k: 40, top_p: 0.95, repetition_penalty: 1.1 };

/** A small Pangu Pro MoE config for a vocabulary of `vocab` tokens and context `seq`. */
export function defaultTrainConfig(vocab: number, seq: number): RawConfig {
  return panguMoeConfig({
    vocab_size: vocab, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2,
    num_experts: 32, num_experts_per_tok: 8, moe_intermediate_size: 64, shared_expert_intermediate_size: 256,
    max_position_embeddings: seq,
  });
}

function readConfigJson(file: string): RawConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, `cannot read a JSON config: ${(e as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(file, 'is not a JSON object');
  return raw as RawConfig;
}

export interface TrainSummary {
  steps: number;
  tokens: number;
  loss: number;
  evalLoss?: number;
  tokensPerSecond: number;
  seconds: number;
  parameters: number;
  activeParameters: number;
}

export interface EvalResult {
  loss: number;
  tokens: number;
  /** Expert calls per MoE layer over the eval set. */
  counts: Float64Array[];
}

export function evaluate(model: TrainModel, batches: readonly Batch[]): EvalResult {
  let total = 0, count = 0;
  const counts: Float64Array[] = [];
  for (const b of batches) {
    const r = model.forward(b, { keep: false });
    const c = b.targets.reduce((s, t) => s + (t >= 0 ? 1 : 0), 0);
    total += r.ce * c;
    count += c;
    r.counts.forEach((cnt, i) => {
      if (!counts[i]) counts[i] = new Float64Array(cnt.length);
      for (let e = 0; e < cnt.length; e++) counts[i]![e]! += cnt[e]!;
    });
  }
  return { loss: count ? total / count : NaN, tokens: count, counts };
}

class TrainProgress {
  private last = -Infinity;
  private drawn = false;
  constructor(private readonly stream: ProgressStream, private readonly intervalMs: number) {}

  update(line: string, frac: number, force = false): void {
    const now = performance.now();
    const tty = this.stream.isTTY === true;
    if (!force && now - this.last < (tty ? 200 : this.intervalMs)) return;
    this.last = now;
    if (tty) {
      const width = 20, full = Math.round(Math.min(1, frac) * width);
      let s = `[${'█'.repeat(full)}${'░'.repeat(width - full)}] ${line}`;
      const cols = this.stream.columns ?? 120;
      if (s.length > cols - 1) s = s.slice(0, cols - 1);
      this.stream.write(`\r\x1b[K${s}`);
      this.drawn = true;
    } else {
      this.stream.write(`${line}\n`);
    }
  }

  /** A line of its own (eval results, saves), below the bar. */
  note(line: string): void {
    if (this.stream.isTTY && this.drawn) this.stream.write('\r\x1b[K');
    this.stream.write(`${line}\n`);
    this.drawn = false;
    this.last = -Infinity;
  }

  end(): void {
    if (this.stream.isTTY && this.drawn) this.stream.write('\n');
  }
}

function fmt(x: number, digits = 4): string {
  return Number.isFinite(x) ? x.toFixed(digits) : String(x);
}

export async function train(o: TrainOptions): Promise<TrainSummary> {
  const stream = o.stream ?? process.stderr;
  const ops: MatOps = o.f64 ? new F64Ops() : await WasmOps.create(o.threads);
  try {
    return await trainWith(ops, o, stream);
  } finally {
    await ops.close();
  }
}

async function trainWith(ops: MatOps, o: TrainOptions, stream: ProgressStream): Promise<TrainSummary> {
  let model: TrainModel, config: RawConfig, opt: AdamW, state: TrainerState, tokenizerDir: string;
  if (o.resume) {
    ({ model, config, opt, state } = loadTrainingCheckpoint(o.resume, ops));
    tokenizerDir = o.tokenizer ?? o.resume;
  } else {
    if (o.config) config = readConfigJson(o.config);
    tokenizerDir = o.tokenizer ?? (o.config ? path.dirname(o.config) : '');
    if (!tokenizerDir || !fs.existsSync(path.join(tokenizerDir, 'tokenizer.model'))) {
      throw new Error(`no tokenizer: give --tokenizer DIR (a directory with tokenizer.model and tokenizer_config.json; make one with pangu train-tokenizer)`);
    }
    const tok0 = Tokenizer.load(tokenizerDir);
    config ??= defaultTrainConfig(tok0.size, o.seq);
    config = { ...config };
    if (o.auxCoef !== undefined) config['router_aux_loss_coef'] = o.auxCoef;
    if (config['model_type'] === 'PanguProMoE') {
      if (o.router === 'topk') config['pangu_ts_router'] = 'topk';
      else delete config['pangu_ts_router'];
    }
    const args = parseModelArgs(config);
    if (args.tie_word_embeddings) throw new Error('training supports untied lm_head only (tie_word_embeddings: false), as both Pangu models have');
    if (tok0.size > args.vocab_size) throw new Error(`the tokenizer has ${tok0.size} tokens but vocab_size is ${args.vocab_size}`);
    model = new TrainModel(args, ops, o.router);
    model.init({ seed: o.seed, std: o.initStd });
    opt = new AdamW(model.params, { ...ADAMW_DEFAULTS, weightDecay: o.weightDecay });
    state = { step: 0, dataPosition: 0, tokens: 0, seed: o.seed, router: o.router, adam: { ...opt.opts, t: 0 }, options: {} };
  }
  const args = model.args;
  if (isMoe(args) && state.router === 'topk' && args.num_experts_per_tok > args.num_experts) throw new Error('k exceeds the number of experts');
  const tok = Tokenizer.load(tokenizerDir);
  state.options = { ...o, stream: undefined, resume: undefined, stopAt: undefined };
  const eos = args.eos_token_id[0] ?? 2;
  const t0 = performance.now();
  const stream0 = tokenizeFiles(o.data, tok, eos);
  const sampler = new WindowSampler(stream0, o.seq, state.seed);
  const evalSet = o.eval ? evalBatches(tokenizeFiles([o.eval], tok, eos), o.seq, o.batch, o.evalWindows > 0 ? o.evalWindows : Infinity) : [];
  const progress = new TrainProgress(stream, o.logIntervalMs ?? 10000);
  progress.note(`pangu train: ${args.model_type}${isMoe(args) ? ` (${state.router} router, ${args.num_experts} experts, k=${args.num_experts_per_tok})` : ''}, ` +
    `${(model.parameterCount / 1e6).toFixed(2)}M parameters (${(model.activeParameterCount / 1e6).toFixed(2)}M active); ` +
    `data ${stream0.length} tokens = ${sampler.windows} windows of ${o.seq} (tokenized in ${formatDuration(performance.now() - t0)}); ` +
    `${evalSet.length ? `eval ${evalSet.reduce((s, b) => s + b.B, 0)} windows; ` : ''}` +
    `batch ${o.batch} × ${o.seq}; steps ${state.step} → ${o.steps}; ${o.f64 ? 'float64' : `wasm ${(ops as WasmOps).threads} thread(s)`}`);
  fs.mkdirSync(o.out, { recursive: true });
  const metricsFile = path.join(o.out, 'metrics.jsonl');
  // A resumed run keeps the log up to its checkpoint's step (a run killed after its last save
  // logged steps that are now trained again).
  const previous = o.resume && fs.existsSync(path.join(o.resume, 'metrics.jsonl'))
    ? fs.readFileSync(path.join(o.resume, 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l.trim() && (JSON.parse(l) as { step: number }).step <= state.step)
    : [];
  fs.writeFileSync(metricsFile, previous.map((l) => l + '\n').join(''));
  const log = (rec: Record<string, unknown>) => fs.appendFileSync(metricsFile, JSON.stringify(rec) + '\n');
  const schedule = { lr: o.lr, minLr: o.minLr, warmup: o.warmup, steps: o.steps };
  const save = (dir: string) => saveCheckpoint(dir, {
    model, config, tokenizerDir, dtype: o.dtype, opt, state, generationConfig: o.generationConfig ?? DEFAULT_GENERATION_CONFIG,
  });
  const runEval = (): number | undefined => {
    if (!evalSet.length) return undefined;
    const r = evaluate(model, evalSet);
    const rec: Record<string, unknown> = { step: state.step, eval_loss: r.loss, eval_ppl: Math.exp(r.loss), eval_tokens: r.tokens };
    if (isMoe(args)) {
      rec['eval_is8'] = r.counts.map((c) => imbalanceScore(c, 8, r.tokens));
      rec['eval_is4'] = r.counts.map((c) => imbalanceScore(c, 4, r.tokens));
    }
    log(rec);
    progress.note(`step ${state.step}: eval loss ${fmt(r.loss)} (perplexity ${fmt(Math.exp(r.loss), 2)}) over ${r.tokens} tokens`);
    return r.loss;
  };

  const startStep = state.step, start = performance.now();
  let lastLoss = NaN, emaLoss = NaN, lastEval: number | undefined;
  const tokensPerStep = o.batch * o.seq;
  const end = Math.min(o.steps, o.stopAt ?? Infinity);
  while (state.step < end) {
    const lr = learningRate(state.step, schedule);
    const batch = sampler.batch(state.dataPosition, o.batch);
    model.zeroGrad();
    const r = model.forward(batch);
    model.backward();
    const gnorm = clipGradNorm(model.params, o.clip);
    opt.step(lr);
    state.step++;
    state.dataPosition += o.batch;
    state.tokens += tokensPerStep;
    lastLoss = r.ce;
    emaLoss = Number.isNaN(emaLoss) ? r.ce : 0.95 * emaLoss + 0.05 * r.ce;
    const elapsed = (performance.now() - start) / 1000;
    const tps = ((state.step - startStep) * tokensPerStep) / elapsed;
    const rec: Record<string, unknown> = { step: state.step, loss: r.ce, aux: r.aux, lr, gnorm, tokens: state.tokens, time: elapsed };
    if (isMoe(args)) {
      rec['is8'] = r.counts.map((c) => imbalanceScore(c, 8, tokensPerStep));
      rec['is4'] = r.counts.map((c) => imbalanceScore(c, 4, tokensPerStep));
      rec['aux_layers'] = r.auxPerLayer;
    }
    log(rec);
    const eta = ((end - state.step) * elapsed) / (state.step - startStep);
    progress.update(`step ${state.step}/${o.steps}  loss ${fmt(r.ce)} (avg ${fmt(emaLoss)})  ${Math.round(tps)} tok/s  ETA ${formatDuration(eta * 1000)}  ` +
      `${r.aux ? `aux ${fmt(r.aux, 5)}  ` : ''}lr ${lr.toExponential(2)}  |g| ${fmt(gnorm, 3)}`, state.step / o.steps, o.logIntervalMs === 0 || state.step === end);
    if (o.evalEvery > 0 && state.step % o.evalEvery === 0 && state.step < end) lastEval = runEval();
    if (o.saveEvery > 0 && state.step % o.saveEvery === 0 && state.step < end) {
      save(o.out);
      progress.note(`step ${state.step}: saved ${o.out}`);
    }
  }
  progress.end();
  if (evalSet.length) lastEval = runEval();
  save(o.out);
  const seconds = (performance.now() - start) / 1000;
  const summary: TrainSummary = {
    steps: state.step, tokens: state.tokens, loss: lastLoss,
    tokensPerSecond: seconds > 0 ? ((state.step - startStep) * tokensPerStep) / seconds : 0, seconds,
    parameters: model.parameterCount, activeParameters: model.activeParameterCount,
  };
  if (lastEval !== undefined) summary.evalLoss = lastEval;
  progress.note(`done: ${state.step} steps, loss ${fmt(lastLoss)}${lastEval !== undefined ? `, eval loss ${fmt(lastEval)} (perplexity ${fmt(Math.exp(lastEval), 2)})` : ''}, ` +
    `${Math.round(summary.tokensPerSecond)} tok/s; saved ${o.out}`);
  return summary;
}
