// The loss curve of one training run as SVG:
//   node dist/tools/train/loss-chart.js RUN_DIR OUT.svg [TITLE]
// (training loss, 20-step moving average, and every held-out eval from RUN_DIR/metrics.jsonl).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { lineChart, smooth } from './svg-chart.js';

const [dir, out, title = 'Training loss (nats per token)'] = process.argv.slice(2);
if (!dir || !out) {
  process.stderr.write('usage: loss-chart.js RUN_DIR OUT.svg [TITLE]\n');
  process.exit(2);
}
const recs = fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
const train = recs.filter((r) => r['loss'] !== undefined).map((r) => [r['step']!, r['loss']!] as [number, number]);
const evals = recs.filter((r) => r['eval_loss'] !== undefined).map((r) => [r['step']!, r['eval_loss']!] as [number, number]);
fs.writeFileSync(out, lineChart({
  title, xLabel: 'training step', yLabel: 'loss',
  series: [
    { name: 'train (per step)', color: '#c6dbef', points: train, width: 1 },
    { name: 'train (20-step average)', color: '#1f77b4', points: smooth(train, 20), width: 2 },
    { name: 'held-out', color: '#d62728', points: evals, width: 2.5, dash: '5 3' },
  ],
}));
