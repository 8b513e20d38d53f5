// Writes the F32 GGUF from which test/fixtures/gguf/kquant/ is made with llama.cpp's
// llama-quantize (see the README there): a 2-layer, 256-wide pangu-embedded model whose greedy
// choices are clear (test/models/gguf-helpers.ts), so a Q4_K_M copy still decodes them.
//
//   node dist/tools/gguf/make-kquant-fixture.js OUT_DIR [--ffn320]
//
// writes OUT_DIR/hf (the checkpoint) and OUT_DIR/m.f32.gguf. --ffn320: an intermediate size of 320,
// not a whole number of 256-blocks, so that llama-quantize's Q4_K_M falls back to Q5_0 (Q8_0 for
// Q6_K) for ffn_down.
import * as path from 'node:path';
import { convertToGguf } from '../../src/models/convert.js';
import { panguEmbeddedConfig } from '../../src/models/synthetic.js';
import { writeClearModel } from '../../test/models/gguf-helpers.js';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: make-kquant-fixture OUT_DIR [--ffn320]\n');
  process.exit(2);
}
const ffn320 = process.argv.includes('--ffn320');
/** The fixture's model: every matrix row a whole number of 256-blocks. */
export const KQUANT_FIXTURE_CONFIG = { vocab_size: 256, hidden_size: 256, intermediate_size: 512, num_hidden_layers: 2 };
/** The Q5_0 fixture's model: ffn_down rows of 320 values. */
export const Q5_0_FIXTURE_CONFIG = { ...KQUANT_FIXTURE_CONFIG, intermediate_size: 320 };
const hf = path.join(out, 'hf');
writeClearModel(hf, panguEmbeddedConfig(ffn320 ? Q5_0_FIXTURE_CONFIG : KQUANT_FIXTURE_CONFIG), { seed: 7, dtype: 'F32' });
const r = convertToGguf(hf, path.join(out, 'm.f32.gguf'), { type: 'f32', name: 'kquant-fixture' });
process.stdout.write(`wrote ${path.join(out, 'm.f32.gguf')}: ${r.tensors} tensors, ${r.bytes} bytes\n`);
