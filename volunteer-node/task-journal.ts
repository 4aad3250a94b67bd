// The daemon's memory across crashes: every task it holds, the last checkpoint of each, and
// every finished result until the coordinator has acknowledged it. One file per item, written
// durably, so a kill -9 at any moment loses neither work nor results.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurably } from '../common/durable-file.js';
import type { UnsignedResult, UnsignedTask } from '../protocol/messages.js';
import { KeptResultSchema, KeptTaskSchema } from '../volunteer-core/kept.js';
import type { Logger } from '../common/log.js';
import type { TaskJournal as Journal } from '../volunteer-core/task-engine.js';

const KINDS = ['tasks', 'checkpoints', 'results'] as const;

/** The engine's journal on files; writes are synchronous underneath, so each is done when its promise is made. */
export class TaskJournal implements Journal {
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    for (const kind of KINDS) mkdirSync(join(dir, kind), { recursive: true });
  }

  async saveTask(task: UnsignedTask): Promise<void> {
    writeFileDurably(this.path('tasks', task.taskId), JSON.stringify(task));
  }

  async saveCheckpoint(taskId: number, stateJson: string): Promise<void> {
    writeFileDurably(this.path('checkpoints', taskId), stateJson);
  }

  async checkpoint(taskId: number): Promise<string | undefined> {
    const file = this.path('checkpoints', taskId);
    return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  }

  async saveResult(result: UnsignedResult): Promise<void> {
    writeFileDurably(this.path('results', result.taskId), JSON.stringify(result));
  }

  /** Drops everything about a task: acknowledged, aborted or given back. */
  async forget(taskId: number): Promise<void> {
    for (const kind of KINDS) rmSync(this.path(kind, taskId), { force: true });
  }

  async tasks(): Promise<UnsignedTask[]> {
    return this.load('tasks', (v) => KeptTaskSchema.parse(v));
  }

  async results(): Promise<UnsignedResult[]> {
    return this.load('results', (v) => KeptResultSchema.parse(v));
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
