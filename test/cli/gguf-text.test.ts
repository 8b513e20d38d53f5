// Text commands on a GGUF file alone: its embedded vocabulary stands in for the directory's
// tokenizer; a file without vocabulary is refused by name, and token-id commands still run on it.
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { convertToGguf } from '../../src/models/convert.js';
import { panguMoeConfig, writeSyntheticModel } from '../../src/models/synthetic.js';
import { FIXTURES, runCli, tempDir } from '../helpers.js';

const dir = path.join(FIXTURES, 'models', 'embedded-tiny');
const tmp = tempDir();
const gguf = path.join(tmp, 'embedded-tiny.gguf');
convertToGguf(dir, gguf, { type: 'f32' });

test('pangu run --model FILE.gguf gives what the checkpoint directory gives (chat and --raw)', () => {
  for (const extra of [[], ['--raw']]) {
    const fromDir = runCli(['run', '--model', dir, '--max-tokens', '6', ...extra, 'Hello']);
    const fromGguf = runCli(['run', '--model', gguf, '--max-tokens', '6', ...extra, 'Hello']);
    assert.equal(fromDir.status, 0, fromDir.stderr);
    assert.equal(fromGguf.status, 0, fromGguf.stderr);
    assert.equal(fromGguf.stdout, fromDir.stdout);
    assert.equal(fromGguf.stderr, fromDir.stderr);
  }
});

test('pangu tokenize and chat take --model FILE.gguf', () => {
  const text = 'Hello, 世界! [unused9]x  y\t\n';
  const a = runCli(['tokenize', '--model', dir, text]);
  const b = runCli(['tokenize', '--model', gguf, text]);
  assert.equal(b.status, 0, b.stderr);
  assert.equal(b.stdout, a.stdout);
  const lines = '"a"\n"[unused10] b"\n"  "\n';
  assert.equal(runCli(['tokenize', '--model', gguf, '--jsonl', '--no-special-tokens'], lines).stdout,
    runCli(['tokenize', '--model', dir, '--jsonl', '--no-special-tokens'], lines).stdout);
  const c1 = runCli(['chat', '--model', dir, '--max-tokens', '4'], 'hi there\n/exit\n');
  const c2 = runCli(['chat', '--model', gguf, '--max-tokens', '4'], 'hi there\n/exit\n');
  assert.equal(c2.status, 0, c2.stderr);
  assert.equal(c2.stdout, c1.stdout);
});

test('a GGUF without vocabulary: text commands name the file and say so; token-id commands work', () => {
  const hf = path.join(tmp, 'novocab');
  writeSyntheticModel(hf, panguMoeConfig(), { seed: 3, dtype: 'F32' });
  const file = path.join(tmp, 'novocab.gguf');
  convertToGguf(hf, file, { type: 'f32' });
  for (const args of [['run', '--model', file, 'hi'], ['tokenize', '--model', file, 'hi']]) {
    const r = runCli(args);
    assert.equal(r.status, 1, r.stderr);
    assert.ok(r.stderr.includes(`${file}: this GGUF file has no vocabulary (tokenizer.ggml.model is "no_vocab")`), r.stderr);
  }
  const gen = runCli(['generate', '--model', file, '--tokens', '1,2,3', '--max-tokens', '3']);
  assert.equal(gen.status, 0, gen.stderr);
  assert.match(gen.stdout, /^\d+(,\d+){2}\n$/);
  const bench = runCli(['bench', '--model', file, '-p', '4', '-n', '2', '--threads', '1', '--json']);
  assert.equal(bench.status, 0, bench.stderr);
  // --json: the last line of stdout is one JSON object with the speeds
  const report = JSON.parse(bench.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  for (const key of ['prompt_tokens_per_s', 'gen_tokens_per_s', 'gen_cold_tokens_per_s']) {
    assert.ok(Number.isFinite(report[key]) && report[key]! > 0, `${key}: ${report[key]}`);
  }
  assert.equal(report['gen_tokens'], 2);
  assert.equal(report['depth'], 0);
  // -d: timed after tokens of history; beyond the model's positions, a usage error that says so
  const deep = runCli(['bench', '--model', file, '-p', '4', '-n', '2', '-d', '40', '--reps', '1', '--threads', '1', '--json']);
  assert.equal(deep.status, 0, deep.stderr);
  assert.match(deep.stdout, /^depth {6}40 tokens in the cache/m);
  const deepReport = JSON.parse(deep.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
  assert.equal(deepReport['depth'], 40);
  assert.ok(deepReport['kv_cache_bytes']! > report['kv_cache_bytes']!, 'the cache holds the history');
  const tooDeep = runCli(['bench', '--model', file, '-p', '4', '-n', '2', '-d', '4093', '--threads', '1']);
  assert.equal(tooDeep.status, 2, tooDeep.stderr);
  assert.match(tooDeep.stderr, /-d 4093 with -p 4 \/ -n 2 needs 4097 positions, more than the model's 4096 \(max_position_embeddings\)/);
});

test('--kv-type: f16 and bf16 caches generate; another type is refused by name', () => {
  const greedy = (kv: string[]) => runCli(['generate', '--model', gguf, '--tokens', '1,2,3', '--max-tokens', '4', ...kv]);
  const f32 = greedy([]);
  assert.equal(f32.status, 0, f32.stderr);
  for (const kv of ['f16', 'bf16']) {
    const r = greedy(['--kv-type', kv]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^\d+(,\d+){3}\n$/);
  }
  const bad = greedy(['--kv-type', 'f8']);
  assert.equal(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--kv-type must be f32, f16 or bf16, got "f8"/);
});
