// SentencePiece alone against the ids, pieces and decodes of sentencepiece 0.1.97 (fixtures made
// by tools/tokenizer/make_fixtures.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SentencePiece } from '../../src/tokenizer/sentencepiece.js';
import { MODELS, expected, label, modelDir } from './helpers.js';

for (const name of MODELS) {
  const exp = expected(name);
  const sp = SentencePiece.load(`${modelDir(name)}/tokenizer.model`);

  test(`${name}: model facts`, () => {
    assert.equal(sp.pieceCount, exp.model.pieces);
    assert.equal(sp.bosId, exp.model.bos_id);
    assert.equal(sp.eosId, exp.model.eos_id);
    assert.equal(sp.unkId, exp.model.unk_id);
    assert.equal(sp.modelType, name === 'bpe' ? 'bpe' : 'unigram');
    assert.equal(sp.proto.normalizerSpec.name, name === 'bpe' ? 'identity' : 'nmt_nfkc');
  });

  test(`${name}: ids equal SentencePiece's for 100% of ${exp.cases.length} strings`, () => {
    const wrong = exp.cases.filter((c) => JSON.stringify(sp.encode(c.text)) !== JSON.stringify(c.sp_ids));
    assert.deepEqual(wrong.map((c) => label(c.text)), []);
  });

  test(`${name}: pieces equal SentencePiece's`, () => {
    for (const c of exp.cases) assert.deepEqual(sp.encodeAsPieces(c.text), c.sp_pieces, label(c.text));
  });

  test(`${name}: decode equals SentencePiece's decode`, () => {
    for (const c of exp.cases) assert.equal(sp.decode(c.sp_ids), c.sp_decode, label(c.text));
    for (const d of exp.decodes) assert.equal(sp.decode(d.ids), d.sp_decode, JSON.stringify(d.ids));
  });

  test(`${name}: decode(encode(s)) round-trips wherever SentencePiece does`, () => {
    const roundtrips = exp.cases.filter((c) => c.sp_roundtrip);
    assert.ok(roundtrips.length > 0);
    for (const c of roundtrips) assert.equal(sp.decode(sp.encode(c.text)), c.text, label(c.text));
  });

  test(`${name}: ids out of range are rejected`, () => {
    assert.throws(() => sp.decode([sp.pieceCount]), /token id \d+ is out of range/);
    assert.throws(() => sp.decode([-1]), /out of range/);
    assert.throws(() => sp.decode([1.5]), /out of range/);
  });
}

test('bpe: byte fallback spells unknown characters as <0xXX> pieces', () => {
  const sp = SentencePiece.load(`${modelDir('bpe')}/tokenizer.model`);
  const pieces = sp.encodeAsPieces('龘');
  assert.deepEqual(pieces.slice(-3), ['<0xE9>', '<0xBE>', '<0x98>']);
  assert.equal(sp.decode(sp.encode('龘')), '龘');
});

test('bpe: user-defined symbols are matched whole', () => {
  const sp = SentencePiece.load(`${modelDir('bpe')}/tokenizer.model`);
  assert.ok(sp.encodeAsPieces('a[unused9]b').includes('[unused9]'));
});

test('unigram: nmt_nfkc normalization through the precompiled charsmap', () => {
  const sp = SentencePiece.load(`${modelDir('unigram')}/tokenizer.model`);
  assert.equal(sp.normalize('ｆｕｌｌ　ＡＢＣ'), '▁full▁ABC');
  assert.equal(sp.normalize('  a   b  '), '▁a▁b');
  assert.equal(sp.normalize('ﬁ①'), '▁fi1');
});

test('bpe: identity normalization keeps spaces, tabs and newlines', () => {
  const sp = SentencePiece.load(`${modelDir('bpe')}/tokenizer.model`);
  assert.equal(sp.normalize(' a  b\t\n'), '▁▁a▁▁b\t\n');
});
