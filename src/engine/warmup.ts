// Warming V8 up before the first request. In a fresh process V8 compiles the per-token JavaScript
// while the first answer runs, on the same cores as the kernels (docs/PERFORMANCE.md, "the first
// tokens after load": the first 64 tokens at 0.55-0.95x of the steady speed). `pangu serve` first
// runs two short requests together through a scheduler of its own, within a time budget, so that
// the first client gets the optimised code.
import type { Transformer } from '../models/transformer.js';
import { Scheduler } from './scheduler.js';

export interface WarmUp {
  /** Tokens generated (over both requests). */
  tokens: number;
  ms: number;
}

/** Two greedy requests (prompts of 24 and 12 tokens, up to 64 tokens each) decoded together, stopped at budgetMs. */
export async function warmUp(model: Transformer, budgetMs: number): Promise<WarmUp> {
  const t0 = performance.now();
  const vocab = model.args.vocab_size;
  // its own two slots of 96 positions: the server's slots (and their prefix caches, stats) stay as they were
  const scheduler = new Scheduler(model, { parallel: 2, contextLength: 96, maxQueue: 0 });
  let tokens = 0;
  try {
    const runs = [24, 12].map((length, k) => {
      const prompt = Array.from({ length }, (_, i) => (i * 7919 + 13 * k + 1) % vocab);
      const handle: { cancel?: () => void } = {};
      const seq = scheduler.submit({
        prompt, maxTokens: 64, sampling: { temperature: 0 },
        onToken: () => {
          tokens++;
          if (performance.now() - t0 > budgetMs) handle.cancel?.();
        },
      });
      handle.cancel = () => seq.cancel();
      return seq.done;
    });
    await Promise.allSettled(runs);
  } finally {
    scheduler.close();
  }
  return { tokens, ms: performance.now() - t0 };
}
