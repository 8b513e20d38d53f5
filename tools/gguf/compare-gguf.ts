// Compares two GGUF files tensor by tensor (type and bytes), e.g. llama-quantize's output with
// `pangu convert` of the same checkpoint (run by hand, see tools/gguf/README.md):
//
//   node dist/tools/gguf/compare-gguf.js A.gguf B.gguf
//
// Exits 1 when a tensor is missing from one file or differs in type, shape or bytes.
import { GgufFile } from '../../src/formats/gguf.js';

const [fa, fb] = process.argv.slice(2);
if (!fa || !fb) {
  process.stderr.write('usage: compare-gguf A.gguf B.gguf\n');
  process.exit(2);
}
const a = GgufFile.open(fa), b = GgufFile.open(fb);
let bad = 0, same = 0;
const names = new Set([...a.tensors.keys(), ...b.tensors.keys()]);
for (const name of names) {
  const ta = a.tensors.get(name), tb = b.tensors.get(name);
  if (!ta || !tb) { process.stdout.write(`${name}: only in ${ta ? fa : fb}\n`); bad++; continue; }
  if (ta.dtype !== tb.dtype || ta.shape.join() !== tb.shape.join()) {
    process.stdout.write(`${name}: ${ta.dtype} [${ta.shape}] vs ${tb.dtype} [${tb.shape}]\n`);
    bad++;
    continue;
  }
  const ba = a.read(name), bb = b.read(name);
  let diff = 0;
  for (let i = 0; i < ba.length; i++) if (ba[i] !== bb[i]) diff++;
  if (diff) { process.stdout.write(`${name} (${ta.dtype}): ${diff} of ${ba.length} bytes differ\n`); bad++; } else same++;
}
process.stdout.write(`${same} tensors identical, ${bad} differ\n`);
a.close();
b.close();
process.exit(bad ? 1 : 0);
