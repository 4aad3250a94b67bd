// A progress line for long transfers and waits. On a terminal it redraws one line in place
// (bar, percent, amounts, rate, ETA); elsewhere it prints a plain line at most every few
// seconds, so CI logs stay readable. It writes to stderr, leaving stdout to the results.
import { formatDuration } from './format.js';

export interface ProgressOptions {
  label: string;
  /** How amounts are written (bytes, work units…). */
  format: (n: number) => string;
  total?: number;
  out?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Redraw in place; default: whether `out` is a terminal. */
  tty?: boolean;
  /** Without a terminal, the least time between two lines. */
  logEveryMs?: number;
}

export interface ProgressUpdate {
  total?: number;
  /** Per second, when the caller knows better than the bar's own measurement. */
  rate?: number;
  etaMs?: number | null;
  /** A word or two after the numbers, e.g. "reconnecting". */
  note?: string;
}

const BAR_WIDTH = 24;
const REDRAW_MS = 100;
const RATE_WINDOW_MS = 5_000;

export class ProgressBar {
  private readonly out: NonNullable<ProgressOptions['out']>;
  private readonly tty: boolean;
  private readonly logEveryMs: number;
  private total: number | undefined;
  private current = 0;
  private last: ProgressUpdate = {};
  private lastDrawAt = -Infinity;
  private drawnWidth = 0;
  private readonly samples: { at: number; value: number }[] = [];
  private pending: NodeJS.Timeout | undefined;

  constructor(private readonly options: ProgressOptions) {
    this.out = options.out ?? process.stderr;
    this.tty = options.tty ?? this.out.isTTY === true;
    this.logEveryMs = options.logEveryMs ?? 5_000;
    this.total = options.total;
    // Without a terminal, a short operation shows only its final line.
    if (!this.tty) this.lastDrawAt = Date.now();
  }

  update(current: number, update: ProgressUpdate = {}): void {
    const now = Date.now();
    this.current = current;
    if (update.total !== undefined) this.total = update.total;
    this.last = update;
    this.samples.push({ at: now, value: current });
    while (this.samples.length > 2 && now - this.samples[0]!.at > RATE_WINDOW_MS) this.samples.shift();
    const wait = this.lastDrawAt + (this.tty ? REDRAW_MS : this.logEveryMs) - now;
    if (wait <= 0) this.draw(now);
    // Too soon to draw: draw the latest state later, so the last update is never lost.
    else this.pending ??= setTimeout(() => this.draw(Date.now()), wait).unref();
  }

  /** Draws the final state and ends the line; `summary` replaces the numbers when given. */
  finish(summary?: string): void {
    this.cancelPending();
    if (summary === undefined) this.draw(Date.now(), true);
    else if (this.tty) this.write(`${this.options.label} ${summary}`, true);
    else this.out.write(`${this.options.label} ${summary}\n`);
  }

  /** Removes the line from a terminal (e.g. before an error message). */
  clear(): void {
    this.cancelPending();
    if (this.tty && this.drawnWidth > 0) this.out.write('\r\x1b[K');
    this.drawnWidth = 0;
  }

  private cancelPending(): void {
    clearTimeout(this.pending);
    this.pending = undefined;
  }

  private rate(now: number): number | undefined {
    if (this.last.rate !== undefined) return this.last.rate;
    const first = this.samples[0];
    if (!first || now - first.at < 500) return undefined;
    return ((this.current - first.value) * 1000) / (now - first.at);
  }

  private draw(now: number, final = false): void {
    this.cancelPending();
    this.lastDrawAt = now;
    const { format, label } = this.options;
    const total = this.total;
    const fraction = total ? Math.min(1, this.current / total) : undefined;
    const rate = this.rate(now);
    let eta = this.last.etaMs ?? undefined;
    if (eta === undefined && rate && rate > 0 && total !== undefined) eta = ((total - this.current) / rate) * 1000;
    const parts = [
      fraction === undefined ? undefined : `${(fraction * 100).toFixed(0).padStart(3)}%`,
      total === undefined ? format(this.current) : `${format(this.current)} of ${format(total)}`,
      rate === undefined || final ? undefined : `${format(rate)}/s`,
      eta === undefined || final || fraction === 1 ? undefined : `ETA ${formatDuration(eta)}`,
      this.last.note,
    ].filter((p): p is string => p !== undefined);
    if (this.tty) {
      const bar = fraction === undefined ? '' : ` [${'█'.repeat(Math.round(fraction * BAR_WIDTH)).padEnd(BAR_WIDTH, '░')}]`;
      this.write(`${label}${bar} ${parts.join('  ')}`, final);
    } else {
      this.out.write(`${label} ${parts.map((p) => p.trim()).join(', ')}\n`);
    }
  }

  private write(line: string, final: boolean): void {
    const width = (this.out.columns || 100) - 1;
    const shown = line.length > width ? line.slice(0, width) : line;
    this.out.write(`\r${shown}\x1b[K${final ? '\n' : ''}`);
    this.drawnWidth = final ? 0 : shown.length;
  }
}
