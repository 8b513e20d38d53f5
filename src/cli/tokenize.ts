// `pangu tokenize`: text → token ids with a model directory's tokenizer.model and
// tokenizer_config.json, or with the vocabulary of a GGUF file.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { loadTokenizer } from './model-flags.js';

const USAGE = `usage: pangu tokenize --model DIR|FILE.gguf [--no-special-tokens] TEXT
       pangu tokenize --model DIR|FILE.gguf --jsonl [--no-special-tokens] < lines.jsonl

Prints the token ids of TEXT as a JSON array. With --jsonl, reads one JSON string per line
from stdin and prints one JSON array of ids per line.

  -m, --model DIR|FILE.gguf  directory with tokenizer.model and tokenizer_config.json, or a GGUF file with a vocabulary
      --jsonl              read JSON strings from stdin, one per line
      --no-special-tokens  do not add <s> (add_bos_token) or eos (add_eos_token)
  -h, --help               show this help
`;

async function write(stream: NodeJS.WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', resolve));
}

export async function runTokenize(argv: string[]): Promise<number> {
  let values: { model?: string; jsonl?: boolean; 'no-special-tokens'?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: {
        model: { type: 'string', short: 'm' },
        jsonl: { type: 'boolean' },
        'no-special-tokens': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`pangu tokenize: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!values.model) {
    process.stderr.write(`pangu tokenize: --model DIR|FILE.gguf is required\n${USAGE}`);
    return 2;
  }
  if (values.jsonl ? positionals.length > 0 : positionals.length !== 1) {
    process.stderr.write(
      values.jsonl
        ? `pangu tokenize: --jsonl reads stdin and takes no TEXT argument\n${USAGE}`
        : `pangu tokenize: expected exactly one TEXT argument (got ${positionals.length}); quote text with spaces\n${USAGE}`,
    );
    return 2;
  }

  let tokenizer: Tokenizer;
  try {
    tokenizer = loadTokenizer(values.model);
  } catch (err) {
    process.stderr.write(`pangu tokenize: ${(err as Error).message}\n`);
    return 1;
  }
  const addSpecialTokens = !values['no-special-tokens'];

  if (!values.jsonl) {
    await write(process.stdout, JSON.stringify(tokenizer.encode(positionals[0]!, { addSpecialTokens })) + '\n');
    return 0;
  }

  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let lineNo = 0;
  let out = '';
  try {
    for await (const line of rl) {
      lineNo++;
      if (line.trim() === '') continue;
      let text: unknown;
      try {
        text = JSON.parse(line);
      } catch (err) {
        throw new Error(`stdin line ${lineNo}: not valid JSON: ${(err as Error).message}`);
      }
      if (typeof text !== 'string') throw new Error(`stdin line ${lineNo}: expected a JSON string, got ${text === null ? 'null' : typeof text}`);
      out += JSON.stringify(tokenizer.encode(text, { addSpecialTokens })) + '\n';
      if (out.length > 1 << 16) {
        await write(process.stdout, out);
        out = '';
      }
    }
  } catch (err) {
    await write(process.stdout, out);
    process.stderr.write(`pangu tokenize: ${(err as Error).message}\n`);
    return 1;
  }
  await write(process.stdout, out);
  return 0;
}
