// The page's sandbox workers: one dedicated Web Worker per core in use, one task each at a
// time, with what SES cannot give: a limit on each task's computing time (wall-clock time
// spent computing: browsers expose no per-thread CPU time), a stop for apps whose promise can
// never settle, a CPU duty cycle, and pauses. A worker over a limit is terminated and replaced;
// its task ends as the same client error the Node volunteer reports (docs/apps.md).
//
// A worker runs the next task of the same app version when nothing of its last task can run
// in, or be charged to, the next (reuse.ts): the task returned by itself, so its task scope
// (app-runtime/task-scope.ts) has ended and no host capability resumes the app; the worker
// then reached its next turn of the event loop, so the promise jobs the app left have drained;
// and no WebAssembly compilation of the task was still going on then. Otherwise, or for another app version, the worker is
// replaced by a fresh one (about 0.2 s), so whatever a stopped task leaves ends with its
// worker. A task's clock starts when it is posted to a worker that is idle, so it counts that
// task's computing only. As a backstop, a kept worker that does not answer a ping in time while
// it has no task is replaced too, as the daemon replaces a thread that burns CPU while idle.
//
// Duty cycle and pause take effect when the app awaits ctx.checkpoint: the page writes the
// checkpoint, then holds the app there for its rest (or while paused). Nothing is lost and no
// shared memory is needed. Between tasks a worker rests the same way. A task that does not
// reach a checkpoint soon after a pause is suspended instead: its worker is terminated and
// the task resumes from its last checkpoint later.
import * as Comlink from 'comlink';
import type { AppOutcome, TaskHost } from '../../../app-runtime/run-app.js';
import type { SandboxApi, WorkerJob } from './messages.js';
import { afterDrain, fits, mayKeep, type Drained } from './reuse.js';

const WATCH_INTERVAL_MS = 250;
/** A task whose worker is idle this long, with no checkpoint pending, waits for something that never comes. */
const STALL_MS = 5_000;
/** A ping answered within this time means the worker's event loop is idle. */
const PING_IDLE_MS = 100;
/** After a task, how long its worker may take to drain what the app left before it is replaced. */
const SETTLE_MS = 1_000;
/** How long a kept worker with no task may take to answer a ping (generous: the page's own thread may be slow to hear it). */
const IDLE_ANSWER_MS = 5_000;
/** After a pause, how long a task may compute on before it is suspended. */
const SUSPEND_AFTER_MS = 10_000;
/** Rests shorter than this are not worth a timer. */
const MIN_REST_MS = 20;
/** A worker not ready this long after it was started for a task has failed to start. */
const START_TIMEOUT_MS = 30_000;
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
  /** The slot's worker: numbered from 1 in the order the page started them. */
  sandbox: number;
  /** Tasks that worker has been given. */
  sandboxTasks: number;
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
  /** Whether a task's project is suspended here: it stops at its next checkpoint, and its worker goes to other tasks. */
  suspended?(taskId: number): boolean;
  /** A task did something after it ended (`what`: 'kept computing'…), and its worker was replaced for it. */
  onLeftover?(taskId: number, what: string): void;
}

interface Running {
  job: WorkerJob;
  events: TaskEvents;
  resolve(f: Finished): void;
  /** Whether the job went to the worker: a task for another app version waits for a fresh one. */
  posted: boolean;
  /** The worker's answer, once the task has ended, to whether it drained (messages.ts). */
  drained: Promise<{ leftPending: number }> | undefined;
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

/** One Web Worker, its realm locked down once, and the tasks it was given. */
interface Sandbox {
  id: number;
  worker: Worker;
  api: Comlink.Remote<SandboxApi>;
  ready: boolean;
  /** The app version of its tasks; undefined until its first. */
  version: string | undefined;
  tasks: number;
}

const busy = (r: Running, now: number) => r.busyMs + (r.busySince === undefined ? 0 : now - r.busySince);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

class Slot {
  sandbox!: Sandbox;
  /** Whether any worker of this slot has started: later replacements show as idle, not starting. */
  started = false;
  running: Running | undefined;
  /** Set from the end of the worker's last task until it says it has drained. */
  settling: object | undefined;
  /** A ping to the idle worker not answered yet: since when. */
  idlePingAt: number | undefined;
  restUntil = 0;
  disposed = false;

  constructor(private readonly pool: WorkerPool) {
    this.spawn();
  }

  get free(): boolean {
    return this.sandbox.ready && !this.running && this.settling === undefined && !this.disposed && Date.now() >= this.restUntil;
  }

  view(): SlotView {
    const r = this.running;
    const sandbox = { sandbox: this.sandbox.id, sandboxTasks: this.sandbox.tasks };
    if (!this.started && !r) return { state: 'starting', ...sandbox };
    if (!r) return { state: Date.now() < this.restUntil ? 'resting' : 'idle', ...sandbox };
    // Held for its rest while the volunteer paused: it stays held after the rest, so it says paused.
    const held = r.held === 'pause' || (r.held === 'rest' && this.pool.paused);
    const state: SlotState = !r.posted ? 'starting' : held ? 'paused' : r.held === 'rest' ? 'resting' : this.pool.paused ? 'pausing' : 'running';
    return { state, taskId: r.job.taskId, ...sandbox };
  }

  private spawn(): void {
    const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'volunteer-grid sandbox' });
    const sandbox: Sandbox = { id: this.pool.nextSandboxId(), worker, api: Comlink.wrap<SandboxApi>(worker), ready: false, version: undefined, tasks: 0 };
    this.sandbox = sandbox;
    this.settling = undefined;
    this.idlePingAt = undefined;
    worker.addEventListener('error', (e) => {
      if (sandbox !== this.sandbox) return;
      e.preventDefault();
      if (!sandbox.ready) return this.startFailed(e.message || 'the sandbox worker did not start');
      this.stop('worker_crashed', `the sandbox worker failed: ${e.message}`);
    });
    void sandbox.api.ping().then(() => {
      if (sandbox !== this.sandbox || this.disposed) return;
      sandbox.ready = true;
      this.started = true;
      this.pool.started();
      if (this.running && !this.running.posted) this.post(this.running);
      else this.pool.slotFreed();
    });
  }

  private startFailed(message: string): void {
    // A task waiting for this worker goes back to its queue: it never ran.
    if (this.running) this.complete({ ok: false, code: 'suspended', message: `its sandbox did not start: ${message}` });
    this.pool.startFailed(this, message);
  }

  /** Claims the slot for a job: at once on its worker, or on a fresh one if the worker ran another app version. */
  start(job: WorkerJob, events: TaskEvents): Promise<Finished> {
    return new Promise<Finished>((resolve) => {
      const now = Date.now();
      const r: Running = {
        job, events, resolve, posted: false, drained: undefined, startedAt: now, busyMs: 0, busySince: undefined, restMark: 0, held: undefined,
        checkpointsPending: 0, pauseSeenAt: undefined, probeSentAt: undefined, idleSince: undefined,
      };
      this.running = r;
      if (!fits(this.sandbox.version, job.appVersionHash)) this.replace(); // posted once the fresh worker is ready
      else this.post(r);
    });
  }

  /** Hands the job to the worker, which is ready and idle: the task's clocks start now. */
  private post(r: Running): void {
    const sandbox = this.sandbox;
    r.posted = true;
    r.startedAt = r.busySince = Date.now();
    this.idlePingAt = undefined;
    sandbox.version = r.job.appVersionHash;
    sandbox.tasks++;
    const host: TaskHost = {
      progress: (fraction) => this.running === r && r.events.progress(fraction),
      log: (level, text) => this.running === r && r.events.log(level, text),
      checkpoint: (stateJson) => this.checkpoint(r, stateJson),
    };
    sandbox.api.run(r.job, Comlink.proxy(host)).then(
      (outcome) => this.running === r && this.complete(outcome),
      (e: unknown) => this.running === r && this.stop('worker_crashed', `the sandbox worker failed: ${e instanceof Error ? e.message : String(e)}`),
    );
    r.drained = sandbox.api.drained();
  }

  /** Writes the checkpoint, then holds the app for the duty cycle's rest and while paused. */
  private async checkpoint(r: Running, stateJson: string): Promise<void> {
    if (this.running !== r) throw new Error('the task was stopped');
    r.checkpointsPending++;
    try {
      await r.events.checkpoint(stateJson);
      if (this.suspendAt(r)) return;
      const rest = this.pool.restFor(busy(r, Date.now()) - r.restMark);
      if (rest < MIN_REST_MS && !this.pool.paused) return;
      this.hold(r, 'rest');
      if (rest >= MIN_REST_MS) await sleep(rest);
      r.restMark = busy(r, Date.now());
      while (this.pool.paused && this.running === r) {
        r.held = 'pause';
        await this.pool.untilResumed();
      }
      if (this.suspendAt(r)) return;
      if (this.running === r) this.release(r);
    } finally {
      r.checkpointsPending--;
    }
  }

  /** Its project was suspended: the task ends here, at the checkpoint just written, to resume later. */
  private suspendAt(r: Running): boolean {
    if (this.running !== r || !this.pool.options.suspended?.(r.job.taskId)) return false;
    this.complete({ ok: false, code: 'suspended', message: 'its project is suspended' });
    return true;
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

  /**
   * Ends the running task. Its worker is kept only if the task returned by itself and then
   * drains (reuse.ts); a task the page stops ends with its worker, unless it never reached it.
   */
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
    r.resolve({ outcome, cpuTimeMs, elapsedMs: r.posted ? now - r.startedAt : 0 });
    if (!r.posted) return;
    if (mayKeep(outcome)) this.settle(r);
    else this.replace();
  }

  /** Waits for the worker to say whether its task left anything going on; keeps or replaces it. */
  private settle(r: Running): void {
    const sandbox = this.sandbox;
    const taskId = r.job.taskId;
    const settling = (this.settling = {});
    const decide = (drained: Drained) => {
      if (sandbox !== this.sandbox || this.settling !== settling) return;
      const verdict = afterDrain(drained, sandbox.tasks);
      if (!verdict.keep) {
        if (verdict.leftover) this.pool.options.onLeftover?.(taskId, verdict.leftover);
        return this.replace();
      }
      this.settling = undefined;
      this.pool.slotFreed();
    };
    void r.drained?.then(decide, () => {});
    setTimeout(() => decide('late'), SETTLE_MS);
  }

  /** Ends the running task with a limit error (or a stop), and its worker with it. */
  stop(code: LimitCode, message: string): void {
    if (this.running) this.complete({ ok: false, code, message });
    else this.replace();
  }

  replace(): void {
    this.sandbox.worker.terminate();
    if (!this.disposed) this.spawn();
  }

  dispose(): void {
    this.disposed = true;
    this.sandbox.worker.terminate();
  }

  watch(now: number): void {
    const r = this.running;
    if (!r) return this.watchIdle(now);
    if (!r.posted) {
      if (now - r.startedAt > START_TIMEOUT_MS) this.startFailed(`it was not ready after ${START_TIMEOUT_MS / 1000} s`);
      return;
    }
    const { maxTaskMs } = this.pool.options;
    if (busy(r, now) > maxTaskMs) return this.stop('cpu_limit', `the task computed for more than ${maxTaskMs / 1000} s`);
    const suspended = this.pool.options.suspended?.(r.job.taskId) ?? false;
    if ((this.pool.paused || suspended) && r.held === undefined) {
      r.pauseSeenAt ??= now;
      if (now - r.pauseSeenAt > SUSPEND_AFTER_MS) return this.stop('suspended', suspended ? 'its project was suspended before the task reached a checkpoint' : 'paused before the task reached a checkpoint');
    } else if (suspended && r.held === 'rest') {
      return this.stop('suspended', 'its project is suspended'); // held at a checkpoint: nothing lost
    }
    if (!this.pool.paused && !suspended) r.pauseSeenAt = undefined;
    this.probe(r, now);
  }

  /** A kept worker with no task must answer pings: one that does not is running something, and is replaced. */
  private watchIdle(now: number): void {
    const sandbox = this.sandbox;
    if (!sandbox.ready || sandbox.tasks === 0 || this.settling !== undefined) return;
    if (this.idlePingAt !== undefined) {
      if (now - this.idlePingAt > IDLE_ANSWER_MS) this.replace();
      return;
    }
    const sentAt = (this.idlePingAt = now);
    void sandbox.api.ping().then(() => {
      if (sandbox === this.sandbox && this.idlePingAt === sentAt) this.idlePingAt = undefined;
    });
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
    void this.sandbox.api.ping().then(() => {
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
  private sandboxes = 0;
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

  nextSandboxId(): number {
    return ++this.sandboxes;
  }

  /**
   * Runs a job on a free worker, undefined when none is free: one that ran its app version
   * first, then a fresh one, then any (replaced by a fresh one first).
   */
  run(job: WorkerJob, events: TaskEvents): Promise<Finished> | undefined {
    if (this.paused) return undefined;
    const free = this.slots.filter((s) => s.free);
    const slot = free.find((s) => s.sandbox.version === job.appVersionHash) ?? free.find((s) => s.sandbox.version === undefined) ?? free[0];
    return slot?.start(job, events);
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
