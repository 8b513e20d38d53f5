// Picking the next token from logits: greedy, or sampled with temperature, top-k, top-p, min-p,
// and repetition / presence / frequency penalties, from a seeded generator.

export interface SamplingOptions {
  /** 0 means greedy (argmax). */
  temperature?: number;
  /** Keep the k most likely tokens; 0 keeps all. */
  topK?: number;
  /** Keep the smallest set whose probability reaches p; 1 keeps all. */
  topP?: number;
  /** Drop tokens less likely than minP times the most likely one. */
  minP?: number;
  /** Divide positive (multiply negative) logits of tokens already seen; 1 is off. */
  repetitionPenalty?: number;
  /** Subtracted once from every seen token's logit (OpenAI presence_penalty). */
  presencePenalty?: number;
  /** Subtracted per occurrence (OpenAI frequency_penalty). */
  frequencyPenalty?: number;
  seed?: number;
}

/** xoshiro128** with a splitmix32 seeding: fast, small, reproducible across platforms. */
export class Rng {
  private s = new Uint32Array(4);

  constructor(seed: number) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** Uniform in [0, 1). */
  next(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!; s[3]! ^= s[1]!; s[1]! ^= s[2]!; s[0]! ^= s[3]!;
    s[2]! ^= t; s[3] = rotl(s[3]!, 11);
    return result / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

export class Sampler {
  private readonly rng: Rng;

  constructor(readonly opts: SamplingOptions = {}) {
    this.rng = new Rng(opts.seed ?? (Math.random() * 2 ** 32) >>> 0);
  }

  /** Picks a token from logits[vocab]; `history` holds the tokens the penalties apply to. */
  sample(logits: Float32Array, history: readonly number[] = []): number {
    const { temperature = 0, topK = 0, topP = 1, minP = 0 } = this.opts;
    const l = this.penalize(logits, history);
    if (temperature <= 0) return argmax(l);
    // Candidates sorted by logit, most likely first, cut by top-k.
    let ids = Array.from(l.keys()).sort((a, b) => l[b]! - l[a]!);
    if (topK > 0) ids = ids.slice(0, topK);
    const max = l[ids[0]!]!;
    let probs = ids.map((i) => Math.exp((l[i]! - max) / temperature));
    let sum = probs.reduce((a, b) => a + b, 0);
    probs = probs.map((p) => p / sum);
    let keep = probs.length;
    if (minP > 0) keep = Math.max(1, probs.filter((p) => p >= minP * probs[0]!).length);
    if (topP < 1) {
      let acc = 0;
      for (let i = 0; i < keep; i++) {
        acc += probs[i]!;
        if (acc >= topP) { keep = i + 1; break; }
      }
    }
    sum = 0;
    for (let i = 0; i < keep; i++) sum += probs[i]!;
    let r = this.rng.next() * sum;
    for (let i = 0; i < keep; i++) {
      r -= probs[i]!;
      if (r < 0) return ids[i]!;
    }
    return ids[keep - 1]!;
  }

  private penalize(logits: Float32Array, history: readonly number[]): Float32Array {
    const { repetitionPenalty = 1, presencePenalty = 0, frequencyPenalty = 0 } = this.opts;
    if (history.length === 0 || (repetitionPenalty === 1 && presencePenalty === 0 && frequencyPenalty === 0)) return logits;
    const l = Float32Array.from(logits);
    const counts = new Map<number, number>();
    for (const t of history) counts.set(t, (counts.get(t) ?? 0) + 1);
    for (const [t, c] of counts) {
      if (t < 0 || t >= l.length) continue;
      let v = l[t]!;
      if (repetitionPenalty !== 1) v = v > 0 ? v / repetitionPenalty : v * repetitionPenalty;
      l[t] = v - presencePenalty - frequencyPenalty * c;
    }
    return l;
  }
}
