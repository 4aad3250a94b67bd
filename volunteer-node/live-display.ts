// On a terminal: a live line per thread (app, progress bar, task) under a summary line, with
// warnings printed above them. Elsewhere the daemon's structured log lines tell the same story.
import type { DaemonView } from './daemon.js';

const BAR = 24;
const REFRESH_MS = 500;

export class LiveDisplay {
  private drawn = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly view: () => DaemonView,
    private readonly threads: number,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {
    this.timer = setInterval(() => this.draw(), REFRESH_MS);
    this.timer.unref();
  }

  /** Prints a line above the live block (used for log lines). */
  print(line: string): void {
    this.clear();
    this.out.write(line.endsWith('\n') ? line : `${line}\n`);
    this.draw();
  }

  stop(): void {
    clearInterval(this.timer);
    this.draw();
  }

  private clear(): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    const v = this.view();
    const width = this.out.columns || 120;
    const c = v.connection;
    const state = c.state === 'connected' ? '\x1b[32m● connected\x1b[0m' : `\x1b[33m○ ${c.state === 'lost' ? 'reconnecting' : 'connecting'}\x1b[0m`;
    const lines = [`${state}  done ${v.done}  errors ${v.errors}  queued ${v.queued}  unreported ${v.unreported}  credit ${v.credit.toFixed(2)}`];
    // Why it is reconnecting, on a line of its own so the counts above stay in view.
    if (c.state === 'lost') lines.push(`  lost the coordinator ${formatSince(c.sinceMs)} ago: ${c.reason}; retrying`.slice(0, width));
    for (let i = 0; i < this.threads; i++) {
      const t = v.running[i];
      if (!t) {
        lines.push(`  [${i + 1}] idle`);
        continue;
      }
      const filled = Math.round(t.progress * BAR);
      const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR - filled)}`;
      lines.push(`  [${i + 1}] ${bar} ${(t.progress * 100).toFixed(0).padStart(3)}%  ${t.project}/${t.app}  task ${t.taskId}`);
    }
    this.clear();
    this.out.write(`${lines.map((l) => l.slice(0, width + 20)).join('\n')}\n`);
    this.drawn = lines.length;
  }
}

/** 45 s, 3 min 05 s. */
function formatSince(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
