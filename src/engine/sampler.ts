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

/**
 * Index of the largest value, the first of equal ones; NaN never wins (0 when nothing does). Four
 * running maxima over the lanes i mod 4: independent compares, twice as fast as one chain over a
 * vocabulary (greedy decoding runs this once per token).
 */
export function argmax(values: ArrayLike<number>): number {
  const n = values.length;
  // lane l's largest value and its first index (-1: none yet; an equal value is taken only then, for -Infinity)
  let m0 = -Infinity, m1 = -Infinity, m2 = -Infinity, m3 = -Infinity, i0 = -1, i1 = -1, i2 = -1, i3 = -1, i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = values[i]!, b = values[i + 1]!, c = values[i + 2]!, d = values[i + 3]!;
    if (a > m0 || (i0 < 0 && a === m0)) { m0 = a; i0 = i; }
    if (b > m1 || (i1 < 0 && b === m1)) { m1 = b; i1 = i + 1; }
    if (c > m2 || (i2 < 0 && c === m2)) { m2 = c; i2 = i + 2; }
    if (d > m3 || (i3 < 0 && d === m3)) { m3 = d; i3 = i + 3; }
  }
  // the lanes' winners: the largest, the first index of equal ones
  let at = i0, top = m0;
  if (i1 >= 0 && (at < 0 || m1 > top || (m1 === top && i1 < at))) { at = i1; top = m1; }
  if (i2 >= 0 && (at < 0 || m2 > top || (m2 === top && i2 < at))) { at = i2; top = m2; }
  if (i3 >= 0 && (at < 0 || m3 > top || (m3 === top && i3 < at))) { at = i3; top = m3; }
  for (; i < n; i++) if (values[i]! > top || (at < 0 && values[i] === top)) { at = i; top = values[i]!; }
  return Math.max(at, 0);
}

function identity(n: number): Int32Array {
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) ids[i] = i;
  return ids;
}

/** Indices of the k largest values (any order): a size-k min-heap over one pass. */
function largest(values: Float32Array, k: number): number[] {
  const heap: number[] = [];
  const less = (a: number, b: number) => values[heap[a]!]! < values[heap[b]!]!;
  const swap = (a: number, b: number) => { const t = heap[a]!; heap[a] = heap[b]!; heap[b] = t; };
  const down = (i: number) => {
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < heap.length && less(l, m)) m = l;
      if (r < heap.length && less(r, m)) m = r;
      if (m === i) return;
      swap(i, m);
      i = m;
    }
  };
  for (let i = 0; i < values.length; i++) {
    if (heap.length < k) {
      heap.push(i);
      for (let c = heap.length - 1; c > 0 && less(c, (c - 1) >> 1); c = (c - 1) >> 1) swap(c, (c - 1) >> 1);
    } else if (values[i]! > values[heap[0]!]!) {
      heap[0] = i;
      down(0);
    }
  }
  return heap;
}

/**
 * The smallest set of the most likely candidates whose probability reaches topP (ties at the edge
 * kept). Candidates under (1 - topP) / n of the mass are never needed: together they hold less
 * than 1 - topP, so the larger ones always reach topP first.
 */
function nucleus(keep: number[], probs: Float64Array, sum: number, topP: number): number[] {
  const floor = ((1 - topP) / keep.length) * sum;
  const big = Float64Array.from(keep.filter((j) => probs[j]! >= floor), (j) => probs[j]!);
  big.sort(); // ascending, native numeric sort
  let acc = 0, cutoff = 0;
  for (let i = big.length - 1; i >= 0; i--) {
    acc += big[i]!;
    cutoff = big[i]!;
    if (acc >= topP * sum) break;
  }
  return keep.filter((j) => probs[j]! >= cutoff);
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
    // Candidates: the top-k, or every token. No sort of the whole vocabulary (153k for Pangu).
    const ids = topK > 0 && topK < l.length ? Int32Array.from(largest(l, topK)) : identity(l.length);
    let max = -Infinity;
    for (let j = 0; j < ids.length; j++) if (l[ids[j]!]! > max) max = l[ids[j]!]!;
    const probs = new Float64Array(ids.length); // unnormalised, the most likely at 1
    let sum = 0;
    for (let j = 0; j < ids.length; j++) sum += probs[j] = Math.exp((l[ids[j]!]! - max) / temperature);
    // min-p: drop tokens less likely than minP times the most likely.
    let keep: number[] = [];
    for (let j = 0; j < ids.length; j++) if (probs[j]! >= minP) keep.push(j);
    if (topP < 1) keep = nucleus(keep, probs, sum, topP);
    let total = 0;
    for (const j of keep) total += probs[j]!;
    let r = this.rng.next() * total;
    for (const j of keep) {
      r -= probs[j]!;
      if (r < 0) return ids[j]!;
    }
    return ids[keep[keep.length - 1]!]!;
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
