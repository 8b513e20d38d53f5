// `pangu chat [--model DIR]`: an interactive chat that streams the answer, shows the reasoning
// dimmed and apart, and keeps the conversation (its KV cache is reused turn to turn).
// End a message with " /no_think" for a fast answer, " /auto_think" to let the model choose.
import * as readline from 'node:readline/promises';
import { generateText } from '../engine/text.js';
import type { ChatMessage } from '../tokenizer/tokenizer.js';
import { MODEL_FLAGS, openModel, openSession } from './model-flags.js';
import { integer, parse, SAMPLING_FLAGS, samplingOptions } from './options.js';
import { TextPrinter } from './print-text.js';

const HELP = 'commands: /reset starts a new chat, /exit quits; end a message with " /no_think" for a fast answer\n';

export async function runChat(argv: string[]): Promise<number> {
  const { values } = parse(argv, { ...MODEL_FLAGS, ...SAMPLING_FLAGS, 'max-tokens': { type: 'string' }, system: { type: 'string' } });
  const opened = await openModel(values);
  const { tokenizer, dir } = opened;
  const session = openSession(opened, values);
  const sampling = samplingOptions(values, opened.generationDefaults);
  const maxTokens = integer('max-tokens', values['max-tokens'], 1024, 1);
  const system: ChatMessage[] = values.system ? [{ role: 'system', content: values.system }] : [];
  let messages = [...system];
  const tty = Boolean(process.stdin.isTTY);
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, terminal: tty });
  let stopRequested = false;
  rl.on('SIGINT', () => { stopRequested = true; });
  if (tty) process.stdout.write(`pangu chat: ${dir}\n${HELP}`);
  // The line iterator buffers input that arrives while an answer is being generated (piped stdin).
  const lines = rl[Symbol.asyncIterator]();
  rl.setPrompt('> ');
  try {
    for (;;) {
      if (tty) rl.prompt();
      const next = await lines.next();
      if (next.done) break;
      const text = next.value.trim();
      if (text === '') continue;
      if (text === '/exit' || text === '/quit') break;
      if (text === '/reset') { messages = [...system]; continue; }
      if (text === '/help') { process.stdout.write(HELP); continue; }
      messages.push({ role: 'user', content: text });
      const ids = tokenizer.encodeChat(messages, { addGenerationPrompt: true });
      const room = session.contextLength - ids.length;
      if (room < 1) {
        process.stderr.write(`the conversation (${ids.length} tokens) fills the context of ${session.contextLength}; /reset to start again\n`);
        messages.pop();
        continue;
      }
      const printer = new TextPrinter();
      let answer = '';
      stopRequested = false;
      const gen = generateText(session, tokenizer, ids, { ...sampling, maxTokens: Math.min(maxTokens, room) });
      for (let r = gen.next(); !r.done && !stopRequested; r = gen.next()) {
        printer.write(r.value);
        answer += r.value.content;
        await new Promise((resolve) => setImmediate(resolve)); // lets Ctrl-C stop the answer
      }
      printer.endReasoning();
      process.stdout.write('\n');
      messages.push({ role: 'assistant', content: answer });
    }
  } finally {
    rl.close();
  }
  return 0;
}
