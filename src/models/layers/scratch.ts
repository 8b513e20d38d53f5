// Named activation buffers reused across calls; a buffer grows (once) when a call needs more.
import type { Backend } from '../../backend/backend.js';

export class Scratch {
  private readonly buffers = new Map<string, Float32Array>();

  constructor(private readonly backend: Backend) {}

  /** A buffer of at least n floats; contents are whatever the last user left. */
  get(name: string, n: number): Float32Array {
    let b = this.buffers.get(name);
    if (!b || b.length < n) {
      b = this.backend.alloc(n);
      this.buffers.set(name, b);
    }
    return b;
  }
}
