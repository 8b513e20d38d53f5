import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Progress, formatBytes, formatDuration } from '../../src/cli/progress.js';
import { GgufFile } from '../../src/formats/gguf.js';
import { loadModel } from '../../src/models/load.js';
import { convertToGguf } from '../../src/models/convert.js';
import { panguEmbeddedConfig, panguMoeConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { maxAbsDiff, runCli, tempDir } from '../helpers.js';

test('pangu convert writes a GGUF that logits and generate accept; progress lines on a non-terminal stderr', () => {
  const dir = tempDir();
  const hf = path.join(dir, 'hf');
  writeSyntheticModel(hf, panguMoeConfig(), { seed: 9, dtype: 'BF16' });
  const out = path.join(dir, 'moe.q8_0.gguf');
  const r = runCli(['convert', '--model', hf, '--out', out, '--type', 'Q8_0', '--name', 'tiny-moe']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[0]!, /^convert: 0\/39 tensors {2}0 B \/ [\d.]+ [KM]B {2}0% {2}ETA \?$/);
  assert.match(lines.at(-2)!, /^convert: 39\/39 tensors {2}([\d.]+ [KM]B) \/ \1 {2}100% {2}done in \d+s$/);
  assert.match(lines.at(-1)!, /^wrote .*moe\.q8_0\.gguf: 39 tensors \(22 Q8_0, 17 F32\), [\d.]+ [KM]B of tensor data in \d+s$/);
  assert.ok(!r.stderr.includes('\r'), 'no carriage returns when stderr is not a terminal');
  const g = GgufFile.open(out);
  assert.equal(g.string('general.name'), 'tiny-moe');
  assert.equal(g.uint('general.file_type'), 7);
  g.close();

  // The reference backend computes the dequantized weights in f32, as loadModel does by default.
  const logits = runCli(['logits', '--model', out, '--tokens', '1,2,3', '--backend', 'reference']);
  assert.equal(logits.status, 0, logits.stderr);
  const rows = JSON.parse(logits.stdout) as number[][];
  const model = loadModel(out);
  const expected = model.forward([1, 2, 3], model.newCache(3), 'all');
  assert.ok(maxAbsDiff(rows.flat(), expected) <= 1e-6);
  const gen = runCli(['generate', '--model', out, '--tokens', '1,2,3', '--max-tokens', '5']);
  assert.equal(gen.status, 0, gen.stderr);
  assert.match(gen.stdout, /^\d+(,\d+){4}\n$/);
});

test('pangu convert quantizes with the wasm kernels on worker threads: the same bytes as the JavaScript quantizers', () => {
  // Widths of 256 so that every matrix takes the K-quants; q4_k_m mixes Q4_K and Q6_K, q5_k_m Q5_K.
  const dir = tempDir();
  const hf = path.join(dir, 'hf');
  writeSyntheticModel(hf, panguEmbeddedConfig({ hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2 }), { seed: 4, dtype: 'BF16' });
  for (const type of ['q4_k_m', 'q5_k_m', 'q4_0', 'q8_0'] as const) {
    const out = path.join(dir, `${type}.gguf`), want = path.join(dir, `${type}.js.gguf`);
    const r = runCli(['convert', '--model', hf, '--out', out, '--type', type, '--name', 'm', '--threads', '2']);
    assert.equal(r.status, 0, r.stderr);
    const { types } = convertToGguf(hf, want, { type, name: 'm' });
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(want)), `${type}: files differ (${JSON.stringify(types)})`);
    if (type.endsWith('_m')) assert.ok(types['Q6_K']! > 0 && (types['Q4_K'] ?? types['Q5_K']!) > 0, JSON.stringify(types));
  }
  const bad = runCli(['convert', '--model', hf, '--out', path.join(dir, 'x.gguf'), '--type', 'q4_k', '--threads', '0']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--threads/);
});

test('pangu convert: usage errors exit 2 and write nothing', () => {
  const dir = tempDir();
  const out = path.join(dir, 'x.gguf');
  for (const [args, re] of [
    [['--model', dir, '--out', out], /--type is required: one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m, q5_k_m/],
    [['--model', dir, '--out', out, '--type', 'q3_k'], /--type must be one of f32, f16, bf16, q8_0, q4_0, q4_k, q5_k, q6_k, q4_k_m, q5_k_m, got "q3_k"/],
    [['--out', out, '--type', 'f32'], /--model DIR is required/],
    [['--model', dir, '--type', 'f32'], /--out FILE\.gguf is required/],
  ] as const) {
    const r = runCli(['convert', ...args]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, re);
  }
  const r = runCli(['convert', '--model', dir, '--out', out, '--type', 'f32']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /config\.json: cannot read/);
  assert.ok(!fs.existsSync(out));
});

test('pangu <command> --help prints that command\'s usage and exits 0', () => {
  for (const name of ['bench', 'run', 'convert', 'serve']) {
    const r = runCli([name, '--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: pangu ${name} `));
  }
  assert.match(runCli(['bench', '-h']).stdout, /^usage: pangu bench --model DIR\|FILE\.gguf/);
});

class FakeStream {
  text = '';
  constructor(readonly isTTY: boolean, readonly columns = 200) {}
  write(s: string): boolean {
    this.text += s;
    return true;
  }
}

test('progress: an animated bar on a terminal, periodic plain lines otherwise, with an ETA', () => {
  let now = 0;
  const state = (done: number, bytesDone: number) => ({ done, total: 10, bytesDone, bytesTotal: 1000, name: `t${done}` });
  const tty = new FakeStream(true);
  const bar = new Progress('convert', { stream: tty, now: () => now });
  bar.update(state(0, 0));
  now = 50;
  bar.update(state(1, 100)); // within the redraw interval: not drawn
  now = 2000;
  bar.update(state(5, 500));
  assert.equal(bar.eta(state(5, 500)), 2000);
  now = 4000;
  bar.update(state(10, 1000));
  bar.finish();
  const frames = tty.text.split('\r\x1b[K').filter(Boolean);
  assert.equal(frames.length, 4);
  assert.match(frames[0]!, /^convert \[░{24}\] 0\/10 tensors {2}0 B \/ 1.00 KB {2}0% {2}ETA \? {2}t0$/);
  assert.match(frames[1]!, /^convert \[█{12}░{12}\] 5\/10 tensors {2}500 B \/ 1.00 KB {2}50% {2}ETA 2s {2}t5$/);
  assert.match(frames[3]!, /^convert \[█{24}\] 10\/10 tensors {2}1.00 KB \/ 1.00 KB {2}100% {2}done in 4s\n$/);

  now = 0;
  const plain = new FakeStream(false);
  const lines = new Progress('convert', { stream: plain, now: () => now, lineIntervalMs: 1000 });
  for (let i = 0; i <= 10; i++) {
    now = i * 300;
    lines.update(state(i, i * 100));
  }
  lines.finish();
  assert.deepEqual(plain.text.trim().split('\n').map((l) => l.split('  ')[0]), [
    'convert: 0/10 tensors', 'convert: 4/10 tensors', 'convert: 8/10 tensors', 'convert: 10/10 tensors',
  ]);
  assert.ok(!plain.text.includes('\r'));
});

test('byte and duration formatting', () => {
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1536), '1.54 KB');
  assert.equal(formatBytes(150e9), '150.0 GB');
  assert.equal(formatDuration(59_400), '59s');
  assert.equal(formatDuration(3_725_000), '1h02m');
  assert.equal(formatDuration(Infinity), '?');
});
