// Turns the metrics.jsonl of a MoGE run and a top-k run into the charts and numbers of docs/MOGE.md:
//   node dist/tools/train/moge-report.js MOGE_DIR TOPK_DIR [DOCS_DIR=docs]
// writes DOCS_DIR/moge-is8.svg, moge-is4.svg, moge-loss.svg and moge-results.json (printed too).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lineChart, smooth, type Series } from './svg-chart.js';

interface Rec {
  step: number;
  loss?: number;
  aux?: number;
  is8?: number[];
  is4?: number[];
  eval_loss?: number;
  eval_is8?: number[];
  eval_is4?: number[];
}

function read(dir: string): Rec[] {
  return fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);
}

const mean = (a: number[]) => a.reduce((s, x) => s + x, 0) / Math.max(1, a.length);
const round = (x: number, d = 4) => Math.round(x * 10 ** d) / 10 ** d;

const LAYER_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function summary(recs: Rec[]) {
  const train = recs.filter((r) => r.loss !== undefined);
  const evals = recs.filter((r) => r.eval_loss !== undefined);
  const layers = train[0]!.is8!.length;
  const lastN = train.slice(-50);
  const per = (key: 'is8' | 'is4', rs: Rec[]) => Array.from({ length: layers }, (_, l) => round(mean(rs.map((r) => r[key]![l]!))));
  const lastEval = evals[evals.length - 1];
  return {
    steps: train.length,
    is8_mean_per_layer: per('is8', train),
    is8_last50_per_layer: per('is8', lastN),
    is8_max: round(Math.max(...train.flatMap((r) => r.is8!))),
    is4_mean_per_layer: per('is4', train),
    is4_last50_per_layer: per('is4', lastN),
    loss_last50: round(mean(lastN.map((r) => r.loss!))),
    aux_last50: round(mean(lastN.map((r) => r.aux!)), 6),
    eval_loss: lastEval ? round(lastEval.eval_loss!) : null,
    eval_is8_per_layer: lastEval?.eval_is8?.map((x) => round(x)) ?? null,
    eval_is4_per_layer: lastEval?.eval_is4?.map((x) => round(x)) ?? null,
  };
}

function main(): void {
  const [mogeDir, topkDir, docs = 'docs'] = process.argv.slice(2);
  if (!mogeDir || !topkDir) {
    process.stderr.write('usage: moge-report.js MOGE_DIR TOPK_DIR [DOCS_DIR]\n');
    process.exit(2);
  }
  const runs = { moge: read(mogeDir), topk: read(topkDir) };
  const layers = runs.moge.find((r) => r.is8)!.is8!.length;
  for (const key of ['is8', 'is4'] as const) {
    const series: Series[] = [];
    for (const [name, recs] of Object.entries(runs)) {
      const train = recs.filter((r) => r[key]);
      for (let l = 0; l < layers; l++) {
        const pts = train.map((r) => [r.step, r[key]![l]!] as [number, number]);
        series.push({ name: `${name === 'moge' ? 'MoGE' : 'top-k'} layer ${l}`, color: LAYER_COLORS[l % LAYER_COLORS.length]!,
          points: smooth(pts, 10), dash: name === 'moge' ? '6 3' : undefined, width: name === 'moge' ? 2.5 : 1.5 });
      }
    }
    const devices = key === 'is8' ? 8 : 4;
    fs.writeFileSync(path.join(docs, `moge-${key}.svg`), lineChart({
      title: `Imbalance Score per layer, experts on ${devices} devices (10-step moving average)`,
      xLabel: 'training step', yLabel: 'IS = (max T_i − min T_i) / |X|', series, yMin: 0,
    }));
  }
  const lossSeries: Series[] = [];
  const colors = { moge: '#1f77b4', topk: '#d62728' };
  for (const [name, recs] of Object.entries(runs) as [keyof typeof colors, Rec[]][]) {
    lossSeries.push({ name: `${name === 'moge' ? 'MoGE' : 'top-k'} train (20-step avg)`, color: colors[name],
      points: smooth(recs.filter((r) => r.loss !== undefined).map((r) => [r.step, r.loss!]), 20) });
    lossSeries.push({ name: `${name === 'moge' ? 'MoGE' : 'top-k'} held-out`, color: colors[name], dash: '5 3', width: 2.5,
      points: recs.filter((r) => r.eval_loss !== undefined).map((r) => [r.step, r.eval_loss!]) });
  }
  fs.writeFileSync(path.join(docs, 'moge-loss.svg'), lineChart({ title: 'Cross-entropy loss (nats per token)', xLabel: 'training step', yLabel: 'loss', series: lossSeries }));
  const result = { moge: summary(runs.moge), topk: summary(runs.topk) };
  fs.writeFileSync(path.join(docs, 'moge-results.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main();
