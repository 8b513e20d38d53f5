// A progress display on stderr: an animated bar redrawn in place when the stream is a terminal,
// otherwise one plain line every few seconds (logs and CI stay readable).

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressState {
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  /** What is being worked on. */
  name?: string;
}

export interface ProgressOptions {
  stream?: ProgressStream;
  /** Milliseconds since some fixed point; injectable for tests. */
  now?: () => number;
  /** Minimum time between plain lines when the stream is not a terminal. */
  lineIntervalMs?: number;
  /** Minimum time between redraws of the animated bar. */
  redrawMs?: number;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let u = 0;
  while (n >= 1000 && u < units.length - 1) { n /= 1000; u++; }
  return `${u === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)} ${units[u]}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export class Progress {
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly start: number;
  private last = -Infinity;
  private state: ProgressState | null = null;
  private drawn = false;

  constructor(readonly label: string, opts: ProgressOptions = {}) {
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    this.lineIntervalMs = opts.lineIntervalMs ?? 5000;
    this.redrawMs = opts.redrawMs ?? 100;
  }

  private readonly lineIntervalMs: number;
  private readonly redrawMs: number;

  get tty(): boolean {
    return this.stream.isTTY === true;
  }

  /** Estimated time left, from the bytes written so far. */
  eta(s: ProgressState): number {
    const elapsed = this.now() - this.start;
    if (s.bytesDone <= 0) return Infinity;
    return (elapsed / s.bytesDone) * (s.bytesTotal - s.bytesDone);
  }

  update(s: ProgressState): void {
    this.state = s;
    const t = this.now();
    if (t - this.last < (this.tty ? this.redrawMs : this.lineIntervalMs)) return;
    this.last = t;
    this.draw(s);
  }

  /** Draws the final state and ends the line. */
  finish(): void {
    if (this.state) this.draw(this.state);
    if (this.tty && this.drawn) this.stream.write('\n');
  }

  private summary(s: ProgressState): string {
    const pct = s.bytesTotal > 0 ? Math.floor((100 * s.bytesDone) / s.bytesTotal) : 100;
    const left = s.bytesDone >= s.bytesTotal ? `done in ${formatDuration(this.now() - this.start)}` : `ETA ${formatDuration(this.eta(s))}`;
    return `${s.done}/${s.total} tensors  ${formatBytes(s.bytesDone)} / ${formatBytes(s.bytesTotal)}  ${pct}%  ${left}`;
  }

  private draw(s: ProgressState): void {
    if (!this.tty) {
      this.stream.write(`${this.label}: ${this.summary(s)}\n`);
      return;
    }
    const width = 24;
    const frac = s.bytesTotal > 0 ? Math.min(1, s.bytesDone / s.bytesTotal) : 1;
    const full = Math.floor(frac * width);
    const bar = '█'.repeat(full) + (full < width ? '░'.repeat(width - full) : '');
    let line = `${this.label} [${bar}] ${this.summary(s)}`;
    if (s.name && s.bytesDone < s.bytesTotal) line += `  ${s.name}`;
    const cols = this.stream.columns ?? 120;
    if (line.length > cols - 1) line = line.slice(0, cols - 1);
    this.stream.write(`\r\x1b[K${line}`);
    this.drawn = true;
  }
}
