// Tokenizer (the slow HF PanguTokenizer's behaviour) against the fixtures' expected ids/decodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { MODELS, expected, label, modelDir } from './helpers.js';

for (const name of MODELS) {
  const exp = expected(name);
  const tok = Tokenizer.load(modelDir(name));

  test(`${name}: encode equals the slow HF tokenizer for 100% of ${exp.cases.length} strings`, () => {
    const wrong = exp.cases.filter((c) => JSON.stringify(tok.encode(c.text)) !== JSON.stringify(c.hf_ids));
    assert.deepEqual(wrong.map((c) => label(c.text)), []);
  });

  test(`${name}: encode without special tokens`, () => {
    for (const c of exp.cases) assert.deepEqual(tok.encode(c.text, { addSpecialTokens: false }), c.hf_ids_no_special, label(c.text));
  });

  test(`${name}: <s> comes first and added tokens become single ids`, () => {
    assert.equal(tok.encode('')[0], tok.bosId);
    assert.deepEqual(tok.encode(''), [1]);
    const ids = tok.encode('x[unused9]y[unused10]');
    assert.ok(ids.includes(tok.tokenToId('[unused9]')!));
    assert.equal(ids[ids.length - 1], tok.eosId);
  });

  test(`${name}: decode equals the slow HF tokenizer`, () => {
    for (const c of exp.cases) {
      assert.equal(tok.decode(c.hf_ids), c.hf_decode, label(c.text));
      assert.equal(tok.decode(c.hf_ids, { skipSpecialTokens: true }), c.hf_decode_skip, label(c.text));
    }
    for (const d of exp.decodes) {
      assert.equal(tok.decode(d.ids), d.hf_decode, JSON.stringify(d.ids));
      assert.equal(tok.decode(d.ids, { skipSpecialTokens: true }), d.hf_decode_skip, JSON.stringify(d.ids));
    }
  });

  test(`${name}: decode(encode(s)) round-trips wherever SentencePiece does`, () => {
    // Text around added tokens is encoded and decoded piecewise (so a dummy prefix can eat a
    // space there, as in HF); that is covered by the exact-decode test above.
    const plain = exp.cases.filter((x) => x.sp_roundtrip && !tok.splitOnAddedTokens(x.text).some((p) => p.added));
    assert.ok(plain.length > 20);
    for (const c of plain) {
      assert.equal(tok.decode(tok.encode(c.text), { skipSpecialTokens: true }), c.text, label(c.text));
      assert.equal(tok.decode(tok.encode(c.text, { addSpecialTokens: false })), c.text, label(c.text));
    }
  });

  test(`${name}: bosId, eosId, vocabSize`, () => {
    assert.equal(tok.bosId, 1);
    assert.equal(tok.eosId, exp.model.eos_token_id);
    assert.equal(tok.idToToken(tok.eosId!), '[unused10]');
    assert.equal(tok.unkId, 0);
    assert.equal(tok.vocabSize, exp.model.pieces);
    assert.equal(tok.isSpecialId(tok.eosId!), true);
    assert.equal(tok.isSpecialId(tok.tokenToId('[unused16]')!), false);
  });

  test(`${name}: ids out of range are a clear error`, () => {
    assert.throws(() => tok.decode([5, tok.vocabSize]), (e: Error) => e instanceof RangeError && /token id \d+ is out of range/.test(e.message));
    assert.throws(() => tok.decode([-3]), RangeError);
    assert.throws(() => tok.createStreamDecoder().push(10 ** 9), RangeError);
  });

  test(`${name}: chat template renders as Jinja2 does and encodes as HF`, () => {
    for (const c of exp.chat) {
      const rendered = tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.add_generation_prompt });
      assert.equal(rendered, c.rendered);
      assert.deepEqual(tok.encodeChat(c.messages, { addGenerationPrompt: c.add_generation_prompt }), c.hf_ids);
      assert.deepEqual(
        tok.encodeChat(c.messages, { addGenerationPrompt: c.add_generation_prompt, addSpecialTokens: false }),
        c.hf_ids_no_special,
      );
    }
  });
}

test('chat template: Pangu format for system/user/assistant and the generation prompt', () => {
  const tok = Tokenizer.load(modelDir('bpe'));
  const messages = [
    { role: 'system', content: '你是助手' },
    { role: 'user', content: '你好' },
    { role: 'assistant', content: '你好！' },
    { role: 'user', content: '再见' },
  ];
  assert.equal(
    tok.applyChatTemplate(messages, { addGenerationPrompt: true }),
    '[unused9]系统：你是助手[unused10][unused9]用户：你好[unused10][unused9]助手：你好！[unused10][unused9]用户：再见[unused10][unused9]助手：',
  );
  assert.equal(
    tok.applyChatTemplate([{ role: 'user', content: 'hi' }]),
    '[unused9]系统：[unused10][unused9]用户：hi[unused10]',
  );
});

test('a directory with only tokenizer.model and tokenizer_config.json loads', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pangu-tok-'));
  try {
    for (const f of ['tokenizer.model', 'tokenizer_config.json']) copyFileSync(join(modelDir('bpe'), f), join(dir, f));
    const a = Tokenizer.load(dir);
    const b = Tokenizer.load(modelDir('bpe'));
    const text = '[unused9]用户：Hello 世界 🎉[unused10]';
    assert.deepEqual(a.encode(text), b.encode(text));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('missing files are clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pangu-tok-'));
  try {
    assert.throws(() => Tokenizer.load(dir), /tokenizer\.model: not found/);
    copyFileSync(join(modelDir('bpe'), 'tokenizer.model'), join(dir, 'tokenizer.model'));
    assert.throws(() => Tokenizer.load(dir), /tokenizer_config\.json: not found/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
