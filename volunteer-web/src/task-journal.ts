// The page's memory across reloads and crashes: every task it holds, the last checkpoint of
// each, and every finished result until the coordinator has acknowledged it, in IndexedDB.
// Checkpoints and results are written with strict durability. The browser twin of
// volunteer-node/task-journal.ts.
import type { UnsignedResult, UnsignedTask } from '../../protocol/messages.js';
import { KeptResultSchema, KeptTaskSchema } from '../../volunteer-core/kept.js';
import type { TaskJournal as Journal } from '../../volunteer-core/task-engine.js';
import type { Idb } from './idb.js';

export class TaskJournal implements Journal {
  constructor(private readonly db: Idb) {}

  saveTask(task: UnsignedTask): Promise<void> {
    return this.db.put('tasks', task.taskId, task, true);
  }

  saveCheckpoint(taskId: number, stateJson: string): Promise<void> {
    return this.db.put('checkpoints', taskId, stateJson, true);
  }

  async checkpoint(taskId: number): Promise<string | undefined> {
    const json = await this.db.get<unknown>('checkpoints', taskId);
    return typeof json === 'string' ? json : undefined;
  }

  saveResult(result: UnsignedResult): Promise<void> {
    return this.db.put('results', result.taskId, result, true);
  }

  /** Drops everything about a task: acknowledged, aborted or given back. */
  forget(taskId: number): Promise<void> {
    return this.db.delete(['tasks', 'checkpoints', 'results'], taskId);
  }

  async tasks(): Promise<UnsignedTask[]> {
    return (await this.db.all<unknown>('tasks')).flatMap((v) => {
      const t = KeptTaskSchema.safeParse(v);
      return t.success ? [t.data] : [];
    });
  }

  async results(): Promise<UnsignedResult[]> {
    return (await this.db.all<unknown>('results')).flatMap((v) => {
      const r = KeptResultSchema.safeParse(v);
      return r.success ? [r.data] : [];
    });
  }
}
