// `pangu run [--model DIR] "prompt"`: generates text for one prompt. With a chat template the
// prompt is a user message (end it with " /no_think" for a fast answer); --raw, or no --model (the
// bundled default is a base model), continues it as is.
import { generateText } from '../engine/text.js';
import { MODEL_FLAGS, openModel, openSession } from './model-flags.js';
import { integer, parse, SAMPLING_FLAGS, samplingOptions, UsageError } from './options.js';
import { TextPrinter } from './print-text.js';

export async function runRun(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...MODEL_FLAGS, ...SAMPLING_FLAGS, 'max-tokens': { type: 'string' }, raw: { type: 'boolean' },
    system: { type: 'string' },
  }, true);
  if (positionals.length !== 1) throw new UsageError('give the prompt as one argument: pangu run [--model DIR] "prompt"');
  const prompt = positionals[0]!;
  const opened = await openModel(values);
  const { tokenizer } = opened;
  const session = openSession(opened, values);
  // The bundled default model is a base model (never trained to chat): without --model the prompt is continued.
  const chat = !values.raw && values.model !== undefined && tokenizer.chatTemplateNames.length > 0;
  const messages = [...(values.system ? [{ role: 'system', content: values.system }] : []), { role: 'user', content: prompt }];
  const ids = chat ? tokenizer.encodeChat(messages, { addGenerationPrompt: true }) : tokenizer.encode(prompt);
  const maxTokens = integer('max-tokens', values['max-tokens'], Math.max(1, Math.min(512, session.contextLength - ids.length)), 1);
  const printer = new TextPrinter();
  const gen = generateText(session, tokenizer, ids, { ...samplingOptions(values, opened.generationDefaults), maxTokens });
  for (let r = gen.next(); !r.done; r = gen.next()) printer.write(r.value);
  printer.endReasoning();
  process.stdout.write('\n');
  return 0;
}
