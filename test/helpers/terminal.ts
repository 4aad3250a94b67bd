// A real terminal for programs that draw on one: a detached tmux session of a fixed size, what
// it shows read with capture-pane (the screen as a person sees it, after every cursor move),
// keys sent as a person types them. Without tmux the tests that need it are skipped with a
// message saying how to install it, except under CI=true, where that is a failure.
import { execFileSync, spawnSync } from 'node:child_process';

export function findTmux(): boolean {
  return spawnSync('tmux', ['-V'], { stdio: 'ignore' }).status === 0;
}

export function skipTerminalTests(suite: string): boolean {
  if (findTmux() || process.env.CI === 'true') return false;
  console.warn(`[${suite}] skipped: no tmux; install it (apt-get install tmux) to run the live display in a real terminal`);
  return true;
}

let sessions = 0;

export class Terminal {
  private constructor(readonly name: string) {}

  /** Runs `argv` (in `cwd`, with `env` added) in a new detached terminal of cols × rows. */
  static start(argv: string[], options: { cols: number; rows: number; cwd: string; env?: Record<string, string> }): Terminal {
    const name = `vg-test-${process.pid}-${++sessions}`;
    const env = Object.entries(options.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // remain-on-exit keeps the last screen to read after the program ends.
    execFileSync('tmux', ['new-session', '-d', '-s', name, '-x', String(options.cols), '-y', String(options.rows), '-c', options.cwd, ...env, ...argv]);
    execFileSync('tmux', ['set-option', '-t', name, 'remain-on-exit', 'on']);
    return new Terminal(name);
  }

  /** The screen's rows as text (colours left out), trailing blank rows dropped. */
  screen(): string[] {
    const text = execFileSync('tmux', ['capture-pane', '-p', '-t', this.name], { encoding: 'utf8' });
    const rows = text.split('\n').map((r) => r.trimEnd());
    while (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
    return rows;
  }

  keys(...keys: string[]): void {
    execFileSync('tmux', ['send-keys', '-t', this.name, ...keys]);
  }

  /** Whether the program in it has exited. */
  exited(): boolean {
    return execFileSync('tmux', ['display-message', '-p', '-t', this.name, '#{pane_dead}'], { encoding: 'utf8' }).trim() === '1';
  }

  async waitForScreen(what: string, check: (rows: string[]) => boolean, timeoutMs = 20_000): Promise<string[]> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const rows = this.screen();
      if (check(rows)) return rows;
      if (Date.now() > until) throw new Error(`the terminal never showed ${what}; it shows:\n${rows.join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  close(): void {
    spawnSync('tmux', ['kill-session', '-t', this.name], { stdio: 'ignore' });
  }
}
