// A job over many rows done a chunk per transaction, off the request path (host re-checks, credit
// corrections, priority lowerings): each chunk records where it got to, so that a crash resumes
// the job at the next start, or on another instance. Runs one key at a time, until each is done.
// In a coordinator it runs as turns under a lease (`run`, each chunk fenced); a core on its own
// runs it by `kick` (a kick while it runs makes it look again for keys added meanwhile).
import { setImmediate as nextTurn } from 'node:timers/promises';
import { UNFENCED, type Fence, type Step } from '../cluster/fence.js';

export class ChunkedJob<K> {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    /** The keys with work left, as the store has them now. */
    private readonly pending: () => Promise<K[]>,
    /** One chunk of one key's work, in its own transaction that asks the fence first. */
    private readonly part: (key: K, fence: Fence) => Promise<Step>,
  ) {}

  /** Runs what is pending, unfenced (call at start to resume); resolves when none is left. */
  kick(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.run(UNFENCED);
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** One pass over what is pending now, each chunk fenced; ends at the first refusal. */
  async run(fence: Fence): Promise<void> {
    for (const key of await this.pending()) {
      // A turn before each chunk: requests go first, and a stop meanwhile is seen in time.
      for (;;) {
        await nextTurn();
        if (this.stopped) return;
        const step = await this.part(key, fence);
        if (step === 'fenced') return;
        if (step === 'done') break;
      }
    }
  }

  /** Stops after the chunk in hand (the coordinator is closing); the next start resumes. */
  stop(): void {
    this.stopped = true;
  }
}
