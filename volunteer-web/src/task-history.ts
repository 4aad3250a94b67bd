// The page's task list in IndexedDB: a record per task it was given (volunteer-core/task-history.ts
// says what each event does to one), the latest MAX_RECORDS kept. Written as things happen,
// without waiting for the disk: the list is for the volunteer to read, the journal is what
// keeps tasks and results safe.
import { TaskList, TaskRecordSchema, type TaskRecord } from '../../volunteer-core/task-history.js';
import type { Idb } from './idb.js';

export const MAX_RECORDS = 500;

export class TaskHistory extends TaskList {
  private constructor(private readonly db: Idb) {
    super(MAX_RECORDS);
  }

  static async load(db: Idb): Promise<TaskHistory> {
    const h = new TaskHistory(db);
    for (const v of await db.all<unknown>('history')) {
      const r = TaskRecordSchema.safeParse(v);
      if (r.success) h.records.set(r.data.taskId, r.data as TaskRecord);
    }
    return h;
  }

  projectOf = (taskId: number): string | undefined => this.records.get(taskId)?.project;

  /** Written as it happens, without waiting for the disk. */
  protected stored(r: TaskRecord, dropped: readonly number[]): void {
    void this.db.putAll([['history', r.taskId, r]]).catch(() => undefined);
    if (dropped.length > 0) void this.db.deleteAll(dropped.map((id) => ['history', id] as const)).catch(() => undefined);
  }
}
