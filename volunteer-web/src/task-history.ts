// The page's task list in IndexedDB: a record per task it was given (volunteer-core/task-history.ts
// says what each event does to one), the latest MAX_RECORDS kept. Written as things happen,
// without waiting for the disk: the list is for the volunteer to read, the journal is what
// keeps tasks and results safe.
import { overflow, TaskRecordSchema, type TaskRecord } from '../../volunteer-core/task-history.js';
import type { Idb } from './idb.js';

export const MAX_RECORDS = 500;

export class TaskHistory {
  private readonly records = new Map<number, TaskRecord>();

  private constructor(private readonly db: Idb) {}

  static async load(db: Idb): Promise<TaskHistory> {
    const h = new TaskHistory(db);
    for (const v of await db.all<unknown>('history')) {
      const r = TaskRecordSchema.safeParse(v);
      if (r.success) h.records.set(r.data.taskId, r.data as TaskRecord);
    }
    return h;
  }

  get(taskId: number): TaskRecord | undefined {
    return this.records.get(taskId);
  }

  /** Newest first. */
  list(): TaskRecord[] {
    return [...this.records.values()].sort((a, b) => b.receivedAt - a.receivedAt || b.taskId - a.taskId);
  }

  projectOf = (taskId: number): string | undefined => this.records.get(taskId)?.project;

  /** Stores a record (new or changed), then drops the oldest finished ones past MAX_RECORDS. */
  put(r: TaskRecord): void {
    this.records.set(r.taskId, r);
    const drop = overflow([...this.records.values()], MAX_RECORDS);
    for (const id of drop) this.records.delete(id);
    void this.db.putAll([['history', r.taskId, r]]).catch(() => undefined);
    if (drop.length > 0) void this.db.deleteAll(drop.map((id) => ['history', id] as const)).catch(() => undefined);
  }

  /** Changes a record that exists; returns it. */
  update(taskId: number, change: (r: TaskRecord) => TaskRecord): TaskRecord | undefined {
    const r = this.records.get(taskId);
    if (!r) return undefined;
    const next = change(r);
    if (next !== r) this.put(next);
    return next;
  }
}
