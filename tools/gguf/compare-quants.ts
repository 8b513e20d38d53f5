// Compares this project's quantizers with ggml's C reference on a large random input written by
// `quant_fixtures.py --big DIR` (run by hand, not by CI): `node dist/tools/gguf/compare-quants.js DIR`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { quantize, decodeToFloat32, type BlockDType } from '../../src/formats/ggml-quants.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: compare-quants DIR (written by quant_fixtures.py --big DIR)\n');
  process.exit(2);
}
const raw = fs.readFileSync(path.join(dir, 'input.f32'));
const x = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
let failed = false;
for (const [type, file, blockBytes] of [['Q8_0', 'q8_0', 34], ['Q4_0', 'q4_0', 18], ['Q4_K', 'q4_k', 144], ['Q5_K', 'q5_k', 176], ['Q6_K', 'q6_k', 210]] as [BlockDType, string, number][]) {
  const ours = quantize(type, x);
  for (const ref of ['ggml', 'gguf_py']) {
    const p = path.join(dir, `${file}.${ref}`);
    if (!fs.existsSync(p)) continue;
    const theirs = new Uint8Array(fs.readFileSync(p));
    let bytes = 0, blocks = 0;
    for (let b = 0; b < theirs.length / blockBytes; b++) {
      let diff = false;
      for (let i = b * blockBytes; i < (b + 1) * blockBytes; i++) if (ours[i] !== theirs[i]) { bytes++; diff = true; }
      if (diff) blocks++;
    }
    process.stdout.write(`${type} vs ${ref}: ${blocks} of ${theirs.length / blockBytes} blocks differ (${bytes} bytes)\n`);
    if (blocks) failed = true;
  }
  const back = decodeToFloat32(type, ours);
  let se = 0, sx = 0, maxRel = 0;
  for (let i = 0; i < x.length; i++) {
    se += (back[i]! - x[i]!) ** 2;
    sx += x[i]! ** 2;
  }
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0, emax = 0;
    for (let i = b * 32; i < b * 32 + 32; i++) { amax = Math.max(amax, Math.abs(x[i]!)); emax = Math.max(emax, Math.abs(back[i]! - x[i]!)); }
    if (amax > 0) maxRel = Math.max(maxRel, emax / amax);
  }
  process.stdout.write(`${type}: relative RMS error ${Math.sqrt(se / sx).toExponential(3)}, max |error| / block amax ${maxRel.toExponential(3)}\n`);
}
process.exit(failed ? 1 : 0);
