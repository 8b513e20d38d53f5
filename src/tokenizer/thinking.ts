// Pangu's thinking modes. Slow thinking is the default; a user message ending in " /no_think" asks
// for a fast answer and one ending in " /auto_think" lets the model choose. The model writes its
// reasoning between [unused16] and [unused17], then the answer, then [unused10] (the eos).

import type { ChatMessage } from './tokenizer.js';

export const THINK_START = '[unused16]';
export const THINK_END = '[unused17]';
export const PANGU_EOS = '[unused10]';
export const NO_THINK_SUFFIX = ' /no_think';
export const AUTO_THINK_SUFFIX = ' /auto_think';

/** slow: think (the default); fast: " /no_think"; auto: " /auto_think". */
export type ThinkingMode = 'slow' | 'fast' | 'auto';

function stripModeSuffix(content: string): string {
  for (const s of [NO_THINK_SUFFIX, AUTO_THINK_SUFFIX]) {
    if (content.endsWith(s)) return content.slice(0, content.length - s.length);
  }
  return content;
}

/**
 * Returns a copy of `messages` whose last user message carries the marker of `mode`: " /no_think"
 * for fast, " /auto_think" for auto, none for slow (an existing marker is replaced or removed).
 * Messages without a user message are returned unchanged (copied).
 */
export function applyThinkingMode(messages: readonly ChatMessage[], mode: ThinkingMode): ChatMessage[] {
  const out = messages.map((m) => ({ ...m }));
  for (let i = out.length - 1; i >= 0; i--) {
    const m = out[i]!;
    if (m.role !== 'user') continue;
    const base = stripModeSuffix(String(m.content ?? ''));
    m.content = mode === 'fast' ? base + NO_THINK_SUFFIX : mode === 'auto' ? base + AUTO_THINK_SUFFIX : base;
    break;
  }
  return out;
}

/** The mode that the last user message asks for. */
export function detectThinkingMode(messages: readonly ChatMessage[]): ThinkingMode {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== 'user') continue;
    const c = String(m.content ?? '');
    if (c.endsWith(NO_THINK_SUFFIX)) return 'fast';
    if (c.endsWith(AUTO_THINK_SUFFIX)) return 'auto';
    return 'slow';
  }
  return 'slow';
}

export interface ReasoningSplitterOptions {
  startMarker?: string;
  endMarker?: string;
  /** Text at which generation is over (Pangu's eos). Empty string: none. */
  stopMarker?: string;
  /** Start inside the reasoning, for prompts that already end with the start marker. */
  startInReasoning?: boolean;
}

/** New text of each channel produced by one push. */
export interface ReasoningDelta {
  reasoning: string;
  content: string;
  /** True once the stop marker was seen; later text is ignored. */
  done: boolean;
}

type Phase = 'before' | 'reasoning' | 'answer' | 'done';

/**
 * Separates streamed model output into reasoning (between [unused16] and [unused17]) and answer.
 * Text may arrive in any pieces: a marker split across pushes is held back until it is whole.
 * The markers themselves are dropped, and so is everything from the stop marker ([unused10]) on.
 * Text before [unused16] (a fast answer without a reasoning block) is answer.
 */
export class ReasoningSplitter {
  private readonly start: string;
  private readonly end: string;
  private readonly stop: string;
  private phase: Phase;
  private held = '';
  private reasoningText = '';
  private contentText = '';

  constructor(options: ReasoningSplitterOptions = {}) {
    this.start = options.startMarker ?? THINK_START;
    this.end = options.endMarker ?? THINK_END;
    this.stop = options.stopMarker ?? PANGU_EOS;
    this.phase = options.startInReasoning ? 'reasoning' : 'before';
  }

  /** All reasoning so far. */
  get reasoning(): string {
    return this.reasoningText;
  }

  /** All answer text so far. */
  get content(): string {
    return this.contentText;
  }

  get done(): boolean {
    return this.phase === 'done';
  }

  /** True while inside the reasoning block. */
  get inReasoning(): boolean {
    return this.phase === 'reasoning';
  }

  private markers(): string[] {
    const m: string[] = [];
    if (this.phase === 'before') m.push(this.start);
    if (this.phase === 'reasoning') m.push(this.end);
    if (this.stop) m.push(this.stop);
    return m.filter((x) => x.length > 0);
  }

  private emit(delta: ReasoningDelta, text: string): void {
    if (!text) return;
    if (this.phase === 'reasoning') {
      delta.reasoning += text;
      this.reasoningText += text;
    } else {
      delta.content += text;
      this.contentText += text;
    }
  }

  /** Feeds generated text; returns what it adds to each channel. */
  push(text: string): ReasoningDelta {
    const delta: ReasoningDelta = { reasoning: '', content: '', done: false };
    if (this.phase === 'done') {
      delta.done = true;
      return delta;
    }
    let buf = this.held + text;
    this.held = '';
    for (;;) {
      const markers = this.markers();
      let at = -1;
      let which = '';
      for (const m of markers) {
        const i = buf.indexOf(m);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          which = m;
        }
      }
      if (at < 0) break;
      this.emit(delta, buf.slice(0, at));
      buf = buf.slice(at + which.length);
      if (which === this.stop) {
        this.phase = 'done';
        delta.done = true;
        return delta;
      }
      this.phase = which === this.start ? 'reasoning' : 'answer';
    }
    // Hold back a tail that could be the beginning of a marker.
    let keep = 0;
    for (const m of this.markers()) {
      for (let k = Math.min(m.length - 1, buf.length); k > keep; k--) {
        if (buf.endsWith(m.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    this.emit(delta, buf.slice(0, buf.length - keep));
    this.held = buf.slice(buf.length - keep);
    return delta;
  }

  /** Ends the stream: text held back as a possible marker start is released. */
  flush(): ReasoningDelta {
    const delta: ReasoningDelta = { reasoning: '', content: '', done: this.phase === 'done' };
    if (this.phase !== 'done') this.emit(delta, this.held);
    this.held = '';
    return delta;
  }
}

/** Splits a whole generated text into reasoning and answer. */
export function splitReasoning(text: string, options: ReasoningSplitterOptions = {}): { reasoning: string; content: string } {
  const s = new ReasoningSplitter(options);
  s.push(text);
  s.flush();
  return { reasoning: s.reasoning, content: s.content };
}
