// The JavaScript modules of an upload are parsed off the event loop: the parser volunteers load
// apps with (Babel, through @endo/module-source) takes seconds a MiB of dense code and gigabytes
// of heap (4 MiB held the coordinator's event loop 12 s; 16 MiB ran it out of memory). It runs in
// a worker thread (check-worker.ts), a module at a time, within a heap and a time limit; a module
// over either is refused by name.
import { CheckWorker } from './check-worker.js';

/** What a module imports and exports, or why it does not parse (naming the file, and line where the parser says). */
export type ModuleParse = { imports: string[]; exports: string[] } | { problem: string };

export interface ModuleRequest {
  name: string;
  bytes: Uint8Array;
}

export interface ModuleCheckLimits {
  heapMb: number;
  checkMs: number;
}

/**
 * The heap is what a volunteer gives a whole task by default (the daemon's --max-memory-mb): a
 * module that needs more just to parse cannot load there. A minute is far more than any module a
 * task could afford to load on every run.
 */
export const MODULE_CHECK_LIMITS: ModuleCheckLimits = { heapMb: 512, checkMs: 60_000 };
const IDLE_MS = 60_000;
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './module-check-worker.ts' : './module-check-worker.js', import.meta.url);

export class ModuleChecker {
  private readonly worker: CheckWorker<ModuleRequest, ModuleParse>;

  constructor(limits: ModuleCheckLimits = MODULE_CHECK_LIMITS) {
    this.worker = new CheckWorker({ url: WORKER_URL, checkMs: limits.checkMs, idleMs: IDLE_MS, resourceLimits: { maxOldGenerationSizeMb: limits.heapMb } });
  }

  async parse(f: ModuleRequest): Promise<ModuleParse> {
    const c = await this.worker.check({ name: f.name, bytes: f.bytes });
    if ('answer' in c) return c.answer;
    if (c.failed === 'crash') return { problem: `${f.name} could not be checked: ${c.message}` };
    return { problem: `${f.name} is too large to check: parsing it ${c.message}` };
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}
