// Re-checks what a caught host's results already decided: work unit by work unit, a chunk per
// transaction (a host may have thousands of valid results, and the coordinator must keep
// serving meanwhile). Each caught host's re-check waits until its `recheck_at` (a random delay
// after the catch, so the moment its credit is revoked does not point at the report that gave
// it away). The host's `recheck_pending` flag is cleared with the last chunk, so a crash
// resumes the job at the next start.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Store } from '../store/store.js';
import { Outbox, type HostNotifier } from './outbox.js';
import type { Transitioner } from './transitioner.js';

/** Work units re-checked per transaction. */
const CHUNK = 200;
/** setTimeout's longest delay; and the shortest, so that a re-check that keeps failing is retried at a walk. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MIN_TIMER_MS = 1000;

export class HostRecheck {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly store: Store,
    private readonly transitioner: Transitioner,
    private readonly notifier: HostNotifier,
    private readonly clock: () => number,
    private readonly onError: (e: unknown) => void,
  ) {}

  /**
   * Runs the job until no host is due, and resolves then (a timer is left for the next one due).
   * A kick while it runs makes it look again before it stops: a host caught meanwhile is not missed.
   */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.again = true;
    this.running ??= this.loop();
    return this.running;
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async loop(): Promise<void> {
    try {
      while (this.again && !this.stopped) {
        this.again = false;
        await this.run();
      }
    } finally {
      // In the same turn as the last look: a kick after it starts a new loop.
      this.running = undefined;
      this.scheduleNext().catch(this.onError);
    }
  }

  private async run(): Promise<void> {
    for (const hostId of (await this.store.identities.hostsToRecheck(this.clock()))) {
      while (!this.stopped && !(await this.part(hostId))) await nextTurn();
      if (this.stopped) return;
    }
  }

  private async scheduleNext(): Promise<void> {
    clearTimeout(this.timer);
    if (this.stopped || !this.store.open) return;
    const at = await this.store.identities.nextRecheckAt();
    // Stopped meanwhile, or another call armed one since: one timer at most, none after a stop.
    clearTimeout(this.timer);
    if (at === undefined || this.stopped) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(MIN_TIMER_MS, at - this.clock()));
    this.timer = setTimeout(() => void this.kick().catch(this.onError), delay);
    this.timer.unref();
  }

  /** One chunk of one host; true when the host is done. */
  private async part(hostId: number): Promise<boolean> {
    const outbox = new Outbox();
    const done = await this.store.transaction(async (tx) => {
      const { work, identities } = tx;
      const rows = await work.validRegularOfHost(hostId, CHUNK);
      for (const r of rows) await this.transitioner.withdraw(tx, r.workunitId, hostId, this.clock(), outbox);
      if (rows.length < CHUNK) await identities.markRechecked(hostId);
      return rows.length < CHUNK;
    });
    outbox.flush(this.notifier);
    return done;
  }
}
