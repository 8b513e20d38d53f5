// Writing streamed text to the terminal: the answer on stdout, the reasoning on stderr, dimmed and
// set apart when stderr is a terminal, so `pangu run … > answer.txt` keeps only the answer.
import type { TextDelta } from '../engine/text.js';

const DIM = '\x1b[2m', RESET = '\x1b[0m';

export class TextPrinter {
  private inReasoning = false;
  private readonly tty = Boolean(process.stderr.isTTY);

  write(d: TextDelta): void {
    if (d.reasoning) {
      if (!this.inReasoning) process.stderr.write(this.tty ? `${DIM}[thinking] ` : '[thinking] ');
      this.inReasoning = true;
      process.stderr.write(d.reasoning);
    }
    if (d.content) {
      this.endReasoning();
      process.stdout.write(d.content);
    }
  }

  /** Closes an open reasoning block (e.g. when generation stops inside it). */
  endReasoning(): void {
    if (!this.inReasoning) return;
    process.stderr.write(this.tty ? `${RESET}\n` : '\n');
    this.inReasoning = false;
  }
}
