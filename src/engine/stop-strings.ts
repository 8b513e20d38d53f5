// Stop strings on streamed text: text is passed on as it comes, except a tail that could be the
// start of a stop string, which is held until the next piece decides. At a match the text before
// it is released and the stream is over (the stop string itself is not shown, as OpenAI does).

export interface StopDelta {
  text: string;
  /** True once a stop string was found; later pushes return nothing. */
  stopped: boolean;
}

export class StopStringMatcher {
  private held = '';
  private stoppedAt = false;
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get stopped(): boolean {
    return this.stoppedAt;
  }

  push(text: string): StopDelta {
    if (this.stoppedAt) return { text: '', stopped: true };
    const buf = this.held + text;
    if (this.stops.length === 0) return { text: buf, stopped: false };
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.held = '';
      this.stoppedAt = true;
      return { text: buf.slice(0, at), stopped: true };
    }
    // The longest tail of buf that begins some stop string.
    let keep = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, buf.length); k > keep; k--) {
        if (buf.endsWith(s.slice(0, k))) { keep = k; break; }
      }
    }
    this.held = buf.slice(buf.length - keep);
    return { text: buf.slice(0, buf.length - keep), stopped: false };
  }

  /** The end of the stream: a held tail that never became a stop string is text after all. */
  flush(): string {
    const t = this.stoppedAt ? '' : this.held;
    this.held = '';
    return t;
  }
}
