// Bad input: corrupt or truncated tokenizer.model, broken charsmaps, templates that fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentencePiece } from '../../src/tokenizer/sentencepiece.js';
import { SentencePieceModelError, parseSentencePieceModel } from '../../src/tokenizer/sentencepiece-model.js';
import { ChatTemplateError, Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { modelDir } from './helpers.js';

// --- a tiny protobuf writer for hand-made models ---
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number): number[] => varint(field * 8 + wire);
const vfield = (field: number, n: number): number[] => [...tag(field, 0), ...varint(n)];
function lfield(field: number, payload: number[] | Uint8Array | string): number[] {
  const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : [...payload];
  return [...tag(field, 2), ...varint(bytes.length), ...bytes];
}
function ffield(field: number, x: number): number[] {
  const b = Buffer.alloc(4);
  b.writeFloatLE(x);
  return [...tag(field, 5), ...b];
}
function piece(p: string, score: number, type?: number): number[] {
  return lfield(1, [...lfield(1, p), ...ffield(2, score), ...(type ? vfield(3, type) : [])]);
}
interface Spec {
  pieces?: number[][];
  trainer?: number[] | null;
  normalizer?: number[] | null;
}
function model(spec: Spec = {}): Uint8Array {
  const pieces = spec.pieces ?? [piece('<unk>', 0, 2), piece('<s>', 0, 3), piece('</s>', 0, 3), piece('▁a', -1), piece('b', -2), piece('a', -3), piece('▁', -4)];
  const trainer = spec.trainer === undefined ? vfield(3, 1) : spec.trainer;
  const normalizer = spec.normalizer === undefined ? [...lfield(1, 'identity'), ...vfield(4, 0)] : spec.normalizer;
  return new Uint8Array([
    ...pieces.flat(),
    ...(trainer ? lfield(2, trainer) : []),
    ...(normalizer ? lfield(3, normalizer) : []),
  ]);
}

function rejects(data: Uint8Array, pattern: RegExp, file = 'x/tokenizer.model'): void {
  assert.throws(
    () => parseSentencePieceModel(data, file),
    (e: Error) => e instanceof SentencePieceModelError && e.message.startsWith(file + ': ') && pattern.test(e.message),
  );
}

test('a hand-made minimal model loads and encodes', () => {
  const sp = SentencePiece.fromBuffer(model());
  assert.deepEqual(sp.encodeAsPieces('ab a'), ['▁a', 'b', '▁a']);
  assert.equal(sp.decode(sp.encode('ab a')), 'ab a');
});

test('structural problems are named', () => {
  rejects(new Uint8Array(0), /the file is empty/);
  rejects(model({ pieces: [piece('a', 0)] }), /no unknown piece/);
  rejects(model({ pieces: [piece('<unk>', 0, 2), piece('x', 0), piece('x', -1)] }), /"x" \(#2\) is already defined/);
  rejects(model({ pieces: [piece('<unk>', 0, 2), piece('<unk>', 0, 2)] }), /already defined/);
  rejects(model({ pieces: [piece('<unk>', 0, 2), piece('', 0)] }), /piece #1 is empty/);
  rejects(model({ pieces: [piece('<unk>', 0, 2), piece('<0x41>', 0, 6)] }), /byte_fallback is false/);
  rejects(model({ pieces: [piece('<unk>', 0, 2), piece('<0x41>', 0, 6)], trainer: [...vfield(3, 2), ...vfield(35, 1)] }), /not 256 byte pieces/);
  rejects(model({ pieces: [piece('<unk>', 0, 2), piece('<0xZZ>', 0, 6)], trainer: [...vfield(3, 2), ...vfield(35, 1)] }), /is invalid/);
  rejects(model({ trainer: vfield(3, 3) }), /model_type WORD is not supported/);
  rejects(model({ trainer: null }), /trainer_spec is missing/);
  rejects(model({ normalizer: null }), /normalizer_spec is missing/);
  rejects(model({ pieces: [] }), /no pieces found/);
});

test('wire-format damage is reported, not crashed on', () => {
  rejects(new Uint8Array([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), /runs past the end/); // huge length
  rejects(new Uint8Array([0x0a, 0x80, 0x80]), /truncated varint/);
  rejects(new Uint8Array([0x0f, 0x00]), /field pieces \(1\) of ModelProto has wire type 7/);
  rejects(new Uint8Array([0x4f, 0x00]), /invalid wire type 7 \(field 9\)/);
  rejects(new Uint8Array([0x00, 0x00]), /invalid field number 0/);
  rejects(new Uint8Array([0x08, 0x01]), /field pieces \(1\) of ModelProto has wire type 0/);
  rejects(new Uint8Array(Array(12).fill(0xff)), /malformed varint|truncated varint/);
  rejects(new Uint8Array([...tag(9, 3), ...vfield(1, 5)]), /unterminated group/);
});

test('a broken precompiled_charsmap is reported', () => {
  const blob = Buffer.alloc(12);
  blob.writeUInt32LE(1000, 0);
  rejects(model({ normalizer: [...lfield(1, 'nmt_nfkc'), ...lfield(2, blob)] }), /precompiled_charsmap is broken/);
  rejects(model({ normalizer: [...lfield(1, 'nmt_nfkc'), ...lfield(2, [1, 0])] }), /precompiled_charsmap is broken/);
});

for (const name of ['bpe', 'unigram'] as const) {
  const file = `${modelDir(name)}/tokenizer.model`;
  const data = readFileSync(file);

  test(`${name}: every truncation of tokenizer.model is an error naming the file`, () => {
    const cuts = new Set<number>([1, 2, 3, 5, 8, 13, 100, 1000, data.length >> 1, data.length - 100, data.length - 2, data.length - 1]);
    for (let i = 0; i < 40; i++) cuts.add(Math.floor((data.length * i) / 40));
    cuts.delete(0);
    for (const cut of cuts) {
      assert.throws(
        () => SentencePiece.fromBuffer(data.subarray(0, cut), file),
        (e: Error) => e instanceof SentencePieceModelError && e.message.includes(file),
        `cut at ${cut}`,
      );
    }
  });

  test(`${name}: random corruption never crashes or hangs`, () => {
    let seed = name === 'bpe' ? 7 : 8;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    for (let trial = 0; trial < 200; trial++) {
      const copy = Buffer.from(data);
      const flips = 1 + Math.floor(rand() * 8);
      for (let k = 0; k < flips; k++) copy[Math.floor(rand() * copy.length)] = Math.floor(rand() * 256);
      try {
        const sp = SentencePiece.fromBuffer(copy, file);
        // Damage that still parses (e.g. inside a piece's text or score) must still encode.
        sp.decode(sp.encode('hello 世界 [unused9] 🎉'));
      } catch (e) {
        assert.ok(e instanceof SentencePieceModelError, String(e));
        assert.ok((e as Error).message.includes(file));
      }
    }
    // random bytes
    for (let trial = 0; trial < 50; trial++) {
      const junk = new Uint8Array(1 + Math.floor(rand() * 4000)).map(() => Math.floor(rand() * 256));
      assert.throws(() => SentencePiece.fromBuffer(junk, file), SentencePieceModelError);
    }
  });
}

test('Tokenizer.load reports a corrupt tokenizer.model with its path', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pangu-tok-'));
  try {
    copyFileSync(join(modelDir('bpe'), 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
    writeFileSync(join(dir, 'tokenizer.model'), readFileSync(join(modelDir('bpe'), 'tokenizer_config.json')));
    assert.throws(() => Tokenizer.load(dir), (e: Error) => e.message.includes(join(dir, 'tokenizer.model')));
    writeFileSync(join(dir, 'tokenizer.model'), readFileSync(join(modelDir('bpe'), 'tokenizer.model')).subarray(0, 5000));
    assert.throws(() => Tokenizer.load(dir), /tokenizer\.model: not a valid SentencePiece model \(corrupt or truncated protobuf\)/);
    copyFileSync(join(modelDir('bpe'), 'tokenizer.model'), join(dir, 'tokenizer.model'));
    writeFileSync(join(dir, 'tokenizer_config.json'), '{"add_bos_token": tru');
    assert.throws(() => Tokenizer.load(dir), /tokenizer_config\.json: invalid JSON/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a chat template that fails to parse or render is a clear error', () => {
  const sp = SentencePiece.load(`${modelDir('bpe')}/tokenizer.model`);
  const base = JSON.parse(readFileSync(`${modelDir('bpe')}/tokenizer_config.json`, 'utf8')) as Record<string, unknown>;
  const msgs = [{ role: 'user', content: 'hi' }];
  const broken = new Tokenizer(sp, { ...base, chat_template: '{% for m in messages %}{{ m.content }' });
  assert.throws(() => broken.applyChatTemplate(msgs), (e: Error) => e instanceof ChatTemplateError && /cannot be parsed/.test(e.message));
  const raising = new Tokenizer(sp, { ...base, chat_template: "{{ raise_exception('roles must alternate') }}" });
  assert.throws(() => raising.applyChatTemplate(msgs), (e: Error) => e instanceof ChatTemplateError && /failed to render: .*roles must alternate/.test(e.message));
  const badCall = new Tokenizer(sp, { ...base, chat_template: '{{ messages[0].content.nosuchmethod() }}' });
  assert.throws(() => badCall.applyChatTemplate(msgs), ChatTemplateError);
  const none = new Tokenizer(sp, { ...base, chat_template: undefined });
  assert.throws(() => none.applyChatTemplate(msgs), /has no chat_template/);
});
