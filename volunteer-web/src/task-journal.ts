// The page's memory across reloads and crashes: every task it holds, the last checkpoint of
// each, and every finished result until the coordinator has acknowledged it, in IndexedDB.
// Checkpoints and results are written with strict durability. The browser twin of
// volunteer-node/task-journal.ts.
import { ResultSchema, TaskSchema, type Result, type Task } from '../../protocol/messages.js';
import type { TaskJournal as Journal } from '../../volunteer-core/task-engine.js';
import type { Idb } from './idb.js';

export class TaskJournal implements Journal {
  constructor(private readonly db: Idb) {}

  saveTask(task: Task): Promise<void> {
    return this.db.put('tasks', task.taskId, task, true);
  }

  saveCheckpoint(taskId: number, stateJson: string): Promise<void> {
    return this.db.put('checkpoints', taskId, stateJson, true);
  }

  async checkpoint(taskId: number): Promise<string | undefined> {
    const json = await this.db.get<unknown>('checkpoints', taskId);
    return typeof json === 'string' ? json : undefined;
  }

  saveResult(result: Result): Promise<void> {
    return this.db.put('results', result.taskId, result, true);
  }

  /** Drops everything about a task: acknowledged, aborted or given back. */
  forget(taskId: number): Promise<void> {
    return this.db.delete(['tasks', 'checkpoints', 'results'], taskId);
  }

  async tasks(): Promise<Task[]> {
    return (await this.db.all<unknown>('tasks')).flatMap((v) => {
      const t = TaskSchema.safeParse(v);
      return t.success ? [t.data] : [];
    });
  }

  async results(): Promise<Result[]> {
    return (await this.db.all<unknown>('results')).flatMap((v) => {
      const r = ResultSchema.safeParse(v);
      return r.success ? [r.data] : [];
    });
  }
}
