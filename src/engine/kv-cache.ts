// The key/value cache of one sequence: for each layer, K and V rows of every position so far.
import type { Backend } from '../backend/backend.js';

export interface LayerCache {
  k: Float32Array; // [maxSeq, kvHeads, headDim]
  v: Float32Array; // [maxSeq, kvHeads, headDim]
}

export class KVCache {
  readonly layers: LayerCache[];
  /** Number of positions already stored. */
  length = 0;

  constructor(backend: Backend, numLayers: number, readonly maxSeq: number, readonly kvDim: number) {
    this.layers = Array.from({ length: numLayers }, () => ({
      k: backend.alloc(maxSeq * kvDim),
      v: backend.alloc(maxSeq * kvDim),
    }));
  }

  /** Drops every position from `length` on, e.g. to reuse a shared prompt prefix. */
  truncate(length: number): void {
    if (length < 0 || length > this.length) throw new RangeError(`cannot truncate a cache of ${this.length} positions to ${length}`);
    this.length = length;
  }
}
