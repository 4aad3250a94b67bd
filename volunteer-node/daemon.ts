// The volunteer daemon: volunteer-core's task engine with files for its journal, cache and
// credit, worker threads for its sandboxes, Node's crypto and a structured log. What is the
// daemon's own: the data dir and its host key, the coordinator key pinned or trusted on first
// use, its owner's controls (pause, no new tasks, compute hours, project preferences; the
// control socket), counters kept across restarts, the task list (what came of each task: its
// receipts, and the verdicts the coordinator tells), why it is idle, and stopping (give queued
// work back, let running tasks finish within a grace period, flush results).
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import type { CheckpointLimits } from '../app-runtime/run-app.js';
import type { Ed25519 } from '../protocol/ed25519.js';
import { AppCache } from '../volunteer-core/app-cache.js';
import { CoordinatorLink } from '../volunteer-core/coordinator-link.js';
import { syncCrypto } from '../volunteer-core/crypto.js';
import { TaskEngine, type SandboxRunner } from '../volunteer-core/task-engine.js';
import { describeLimit } from '../volunteer-core/quota-limit.js';
import { ACTIVE_STATES, acknowledged, awaitingVerdict, credited, finishedRun, judged, recordFor } from '../volunteer-core/task-history.js';
import { fileAppStore } from './app-store.js';
import { CreditBook } from './credit-book.js';
import { loadOrCreateHostKey, trustCoordinatorKey, type HostIdentity } from './identity.js';
import { RUNNABLE_KIND_FEATURES } from '../protocol/app-kind.js';
import { SandboxPool } from './sandbox/sandbox-pool.js';
import { TaskJournal } from './task-journal.js';
import { MAX_PREFERENCE_PROJECTS } from '../protocol/limits.js';
import type { VolunteerPreferences } from '../protocol/messages.js';
import { nextChange, withinHours, type ComputeHours } from './compute-hours.js';
import type { ProjectPreference } from './config-file.js';
import type { ControlRequest, CreditInfo, Status, TaskInfo } from './control-protocol.js';
import { DaemonState } from './daemon-state.js';
import { TaskHistoryFile } from './task-history.js';

const FLUSH_MS = 10_000;
/** How often the compute hours are looked at. */
const SCHEDULE_CHECK_MS = 15_000;

export interface DaemonOptions {
  /** The coordinator's URLs as given (--url): one, or several of its instances. */
  urls: string[];
  dataDir: string;
  threads: number;
  /** Tasks fetched ahead beyond one per thread, so no thread waits for the network. */
  prefetch: number;
  maxMemoryMb: number;
  maxCpuMs: number;
  /** Bytes the app cache may take on disk. */
  maxDiskBytes: number;
  checkpointLimits: CheckpointLimits;
  graceMs: number;
  name?: string;
  accountKey?: string;
  coordinatorKey?: string;
  /** Local hours to compute in; always when absent. */
  computeHours?: ComputeHours;
  /** Project preferences from the config file and flags (the companion's no-new-tasks is added). */
  projects?: ProjectPreference[];
  onlyListed?: boolean;
}

export interface ThreadView {
  taskId: number;
  project: string;
  app: string;
  progress: number;
}

/**
 * The connection, for the live display: never connected yet, connected, or lost (and why, since
 * when); when an attempt failed, why, and when the next one is.
 */
export type ConnectionView = Status['connection'];

export interface StoppingView {
  /** Running tasks it lets finish, until `deadline`. */
  finishing: number;
  deadline: number;
  /** Tasks it gives back (not begun, or not finished in time). */
  handingBack: number;
}

export interface DaemonView {
  connection: ConnectionView;
  running: ThreadView[];
  queued: number;
  unreported: number;
  done: number;
  errors: number;
  credit: number;
  /** Why nothing runs (paused by the owner, outside the compute hours); empty when computing. */
  paused: string[];
  /** Why a thread is idle, when one is. */
  idle: string | undefined;
  stopping: StoppingView | undefined;
}

export class Daemon {
  readonly host: HostIdentity;
  private readonly engine: TaskEngine<CreditBook>;
  private readonly pool: SandboxPool;
  private readonly link: CoordinatorLink;
  private stopping: StoppingView | undefined;
  private readonly state: DaemonState;
  private readonly history: TaskHistoryFile;
  private fatal: ((e: Error) => void) | undefined;
  private lost: { reason: string; at: number } | undefined;
  /** Paused now (by the owner or the compute hours). */
  private pausedNow = false;
  private fetchError: { message: string } | undefined;
  private control: Server | undefined;
  private readonly scheduleTimer: NodeJS.Timeout;

  constructor(
    private readonly options: DaemonOptions,
    ed: Ed25519,
    private readonly log: Logger,
  ) {
    privateDataDir(options.dataDir, log);
    this.host = loadOrCreateHostKey(options.dataDir, ed);
    this.state = new DaemonState(options.dataDir);
    this.history = new TaskHistoryFile(options.dataDir);
    const history = this.history;
    if (this.host.created) log.info('created host key', { hostKey: this.host.publicKey, dataDir: options.dataDir });
    const crypto = syncCrypto(ed);
    const pool = new SandboxPool({ threads: options.threads, maxMemoryMb: options.maxMemoryMb, maxCpuMs: options.maxCpuMs, log, onIdle: () => this.engine.dispatch() });
    this.pool = pool;
    const runner: SandboxRunner = {
      get idle() {
        return pool.idle; // 0 while paused
      },
      run: (job, events) => pool.run({ type: 'run', ...job, files: [...job.files] }, events),
      abort: (taskId, reason) => void pool.abort(taskId, reason),
    };

    this.engine = new TaskEngine({
      host: this.host,
      crypto,
      journal: new TaskJournal(join(options.dataDir, 'journal'), log),
      runner,
      openApps: (coordinatorKey, inUse) =>
        new AppCache(fileAppStore(options.dataDir), () => this.link.url, crypto, coordinatorKey, this.host, { maxBytes: options.maxDiskBytes, inUse }),
      openCredit: (coordinatorKey) => new CreditBook(options.dataDir, crypto, coordinatorKey, this.host.publicKey),
      capacity: () => options.threads + options.prefetch,
      checkpointLimits: () => options.checkpointLimits,
      canFetch: () => !this.pausedNow && !this.state.value.noNewTasks,
      preferences: () => this.preferences(),
      awaitingVerdict: () => awaitingVerdict(history.list()),
      events: {
        restored: (tasks, unreportedResults) => log.info('restored from the journal', { tasks, unreportedResults }),
        connected: (s) => log.info('connected', { hostId: s.hostId, userId: s.userId, threads: options.threads, instance: s.url }),
        fetchFailed: (e) => {
          this.fetchError = { message: e.message };
          log.warn('asking for work failed; trying again', { error: e.message });
        },
        asked: () => (this.fetchError = undefined),
        limited: (limit) => log.info('quota reached', { reason: describeLimit(limit) }),
        creditAdded: (added, rejected, credit) => {
          if (added > 0) log.info('credit granted', { receipts: added, total: Number(credit.total.toFixed(6)) });
          if (rejected > 0) log.warn('ignored credit receipts that do not verify', { rejected });
          for (const r of history.list()) this.creditToHistory(r.taskId);
        },
        creditFetchFailed: (e) => log.debug('could not fetch credit receipts', { error: e.message }),
        judged: (verdicts) => {
          for (const { taskId, verdict } of verdicts) {
            const before = history.get(taskId)?.state;
            if (history.update(taskId, (r) => judged(r, verdict))?.state === 'invalid' && before !== 'invalid') {
              log.info('result marked invalid: other volunteers agreed on a different result', { taskId });
            }
          }
        },
        received: (task) => {
          if (!history.get(task.taskId)) history.put(recordFor(task, Date.now()));
        },
        refused: (taskId, code, reason) => {
          log.warn('refused a task', { taskId, code, reason });
          history.update(taskId, (r) => finishedRun(r, { elapsedMs: 0, error: { code, message: reason } }, Date.now()));
        },
        prepareRetry: (taskId, e) => log.warn('could not fetch what a task needs; trying again', { taskId, error: e.message }),
        started: (task, resumed) => {
          log.info(resumed ? 'task resumed from its checkpoint' : 'task started', { taskId: task.taskId, app: task.app, project: task.project });
          history.update(task.taskId, (r) => ({ ...r, state: 'running' }));
        },
        suspended: (task, f) => history.update(task.taskId, (r) => ({ ...r, state: 'fetched', elapsedMs: r.elapsedMs + f.elapsedMs })),
        finished: (task, f) => {
          const timing = { cpuTimeMs: f.cpuTimeMs, elapsedMs: f.elapsedMs };
          if (f.outcome.ok) log.info('task finished', { taskId: task.taskId, ...timing });
          else log.warn('task failed', { taskId: task.taskId, code: f.outcome.code, error: f.outcome.message, ...timing });
          const error = f.outcome.ok ? {} : { error: { code: f.outcome.code, message: f.outcome.message } };
          history.update(task.taskId, (r) => finishedRun(r, { elapsedMs: f.elapsedMs, ...error }, Date.now()));
        },
        resultSaved: (r) => this.state.count(r.outcome === 'error' ? 'error' : 'done'),
        aborted: (taskId, reason) => {
          log.info('task aborted by the coordinator', { taskId, reason });
          history.update(taskId, (r) => ({ ...r, state: 'aborted', finishedAt: Date.now(), error: { code: 'aborted', message: reason } }));
        },
        reportFailed: (e, unreported) => log.warn('reporting results failed; they are kept and sent again', { error: e.message, unreported }),
        acknowledged: (ack) => {
          if (ack.status === 'rejected') log.warn('result rejected', { taskId: ack.taskId, code: ack.error?.code, reason: ack.error?.message });
          else log.debug('result acknowledged', { taskId: ack.taskId, status: ack.status });
          history.update(ack.taskId, (r) => acknowledged(r, ack, Date.now()));
          // Credit may have come before the acknowledgement.
          this.creditToHistory(ack.taskId);
        },
        gaveBack: (tasks) => log.info('gave tasks back', { tasks }),
        giveBackFailed: (e) => log.warn('could not give tasks back; they stay in the journal', { error: e.message }),
        appLog: (task, level, text) => log[level]('app says', { taskId: task.taskId, text }),
      },
    });

    this.link = new CoordinatorLink({
      urls: options.urls,
      crypto,
      host: this.host,
      platform: { kind: 'node', engine: 'v8', os: process.platform, arch: process.arch },
      capabilities: { cores: options.threads, memoryMb: options.maxMemoryMb, wasm: true, features: [...RUNNABLE_KIND_FEATURES] },
      hello: () => ({
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.accountKey === undefined ? {} : { accountKey: options.accountKey }),
      }),
      trust: (key) => {
        if (trustCoordinatorKey(options.dataDir, this.link.url, key, options.coordinatorKey).firstUse) {
          log.info('trusting the coordinator key on first use', { coordinatorKey: key });
        }
      },
      log,
    });
    this.link.on('fatal', (e) => this.fatal?.(e));
    this.link.on('lost', (reason) => (this.lost = { reason, at: Date.now() }));
    this.link.on('ready', () => (this.lost = undefined));
    if (this.state.value.paused) log.info('paused since the last run; volunteer-grid-volunteer resume to compute', {});
    this.applyPause();
    this.scheduleTimer = setInterval(() => this.applyPause(), SCHEDULE_CHECK_MS);
    this.scheduleTimer.unref();
    // The journal is read before the engine hears of a session; attach() picks up one that came first.
    void this.engine.restore().then(
      () => {
        // A task the list shows in progress that the journal no longer has went back (or was
        // lost with a crash before it was journalled): it is over for this host.
        for (const r of history.list()) {
          if (ACTIVE_STATES.has(r.state) && !this.engine.hasTask(r.taskId)) this.markGivenBack(r.taskId, 'this volunteer no longer held it when it started again');
        }
        this.engine.attach(this.link);
      },
      (e: unknown) => this.fatal?.(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** What the receipts say of a task, into the task list. */
  private creditToHistory(taskId: number): void {
    const o = this.engine.credit?.outcomeOf(taskId);
    if (o) this.history.update(taskId, (r) => credited(r, o, Date.now()));
  }

  private markGivenBack(taskId: number, reason: string): void {
    this.history.update(taskId, (r) => ({ ...r, state: 'given_back', finishedAt: r.finishedAt ?? Date.now(), error: { code: 'given_back', message: reason } }));
  }

  /** Gives tasks back; those the coordinator took back are marked so in the task list. */
  private async giveBack(taskIds: number[], reason: string): Promise<void> {
    await this.engine.giveBack(taskIds, reason);
    for (const id of taskIds) if (!this.engine.hasTask(id)) this.markGivenBack(id, reason);
  }

  /** Resolves never; rejects when the coordinator refuses this volunteer for good. */
  untilFatal(): Promise<never> {
    return new Promise((_, reject) => (this.fatal = reject));
  }

  /** The control socket (opened before the daemon, see daemon-main.ts): closed when it stops. */
  useControl(server: Server): void {
    this.control = server;
  }

  view(): DaemonView {
    const held = this.engine.heldTasks();
    const running = held.filter((h) => h.state === 'running');
    return {
      connection: this.connectionView(),
      running: running.map((h) => ({ taskId: h.task.taskId, project: h.task.project, app: h.task.app, progress: h.progress })),
      queued: held.length - running.length,
      unreported: this.engine.unreportedCount,
      done: this.state.value.done,
      errors: this.state.value.errors,
      credit: this.engine.credit?.total ?? 0,
      paused: this.pauseReasons(),
      idle: running.length < this.options.threads ? this.idleReason(held.length - running.length) : undefined,
      stopping: this.stopping,
    };
  }

  private connectionView(): ConnectionView {
    // Which instance, only when there is a choice: with one URL the header says where.
    const instance = this.link.instances.length > 1 ? { instance: this.link.url } : {};
    if (this.engine.session !== undefined) return { state: 'connected', ...instance };
    const p = this.link.problem;
    const retry = p ? { problem: p.problem, retryInMs: Math.max(0, Math.round(p.retryAt - Date.now())) } : {};
    return this.lost ? { state: 'lost', reason: this.lost.reason, sinceMs: Date.now() - this.lost.at, ...retry, ...instance } : { state: 'connecting', ...retry, ...instance };
  }

  /** The instances in this host's order, first choice first. */
  get instances(): readonly string[] {
    return this.link.instances;
  }

  private pauseReasons(): string[] {
    const reasons: string[] = [];
    if (this.state.value.paused) reasons.push('paused by its owner (volunteer-grid-volunteer resume)');
    const hours = this.options.computeHours;
    if (hours && !withinHours(hours, new Date())) {
      const next = nextChange(hours, new Date());
      reasons.push(`outside its compute hours (${hours.text})${next ? `; computes again at ${hhmm(next)}` : ''}`);
    }
    return reasons;
  }

  /** Why a thread has nothing to run, in words. */
  private idleReason(waiting: number): string {
    if (this.stopping) return 'stopping';
    const paused = this.pauseReasons();
    if (paused.length > 0) return paused.join('; ');
    if (this.engine.session === undefined) {
      const p = this.link.problem;
      const inS = p ? `; next try in ${seconds(p.retryAt - Date.now())}` : '';
      if (p?.rateLimited) return `rate-limited by the coordinator (${p.problem})${inS}`;
      return p ? `not connected to the coordinator${inS}` : 'connecting to the coordinator';
    }
    if (waiting > 0) return 'fetching and checking what the next task needs';
    if (this.state.value.noNewTasks) return 'no new tasks (volunteer-grid-volunteer allow-new-tasks)';
    const next = this.engine.nextAskAt;
    const ask = next === undefined ? '' : `; asks again in ${seconds(next - Date.now())}`;
    if (this.fetchError) return `asking for work failed: ${this.fetchError.message}${ask}`;
    const limited = this.engine.limited;
    if (limited) return `${describeLimit(limited)}${ask}`;
    if (this.engine.waitingForWork) {
      const only = this.preferences();
      const limits = only?.onlyListed ? ' from the listed projects' : '';
      return `no work for this host${limits} now${ask || '; asks again when the coordinator has some'}`;
    }
    return 'asking for work';
  }

  /** What tasks.request says of the owner's projects: the config's list with the companion's no-new-tasks. */
  private preferences(): VolunteerPreferences | undefined {
    const projects = this.projectList();
    const onlyListed = this.options.onlyListed === true;
    if (projects.length === 0 && !onlyListed) return undefined;
    return { ...(projects.length > 0 ? { projects } : {}), ...(onlyListed ? { onlyListed } : {}) };
  }

  private projectList(noNewTasksProjects = this.state.value.noNewTasksProjects): NonNullable<VolunteerPreferences['projects']> {
    const byName = new Map((this.options.projects ?? []).map((p) => [p.project, { ...p }]));
    for (const project of noNewTasksProjects) byName.set(project, { ...byName.get(project), project, noNewTasks: true });
    return [...byName.values()];
  }

  /** Pauses or resumes as the owner's pause and the compute hours say. */
  private applyPause(): void {
    if (this.stopping) return;
    const reasons = this.pauseReasons();
    const paused = reasons.length > 0;
    if (paused === this.pausedNow) return;
    this.pausedNow = paused;
    this.pool.setPaused(paused, reasons.join('; '));
    if (paused) {
      this.log.info('paused', { reasons });
      // Tasks not begun go back to be computed elsewhere meanwhile; begun ones wait here.
      const notBegun = this.engine.heldTasks().filter((h) => h.state !== 'running' && !h.checkpointed).map((h) => h.task.taskId);
      void this.giveBack(notBegun, 'the volunteer paused');
    } else {
      this.log.info('computing again', {});
      this.engine.dispatch();
      this.engine.fill();
    }
  }

  private status(): Status {
    const v = this.view();
    const s = this.state.value;
    const preferences = this.preferences();
    return {
      url: this.link.url,
      ...(this.link.instances.length > 1 ? { instances: [...this.link.instances] } : {}),
      hostKey: this.host.publicKey,
      pid: process.pid,
      threads: this.options.threads,
      connection: v.connection,
      paused: v.paused,
      noNewTasks: s.noNewTasks,
      noNewTasksProjects: [...s.noNewTasksProjects],
      ...(preferences === undefined ? {} : { preferences }),
      ...(this.options.computeHours ? { schedule: this.options.computeHours.text } : {}),
      ...(v.idle === undefined ? {} : { idle: v.idle }),
      running: v.running.length,
      queued: v.queued,
      unreported: v.unreported,
      done: v.done,
      errors: v.errors,
      credit: v.credit,
    };
  }

  /** Answers a request of the companion (the control socket's handler). */
  onControl(request: ControlRequest): object {
    const s = this.state.value;
    switch (request.cmd) {
      case 'status':
        break;
      case 'pause':
      case 'resume':
        this.state.set({ paused: request.cmd === 'pause' });
        this.log.info(request.cmd === 'pause' ? 'paused by its owner' : 'resumed by its owner', {});
        this.applyPause();
        break;
      case 'no-new-tasks':
      case 'allow-new-tasks': {
        const on = request.cmd === 'no-new-tasks';
        if (request.project === undefined) this.state.set({ noNewTasks: on });
        else {
          const others = s.noNewTasksProjects.filter((p) => p !== request.project);
          const list = on ? [...others, request.project] : others;
          if (this.projectList(list).length > MAX_PREFERENCE_PROJECTS) {
            throw new Error(`the coordinator takes preferences for at most ${MAX_PREFERENCE_PROJECTS} projects; allow-new-tasks for some first`);
          }
          this.state.set({ noNewTasksProjects: list });
        }
        this.log.info(on ? 'no new tasks' : 'new tasks allowed', { project: request.project ?? 'all' });
        if (!on) this.engine.fill();
        break;
      }
      case 'tasks':
        return { ok: true, tasks: this.tasks() };
      case 'credit':
        return { ok: true, credit: this.creditInfo() };
    }
    return { ok: true, status: this.status() };
  }

  /** The tasks it holds, then the latest it is done with (newest first) and what came of them. */
  private tasks(): TaskInfo[] {
    const held = this.engine.heldTasks();
    const heldIds = new Set(held.map((h) => h.task.taskId));
    const over = this.history
      .list()
      .filter((r) => !heldIds.has(r.taskId) && r.state !== 'fetched' && r.state !== 'running')
      .map(
        (r): TaskInfo => ({
          taskId: r.taskId,
          project: r.project,
          app: r.app,
          state: r.state as Exclude<typeof r.state, 'fetched' | 'running'>,
          progress: r.progress,
          checkpointed: false,
          ...(r.credit === undefined ? {} : { credit: r.credit }),
          ...(r.error === undefined ? {} : { error: r.error }),
        }),
      );
    return [...held.map((h): TaskInfo => ({ taskId: h.task.taskId, project: h.task.project, app: h.task.app, state: h.state, progress: h.progress, checkpointed: h.checkpointed })), ...over];
  }

  private creditInfo(): CreditInfo {
    return this.engine.credit?.summary(Date.now()) ?? { total: 0, receipts: 0, days: [] };
  }

  /**
   * Stops asking for work, lets running tasks finish for up to graceMs, gives the rest back so
   * the coordinator reissues them at once, and reports every finished result it can.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    const { engine } = this;
    engine.stopTaking();
    clearInterval(this.scheduleTimer);
    this.control?.close();
    const waiting = engine.heldTasks().filter((h) => h.state !== 'running').map((h) => h.task.taskId);
    const running = () => engine.heldTasks().filter((h) => h.state === 'running').length;
    const deadline = Date.now() + this.options.graceMs;
    this.stopping = { finishing: running(), deadline, handingBack: waiting.length };
    this.log.info('stopping', {
      running: running(),
      queued: waiting.length,
      graceSeconds: this.options.graceMs / 1000,
      message: describeStopping(this.stopping, Date.now()),
    });
    await this.giveBack(waiting, 'the volunteer is stopping');

    while (running() > 0 && Date.now() < deadline) await sleep(100);
    const late = engine.heldTasks().map((h) => h.task.taskId);
    this.stopping = { ...this.stopping, finishing: 0, handingBack: waiting.length + late.length };
    await this.giveBack(late, 'the volunteer stopped before the task finished');

    const flushUntil = Date.now() + FLUSH_MS;
    while (engine.unreportedCount > 0 && engine.session && Date.now() < flushUntil) {
      await engine.report();
      if (engine.unreportedCount > 0) await sleep(200);
    }
    if (engine.unreportedCount > 0) this.log.warn('results kept on disk for the next start', { unreported: engine.unreportedCount });
    this.link.close();
    this.state.flush();
    this.history.flush();
    await this.pool.close();
  }
}

/** "stopping: finishing 2 tasks (up to 28 s), handing back 1". */
export function describeStopping(s: StoppingView, now: number): string {
  const parts = [];
  if (s.finishing > 0) parts.push(`finishing ${s.finishing} task${s.finishing === 1 ? '' : 's'} (up to ${seconds(s.deadline - now)})`);
  parts.push(`handing back ${s.handingBack}`);
  return `stopping: ${parts.join(', ')}`;
}

/** Creates the data dir 0700, or makes an existing one of ours 0700: it holds the host key and the control socket. */
export function privateDataDir(dataDir: string, log: Logger): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const st = statSync(dataDir);
  const mode = st.mode & 0o777;
  if ((mode & 0o077) !== 0 && st.uid === process.getuid?.()) {
    chmodSync(dataDir, mode & 0o700);
    log.warn('the data dir was open to other users; made it private', { dataDir, was: mode.toString(8), now: (mode & 0o700).toString(8) });
  }
}

const seconds = (ms: number) => `${Math.max(0, Math.ceil(ms / 1000))} s`;
const hhmm = (d: Date) => `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
