// The bundled default model (models/default, made by tools/train/train-default.sh) loads in every
// command's code path and writes English words. Skipped while the model is not there.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../src/models/load.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { REPO, runCli } from '../helpers.js';

const DIR = path.join(REPO, 'models', 'default');
const present = fs.existsSync(path.join(DIR, 'model.safetensors'));

test('models/default: a bf16 Pangu Pro MoE under 25 MB with the Pangu tokenizer files', { skip: !present && 'models/default is not trained yet' }, () => {
  const config = JSON.parse(fs.readFileSync(path.join(DIR, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'PanguProMoE');
  assert.equal(config.torch_dtype, 'bfloat16');
  assert.ok(fs.statSync(path.join(DIR, 'model.safetensors')).size <= 25e6);
  const tok = Tokenizer.load(DIR);
  assert.equal(tok.tokenToId('[unused10]'), 15);
  assert.ok(tok.chatTemplateNames.length > 0);
});

test('models/default: greedy continuation is made of English words', { skip: !present && 'models/default is not trained yet' }, () => {
  const model = loadModel(DIR);
  const tok = Tokenizer.load(DIR);
  const ids = tok.encode('The');
  const cache = model.newCache(64);
  let logits = model.forward(ids, cache, 'last');
  const out: number[] = [];
  for (let i = 0; i < 12; i++) {
    let best = 0;
    for (let j = 1; j < logits.length; j++) if (logits[j]! > logits[best]!) best = j;
    out.push(best);
    logits = model.forward([best], cache, 'last');
  }
  const text = tok.decode(out, { skipSpecialTokens: true });
  const words = text.split(/\s+/).filter(Boolean);
  assert.ok(words.length >= 4, `continuation ${JSON.stringify(text)}`);
  const common = new Set(['the', 'of', 'and', 'to', 'a', 'in', 'that', 'is', 'was', 'he', 'for', 'it', 'with', 'as', 'his', 'on', 'be', 'at', 'by', 'had', 'not', 'are', 'but', 'from', 'or', 'have', 'an', 'they', 'which', 'one', 'were', 'all', 'we', 'her', 'she', 'there', 'been', 'would', 'their', 'has', 'will', 'more', 'if', 'no', 'when', 'who', 'so', 'first', 'new', 'time', 'this', 'other', 'some', 'first']);
  const hits = words.filter((w) => common.has(w.toLowerCase().replace(/[^a-z]/g, ''))).length;
  assert.ok(hits >= 2, `expected common English words in ${JSON.stringify(text)}`);
});

test('pangu run uses models/default when no --model is given, continuing the prompt (a base model)', { skip: !present && 'models/default is not trained yet' }, () => {
  const r = runCli(['run', '--max-tokens', '8', '--seed', '3', 'The man said']);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.trim().length > 0);
  const raw = runCli(['run', '--model', DIR, '--raw', '--max-tokens', '8', '--seed', '3', 'The man said']);
  assert.equal(r.stdout, raw.stdout);
  const chat = runCli(['run', '--model', DIR, '--max-tokens', '8', '--seed', '3', 'The man said']);
  assert.notEqual(chat.stdout, raw.stdout, 'with --model the chat template applies');
});
