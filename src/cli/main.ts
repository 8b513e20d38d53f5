// The `pangu` command: picks the subcommand; each one parses its own flags and calls the library.
import { runBench } from './bench.js';
import { runChat } from './chat.js';
import { CONVERT_HELP, runConvert } from './convert.js';
import { runGenerate } from './generate.js';
import { runLogits } from './logits.js';
import { enableRelaxedSimd } from '../kernels/wasm.js';
import { UsageError } from './options.js';
import { runRun } from './run.js';
import { runServe, SERVE_HELP } from './serve.js';
import { runTokenize } from './tokenize.js';
import { runTrain, runTrainTokenizer, TRAIN_HELP, TRAIN_TOKENIZER_HELP } from './train.js';

const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  run: { run: runRun, help: 'run [--model DIR|FILE.gguf] [--max-tokens N] [--raw] [sampling flags] "prompt"      generate text' },
  chat: { run: runChat, help: 'chat [--model DIR|FILE.gguf] [--system TEXT] [sampling flags]      interactive chat' },
  logits: { run: runLogits, help: 'logits --model DIR|FILE.gguf --tokens 1,5,9      logits of every position, as JSON' },
  bench: { run: runBench, help: 'bench --model DIR|FILE.gguf [--quant q8_0|q4_0] [--threads N] [--kv-type f32|f16|bf16] [-p 128] [-n 64] [-d 0] [--json]      speed and bandwidth (-d: tokens already in the cache)' },
  tokenize: { run: runTokenize, help: 'tokenize --model DIR|FILE.gguf TEXT | --jsonl      token ids of TEXT (or of each JSON string line on stdin)' },
  generate: { run: runGenerate, help: 'generate --model DIR|FILE.gguf --tokens 1,5,9 --max-tokens N [--temperature T --top-k K --top-p P --seed S]' },
  convert: { run: runConvert, help: CONVERT_HELP },
  serve: { run: runServe, help: SERVE_HELP },
  train: { run: runTrain, help: TRAIN_HELP },
  'train-tokenizer': { run: runTrainTokenizer, help: TRAIN_TOKENIZER_HELP },
};

function usage(): string {
  return `usage: pangu <command> [flags]\n\ncommands:\n${Object.values(COMMANDS).map((c) => `  ${c.help}`).join('\n')}\n`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`pangu: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  // `pangu <command> --help` (before any `--`): that command's line of the usage. tokenize has its own.
  const flags = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (name !== 'tokenize' && (flags.includes('--help') || flags.includes('-h'))) {
    process.stdout.write(`usage: pangu ${command.help}\n`);
    return 0;
  }
  // The relaxed-SIMD kernels (8-bit dots, FMA) generate from 4-bit weights 1.15-1.45x faster; Node 20 has
  // them behind a V8 flag, which an application may set for its process (PANGU_KERNELS_VARIANT=simd:
  // the plain build, flag untouched).
  if (process.env['PANGU_KERNELS_VARIANT'] !== 'simd') enableRelaxedSimd();
  try {
    return await command.run(rest);
  } catch (e) {
    const err = e as Error;
    process.stderr.write(`pangu ${name}: ${err.message}\n`);
    if (process.env['PANGU_DEBUG']) process.stderr.write(`${err.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
