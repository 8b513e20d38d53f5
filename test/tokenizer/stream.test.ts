// The stream decoder: whole characters only, and joined output equal to decode().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { MODELS, expected, modelDir } from './helpers.js';

function streamed(tok: Tokenizer, ids: number[], skipSpecialTokens: boolean): string[] {
  const d = tok.createStreamDecoder({ skipSpecialTokens });
  const out = ids.map((id) => d.push(id));
  out.push(d.flush());
  return out;
}

/** True if the string has a lone UTF-16 surrogate (half a character). */
function hasLoneSurrogate(s: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s);
}

for (const name of MODELS) {
  const exp = expected(name);
  const tok = Tokenizer.load(modelDir(name));
  const sequences = [...exp.cases.map((c) => c.hf_ids), ...exp.decodes.map((d) => d.ids)];

  test(`${name}: streamed text joined equals decode for ${sequences.length} sequences`, () => {
    for (const skip of [false, true]) {
      for (const ids of sequences) {
        const parts = streamed(tok, ids, skip);
        assert.equal(parts.join(''), tok.decode(ids, { skipSpecialTokens: skip }), JSON.stringify(ids));
        for (const p of parts) assert.ok(!hasLoneSurrogate(p), `half a character in ${JSON.stringify(p)}`);
      }
    }
  });

  test(`${name}: every streamed prefix is a prefix of the final text`, () => {
    for (const ids of sequences) {
      const full = tok.decode(ids);
      let acc = '';
      for (const p of streamed(tok, ids, false)) {
        acc += p;
        assert.ok(full.startsWith(acc), JSON.stringify(ids));
      }
    }
  });
}

test('bpe: a character spelled in byte pieces is emitted only when complete', () => {
  const tok = Tokenizer.load(modelDir('bpe'));
  const b = (x: number): number => tok.tokenToId(`<0x${x.toString(16).toUpperCase()}>`)!;
  const d = tok.createStreamDecoder();
  assert.equal(d.push(b(0xe9)), '');
  assert.equal(d.push(b(0xbe)), '');
  assert.equal(d.push(b(0x98)), '龘');
  // An emoji: four bytes, nothing until the last.
  assert.equal(d.push(b(0xf0)), '');
  assert.equal(d.push(b(0x9f)), '');
  assert.equal(d.push(b(0x98)), '');
  assert.equal(d.push(b(0x80)), '😀');
  // A broken sequence resolves to U+FFFD per byte once it cannot complete.
  assert.equal(d.push(b(0xe4)), '');
  assert.equal(d.push(b(0xbd)), '');
  assert.equal(d.push(b(0x41)), '\uFFFD\uFFFDA');
  assert.equal(d.push(b(0xe4)), '');
  assert.equal(d.flush(), '\uFFFD');
});

test('bpe: stream decoding of a chat answer', () => {
  const tok = Tokenizer.load(modelDir('bpe'));
  const text = '[unused16]先想一想 🤔[unused17]答案是 42。[unused10]';
  const ids = tok.encode(text, { addSpecialTokens: false });
  const parts = streamed(tok, ids, false);
  assert.equal(parts.join(''), text);
  assert.ok(parts.includes('[unused16]'));
});
