// The daemon's task list, as the page's (volunteer-core/task-history.ts says what each event does
// to a record): the latest MAX_RECORDS tasks it was given and what came of them, for
// `volunteer-grid-volunteer tasks`. One file in the data dir, history.json, written durably within
// a second of a change: the list is for the owner to read; the journal is what keeps tasks and
// results safe, so a record lost in a crash costs nothing but its line.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurably } from '../common/durable-file.js';
import { TaskList, TaskRecordSchema, type TaskRecord } from '../volunteer-core/task-history.js';

export const MAX_RECORDS = 200;
const FLUSH_MS = 1_000;

export class TaskHistoryFile extends TaskList {
  readonly file: string;
  private timer: NodeJS.Timeout | undefined;

  /** Reads the file; records that do not parse (or a file that does not) are left out: it is a list to read, not a ledger. */
  constructor(dataDir: string) {
    super(MAX_RECORDS);
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

  /** Written within a second of a change. */
  protected stored(): void {
    this.timer ??= setTimeout(() => this.flush(), FLUSH_MS).unref();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    writeFileDurably(this.file, `${JSON.stringify(this.list())}\n`, 0o600);
  }
}
