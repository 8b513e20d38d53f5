// The BPE tokenizer trainer and the tokenizer.model writer (tools/train/check_tokenizer.py checks
// the same files against Google's sentencepiece; its recorded result is in docs/TRAINING.md).
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { PieceType, parseSentencePieceModel } from '../../src/tokenizer/sentencepiece-model.js';
import { countWords, escapeText, PANGU_USER_DEFINED, splitWords, trainBpe, trainTokenizerFiles } from '../../src/train/bpe.js';
import { tempDir } from '../helpers.js';

const TEXT = [
  'The quick brown fox jumps over the lazy dog.',
  'The lazy dog sleeps; the quick fox runs, and the other fox watches.',
  'In 1961 there were 365 days, and   three spaces here.',
  'Naïve café owners say "hello" to the quick brown foxes!',
].join('\n\n');

test('words are split at spaces, at changes of character kind, and around every digit', () => {
  assert.deepEqual(splitWords(escapeText('Hello, world 1961!')), ['▁Hello', ',', '▁world', '▁1', '9', '6', '1', '!']);
  assert.deepEqual(splitWords(escapeText('a   b')), ['▁a', '▁▁▁b']);
  assert.deepEqual(splitWords(escapeText('café')), ['▁café']);
});

test('BPE training: Pangu layout (specials, user-defined, bytes, merges by score, characters) and merge order', () => {
  const pieces = trainBpe(countWords([TEXT]), { vocabSize: 400 });
  assert.equal(pieces.length, 400);
  assert.deepEqual(pieces.slice(0, 3).map((p) => [p.piece, p.type]), [['<unk>', PieceType.UNKNOWN], ['<s>', PieceType.CONTROL], ['</s>', PieceType.CONTROL]]);
  assert.deepEqual(pieces.slice(3, 3 + PANGU_USER_DEFINED.length).map((p) => p.piece), [...PANGU_USER_DEFINED]);
  assert.equal(pieces[3 + 2 + 9]!.piece, '[unused9]');
  const bytes = pieces.filter((p) => p.type === PieceType.BYTE);
  assert.equal(bytes.length, 256);
  assert.equal(bytes[0]!.piece, '<0x00>');
  const normal = pieces.filter((p) => p.type === PieceType.NORMAL);
  for (let i = 1; i < normal.length; i++) assert.ok(normal[i]!.score < normal[i - 1]!.score, 'scores strictly decrease');
  assert.ok(normal[0]!.score === 0);
  // The most frequent pair of the text is merged first; whole frequent words become pieces.
  assert.ok(normal.slice(0, 60).some((p) => p.piece === '▁the'));
  assert.ok(normal.some((p) => p.piece === '▁quick'));
  assert.ok(!normal.some((p) => /\d\d/.test(p.piece)), 'digits are never merged');
});

test('train-tokenizer output loads in our tokenizer and round-trips text (byte fallback for unseen characters)', () => {
  const dir = tempDir();
  const file = path.join(dir, 'text.txt');
  fs.writeFileSync(file, TEXT);
  trainTokenizerFiles([file], dir, { vocabSize: 350 });
  const proto = parseSentencePieceModel(fs.readFileSync(path.join(dir, 'tokenizer.model')));
  assert.equal(proto.trainerSpec.modelType, 2);
  assert.equal(proto.trainerSpec.byteFallback, true);
  assert.equal(proto.normalizerSpec.name, 'identity');
  assert.equal(proto.normalizerSpec.addDummyPrefix, true);
  assert.equal(proto.normalizerSpec.removeExtraWhitespaces, false);
  const tok = Tokenizer.load(dir);
  assert.equal(tok.vocabSize, 350);
  for (const s of ['The quick brown fox.', 'unseen: 漢字 and 🦀 emoji', '  spaced   out  ', 'tabs\tand\nnewlines', 'x[unused9]y[unused16]z']) {
    const ids = tok.encode(s);
    assert.equal(ids[0], 1);
    assert.equal(tok.decode(ids, { skipSpecialTokens: true }), s);
  }
  const ids = tok.encode('the quick fox', { addSpecialTokens: false });
  assert.ok(ids.length <= 4, `frequent words are single pieces: ${ids}`);
  assert.deepEqual(tok.encode('[unused9]', { addSpecialTokens: false }), [14]);
  const chat = tok.encodeChat([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true });
  assert.ok(chat.includes(14) && chat.includes(15), 'the Pangu chat template uses [unused9] / [unused10]');
});
