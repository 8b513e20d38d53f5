// Timing for the kernel benchmarks: best seconds per call over several runs, on the wall clock or
// on this process's CPU time (--cpu: steadier on a shared machine).

export interface TimingOptions {
  repeats: number;
  /** Each run calls f until this many milliseconds have passed. */
  minMs: number;
  cpuClock: boolean;
}

function now(cpuClock: boolean): number {
  if (!cpuClock) return performance.now();
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Best seconds per call of each f, their runs interleaved so drift hits them alike. */
export function bestTimes(fs: (() => void)[], o: TimingOptions): number[] {
  for (const f of fs) for (let i = 0; i < 3; i++) f(); // warm up (tier-up to the optimizing compiler)
  const best = fs.map(() => Infinity);
  for (let r = 0; r < o.repeats; r++) {
    fs.forEach((f, i) => {
      let n = 0;
      const t0 = now(o.cpuClock);
      let t = 0;
      do {
        f();
        n++;
        t = now(o.cpuClock) - t0;
      } while (t < o.minMs);
      best[i] = Math.min(best[i]!, t / n / 1000);
    });
  }
  return best;
}
