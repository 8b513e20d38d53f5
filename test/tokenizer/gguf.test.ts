// The tokenizer in GGUF metadata: written as llama.cpp's converter writes it, read back into a
// Tokenizer that encodes, decodes and renders chats exactly as the directory's tokenizer does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { GgufFile, GgufType, kv, writeGguf, type GgufMetadata, type GgufTensorToWrite } from '../../src/formats/gguf.js';
import { convertToGguf } from '../../src/models/convert.js';
import { readModelArgs } from '../../src/models/load.js';
import { tokenizerFromGguf, tokenizerMetadata } from '../../src/tokenizer/gguf-vocab.js';
import { PieceType } from '../../src/tokenizer/sentencepiece-model.js';
import { Tokenizer, TokenizerLoadError } from '../../src/tokenizer/tokenizer.js';
import { FIXTURES, tempDir } from '../helpers.js';
import { MODELS, expected, label, modelDir, type Expected } from './helpers.js';

const dirs = {
  tmp: tempDir(),
};

function readTokenizer(file: string): Tokenizer {
  const g = GgufFile.open(file);
  try {
    return tokenizerFromGguf(g);
  } finally {
    g.close();
  }
}

/** A GGUF holding only the tokenizer keys of `dir` (the tokenizer fixtures have no weights). */
function vocabOnlyGguf(dir: string, name: string): string {
  const m = tokenizerMetadata(dir)!;
  const file = path.join(dirs.tmp, `${name}.vocab.gguf`);
  writeGguf(file, new Map([['general.architecture', kv.str('pangu-embedded')], ...m]), []);
  return file;
}

function rewrite(src: string, dst: string, edit: (m: GgufMetadata) => void): void {
  const g = GgufFile.open(src);
  const tensors: GgufTensorToWrite[] = [...g.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: g.read(t.name) }));
  const metadata = new Map(g.metadata);
  g.close();
  edit(metadata);
  writeGguf(dst, metadata, tensors);
}

/** Everything the tokenizer test strings ask of a tokenizer, for comparison (ids of its own vocabulary). */
function behaviour(tok: Tokenizer, exp: Expected): unknown[] {
  const out: unknown[] = [];
  for (const c of exp.cases) {
    out.push(tok.encode(c.text), tok.encode(c.text, { addSpecialTokens: false }), tok.tokenize(c.text));
    const ids = tok.encode(c.text);
    out.push(tok.decode(ids), tok.decode(ids, { skipSpecialTokens: true }));
  }
  for (const d of exp.decodes) {
    const ids = d.ids.filter((id) => id < tok.size);
    out.push(tok.decode(ids), tok.decode(ids, { skipSpecialTokens: true }));
  }
  for (const c of exp.chat) {
    out.push(tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.add_generation_prompt }));
    out.push(tok.encodeChat(c.messages, { addGenerationPrompt: c.add_generation_prompt }));
  }
  out.push(tok.bosId, tok.eosId, tok.unkId, tok.padId, tok.addBosToken, tok.addEosToken, tok.chatTemplateNames);
  return out;
}

for (const name of MODELS) {
  test(`${name}: the tokenizer read from GGUF matches the slow HF tokenizer on every fixture string`, () => {
    const exp = expected(name);
    const tok = readTokenizer(vocabOnlyGguf(modelDir(name), name));
    for (const c of exp.cases) {
      assert.deepEqual(tok.encode(c.text), c.hf_ids, label(c.text));
      assert.deepEqual(tok.encode(c.text, { addSpecialTokens: false }), c.hf_ids_no_special, label(c.text));
      assert.equal(tok.decode(c.hf_ids), c.hf_decode, label(c.text));
      assert.equal(tok.decode(c.hf_ids, { skipSpecialTokens: true }), c.hf_decode_skip, label(c.text));
    }
    for (const d of exp.decodes) {
      assert.equal(tok.decode(d.ids), d.hf_decode, JSON.stringify(d.ids));
      assert.equal(tok.decode(d.ids, { skipSpecialTokens: true }), d.hf_decode_skip, JSON.stringify(d.ids));
    }
    for (const c of exp.chat) {
      assert.equal(tok.applyChatTemplate(c.messages, { addGenerationPrompt: c.add_generation_prompt }), c.rendered);
      assert.deepEqual(tok.encodeChat(c.messages, { addGenerationPrompt: c.add_generation_prompt }), c.hf_ids);
    }
    assert.deepEqual(behaviour(tok, exp), behaviour(Tokenizer.load(modelDir(name)), exp));
  });
}

for (const model of ['embedded-tiny', 'moe-tiny']) {
  test(`${model}: pangu convert embeds the tokenizer; read back it behaves as the directory's`, () => {
    const dir = path.join(FIXTURES, 'models', model);
    const file = path.join(dirs.tmp, `${model}.gguf`);
    convertToGguf(dir, file, { type: 'bf16' });
    const exp = expected('bpe');
    const tok = readTokenizer(file);
    assert.deepEqual(behaviour(tok, exp), behaviour(Tokenizer.load(dir), exp));
    assert.equal(tok.vocabSize, readModelArgs(dir).vocab_size);
  });
}

test('the vocabulary is written as llama.cpp\'s _set_vocab_sentencepiece writes it', () => {
  const dir = path.join(FIXTURES, 'models', 'embedded-tiny');
  const file = path.join(dirs.tmp, 'layout.gguf');
  convertToGguf(dir, file, { type: 'bf16' });
  const g = GgufFile.open(file);
  const keys = [...g.metadata.keys()];
  const vocabKeys = keys.slice(keys.indexOf('tokenizer.ggml.model'));
  assert.deepEqual(vocabKeys, [
    'tokenizer.ggml.model', 'tokenizer.ggml.pre', 'tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type',
    'tokenizer.ggml.bos_token_id', 'tokenizer.ggml.eos_token_id', 'tokenizer.ggml.unknown_token_id', 'tokenizer.ggml.padding_token_id',
    'tokenizer.ggml.eot_token_id', 'tokenizer.ggml.add_bos_token', 'tokenizer.ggml.add_eos_token', 'tokenizer.chat_template',
    'tokenizer.ggml.add_space_prefix',
  ]);
  assert.equal(g.string('tokenizer.ggml.model'), 'llama');
  assert.equal(g.string('tokenizer.ggml.pre'), 'default');
  assert.equal(g.metadata.get('tokenizer.ggml.tokens')!.type, GgufType.ARRAY);
  const v = (k: string) => g.metadata.get(k) as { itemType: GgufType; value: unknown[] };
  assert.deepEqual([v('tokenizer.ggml.tokens').itemType, v('tokenizer.ggml.scores').itemType, v('tokenizer.ggml.token_type').itemType],
    [GgufType.STRING, GgufType.FLOAT32, GgufType.INT32]);
  const tokens = g.array('tokenizer.ggml.tokens') as string[];
  const scores = g.array('tokenizer.ggml.scores') as number[];
  const types = g.array('tokenizer.ggml.token_type') as number[];
  assert.equal(tokens.length, 512);
  // <unk>, <s>, </s> and the [unusedN] tokens are special added tokens: CONTROL, score -1000.
  assert.deepEqual(tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<|User|>:']);
  for (let i = 0; i <= 22; i++) assert.deepEqual([types[i], scores[i]], [PieceType.CONTROL, -1000], tokens[i]);
  assert.deepEqual([tokens[23], types[23]], ['<0x00>', PieceType.BYTE]);
  assert.deepEqual([tokens[278], types[278]], ['<0xFF>', PieceType.BYTE]);
  assert.equal(types[279], PieceType.NORMAL);
  // config.json's ids (eos 2); the tokenizer's eos [unused10] is the end of turn.
  assert.deepEqual(['bos_token_id', 'eos_token_id', 'unknown_token_id', 'padding_token_id', 'eot_token_id'].map((k) => g.uint(`tokenizer.ggml.${k}`)), [1, 2, 0, 0, 15]);
  assert.equal(g.bool('tokenizer.ggml.add_bos_token'), true);
  assert.equal(g.bool('tokenizer.ggml.add_eos_token'), false);
  assert.equal(g.bool('tokenizer.ggml.add_space_prefix'), true);
  assert.equal(g.string('tokenizer.chat_template'), Tokenizer.load(dir).config.chat_template);
  g.close();
});

test('ids past the SentencePiece model are [PAD{id}] UNUSED tokens, as llama.cpp pads them', () => {
  const dir = modelDir('bpe');
  const m = tokenizerMetadata(dir, { vocabSize: 3004 })!;
  const tokens = m.get('tokenizer.ggml.tokens')!.value as string[];
  assert.deepEqual(tokens.slice(2999), [tokens[2999], '[PAD3000]', '[PAD3001]', '[PAD3002]', '[PAD3003]']);
  assert.deepEqual((m.get('tokenizer.ggml.token_type')!.value as number[]).slice(3000), [5, 5, 5, 5]);
  assert.deepEqual((m.get('tokenizer.ggml.scores')!.value as number[]).slice(3000), [-10000, -10000, -10000, -10000]);
  const file = path.join(dirs.tmp, 'padded.gguf');
  writeGguf(file, new Map([['general.architecture', kv.str('pangu-embedded')], ...m]), []);
  const tok = readTokenizer(file);
  const exp = expected('bpe');
  for (const c of exp.cases) assert.deepEqual(tok.encode(c.text), c.hf_ids, label(c.text));
  assert.throws(() => tokenizerMetadata(dir, { vocabSize: 100 }), /3000 pieces, more than the model's vocab_size 100/);
});

test('unigram models keep their normalizer: precompiled_charsmap, remove_extra_whitespaces, model type', () => {
  const m = tokenizerMetadata(modelDir('unigram'))!;
  assert.equal(m.get('tokenizer.ggml.remove_extra_whitespaces')!.value, true);
  assert.equal((m.get('tokenizer.ggml.precompiled_charsmap')!.value as number[]).length > 1000, true);
  assert.equal(m.get('pangu.tokenizer.sentencepiece.model_type')!.value, 'unigram');
  const bpe = tokenizerMetadata(modelDir('bpe'))!;
  for (const k of ['tokenizer.ggml.remove_extra_whitespaces', 'tokenizer.ggml.precompiled_charsmap', 'pangu.tokenizer.sentencepiece.model_type']) {
    assert.equal(bpe.has(k), false, k);
  }
});

test('a directory without tokenizer.model gives no vocabulary', () => {
  assert.equal(tokenizerMetadata(dirs.tmp), undefined);
});

test('GGUF vocabularies that cannot be read give errors naming the file and the key', () => {
  const good = vocabOnlyGguf(modelDir('bpe'), 'good');
  const bad = path.join(dirs.tmp, 'bad.gguf');
  const cases: Array<[(m: GgufMetadata) => void, RegExp]> = [
    [(m) => m.set('tokenizer.ggml.scores', kv.arr(GgufType.FLOAT32, [1, 2, 3])), /'tokenizer\.ggml\.scores' has 3 entries but 'tokenizer\.ggml\.tokens' has 3000/],
    [(m) => m.set('tokenizer.ggml.token_type', kv.arr(GgufType.INT32, [1])), /'tokenizer\.ggml\.token_type' has 1 entries but 'tokenizer\.ggml\.tokens' has 3000/],
    [(m) => m.set('tokenizer.ggml.tokens', kv.arr(GgufType.INT32, [1, 2])), /key 'tokenizer\.ggml\.tokens' must be an array of strings, got an array of INT32/],
    [(m) => m.set('tokenizer.ggml.tokens', kv.str('abc')), /key 'tokenizer\.ggml\.tokens' must be an array of strings, got STRING/],
    [(m) => m.set('tokenizer.ggml.scores', kv.arr(GgufType.STRING, new Array(3000).fill('x'))), /'tokenizer\.ggml\.scores' must be an array of floats, got an array of STRING/],
    [(m) => m.set('tokenizer.ggml.token_type', kv.arr(GgufType.FLOAT32, new Array(3000).fill(1))), /'tokenizer\.ggml\.token_type' must be an array of integers, got an array of FLOAT32/],
    [(m) => { const t = [...(m.get('tokenizer.ggml.token_type')!.value as number[])]; t[7] = 9; m.set('tokenizer.ggml.token_type', kv.arr(GgufType.INT32, t)); }, /token_type\[7\] = 9 is not a token type/],
    [(m) => m.delete('tokenizer.ggml.tokens'), /missing key 'tokenizer\.ggml\.tokens'/],
    [(m) => m.set('tokenizer.ggml.bos_token_id', kv.u32(5000)), /bos_token_id = 5000 is out of range \(3000 tokens\)/],
    [(m) => { const t = [...(m.get('tokenizer.ggml.tokens')!.value as string[])]; t[500] = t[501]!; m.set('tokenizer.ggml.tokens', kv.arr(GgufType.STRING, t)); }, /token 501 .* duplicates token 500/],
    [(m) => { const t = [...(m.get('tokenizer.ggml.token_type')!.value as number[])]; t[30] = 1; m.set('tokenizer.ggml.token_type', kv.arr(GgufType.INT32, t)); }, /only 255 of the 256 byte tokens/],
    [(m) => m.set('tokenizer.ggml.model', kv.str('gpt2')), /tokenizer\.ggml\.model "gpt2" is not supported/],
    [(m) => m.set('tokenizer.ggml.model', kv.str('no_vocab')), /has no vocabulary \(tokenizer\.ggml\.model is "no_vocab"\)/],
    [(m) => m.delete('tokenizer.ggml.model'), /has no vocabulary \(no tokenizer\.ggml\.model key\)/],
  ];
  for (const [edit, re] of cases) {
    rewrite(good, bad, edit);
    assert.throws(() => readTokenizer(bad), (err: Error) => {
      assert.ok(err instanceof TokenizerLoadError, err.message);
      assert.ok(err.message.startsWith(`${bad}: `), err.message);
      assert.match(err.message, re);
      return true;
    });
  }
});
