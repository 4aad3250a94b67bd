// Browser tabs come and go: when a host has had no connection for the grace period, its tasks
// in progress are given up ("no reply") and reissued, instead of waiting for their deadlines.
// Its results are still accepted if they arrive while their work units are open.
import { errorFields, type Logger } from '../../common/log.js';

/** The most a closing coordinator waits for hosts being given up (one stuck asking who is connected must not hold it). */
const CLOSE_WAIT_MS = 5_000;

export class DisconnectGrace {
  private readonly timers = new Map<number, NodeJS.Timeout>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly graceMs: number,
    /** Asked of every instance in a cluster: the host may have come back to another one. */
    private readonly isOnline: (hostId: number) => Promise<boolean>,
    private readonly giveUp: (hostId: number) => Promise<number>,
    private readonly log: Logger,
  ) {}

  joined(hostId: number): void {
    const t = this.timers.get(hostId);
    if (t) clearTimeout(t);
    this.timers.delete(hostId);
  }

  /** The host's last connection closed (or, at start, it held tasks): start its grace period. */
  left(hostId: number): void {
    // Closing disconnects every socket: those hosts did not go away, the coordinator did.
    if (this.closed || this.timers.has(hostId)) return;
    const timer = setTimeout(() => {
      this.timers.delete(hostId);
      const giving = this.isOnline(hostId)
        .then(
          (online) => (online ? 0 : this.giveUp(hostId)),
          (e: unknown) => {
            // Not every instance answered: the host may be on the one that did not. Wait another grace period.
            this.log.warn('could not tell whether a host came back; asking again after the grace period', { hostId, ...errorFields(e) });
            if (!this.closed) this.left(hostId);
            return 0;
          },
        )
        .then(
          (n) => n > 0 && this.log.info('reissuing the tasks of a host that went away', { hostId, tasks: n, graceMs: this.graceMs }),
          (e: unknown) => this.log.error('giving up a host’s tasks failed', { hostId, ...errorFields(e) }),
        );
      this.running.add(giving);
      void giving.finally(() => this.running.delete(giving));
    }, this.graceMs);
    timer.unref();
    this.timers.set(hostId, timer);
  }

  /** Starts no more grace periods, and resolves once the hosts being given up now are (or after a few seconds). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.running), new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
  }
}
