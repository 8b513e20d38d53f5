// Copies a GGUF file written by `pangu convert`, replacing its `no_vocab` marker with a synthetic
// SentencePiece ("llama") vocabulary of the model's vocab_size, so llama.cpp's text tools
// (llama-simple, llama-completion) can run a synthetic test model end to end. Test models only:
// a checkpoint with a tokenizer.model gets its real vocabulary from `pangu convert` (docs/GGUF.md,
// Tokenizer).
//
//   node dist/tools/gguf/add-test-vocab.js IN.gguf OUT.gguf
//
// Tokens: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, then "▁" + letters and letter pairs
// as normal pieces (scores decreasing with length so SentencePiece prefers longer pieces).
import { GgufFile, GgufType, kv, writeGguf, type GgufTensorToWrite } from '../../src/formats/gguf.js';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  process.stderr.write('usage: add-test-vocab IN.gguf OUT.gguf\n');
  process.exit(2);
}
const g = GgufFile.open(input);
const arch = g.architecture;
const n = g.uint(`${arch}.vocab_size`);
const tokens = ['<unk>', '<s>', '</s>'];
const types = [2, 3, 3]; // UNKNOWN, CONTROL, CONTROL
for (let b = 0; b < 256; b++) { tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`); types.push(6); } // BYTE
const letters = 'abcdefghijklmnopqrstuvwxyz';
const pieces = ['▁', ...[...letters].map((c) => `▁${c}`), ...[...letters],
  ...[...letters].flatMap((a) => [...letters].map((b) => `▁${a}${b}`))];
for (const p of pieces) {
  if (tokens.length >= n) break;
  tokens.push(p);
  types.push(1); // NORMAL
}
while (tokens.length < n) { tokens.push(`[unused${tokens.length}]`); types.push(5); } // UNUSED
const scores = tokens.map((t, i) => (types[i] === 1 ? -i / 100 : 0));
const metadata = new Map(g.metadata);
metadata.set('tokenizer.ggml.model', kv.str('llama'));
metadata.set('tokenizer.ggml.pre', kv.str('default'));
metadata.set('tokenizer.ggml.tokens', kv.arr(GgufType.STRING, tokens));
metadata.set('tokenizer.ggml.scores', kv.arr(GgufType.FLOAT32, scores));
metadata.set('tokenizer.ggml.token_type', kv.arr(GgufType.INT32, types));
metadata.set('tokenizer.ggml.unknown_token_id', kv.u32(0));
metadata.set('tokenizer.ggml.add_bos_token', kv.bool(true));
metadata.set('tokenizer.ggml.add_eos_token', kv.bool(false));
const tensors: GgufTensorToWrite[] = [...g.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: () => g.read(t.name) }));
writeGguf(output, metadata, tensors);
g.close();
process.stdout.write(`wrote ${output} with a synthetic ${n}-token vocabulary\n`);
