// What the daemon remembers across restarts besides its journal: counters (tasks done, errors)
// and what its owner set with the companion (paused, no new tasks from all or some projects).
// One small JSON file in the data dir, written durably (temp file, fsync, rename); counter
// changes are batched for a second, a control change is written before it is acknowledged.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../common/durable-file.js';

const COUNTER_FLUSH_MS = 1_000;

const StateSchema = z.object({
  done: z.number().int().nonnegative().default(0),
  errors: z.number().int().nonnegative().default(0),
  /** Paused with `volunteer-grid-volunteer pause`, until `resume`. */
  paused: z.boolean().default(false),
  /** No new tasks from any project. */
  noNewTasks: z.boolean().default(false),
  /** No new tasks from these projects (by name). */
  noNewTasksProjects: z.array(z.string().min(1).max(200)).max(1000).default([]),
});
export type State = z.infer<typeof StateSchema>;

export class DaemonState {
  readonly file: string;
  private state: State;
  private timer: NodeJS.Timeout | undefined;

  /** Reads the file; one that does not parse is reported, not silently reset. */
  constructor(dataDir: string) {
    this.file = join(dataDir, 'state.json');
    if (!existsSync(this.file)) {
      this.state = StateSchema.parse({});
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch (e) {
      throw new Error(`${this.file} is not valid JSON (${(e as Error).message}); fix or remove it`);
    }
    const parsed = StateSchema.safeParse(raw);
    if (!parsed.success) throw new Error(`${this.file}: ${z.prettifyError(parsed.error)}; fix or remove it`);
    this.state = parsed.data;
  }

  get value(): Readonly<State> {
    return this.state;
  }

  /** Counts a result; written within a second. */
  count(outcome: 'done' | 'error'): void {
    if (outcome === 'done') this.state.done++;
    else this.state.errors++;
    this.timer ??= setTimeout(() => this.flush(), COUNTER_FLUSH_MS).unref();
  }

  /** Changes a control and writes it at once. */
  set(change: Partial<Pick<State, 'paused' | 'noNewTasks' | 'noNewTasksProjects'>>): void {
    Object.assign(this.state, change);
    this.flush();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    writeFileDurably(this.file, `${JSON.stringify(this.state, null, 2)}\n`, 0o600);
  }
}
