// The key/value cache of one sequence: for each layer, K and V of every position so far.
import type { Backend, KVStore } from '../backend/backend.js';

export class KVCache {
  readonly layers: KVStore[];
  /** Number of positions already stored. */
  length = 0;

  constructor(backend: Backend, numLayers: number, readonly maxSeq: number, kvHeads: number, headDim: number) {
    this.layers = Array.from({ length: numLayers }, () => backend.kvStore(maxSeq, kvHeads, headDim));
  }

  /** Drops every position from `length` on, e.g. to reuse a shared prompt prefix. */
  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`cannot truncate a cache of ${this.length} positions to ${length}`);
    this.length = length;
  }
}
