// Writes the metadata `pangu convert` would write for a checkpoint directory, tokenizer included,
// with no tensors: a vocabulary-only GGUF, like llama.cpp's `convert_hf_to_gguf.py --vocab-only`.
// For checking tokenizers whose directory has no matching weights (tools/gguf/README.md).
//
//   node dist/tools/gguf/vocab-only.js DIR OUT.gguf
import * as path from 'node:path';
import { writeGguf } from '../../src/formats/gguf.js';
import { ggufMetadata, LLAMA_FTYPE } from '../../src/models/gguf-arch.js';
import { readModelArgs } from '../../src/models/load.js';

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  process.stderr.write('usage: vocab-only DIR OUT.gguf\n');
  process.exit(2);
}
const args = readModelArgs(dir);
writeGguf(out, ggufMetadata(args, { name: path.basename(path.resolve(dir)), fileType: LLAMA_FTYPE.MOSTLY_BF16, tokenizerDir: dir }), []);
process.stderr.write(`wrote ${out}: ${args.vocab_size} tokens, no tensors\n`);
