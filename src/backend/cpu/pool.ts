// A pool of worker threads that run one operation at a time together with the main thread.
// An operation has a fixed number of shares (usually one per thread; more when the data is split
// into more parts than there are threads); the main thread is participant 0. Hand-off goes
// through a SharedArrayBuffer: the main thread writes each share's arguments, bumps a sequence
// number and claims shares; workers spin briefly on the sequence number, then sleep in
// Atomics.wait. Every participant first claims its own share, then any share still unclaimed: a
// worker that the OS has not scheduled yet costs a delay of one share, never a stall.
import { Worker } from 'node:worker_threads';

/** Float64 argument slots per share. */
export const ARG_SLOTS = 64;

// Int32 control words.
const SEQ = 0;      // bumped for every job
const PENDING = 1;  // shares not finished yet
const OP = 2;       // the job's operation code
const STOP = 3;     // 1: workers exit
const FAILED = 4;   // share index + 1 of the first share that threw in a worker
const CLAIMS = 8;   // CLAIMS + s: 1 once share s is taken
const MAX_SHARES = 1024;
const CONTROL_WORDS = CLAIMS + MAX_SHARES;

/** Iterations of the busy-wait before sleeping: long enough to bridge the main thread's work between two ops. */
const SPIN = 1 << 18;

export interface PoolShared {
  control: SharedArrayBuffer;
  args: SharedArrayBuffer;
  /** The first failing worker's message: Int32 byte length, then UTF-8. */
  error: SharedArrayBuffer;
}

const ERROR_BYTES = 4096;

export interface WorkerInit {
  shared: PoolShared;
  /** This worker's participant index (the main thread is 0). */
  index: number;
  participants: number;
  shares: number;
  /** Whatever the worker module needs to set itself up (e.g. the WebAssembly memories). */
  payload: unknown;
}

/** Claims unclaimed shares, starting at its own, and runs each; returns when none is left. */
function claimAndRun(control: Int32Array, shares: number, own: number, run: (share: number) => void): void {
  for (let i = 0; i < shares; i++) {
    const share = (own + i) % shares;
    if (Atomics.compareExchange(control, CLAIMS + share, 0, 1) !== 0) continue;
    try {
      run(share);
    } finally {
      if (Atomics.sub(control, PENDING, 1) === 1) Atomics.notify(control, PENDING);
    }
  }
}

/** Runs in each worker: calls `handle(op, share, args)` for the shares it claims until the pool stops. */
export function serveJobs(init: WorkerInit, handle: (op: number, share: number, args: Float64Array) => void): void {
  const control = new Int32Array(init.shared.control);
  const args = Array.from({ length: init.shares }, (_, s) => new Float64Array(init.shared.args, s * ARG_SLOTS * 8, ARG_SLOTS));
  // Participant i starts at share i * shares / participants: with two shares per thread, thread 1 takes 2 and 3.
  const own = Math.floor((init.index * init.shares) / init.participants);
  let seen = 0; // no job can have been posted before every worker is up
  for (;;) {
    let spins = 0;
    while (Atomics.load(control, SEQ) === seen) {
      if (++spins >= SPIN) {
        Atomics.wait(control, SEQ, seen);
        spins = 0;
      }
    }
    seen = Atomics.load(control, SEQ);
    if (Atomics.load(control, STOP)) return;
    claimAndRun(control, init.shares, own, (share) => {
      try {
        handle(Atomics.load(control, OP), share, args[share]!);
      } catch (e) {
        if (Atomics.compareExchange(control, FAILED, 0, share + 1) === 0) {
          const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).subarray(0, ERROR_BYTES - 4);
          new Uint8Array(init.shared.error, 4).set(text);
          new Int32Array(init.shared.error, 0, 1)[0] = text.length;
        }
      }
    });
  }
}

/**
 * What the main thread saw of the jobs it ran: how many, how long they took, and how much of that
 * it spent waiting for the workers after its own shares.
 */
export interface PoolStats {
  jobs: number;
  jobMs: number;
  waitMs: number;
}

export class ThreadPool {
  readonly stats: PoolStats = { jobs: 0, jobMs: 0, waitMs: 0 };
  private readonly control: Int32Array;
  private readonly argViews: Float64Array[];
  private closed = false;

  private constructor(readonly participants: number, readonly shares: number, private readonly shared: PoolShared, private readonly workers: Worker[]) {
    this.control = new Int32Array(shared.control);
    this.argViews = Array.from({ length: shares }, (_, s) => new Float64Array(shared.args, s * ARG_SLOTS * 8, ARG_SLOTS));
  }

  /**
   * Starts `participants - 1` workers running `script`; each gets its index and `payload`. Jobs
   * have `shares` shares (default: one per participant). Resolves once every worker is ready.
   */
  static async start(participants: number, script: URL, payload: unknown, shares = participants): Promise<ThreadPool> {
    if (!Number.isInteger(participants) || participants < 1 || participants > shares) {
      throw new RangeError(`participants must be an integer in [1, ${shares}] (the shares of a job), got ${participants}`);
    }
    if (!Number.isInteger(shares) || shares > MAX_SHARES) throw new RangeError(`shares must be an integer <= ${MAX_SHARES}, got ${shares}`);
    const shared: PoolShared = {
      control: new SharedArrayBuffer(CONTROL_WORDS * 4),
      args: new SharedArrayBuffer(shares * ARG_SLOTS * 8),
      error: new SharedArrayBuffer(ERROR_BYTES),
    };
    const workers: Worker[] = [];
    try {
      for (let index = 1; index < participants; index++) {
        const init: WorkerInit = { shared, index, participants, shares, payload };
        const w = new Worker(script, { workerData: init });
        workers.push(w);
        await new Promise<void>((resolve, reject) => {
          w.once('message', (m: { ready?: boolean; error?: string }) =>
            m.ready ? resolve() : reject(new Error(`worker ${index} failed to start: ${m.error}`)));
          w.once('error', reject);
        });
      }
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    for (const w of workers) w.unref();
    return new ThreadPool(participants, shares, shared, workers);
  }

  /** The argument slots of share s, to fill before `run`. */
  args(s: number): Float64Array {
    return this.argViews[s]!;
  }

  /**
   * Runs `op`: `runShare(s)` on this thread for the shares it claims (share 0 first), the workers'
   * handlers for theirs; returns when every share is done.
   */
  run(op: number, runShare: (share: number) => void): void {
    if (this.closed) throw new Error('thread pool is closed');
    const c = this.control, n = this.shares;
    const start = performance.now();
    Atomics.store(c, OP, op);
    Atomics.store(c, PENDING, n);
    for (let s = 0; s < n; s++) Atomics.store(c, CLAIMS + s, 0);
    if (this.participants > 1) {
      Atomics.add(c, SEQ, 1);
      Atomics.notify(c, SEQ);
    }
    let mainError: unknown;
    claimAndRun(c, n, 0, (share) => {
      try {
        runShare(share);
      } catch (e) {
        mainError ??= e;
      }
    });
    let spins = 0;
    const waitFrom = performance.now();
    for (let left = Atomics.load(c, PENDING); left !== 0; left = Atomics.load(c, PENDING)) {
      if (++spins >= SPIN) Atomics.wait(c, PENDING, left, 1);
    }
    const end = performance.now();
    this.stats.jobs++;
    this.stats.jobMs += end - start;
    this.stats.waitMs += end - waitFrom;
    if (mainError) throw mainError;
    const failed = Atomics.exchange(c, FAILED, 0);
    if (failed) {
      const len = new Int32Array(this.shared.error, 0, 1)[0]!;
      const message = new TextDecoder().decode(new Uint8Array(this.shared.error, 4, len).slice());
      throw new Error(`share ${failed - 1} failed in a worker: ${message}`);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control, STOP, 1);
    Atomics.add(this.control, SEQ, 1);
    Atomics.notify(this.control, SEQ);
    await Promise.all(this.workers.map((w) => new Promise((resolve) => {
      w.ref(); // keep the event loop alive until the worker has gone
      w.once('exit', resolve);
      setTimeout(() => void w.terminate(), 1000).unref();
    })));
  }
}
