// Progress for the maintenance commands: one status line, rewritten in place,
// when stderr is a terminal; nothing otherwise (the journal gets the summary
// line only).
import type { ProgressReporter } from "./snapshot.js";

export class TerminalProgress implements ProgressReporter {
  private last = 0;
  private shown = false;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {}

  get enabled(): boolean {
    return this.stream.isTTY === true;
  }

  status(text: string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    const width = Math.max(20, (this.stream.columns || 80) - 1);
    this.stream.write(`\r\x1b[K${text.length > width ? text.slice(0, width - 1) + "…" : text}`);
    this.shown = true;
  }

  /** Removes the status line (before a log line is written). */
  clear(): void {
    if (this.shown) this.stream.write("\r\x1b[K");
    this.shown = false;
  }
}
