// A progress bar with rate and ETA on stderr: redrawn in place on a terminal, a line every few seconds in logs.
import { formatBytes, formatDuration } from "./fs.ts";

export interface ProgressOptions {
  /** "bytes" shows sizes and MB/s; "items" shows counts and items/s. */
  unit?: "bytes" | "items";
  /** Suppress all output (tests, --quiet). */
  quiet?: boolean;
}

const encoder = new TextEncoder();

/** Tracks done/total and renders `label [#####-----] 45% 12.0 MB/26.0 MB 3.1 MB/s ETA 5s`. */
export class Progress {
  #done = 0;
  #lastDraw = 0;
  #lastLogLine = 0;
  readonly #start = performance.now();
  readonly #tty: boolean;

  constructor(readonly label: string, public total: number, readonly options: ProgressOptions = {}) {
    this.#tty = Deno.stderr.isTerminal();
  }

  get done(): number {
    return this.#done;
  }

  /** Adds `n` to the done count. */
  advance(n = 1, note = ""): void {
    this.set(this.#done + n, note);
  }

  /** Sets the done count. */
  set(done: number, note = ""): void {
    this.#done = done;
    const now = performance.now();
    const interval = this.#tty ? 100 : 10_000;
    if (now - (this.#tty ? this.#lastDraw : this.#lastLogLine) >= interval) this.#draw(note, false);
  }

  /** Draws the final state and ends the line. */
  finish(note = ""): void {
    this.#draw(note, true);
  }

  /** The current line, without control characters (also used by tests). */
  render(note = ""): string {
    const elapsed = (performance.now() - this.#start) / 1000;
    const frac = this.total > 0 ? Math.min(1, this.#done / this.total) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const rate = elapsed > 0 ? this.#done / elapsed : 0;
    const fmt = (n: number) =>
      this.options.unit === "bytes" ? formatBytes(n) : Math.round(n).toLocaleString("en-US");
    const eta = rate > 0 && this.total > this.#done ? formatDuration((this.total - this.#done) / rate) : "0s";
    const rateText = this.options.unit === "bytes"
      ? `${formatBytes(rate)}/s`
      : `${rate >= 100 ? Math.round(rate).toLocaleString("en-US") : rate.toFixed(1)}/s`;
    const parts = [
      this.label,
      `[${bar}]`,
      `${(frac * 100).toFixed(0).padStart(3)}%`,
      `${fmt(this.#done)}/${fmt(this.total)}`,
      rateText,
      `elapsed ${formatDuration(elapsed)}`,
      `ETA ${eta}`,
    ];
    if (note) parts.push(note);
    return parts.join(" ");
  }

  #draw(note: string, final: boolean): void {
    if (this.options.quiet) return;
    const line = this.render(note);
    const now = performance.now();
    this.#lastDraw = now;
    this.#lastLogLine = now;
    if (this.#tty) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}${final ? "\n" : ""}`));
    else Deno.stderr.writeSync(encoder.encode(line + "\n"));
  }
}
