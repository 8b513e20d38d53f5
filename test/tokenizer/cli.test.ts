// `pangu tokenize`, run as the command in a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { runCli } from '../helpers.js';
import { modelDir } from './helpers.js';

function run(args: string[], input?: string): { code: number | null; stdout: string; stderr: string } {
  const r = runCli(['tokenize', ...args], input ?? '');
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const tok = Tokenizer.load(modelDir('bpe'));

test('tokenize TEXT prints the ids as a JSON array', () => {
  const r = run(['--model', modelDir('bpe'), 'Hello 世界 [unused9]']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), tok.encode('Hello 世界 [unused9]'));
  const n = run(['--model', modelDir('bpe'), '--no-special-tokens', 'Hello']);
  assert.deepEqual(JSON.parse(n.stdout), tok.encode('Hello', { addSpecialTokens: false }));
});

test('tokenize --jsonl: one JSON string per line in, one array per line out', () => {
  const texts = ['a', '', 'line\nbreak', '🎉 [unused10]', '  spaces  '];
  const r = run(['--model', modelDir('unigram'), '--jsonl'], texts.map((t) => JSON.stringify(t)).join('\n') + '\n');
  assert.equal(r.code, 0, r.stderr);
  const u = Tokenizer.load(modelDir('unigram'));
  assert.deepEqual(r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l)), texts.map((t) => u.encode(t)));
});

test('tokenize errors: usage → 2, bad model or input → 1, messages on stderr', () => {
  let r = run(['hello']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model DIR\|FILE\.gguf is required/);
  r = run(['--model', modelDir('bpe')]);
  assert.equal(r.code, 2);
  r = run(['--model', modelDir('bpe'), '--bogus', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /Unknown option/);
  r = run(['--model', '/nonexistent/dir', 'x']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /tokenizer\.model: not found/);
  r = run(['--model', modelDir('bpe'), '--jsonl'], '"ok"\n{"not": "a string"}\n');
  assert.equal(r.code, 1);
  assert.equal(r.stdout.trim(), JSON.stringify(tok.encode('ok')));
  assert.match(r.stderr, /line 2: expected a JSON string/);
  r = run(['--model', modelDir('bpe'), '--jsonl'], 'not json\n');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /line 1: not valid JSON/);
  r = run(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /usage: pangu tokenize/);
});
