// `pangu generate --model DIR|FILE.gguf --tokens 1,5,9 --max-tokens N [sampling flags]`: prints token ids.
import { generate } from '../engine/generate.js';
import { loadModelFromFlags, MODEL_FLAGS } from './model-flags.js';
import { integer, parse, SAMPLING_FLAGS, samplingOptions, tokenList, UsageError } from './options.js';

export async function runGenerate(argv: string[]): Promise<number> {
  const { values } = parse(argv, {
    ...MODEL_FLAGS, tokens: { type: 'string' }, 'max-tokens': { type: 'string' },
    'stop-at-eos': { type: 'boolean' }, ...SAMPLING_FLAGS,
  });
  if (!values.model) throw new UsageError('--model DIR|FILE.gguf is required');
  const prompt = tokenList(values.tokens);
  if (prompt.length === 0) throw new UsageError('--tokens must hold at least one token');
  const maxTokens = integer('max-tokens', values['max-tokens'], 32, 1);
  const model = await loadModelFromFlags(values);
  const out: number[] = [];
  for (const token of generate(model, prompt, {
    ...samplingOptions(values), maxTokens, stopTokens: values['stop-at-eos'] ? model.args.eos_token_id : [],
  })) {
    out.push(token);
  }
  process.stdout.write(`${out.join(',')}\n`);
  return 0;
}
