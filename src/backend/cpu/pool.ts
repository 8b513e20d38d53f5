// A pool of worker threads that run one job at a time together with the main thread.
// A job has a fixed number of shares (usually one per weight shard); the main thread is
// participant 0. A job runs in phases, each phase after the previous one has finished everywhere
// (a barrier), and each phase cuts every share into the same number of chunks. Participants claim
// chunks, starting with their own share, then any chunk still unclaimed: a thread that the OS
// runs slower, or later, leaves its chunks to the others instead of making them wait.
//
// Hand-off goes through a SharedArrayBuffer: the main thread writes each share's arguments, the
// job's claim counters, then its phases and chunk counts, bumps a sequence number and joins in;
// workers spin briefly on the sequence number, then sleep in Atomics.wait. Each claim counter
// carries the job's sequence number (its tag), so a worker still looping over a finished job, or
// joining it late, can never claim a chunk of the next.
import { Worker } from 'node:worker_threads';

/** Float64 argument slots per share: two blocks of 64 (a fused decoder layer passes its attention's and its feed-forward's). */
export const ARG_SLOTS = 128;

/** Phases of a job at most, and chunks of a share in one phase at most. */
export const MAX_PHASES = 16;
export const MAX_CHUNKS = (1 << 11) - 1;
const CHUNK_BITS = 11;
const TAG_MASK = (1 << 20) - 1;

// Int32 control words.
const SEQ = 0;      // bumped for every job
const OP = 1;       // the job's operation code
const STOP = 2;     // 1: workers exit
const FAILED = 3;   // share index + 1 of the first chunk that threw in a worker
const PHASES = 4;   // phases of the job
const CHUNKS = 8;   // CHUNKS + f: chunks per share in phase f
const PENDING = CHUNKS + MAX_PHASES; // PENDING + f: chunks of phase f not finished yet
/** Claim counters, one per (phase, share), 64 bytes apart so that two threads claiming don't share a cache line. */
const NEXT = 64; // past PENDING + MAX_PHASES, on a 64-byte line of its own
const NEXT_STRIDE = 16;
const MAX_SHARES = 1024;

const nextWord = (phase: number, share: number, shares: number) => NEXT + (phase * shares + share) * NEXT_STRIDE;

/** Iterations of a busy-wait before sleeping: long enough to bridge the main thread's work between two jobs. */
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

/** Which piece of a job a handler runs; one object per thread, rewritten for every chunk. */
export interface Unit {
  phase: number;
  chunk: number;
  /** Chunks of every share in this phase. */
  chunks: number;
  /** The thread running it (0: the main thread): an index for per-thread scratch. */
  participant: number;
}

/** Claims the next chunk of a share's counter for the job tagged `tag`; -1 when none is left (or the job is over). */
function claim(control: Int32Array, word: number, tag: number, chunks: number): number {
  for (;;) {
    const v = Atomics.load(control, word);
    const c = v & MAX_CHUNKS;
    if (v >>> CHUNK_BITS !== tag || c >= chunks) return -1;
    if (Atomics.compareExchange(control, word, v, v + 1) === v) return c;
  }
}

/**
 * One participant's part of the job with sequence number `seq`: in each phase, the chunks of its
 * own share, then any other share's left over; then it waits for the phase to finish everywhere.
 * Returns the milliseconds it waited at barriers, or -1 when the job turned out to be over (a late
 * worker). `onError` gets what a chunk threw; the chunk still counts as finished.
 */
function work(control: Int32Array, seq: number, shares: number, own: number, unit: Unit, waitLast: boolean,
  run: (share: number, unit: Unit) => void, onError: (share: number, e: unknown) => void): number {
  const tag = seq & TAG_MASK;
  const phases = Atomics.load(control, PHASES);
  let waited = 0;
  for (let f = 0; f < phases; f++) {
    const chunks = Atomics.load(control, CHUNKS + f);
    unit.phase = f;
    unit.chunks = chunks;
    for (let i = 0; i < shares; i++) {
      const share = (own + i) % shares, word = nextWord(f, share, shares);
      for (let c = claim(control, word, tag, chunks); c >= 0; c = claim(control, word, tag, chunks)) {
        unit.chunk = c;
        try {
          run(share, unit);
        } catch (e) {
          onError(share, e);
        } finally {
          if (Atomics.sub(control, PENDING + f, 1) === 1) Atomics.notify(control, PENDING + f);
        }
      }
    }
    if (f === phases - 1 && !waitLast) break;
    // Barrier: every chunk of this phase done (others may still be running theirs).
    const from = performance.now();
    let spins = 0;
    for (let left = Atomics.load(control, PENDING + f); left !== 0; left = Atomics.load(control, PENDING + f)) {
      if (Atomics.load(control, SEQ) !== seq) return -1;
      // More chunks finished than the phase has: the count can never reach 0 again. The main
      // thread says so instead of waiting for ever (a worker leaves the job to it).
      if (left < 0) {
        if (waitLast) throw new Error(`thread pool: phase ${f} of a job finished ${-left} chunk(s) more than it has`);
        return -1;
      }
      if (++spins >= SPIN) Atomics.wait(control, PENDING + f, left, 1);
    }
    waited += performance.now() - from;
  }
  return waited;
}

/** The argument slots of every share, as views of the shared arguments. */
export function argViews(shared: PoolShared, shares: number): Float64Array[] {
  return Array.from({ length: shares }, (_, s) => new Float64Array(shared.args, s * ARG_SLOTS * 8, ARG_SLOTS));
}

/**
 * Runs in each worker: calls `handle(op, share, args, unit)` for the chunks it claims until the
 * pool stops.
 */
export function serveJobs(init: WorkerInit, handle: (op: number, share: number, args: Float64Array, unit: Unit) => void): void {
  const control = new Int32Array(init.shared.control);
  const args = argViews(init.shared, init.shares);
  // Participant i starts at share i * shares / participants: with two shares per thread, thread 1 takes 2 and 3.
  const own = Math.floor((init.index * init.shares) / init.participants);
  const unit: Unit = { phase: 0, chunk: 0, chunks: 1, participant: init.index };
  const onError = (share: number, e: unknown) => {
    if (Atomics.compareExchange(control, FAILED, 0, share + 1) === 0) {
      const text = new TextEncoder().encode(e instanceof Error ? e.message : String(e)).subarray(0, ERROR_BYTES - 4);
      new Uint8Array(init.shared.error, 4).set(text);
      new Int32Array(init.shared.error, 0, 1)[0] = text.length;
    }
  };
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
    const op = Atomics.load(control, OP);
    work(control, seen, init.shares, own, unit, false, (share, u) => handle(op, share, args[share]!, u), onError);
  }
}

/**
 * What the main thread saw of the jobs it ran: how many, how long they took, and how much of that
 * it spent waiting for the workers (at barriers and at the end).
 */
export interface PoolStats {
  jobs: number;
  jobMs: number;
  waitMs: number;
}

const ONE_PHASE = [1] as const;

export class ThreadPool {
  readonly stats: PoolStats = { jobs: 0, jobMs: 0, waitMs: 0 };
  private readonly control: Int32Array;
  private readonly argViews: Float64Array[];
  private readonly unit: Unit = { phase: 0, chunk: 0, chunks: 1, participant: 0 };
  private closed = false;
  /** Phases of the last job posted. */
  private lastPhases = 0;

  private constructor(readonly participants: number, readonly shares: number, private readonly shared: PoolShared, private readonly workers: Worker[]) {
    this.control = new Int32Array(shared.control);
    this.argViews = argViews(shared, shares);
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
      control: new SharedArrayBuffer(nextWord(MAX_PHASES, 0, shares) * 4),
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
   * Runs `op` in `chunks.length` phases, phase f cutting every share into chunks[f] chunks:
   * `runChunk(share, unit)` on this thread for the chunks it claims, the workers' handlers for
   * theirs; returns when every chunk of every phase is done. `run(op, fn)`: one phase, one chunk
   * per share.
   */
  run(op: number, runChunk: (share: number, unit: Unit) => void, chunks: readonly number[] = ONE_PHASE): void {
    if (this.closed) throw new Error('thread pool is closed');
    if (chunks.length < 1 || chunks.length > MAX_PHASES) throw new RangeError(`a job has 1 to ${MAX_PHASES} phases, got ${chunks.length}`);
    for (const k of chunks) {
      if (!Number.isInteger(k) || k < 1 || k > MAX_CHUNKS) throw new RangeError(`chunks per share must be an integer in [1, ${MAX_CHUNKS}], got ${k}`);
    }
    const c = this.control, n = this.shares;
    const start = performance.now();
    const seq = (Atomics.load(c, SEQ) + 1) | 0, tag = seq & TAG_MASK;
    // Every claim counter first, before the counts: a worker that joined the previous job late
    // (its tag) may read this job's counts below, and must then find no counter of its tag left
    // to claim from. (The other way round it could claim a chunk past the previous job's count,
    // run it on this job's arguments and finish it twice: a count that never reaches 0.)
    const phases = Math.max(chunks.length, this.lastPhases);
    for (let f = 0; f < phases; f++) for (let s = 0; s < n; s++) Atomics.store(c, nextWord(f, s, n), tag << CHUNK_BITS);
    Atomics.store(c, OP, op);
    Atomics.store(c, PHASES, chunks.length);
    chunks.forEach((k, f) => {
      Atomics.store(c, CHUNKS + f, k);
      Atomics.store(c, PENDING + f, n * k);
    });
    this.lastPhases = chunks.length;
    Atomics.store(c, SEQ, seq);
    if (this.participants > 1) Atomics.notify(c, SEQ);
    let mainError: unknown;
    const waited = work(c, seq, n, 0, this.unit, true, runChunk, (_share, e) => { mainError ??= e; });
    const end = performance.now();
    this.stats.jobs++;
    this.stats.jobMs += end - start;
    this.stats.waitMs += waited;
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
