// A pool of sandbox worker threads, one task each at a time, with the limits SES cannot give:
// a CPU-time limit per task (read from /proc, wall time where that is unavailable), a V8 heap
// limit per worker, a ceiling on the whole process's memory (typed arrays and WebAssembly
// memory live outside the V8 heap), and a stop for apps whose promise can never settle. A
// worker that breaks a limit is terminated and replaced; its task ends as a client error.
import { Worker } from 'node:worker_threads';
import type { AppOutcome, TaskHost } from '../../app-runtime/run-app.js';
import type { Logger } from '../../common/log.js';
import type { FromWorker, RunJob, ToWorker } from './messages.js';
import { threadCpuMs } from './thread-cpu.js';

// From TypeScript sources (tsx), a small boot file registers the loader in the worker first.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './worker-boot.mjs' : './worker-main.js', import.meta.url);
const WATCH_INTERVAL_MS = 250;
/** A task that uses no CPU this long, with no checkpoint being written, is waiting forever. */
const STALL_MS = 5_000;
/** An idle worker that burns this much CPU in one watch interval runs leftover app code. */
const IDLE_CPU_MS = 100;
/** After a task, how long a worker may take to drain what the app left before it is replaced. */
const SETTLE_MS = 1_000;

/** 'suspended': paused by the volunteer; the task runs again later from its last checkpoint. */
export type LimitCode = 'cpu_limit' | 'memory_limit' | 'app_stalled' | 'worker_crashed' | 'aborted' | 'suspended';
export type TaskOutcome = AppOutcome | { ok: false; code: LimitCode; message: string };

/** What a running task tells its volunteer: app-runtime's TaskHost. */
export type TaskEvents = TaskHost;

export interface Finished {
  outcome: TaskOutcome;
  cpuTimeMs: number;
  elapsedMs: number;
}

export interface SandboxPoolOptions {
  threads: number;
  /** V8 heap limit of each worker. */
  maxMemoryMb: number;
  maxCpuMs: number;
  log: Logger;
  /** Called whenever a worker becomes free for the next task. */
  onIdle?: () => void;
}

interface Running {
  job: RunJob;
  events: TaskEvents;
  resolve: (f: Finished) => void;
  startedAt: number;
  startCpu: number | undefined;
  lastCpu: number | undefined;
  lastCpuChangeAt: number;
  checkpointsPending: number;
  posted: boolean;
}

class Slot {
  worker!: Worker;
  tid: number | null | undefined; // undefined until the worker is ready
  running: Running | undefined;
  /** Since when the last task ended without the worker confirming it is idle. */
  settlingSince: number | undefined;
  idleCpu: number | undefined;
  private ready!: Promise<void>;

  constructor(private readonly pool: SandboxPool) {
    this.spawn();
  }

  spawn(): void {
    const { maxMemoryMb } = this.pool.options;
    this.tid = undefined;
    this.idleCpu = undefined;
    this.settlingSince = undefined;
    this.worker = new Worker(WORKER_URL, {
      resourceLimits: { maxOldGenerationSizeMb: maxMemoryMb, maxYoungGenerationSizeMb: Math.min(64, Math.max(8, maxMemoryMb >> 3)), stackSizeMb: 4 },
      stdout: true, // app code has no console of its own; anything printed is dropped
      stderr: true,
    });
    const worker = this.worker;
    worker.stdout.resume(); // drained, not shown
    worker.stderr.resume();
    this.ready = new Promise((resolve) => {
      worker.on('message', (m: FromWorker) => {
        if (worker !== this.worker) return;
        if (m.type === 'ready') {
          this.tid = m.tid;
          resolve();
          this.pool.slotFreed();
        } else if (m.type === 'idle') {
          if (m.leftPending > 0) {
            this.pool.options.log.debug('the last task left a compilation running; replacing its worker', { pending: m.leftPending });
            return this.replace();
          }
          this.settlingSince = undefined;
          this.idleCpu = this.cpu();
          this.pool.slotFreed();
        } else this.onMessage(m);
      });
    });
    worker.on('error', (e: Error & { code?: string }) => {
      if (worker !== this.worker) return;
      const memory = e.code === 'ERR_WORKER_OUT_OF_MEMORY';
      // The worker is gone: replace it now, so no task is handed to it while it exits.
      this.finish(
        memory ? 'memory_limit' : 'worker_crashed',
        memory ? `the task used more than ${maxMemoryMb} MB of heap` : `the sandbox worker failed: ${e.message}`,
      );
    });
    worker.on('exit', () => {
      if (worker !== this.worker || this.pool.closed) return;
      this.finish('worker_crashed', 'the sandbox worker exited', false);
      this.spawn();
    });
  }

  start(job: RunJob, events: TaskEvents): Promise<Finished> {
    return new Promise<Finished>((resolve) => {
      const r: Running = { job, events, resolve, startedAt: Date.now(), startCpu: undefined, lastCpu: undefined, lastCpuChangeAt: Date.now(), checkpointsPending: 0, posted: false };
      this.running = r; // claimed now, posted when the worker is ready
      void this.ready.then(() => {
        if (this.running !== r) return; // aborted while the worker started
        r.startCpu = r.lastCpu = this.cpu();
        r.startedAt = r.lastCpuChangeAt = Date.now();
        r.posted = true;
        this.post(job);
      });
    });
  }

  cpu(): number | undefined {
    return typeof this.tid === 'number' ? threadCpuMs(this.tid) : undefined;
  }

  private post(m: ToWorker): void {
    this.worker.postMessage(m);
  }

  get free(): boolean {
    return !this.running && this.settlingSince === undefined;
  }

  private onMessage(m: Exclude<FromWorker, { type: 'ready' | 'idle' }>): void {
    const r = this.running;
    if (!r || m.taskId !== r.job.taskId) return;
    switch (m.type) {
      case 'progress':
        r.events.progress(m.fraction);
        break;
      case 'log':
        r.events.log(m.level, m.text);
        break;
      case 'checkpoint':
        r.checkpointsPending++;
        r.events.checkpoint(m.stateJson).then(
          () => this.checkpointed(r, m.seq),
          (e: unknown) => this.checkpointed(r, m.seq, e instanceof Error ? e.message : String(e)),
        );
        break;
      case 'done':
        this.complete(m.outcome);
        break;
    }
  }

  private checkpointed(r: Running, seq: number, error?: string): void {
    r.checkpointsPending--;
    r.lastCpuChangeAt = Date.now();
    if (this.running === r) this.post({ type: 'checkpointed', seq, ...(error === undefined ? {} : { error }) });
  }

  private complete(outcome: TaskOutcome): void {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    this.settlingSince = Date.now();
    const end = this.cpu();
    const elapsedMs = Date.now() - r.startedAt;
    this.idleCpu = end;
    r.resolve({ outcome, elapsedMs, cpuTimeMs: end !== undefined && r.startCpu !== undefined ? end - r.startCpu : elapsedMs });
  }

  /** Ends the running task with a limit error and, if asked, replaces the worker. */
  finish(code: LimitCode, message: string, terminate = true): void {
    this.complete({ ok: false, code, message });
    if (terminate) this.replace();
  }

  replace(): void {
    const old = this.worker;
    if (!this.pool.closed) this.spawn();
    void old.terminate();
  }

  /** Called every WATCH_INTERVAL_MS. */
  watch(now: number): void {
    const { maxCpuMs } = this.pool.options;
    const cpu = this.cpu();
    const r = this.running;
    if (r && !r.posted) return;
    if (!r && this.settlingSince !== undefined) {
      if (now - this.settlingSince > SETTLE_MS) {
        this.pool.options.log.warn('sandbox worker still busy after its task; replacing it');
        this.replace();
      }
      return;
    }
    if (!r) {
      // An app can leave work behind (a promise loop) after its task ended.
      if (cpu !== undefined && this.idleCpu !== undefined && cpu - this.idleCpu > IDLE_CPU_MS) {
        this.pool.options.log.warn('sandbox worker busy while idle; replacing it');
        this.replace();
      } else this.idleCpu = cpu;
      return;
    }
    const used = cpu !== undefined && r.startCpu !== undefined ? cpu - r.startCpu : now - r.startedAt;
    if (used > maxCpuMs) return this.finish('cpu_limit', `the task used more than ${maxCpuMs / 1000} s of CPU time`);
    if (cpu !== undefined && cpu !== r.lastCpu) {
      r.lastCpu = cpu;
      r.lastCpuChangeAt = now;
    } else if (cpu !== undefined && r.checkpointsPending === 0 && now - r.lastCpuChangeAt > STALL_MS) {
      this.finish('app_stalled', 'the app is waiting for something that can never happen (no CPU used, nothing pending)');
    }
  }

  runningSince(): number | undefined {
    return this.running?.startedAt;
  }
}

export class SandboxPool {
  private readonly slots: Slot[];
  private readonly timer: NodeJS.Timeout;
  private readonly rssCeiling: number;
  private readonly waiting: { job: RunJob; events: TaskEvents; resolve: (f: Finished) => void }[] = [];
  closed = false;
  private paused = false;

  constructor(readonly options: SandboxPoolOptions) {
    this.slots = Array.from({ length: options.threads }, () => new Slot(this));
    // Heaps plus what typed arrays and WebAssembly memories may take, over today's footprint.
    this.rssCeiling = process.memoryUsage.rss() + options.threads * options.maxMemoryMb * 2 * 1024 * 1024;
    this.timer = setInterval(() => this.watch(), WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Free workers (none while paused). */
  get idle(): number {
    return this.paused ? 0 : this.slots.filter((s) => s.free).length;
  }

  /**
   * Pauses: running tasks are stopped as 'suspended' (their workers replaced), to run again
   * from their last checkpoint once resumed; nothing starts meanwhile.
   */
  setPaused(paused: boolean, reason: string): void {
    if (paused === this.paused) return;
    this.paused = paused;
    if (paused) {
      for (const w of this.waiting.splice(0)) w.resolve({ outcome: { ok: false, code: 'suspended', message: reason }, cpuTimeMs: 0, elapsedMs: 0 });
      for (const s of this.slots) if (s.running) s.finish('suspended', reason);
    } else this.slotFreed();
  }

  /** Runs a job on a free worker, or as soon as one is free. */
  run(job: RunJob, events: TaskEvents): Promise<Finished> {
    return new Promise((resolve) => {
      this.waiting.push({ job, events, resolve });
      this.slotFreed();
    });
  }

  /** Starts waiting jobs on free workers, then tells the owner a worker is free. */
  slotFreed(): void {
    if (this.paused) return;
    for (let slot = this.slots.find((s) => s.free); slot && this.waiting.length > 0; slot = this.slots.find((s) => s.free)) {
      const { job, events, resolve } = this.waiting.shift()!;
      void slot.start(job, events).then(resolve);
    }
    if (this.idle > 0) this.options.onIdle?.();
  }

  /** Stops a running or waiting task (its work unit is over, or the daemon is shutting down). */
  abort(taskId: number, reason: string): boolean {
    const w = this.waiting.findIndex((x) => x.job.taskId === taskId);
    if (w >= 0) {
      this.waiting.splice(w, 1)[0]!.resolve({ outcome: { ok: false, code: 'aborted', message: reason }, cpuTimeMs: 0, elapsedMs: 0 });
      return true;
    }
    const slot = this.slots.find((s) => s.running?.job.taskId === taskId);
    slot?.finish('aborted', reason);
    return slot !== undefined;
  }

  runningTaskIds(): number[] {
    return this.slots.flatMap((s) => (s.running ? [s.running.job.taskId] : []));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    for (const w of this.waiting.splice(0)) w.resolve({ outcome: { ok: false, code: 'aborted', message: 'the volunteer is stopping' }, cpuTimeMs: 0, elapsedMs: 0 });
    for (const s of this.slots) s.finish('aborted', 'the volunteer is stopping', false);
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private watch(): void {
    const now = Date.now();
    // Memory first: touching fresh pages costs CPU too (page faults), so a task that floods memory
    // is often over both limits at one tick, and memory is the cause worth reporting.
    if (process.memoryUsage.rss() > this.rssCeiling) {
      // Memory outside the V8 heaps cannot be told apart by thread: stop the newest task first.
      const newest = this.slots.filter((s) => s.running).sort((a, b) => b.runningSince()! - a.runningSince()!)[0];
      newest?.finish('memory_limit', `the volunteer's memory went over its ceiling while this task ran (typed arrays or WebAssembly memory)`);
    }
    for (const s of this.slots) s.watch(now);
  }
}
