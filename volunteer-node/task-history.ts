// The daemon's task list, as the page's (volunteer-core/task-history.ts says what each event does
// to a record): the latest MAX_RECORDS tasks it was given and what came of them, for
// `volunteer-grid-volunteer tasks`. One file in the data dir, history.json, written durably within
// a second of a change: the list is for the owner to read; the journal is what keeps tasks and
// results safe, so a record lost in a crash costs nothing but its line.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../common/durable-file.js';
import { overflow, TaskRecordSchema, type TaskRecord } from '../volunteer-core/task-history.js';

export const MAX_RECORDS = 200;
const FLUSH_MS = 1_000;

export class TaskHistoryFile {
  readonly file: string;
  private readonly records = new Map<number, TaskRecord>();
  private timer: NodeJS.Timeout | undefined;

  /** Reads the file; records that do not parse (or a file that does not) are left out: it is a list to read, not a ledger. */
  constructor(dataDir: string) {
    this.file = join(dataDir, 'history.json');
    if (!existsSync(this.file)) return;
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(this.file, 'utf8'));
    } catch {
      return;
    }
    const list = z.array(z.unknown()).safeParse(raw);
    for (const v of list.success ? list.data : []) {
      const r = TaskRecordSchema.safeParse(v);
      if (r.success) this.records.set(r.data.taskId, r.data);
    }
  }

  get(taskId: number): TaskRecord | undefined {
    return this.records.get(taskId);
  }

  /** Newest first. */
  list(): TaskRecord[] {
    return [...this.records.values()].sort((a, b) => b.receivedAt - a.receivedAt || b.taskId - a.taskId);
  }

  /** Stores a record (new or changed), drops the oldest finished ones past MAX_RECORDS, and writes within a second. */
  put(r: TaskRecord): void {
    this.records.set(r.taskId, r);
    for (const id of overflow([...this.records.values()], MAX_RECORDS)) this.records.delete(id);
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  /** Changes a record that exists; returns it. */
  update(taskId: number, change: (r: TaskRecord) => TaskRecord): TaskRecord | undefined {
    const r = this.records.get(taskId);
    if (!r) return undefined;
    const next = change(r);
    if (next !== r) this.put(next);
    return next;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    writeFileDurably(this.file, `${JSON.stringify(this.list())}\n`, 0o600);
  }
}
