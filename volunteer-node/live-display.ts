// On a terminal: a live line per thread (app, progress bar, task; or why it is idle) under a
// summary line, with warnings printed above them. Elsewhere the daemon's structured log lines
// tell the same story. Every line is cut to the terminal's width: a line that wrapped would
// take two rows, and the next redraw, moving up one row per line, would leave half of it behind.
import type { DaemonView } from './daemon.js';
import { describeStopping } from './daemon.js';

const BAR = 24;
const REFRESH_MS = 500;
const GREEN = '\x1b[32m';
const YELLOW = '\x1b[33m';
const RED = '\x1b[31m';
const RESET = '\x1b[0m';

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

  /** Prints a line above the live block: a structured log line, for a person to read. */
  print(line: string): void {
    this.clear();
    this.out.write(`${readable(line.trimEnd())}\n`);
    this.draw();
  }

  redraw(): void {
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
    const lines = frame(this.view(), this.threads, Date.now());
    const width = this.out.columns || 120;
    this.clear();
    this.out.write(`${lines.map((l) => fit(l, width)).join('\n')}\n`);
    this.drawn = lines.length;
  }
}

/** The lines of one frame, with colours, before they are cut to the terminal's width. */
export function frame(v: DaemonView, threads: number, now: number): string[] {
  const c = v.connection;
  const state =
    c.state === 'connected'
      ? `${GREEN}● connected${c.instance === undefined ? '' : ` to ${c.instance}`}${RESET}`
      : c.problem !== undefined
        ? `${RED}○ not connected${RESET}`
        : `${YELLOW}○ ${c.state === 'lost' ? 'reconnecting' : 'connecting'}${RESET}`;
  const lines = [`${state}  done ${v.done}  errors ${v.errors}  queued ${v.queued}  unreported ${v.unreported}  credit ${v.credit.toFixed(2)}`];
  // Why it is not connected, on a line of its own so the counts above stay in view.
  const retry = c.state !== 'connected' && c.retryInMs !== undefined ? `; next try${c.instance === undefined ? '' : ` ${c.instance}`} in ${Math.ceil(c.retryInMs / 1000)} s` : '';
  if (c.state === 'lost') lines.push(`  lost the coordinator ${formatSince(c.sinceMs)} ago: ${c.reason}${c.problem && c.problem !== c.reason ? `; ${c.problem}` : ''}; retrying${retry.replace(/^; /, ', ')}`);
  else if (c.state === 'connecting' && c.problem !== undefined) lines.push(`  cannot connect: ${c.problem}${retry}`);
  if (v.stopping) lines.push(`  ${YELLOW}${describeStopping(v.stopping, now)}${RESET}`);
  else if (v.paused.length > 0) lines.push(`  ${YELLOW}${v.paused.join('; ')}${RESET}`);
  for (let i = 0; i < threads; i++) {
    const t = v.running[i];
    if (!t) {
      lines.push(`  [${i + 1}] idle${v.idle ? `: ${v.idle}` : ''}`);
      continue;
    }
    const filled = Math.round(t.progress * BAR);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(BAR - filled)}`;
    lines.push(`  [${i + 1}] ${bar} ${(t.progress * 100).toFixed(0).padStart(3)}%  ${t.project}/${t.app}  task ${t.taskId}`);
  }
  return lines;
}

/** Cuts a line to `width` visible characters (colour codes take none), ending with … when cut. */
export function fit(line: string, width: number): string {
  const max = Math.max(1, width - 1); // the last column would make some terminals wrap
  let visible = 0;
  let out = '';
  for (let i = 0; i < line.length; ) {
    const esc = /^\x1b\[[0-9;]*m/.exec(line.slice(i));
    if (esc) {
      out += esc[0];
      i += esc[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i)!);
    if (visible === max - 1 && visibleLength(line.slice(i)) > 1) return `${out}…${RESET}`;
    out += ch;
    visible++;
    i += ch.length;
  }
  return out;
}

/** A JSON log line as "00:07:52 warn  cannot connect…: problem=…, retryInSeconds=4"; other text as it is. */
export function readable(line: string): string {
  let entry: unknown;
  try {
    entry = JSON.parse(line);
  } catch {
    return line;
  }
  if (!entry || typeof entry !== 'object' || typeof (entry as { msg?: unknown }).msg !== 'string') return line;
  const { time, level, msg, ...fields } = entry as { time?: string; level?: string; msg: string } & Record<string, unknown>;
  const at = typeof time === 'string' ? new Date(time).toTimeString().slice(0, 8) : '';
  const colour = level === 'error' ? RED : level === 'warn' ? YELLOW : '';
  const rest = Object.entries(fields).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  return `${at} ${colour}${(level ?? '').padEnd(5)}${colour ? RESET : ''} ${msg}${rest.length > 0 ? `: ${rest.join(', ')}` : ''}`;
}

const visibleLength = (s: string) => [...s.replace(/\x1b\[[0-9;]*m/g, '')].length;

/** 45 s, 3 min 05 s. */
function formatSince(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}
