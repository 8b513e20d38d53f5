import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { generate, Session } from '../../src/engine/generate.js';
import { generateText } from '../../src/engine/text.js';
import { loadModel } from '../../src/models/load.js';
import { Tokenizer, type ChatMessage } from '../../src/tokenizer/tokenizer.js';
import { FIXTURES, runCli } from '../helpers.js';

const dir = path.join(FIXTURES, 'models', 'embedded-tiny');

test('pangu run --raw prints the decoded greedy continuation', () => {
  const tok = Tokenizer.load(dir);
  const ids = [...generate(loadModel(dir), tok.encode('Once upon a time'), { maxTokens: 12, stopTokens: [tok.eosId!] })]
    .filter((t) => t !== tok.eosId);
  const r = runCli(['run', '--model', dir, '--raw', '--max-tokens', '12', 'Once upon a time']);
  assert.equal(r.status, 0, r.stderr);
  const shown = r.stdout.slice(0, -1) + r.stderr.replace(/^\[thinking\] /, '').replace(/\n$/, '');
  assert.equal(shown.length > 0, true);
  assert.equal(r.stdout.endsWith('\n'), true);
  // stdout holds the answer part of the decode; anything inside a reasoning block went to stderr.
  const decoded = tok.decode(ids);
  if (!decoded.includes('[unused16]')) assert.equal(r.stdout, decoded + '\n');
});

/** The answer text a fresh session gives to `messages` (greedy). */
function answer(messages: ChatMessage[], maxTokens: number): string {
  const tok = Tokenizer.load(dir);
  const gen = generateText(new Session(loadModel(dir), 256), tok, tok.encodeChat(messages, { addGenerationPrompt: true }), { maxTokens });
  let content = '';
  for (let r = gen.next(); !r.done; r = gen.next()) content += r.value.content;
  return content;
}

test('pangu run answers the prompt as a chat user message', () => {
  const r = runCli(['run', '--model', dir, '--max-tokens', '6', 'Hello']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, answer([{ role: 'user', content: 'Hello' }], 6) + '\n');
});

test('pangu chat answers each piped line, keeping the conversation', () => {
  const c = runCli(['chat', '--model', dir, '--max-tokens', '5'], 'first question\nsecond /no_think\n/exit\n');
  assert.equal(c.status, 0, c.stderr);
  const turn1: ChatMessage[] = [{ role: 'user', content: 'first question' }];
  const a1 = answer(turn1, 5);
  const a2 = answer([...turn1, { role: 'assistant', content: a1 }, { role: 'user', content: 'second /no_think' }], 5);
  assert.equal(c.stdout, `${a1}\n${a2}\n`);
});

test('bad flags and a missing model give clear errors', () => {
  let r = runCli(['run', '--model', dir, '--max-tokens', 'x', 'hi']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--max-tokens must be a number/);
  r = runCli(['run', '--model', '/nonexistent', 'hi']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tokenizer\.model/);
  r = runCli(['run', '--model', dir]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /give the prompt as one argument/);
});
