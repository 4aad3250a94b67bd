// The page's sandbox workers: one dedicated Web Worker per core in use, one task each at a
// time, with what SES cannot give: a limit on each task's computing time (wall-clock time
// spent computing: browsers expose no per-thread CPU time), a stop for apps whose promise can
// never settle, a CPU duty cycle, and pauses. A worker over a limit is terminated and replaced;
// its task ends as the same client error the Node volunteer reports (docs/apps.md).
//
// Every worker runs one task and is then replaced by a fresh one (which locks itself down
// once), so whatever a task leaves behind ends with its worker. The Node daemon reuses its
// threads (app-runtime/task-scope.ts keeps a task's leftovers from resuming in the next) and
// replaces one that still burns CPU after its task; a page cannot read a worker's CPU time, so
// it cannot tell an app's leftover promise loop from an idle worker, and such a loop would go
// on computing through pauses and rests. A fresh worker costs about 0.2 s, nothing beside
// tasks that take minutes.
//
// Duty cycle and pause take effect when the app awaits ctx.checkpoint: the page writes the
// checkpoint, then holds the app there for its rest (or while paused). Nothing is lost and no
// shared memory is needed. Between tasks a worker rests the same way. A task that does not
// reach a checkpoint soon after a pause is suspended instead: its worker is terminated and
// the task resumes from its last checkpoint later.
import * as Comlink from 'comlink';
import type { AppOutcome, TaskHost } from '../../../app-runtime/run-app.js';
import type { SandboxApi, WorkerJob } from './messages.js';

const WATCH_INTERVAL_MS = 250;
/** A task whose worker is idle this long, with no checkpoint pending, waits for something that never comes. */
const STALL_MS = 5_000;
/** A ping answered within this time means the worker's event loop is idle. */
const PING_IDLE_MS = 100;
/** After a pause, how long a task may compute on before it is suspended. */
const SUSPEND_AFTER_MS = 10_000;
/** Rests shorter than this are not worth a timer. */
const MIN_REST_MS = 20;
/** A worker that fails before it is ready this often in a row means the sandbox cannot start. */
const MAX_START_FAILURES = 3;

export type LimitCode = 'cpu_limit' | 'app_stalled' | 'worker_crashed' | 'aborted' | 'suspended';
export type TaskOutcome = AppOutcome | { ok: false; code: LimitCode; message: string };

export interface Finished {
  outcome: TaskOutcome;
  /** Time spent computing (rests and pauses excluded). */
  cpuTimeMs: number;
  elapsedMs: number;
}

/** What a running task tells its volunteer: app-runtime's TaskHost. */
export type TaskEvents = TaskHost;

export type SlotState = 'starting' | 'idle' | 'running' | 'resting' | 'pausing' | 'paused';

export interface SlotView {
  state: SlotState;
  taskId?: number;
}

export interface PoolOptions {
  size: number;
  /** Computing time one task may take. */
  maxTaskMs: number;
  /** Share of time a worker computes, 10–100 (%). */
  dutyPercent: number;
  /** A worker became free for the next task. */
  onIdle(): void;
  /** The sandbox cannot start at all (a broken build or a browser without module workers). */
  onBroken(message: string): void;
}

interface Running {
  job: WorkerJob;
  events: TaskEvents;
  resolve(f: Finished): void;
  startedAt: number;
  /** Computing time before `busySince`. */
  busyMs: number;
  /** When the computing clock last started; undefined while the app is held at a checkpoint. */
  busySince: number | undefined;
  /** Computing time at the last rest. */
  restMark: number;
  held: 'rest' | 'pause' | undefined;
  checkpointsPending: number;
  pauseSeenAt: number | undefined;
  probeSentAt: number | undefined;
  idleSince: number | undefined;
}

const busy = (r: Running, now: number) => r.busyMs + (r.busySince === undefined ? 0 : now - r.busySince);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Slot {
  worker!: Worker;
  api!: Comlink.Remote<SandboxApi>;
  ready = false;
  /** Whether any worker of this slot has started: later replacements show as idle, not starting. */
  started = false;
  running: Running | undefined;
  restUntil = 0;
  disposed = false;

  constructor(private readonly pool: WorkerPool) {
    this.spawn();
  }

  get free(): boolean {
    return this.ready && !this.running && !this.disposed && Date.now() >= this.restUntil;
  }

  view(): SlotView {
    const r = this.running;
    if (!this.started && !r) return { state: 'starting' };
    if (!r) return { state: Date.now() < this.restUntil ? 'resting' : 'idle' };
    const state: SlotState = r.held === 'pause' ? 'paused' : r.held === 'rest' ? 'resting' : this.pool.paused ? 'pausing' : 'running';
    return { state, taskId: r.job.taskId };
  }

  private spawn(): void {
    this.ready = false;
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'volunteer-grid sandbox' });
    this.worker = worker;
    this.api = Comlink.wrap<SandboxApi>(worker);
    worker.addEventListener('error', (e) => {
      if (worker !== this.worker) return;
      e.preventDefault();
      if (!this.ready) return this.pool.startFailed(this, e.message || 'the sandbox worker did not start');
      this.stop('worker_crashed', `the sandbox worker failed: ${e.message}`);
    });
    void this.api.ping().then(() => {
      if (worker !== this.worker || this.disposed) return;
      this.ready = true;
      this.started = true;
      this.pool.started();
      this.pool.slotFreed();
    });
  }

  start(job: WorkerJob, events: TaskEvents): Promise<Finished> {
    return new Promise<Finished>((resolve) => {
      const now = Date.now();
      const r: Running = {
        job, events, resolve, startedAt: now, busyMs: 0, busySince: now, restMark: 0, held: undefined,
        checkpointsPending: 0, pauseSeenAt: undefined, probeSentAt: undefined, idleSince: undefined,
      };
      this.running = r;
      const host: TaskHost = {
        progress: (fraction) => this.running === r && r.events.progress(fraction),
        log: (level, text) => this.running === r && r.events.log(level, text),
        checkpoint: (stateJson) => this.checkpoint(r, stateJson),
      };
      this.api.run(job, Comlink.proxy(host)).then(
        (outcome) => this.running === r && this.complete(outcome),
        (e: unknown) => this.running === r && this.stop('worker_crashed', `the sandbox worker failed: ${e instanceof Error ? e.message : String(e)}`),
      );
    });
  }

  /** Writes the checkpoint, then holds the app for the duty cycle's rest and while paused. */
  private async checkpoint(r: Running, stateJson: string): Promise<void> {
    if (this.running !== r) throw new Error('the task was stopped');
    r.checkpointsPending++;
    try {
      await r.events.checkpoint(stateJson);
      const rest = this.pool.restFor(busy(r, Date.now()) - r.restMark);
      if (rest < MIN_REST_MS && !this.pool.paused) return;
      this.hold(r, 'rest');
      if (rest >= MIN_REST_MS) await sleep(rest);
      r.restMark = busy(r, Date.now());
      while (this.pool.paused && this.running === r) {
        r.held = 'pause';
        await this.pool.untilResumed();
      }
      if (this.running === r) this.release(r);
    } finally {
      r.checkpointsPending--;
    }
  }

  private hold(r: Running, why: 'rest' | 'pause'): void {
    const now = Date.now();
    if (r.busySince !== undefined) r.busyMs += now - r.busySince;
    r.busySince = undefined;
    r.held = why;
  }

  private release(r: Running): void {
    r.held = undefined;
    r.busySince = Date.now();
    r.pauseSeenAt = undefined;
  }

  /** Ends the running task and replaces its worker with a fresh one. */
  private complete(outcome: TaskOutcome): void {
    const r = this.running;
    if (!r) return;
    this.running = undefined;
    const now = Date.now();
    const cpuTimeMs = busy(r, now);
    // The rest this task still owes is taken before the next one.
    const rest = this.pool.restFor(cpuTimeMs - r.restMark);
    this.restUntil = rest >= MIN_REST_MS ? now + rest : 0;
    if (this.restUntil > 0) setTimeout(() => this.pool.slotFreed(), rest + 5);
    r.resolve({ outcome, cpuTimeMs, elapsedMs: now - r.startedAt });
    this.replace();
  }

  /** Ends the running task with a limit error (or a stop). */
  stop(code: LimitCode, message: string): void {
    if (this.running) this.complete({ ok: false, code, message });
    else this.replace();
  }

  replace(): void {
    const old = this.worker;
    old.terminate();
    if (!this.disposed) this.spawn();
  }

  dispose(): void {
    this.disposed = true;
    this.worker.terminate();
  }

  watch(now: number): void {
    const r = this.running;
    if (!r) return;
    const { maxTaskMs } = this.pool.options;
    if (busy(r, now) > maxTaskMs) return this.stop('cpu_limit', `the task computed for more than ${maxTaskMs / 1000} s`);
    if (this.pool.paused && r.held === undefined) {
      r.pauseSeenAt ??= now;
      if (now - r.pauseSeenAt > SUSPEND_AFTER_MS) return this.stop('suspended', 'paused before the task reached a checkpoint');
    }
    this.probe(r, now);
  }

  /** Pings the worker: answered at once means its event loop is idle, so the app waits on something. */
  private probe(r: Running, now: number): void {
    if (r.checkpointsPending > 0) {
      r.idleSince = undefined;
      return;
    }
    if (r.idleSince !== undefined && now - r.idleSince > STALL_MS) {
      return this.stop('app_stalled', 'the app is waiting for something that can never happen (its worker is idle, nothing pending)');
    }
    if (r.probeSentAt !== undefined) {
      if (now - r.probeSentAt > PING_IDLE_MS) r.idleSince = undefined; // busy computing
      return;
    }
    const sentAt = (r.probeSentAt = now);
    void this.api.ping().then(() => {
      if (this.running !== r) return;
      r.probeSentAt = undefined;
      if (Date.now() - sentAt <= PING_IDLE_MS && r.checkpointsPending === 0) r.idleSince ??= sentAt;
      else r.idleSince = undefined;
    });
  }
}

export class WorkerPool {
  paused = false;
  private slots: Slot[] = [];
  private readonly timer: ReturnType<typeof setInterval>;
  private resumed: { promise: Promise<void>; resolve: () => void } | undefined;
  private startFailures = 0;
  broken: string | undefined;

  constructor(readonly options: PoolOptions) {
    this.resize(options.size);
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const s of this.slots) s.watch(now);
    }, WATCH_INTERVAL_MS);
  }

  get size(): number {
    return this.slots.length;
  }

  get idle(): number {
    return this.paused || this.broken ? 0 : this.slots.filter((s) => s.free).length;
  }

  view(): SlotView[] {
    return this.slots.map((s) => s.view());
  }

  /** Runs a job on a free worker; undefined when none is free. */
  run(job: WorkerJob, events: TaskEvents): Promise<Finished> | undefined {
    if (this.paused) return undefined;
    return this.slots.find((s) => s.free)?.start(job, events);
  }

  /** Stops a running task: its work unit is over, or it was given back. */
  abort(taskId: number, reason: string): boolean {
    const slot = this.slots.find((s) => s.running?.job.taskId === taskId);
    slot?.stop('aborted', reason);
    return slot !== undefined;
  }

  runningTaskIds(): number[] {
    return this.slots.flatMap((s) => (s.running ? [s.running.job.taskId] : []));
  }

  /** More workers start at once; fewer: idle ones go first, then running tasks are suspended. */
  resize(size: number): void {
    while (this.slots.length < size) this.slots.push(new Slot(this));
    while (this.slots.length > size) {
      const idle = this.slots.findIndex((s) => !s.running);
      const [slot] = this.slots.splice(idle >= 0 ? idle : this.slots.length - 1, 1);
      if (slot?.running) slot.stop('suspended', 'the volunteer chose to use fewer cores');
      slot?.dispose();
    }
  }

  setDuty(percent: number): void {
    this.options.dutyPercent = Math.min(100, Math.max(10, percent));
  }

  setMaxTaskMs(ms: number): void {
    this.options.maxTaskMs = ms;
  }

  setPaused(paused: boolean): void {
    if (paused === this.paused) return;
    this.paused = paused;
    if (paused) {
      let resolve!: () => void;
      this.resumed = { promise: new Promise<void>((r) => (resolve = r)), resolve };
    } else {
      this.resumed?.resolve();
      this.resumed = undefined;
      this.slotFreed();
    }
  }

  untilResumed(): Promise<void> {
    return this.resumed?.promise ?? Promise.resolve();
  }

  /** How long to rest after computing for `busyMs` to keep to the duty cycle. */
  restFor(busyMs: number): number {
    const p = this.options.dutyPercent;
    return p >= 100 ? 0 : (busyMs * (100 - p)) / p;
  }

  slotFreed(): void {
    if (this.idle > 0) this.options.onIdle();
  }

  started(): void {
    this.startFailures = 0;
  }

  startFailed(slot: Slot, message: string): void {
    if (++this.startFailures >= MAX_START_FAILURES) {
      this.broken = `the sandbox cannot start in this browser: ${message}`;
      this.options.onBroken(this.broken);
      return;
    }
    slot.replace();
  }

  close(): void {
    clearInterval(this.timer);
    for (const s of this.slots) s.dispose();
    this.slots = [];
  }
}
