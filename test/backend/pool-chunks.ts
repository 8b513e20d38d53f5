// What the chunks of a phased test job record, in a SharedArrayBuffer of Int32 words that every
// thread shares: word 0, chunks run out of order (a chunk of phase f + 1 before every chunk of
// phase f finished); word 1 + f, chunks of phase f finished; then one counter per (phase, share,
// chunk), the times it ran. A chunk spins a little so that threads overlap.
import type { Unit } from '../../src/backend/cpu/pool.js';

export const MAX_TEST_CHUNKS = 64;
export const PHASE_WORDS = 16;

/** Words of the buffer for `shares` shares: the counters of PHASE_WORDS phases, then each phase's expected count. */
export function testWords(shares: number): number {
  return chunkWord(shares, PHASE_WORDS, 0, PHASE_WORDS);
}

/** Where the test stores how many chunks phase f has in all. */
export function expectedWord(shares: number, phase: number): number {
  return chunkWord(shares, PHASE_WORDS, 0, phase);
}

export function chunkWord(shares: number, phase: number, share: number, chunk: number): number {
  return 1 + PHASE_WORDS + (phase * shares + share) * MAX_TEST_CHUNKS + chunk;
}

export function recordChunk(buf: SharedArrayBuffer, shares: number, share: number, unit: Unit): void {
  const w = new Int32Array(buf);
  // Every chunk of the earlier phases has finished: phase f's count is shares * chunks(f), stored by the test.
  for (let f = 0; f < unit.phase; f++) {
    if (Atomics.load(w, 1 + f) !== Atomics.load(w, expectedWord(shares, f))) Atomics.add(w, 0, 1);
  }
  const t = performance.now();
  while (performance.now() - t < 0.02 * ((share * 7 + unit.chunk) % 5));
  Atomics.add(w, chunkWord(shares, unit.phase, share, unit.chunk), 1);
  Atomics.add(w, 1 + unit.phase, 1);
}

/** Adds one to the counter of (phase, share, chunk): how often it ran. */
export function countChunk(buf: SharedArrayBuffer, shares: number, share: number, unit: Unit): void {
  Atomics.add(new Int32Array(buf), chunkWord(shares, unit.phase, share, unit.chunk), 1);
}
