// A job over many rows done a chunk per transaction, off the request path (credit corrections,
// priority lowerings): each chunk records where it got to, so that a crash resumes the job at the
// next start. Runs one key at a time, until each is done; a kick while it runs makes it look
// again for keys added meanwhile before it stops.
import { setImmediate as nextTurn } from 'node:timers/promises';

export class ChunkedJob<K> {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    /** The keys with work left, as the store has them now. */
    private readonly pending: () => Promise<K[]>,
    /** One chunk of one key's work, in its own transaction; true when that key is done. */
    private readonly part: (key: K) => Promise<boolean>,
  ) {}

  /** Runs what is pending (call at start to resume); resolves when none is left. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.stopped = true;
  }

  private async run(): Promise<void> {
    do {
      this.again = false;
      for (const key of await this.pending()) {
        // A turn before each chunk: requests go first, and a stop meanwhile is seen in time.
        do {
          await nextTurn();
          if (this.stopped) return;
        } while (!(await this.part(key)));
      }
    } while (this.again && !this.stopped);
  }
}
