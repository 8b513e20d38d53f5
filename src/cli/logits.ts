// `pangu logits --model DIR|FILE.gguf --tokens 1,5,9`: one JSON array, per input position the vocab logits.
import { loadModelFromFlags, MODEL_FLAGS } from './model-flags.js';
import { parse, tokenList, UsageError } from './options.js';

export async function runLogits(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...MODEL_FLAGS, tokens: { type: 'string' } });
  if (!values.model) throw new UsageError('--model DIR|FILE.gguf is required');
  const tokens = tokenList(values.tokens);
  if (tokens.length === 0) throw new UsageError('--tokens must hold at least one token');
  const model = await loadModelFromFlags(values);
  const logits = model.forward(tokens, model.newCache(tokens.length), 'all');
  const v = model.args.vocab_size;
  const rows: string[] = [];
  for (let i = 0; i < tokens.length; i++) rows.push(`[${Array.from(logits.subarray(i * v, (i + 1) * v)).join(',')}]`);
  process.stdout.write(`[${rows.join(',')}]\n`);
  return 0;
}
