// Training data: text files tokenized into one stream (each document as <s> … </s>), cut into
// windows of T+1 tokens (inputs = first T, targets = last T), visited in a seeded random order per
// epoch. The position (windows consumed so far) is all a resumed run needs to continue the order.
import * as fs from 'node:fs';
import { Rng } from '../engine/sampler.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import type { Batch } from './model.js';

/** Splits a file's text into documents: blocks separated by blank lines. */
export function documents(text: string): string[] {
  return text.replace(/\r\n/g, '\n').split(/\n\s*\n/).map((d) => d.trim()).filter((d) => d.length > 0);
}

/** Tokenizes files into one stream: <s> + tokens + `eos` (the config's, </s>) per document. */
export function tokenizeFiles(files: readonly string[], tok: Tokenizer, eos: number): Int32Array {
  const out: number[] = [];
  for (const f of files) {
    for (const doc of documents(fs.readFileSync(f, 'utf8'))) {
      for (const id of tok.encode(doc)) out.push(id);
      out.push(eos);
    }
  }
  return Int32Array.from(out);
}

export class WindowSampler {
  readonly windows: number;
  private permEpoch = -1;
  private perm = new Int32Array(0);

  constructor(readonly stream: Int32Array, readonly T: number, readonly seed: number) {
    this.windows = Math.floor((stream.length - 1) / T);
    if (this.windows < 1) throw new Error(`the data has ${stream.length} tokens: fewer than one window of ${T + 1}`);
  }

  private order(epoch: number): Int32Array {
    if (epoch !== this.permEpoch) {
      const rng = new Rng((this.seed * 1000003 + epoch * 7919) >>> 0);
      const p = Int32Array.from({ length: this.windows }, (_, i) => i);
      for (let i = p.length - 1; i > 0; i--) {
        const j = Math.floor(rng.next() * (i + 1));
        const t = p[i]!;
        p[i] = p[j]!;
        p[j] = t;
      }
      this.perm = p;
      this.permEpoch = epoch;
    }
    return this.perm;
  }

  /** The batch of B windows starting at position `pos` (windows consumed so far). */
  batch(pos: number, B: number): Batch {
    const T = this.T;
    const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const at = pos + b;
      const w = this.order(Math.floor(at / this.windows))[at % this.windows]!;
      const s = this.stream.subarray(w * T, w * T + T + 1);
      inputs.set(s.subarray(0, T), b * T);
      targets.set(s.subarray(1, T + 1), b * T);
    }
    return { B, T, inputs, targets };
  }
}

/** Consecutive windows of an eval stream, in order, up to `maxWindows`, in batches of B. */
export function evalBatches(stream: Int32Array, T: number, B: number, maxWindows = Infinity): Batch[] {
  const windows = Math.min(maxWindows, Math.floor((stream.length - 1) / T));
  const out: Batch[] = [];
  for (let w0 = 0; w0 < windows; w0 += B) {
    const nb = Math.min(B, windows - w0);
    const inputs = new Int32Array(nb * T), targets = new Int32Array(nb * T);
    for (let b = 0; b < nb; b++) {
      const s = stream.subarray((w0 + b) * T, (w0 + b) * T + T + 1);
      inputs.set(s.subarray(0, T), b * T);
      targets.set(s.subarray(1, T + 1), b * T);
    }
    out.push({ B: nb, T, inputs, targets });
  }
  return out;
}
