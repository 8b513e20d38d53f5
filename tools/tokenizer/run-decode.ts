// Decodes id sequences for check_unseen.py: node dist/tools/tokenizer/run-decode.js --model DIR
// reads one JSON array of ids per line from stdin and prints, per line, the JSON array
// [decode(ids), decode(ids, {skipSpecialTokens: true})].
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { model: { type: 'string' } } });
  if (!values.model) {
    process.stderr.write('usage: run-decode.js --model DIR < ids.jsonl\n');
    return 2;
  }
  const tok = Tokenizer.load(values.model);
  let out = '';
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    if (!line.trim()) continue;
    const ids = JSON.parse(line) as number[];
    const full = tok.decode(ids);
    const skipped = tok.decode(ids, { skipSpecialTokens: true });
    // The stream decoder must agree with decode: report any difference as an error.
    for (const [opts, want] of [[{}, full], [{ skipSpecialTokens: true }, skipped]] as const) {
      const d = tok.createStreamDecoder(opts);
      let streamed = '';
      for (const id of ids) streamed += d.push(id);
      streamed += d.flush();
      if (streamed !== want) throw new Error(`stream decode differs for ${line}: ${JSON.stringify(streamed)} vs ${JSON.stringify(want)}`);
    }
    out += JSON.stringify([full, skipped]) + '\n';
  }
  process.stdout.write(out);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`run-decode: ${(err as Error).message}\n`);
    process.exitCode = 1;
  },
);
