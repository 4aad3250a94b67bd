// The daemon's memory across crashes: every task it holds, the last checkpoint of each, and
// every finished result until the coordinator has acknowledged it. One file per item, written
// durably, so a kill -9 at any moment loses neither work nor results.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../common/durable-file.js';
import { ResultSchema, TaskSchema, type Result, type Task } from '../protocol/messages.js';
import type { Logger } from '../common/log.js';

const KINDS = ['tasks', 'checkpoints', 'results'] as const;

export class TaskJournal {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    for (const kind of KINDS) mkdirSync(join(dir, kind), { recursive: true });
  }

  saveTask(task: Task): void {
    writeFileDurably(this.path('tasks', task.taskId), JSON.stringify(task));
  }

  saveCheckpoint(taskId: number, stateJson: string): void {
    writeFileDurably(this.path('checkpoints', taskId), stateJson);
  }

  checkpoint(taskId: number): string | undefined {
    const file = this.path('checkpoints', taskId);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  saveResult(result: Result): void {
    writeFileDurably(this.path('results', result.taskId), JSON.stringify(result));
  }

  /** Drops everything about a task: acknowledged, aborted or given back. */
  forget(taskId: number): void {
    for (const kind of KINDS) rmSync(this.path(kind, taskId), { force: true });
  }

  tasks(): Task[] {
    return this.load('tasks', (v) => TaskSchema.parse(v));
  }

  results(): Result[] {
    return this.load('results', (v) => ResultSchema.parse(v));
  }

  private load<T>(kind: (typeof KINDS)[number], parse: (v: unknown) => T): T[] {
    const out: T[] = [];
    for (const name of readdirSync(join(this.dir, kind))) {
      if (!/^\d+\.json$/.test(name)) continue; // temporary files of an interrupted write
      try {
        out.push(parse(JSON.parse(readFileSync(join(this.dir, kind, name), 'utf8'))));
      } catch (e) {
        this.log.warn('dropping an unreadable journal file', { kind, file: name, error: (e as Error).message });
        rmSync(join(this.dir, kind, name), { force: true });
      }
    }
    return out;
  }

  private path(kind: (typeof KINDS)[number], taskId: number): string {
    return join(this.dir, kind, `${taskId}.json`);
  }
}
