// Held-out loss and perplexity of a checkpoint directory on a text file, over every window:
//   node dist/tools/train/evaluate.js --model DIR --data FILE [--seq T] [--batch B] [--threads N]
// prints one JSON line: loss (nats per token), perplexity, tokens, windows, bits per byte.
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { loadTrainModel } from '../../src/train/checkpoint.js';
import { evalBatches, tokenizeFiles } from '../../src/train/data.js';
import { WasmOps } from '../../src/train/gemm.js';
import { evaluate } from '../../src/train/trainer.js';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { model: { type: 'string' }, data: { type: 'string' }, seq: { type: 'string' }, batch: { type: 'string' }, threads: { type: 'string' } } });
  if (!values.model || !values.data) throw new Error('usage: evaluate.js --model DIR --data FILE [--seq T] [--batch B]');
  const ops = await WasmOps.create(Number(values.threads ?? 1));
  try {
    const { model } = loadTrainModel(values.model, ops);
    const tok = Tokenizer.load(values.model);
    const seq = Number(values.seq ?? Math.min(128, model.args.max_position_embeddings));
    const stream = tokenizeFiles([values.data], tok, model.args.eos_token_id[0] ?? 2);
    const batches = evalBatches(stream, seq, Number(values.batch ?? 8));
    const r = evaluate(model, batches);
    const bytes = Buffer.byteLength(fs.readFileSync(values.data, 'utf8'));
    const windows = batches.reduce((s, b) => s + b.B, 0);
    // Bits per byte over the scored part of the file (windows cover all but the last partial one).
    const scoredBytes = (bytes * (windows * seq)) / (stream.length - 1);
    process.stdout.write(JSON.stringify({
      model: values.model, data: values.data, seq, windows, tokens: r.tokens,
      loss: r.loss, perplexity: Math.exp(r.loss), bits_per_byte: (r.loss * r.tokens) / Math.LN2 / scoredBytes,
    }) + '\n');
  } finally {
    await ops.close();
  }
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).message}\n`);
  process.exit(1);
});
