// A child process of the peer scenario spoken to over IPC: started through tsx like the
// benchmark's other children (so /proc figures are its own), messages waited for by type, an
// 'error' message or an exit failing the wait.
import type { ChildProcess } from 'node:child_process';
import { exited, spawnTs, stopChild } from '../children.js';
import { sampleProcess, type ProcSample } from '../proc-stats.js';
import type { FromChild, ToChild } from './peer-messages.js';

export class IpcChild {
  private readonly inbox: FromChild[] = [];
  private readonly waiters: (() => void)[] = [];
  private readonly child: ChildProcess;

  constructor(
    readonly label: string,
    entry: string,
    config: unknown,
  ) {
    this.child = spawnTs(entry, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: FromChild) => {
      this.inbox.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.once('exit', () => {
      for (const w of this.waiters.splice(0)) w();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  sample(): ProcSample {
    return sampleProcess(this.pid);
  }

  send(m: ToChild): void {
    if (this.child.connected) this.child.send(m);
  }

  /** The next message of this type (an 'error' message, an exit or the timeout fails it). */
  async receive<T extends FromChild['type']>(type: T, timeoutMs: number): Promise<Extract<FromChild, { type: T }>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const k = this.inbox.findIndex((m) => m.type === type || m.type === 'error');
      if (k >= 0) {
        const m = this.inbox.splice(k, 1)[0]!;
        if (m.type === 'error') throw new Error(`${this.label}: ${m.message}`);
        return m as Extract<FromChild, { type: T }>;
      }
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before "${type}"`);
      const left = until - Date.now();
      if (left <= 0) throw new Error(`${this.label}: no "${type}" within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Rejects as soon as it reports an error or exits, for racing against another child's answer:
   * a worker that fails must end the run at once, not leave the validator waiting for its jobs.
   */
  async failure(): Promise<never> {
    for (;;) {
      const m = this.inbox.find((x) => x.type === 'error');
      if (m && m.type === 'error') throw new Error(`${this.label}: ${m.message}`);
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode})`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Asks it to close its connections and leave; SIGTERM, then SIGKILL, if it does not. */
  async close(): Promise<void> {
    this.send({ type: 'exit' });
    await Promise.race([exited(this.child), new Promise((r) => setTimeout(r, 5000))]);
    await stopChild(this.child, 2000);
  }
}
