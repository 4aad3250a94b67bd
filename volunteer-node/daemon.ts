// The volunteer daemon: volunteer-core's task engine with files for its journal, cache and
// credit, worker threads for its sandboxes, Node's crypto and a structured log. What is the
// daemon's own: the data dir and its host key, the coordinator key pinned or trusted on first
// use, and stopping (give queued work back, let running tasks finish within a grace period,
// flush results).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import type { CheckpointLimits } from '../app-runtime/run-app.js';
import type { Ed25519 } from '../protocol/ed25519.js';
import { AppCache } from '../volunteer-core/app-cache.js';
import { CoordinatorLink } from '../volunteer-core/coordinator-link.js';
import { syncCrypto } from '../volunteer-core/crypto.js';
import { TaskEngine, type SandboxRunner } from '../volunteer-core/task-engine.js';
import { fileAppStore } from './app-store.js';
import { CreditBook } from './credit-book.js';
import { loadOrCreateHostKey, trustCoordinatorKey, type HostIdentity } from './identity.js';
import { SandboxPool } from './sandbox/sandbox-pool.js';
import { TaskJournal } from './task-journal.js';

const FLUSH_MS = 10_000;

export interface DaemonOptions {
  url: string;
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
}

export interface ThreadView {
  taskId: number;
  project: string;
  app: string;
  progress: number;
}

/** The connection, for the live display: never connected yet, connected, or lost (and why, since when). */
export type ConnectionView = { state: 'connecting' } | { state: 'connected' } | { state: 'lost'; reason: string; sinceMs: number };

export interface DaemonView {
  connection: ConnectionView;
  running: ThreadView[];
  queued: number;
  unreported: number;
  done: number;
  errors: number;
  credit: number;
}

export class Daemon {
  readonly host: HostIdentity;
  private readonly engine: TaskEngine<CreditBook>;
  private readonly pool: SandboxPool;
  private readonly link: CoordinatorLink;
  private stopping = false;
  private done = 0;
  private errors = 0;
  private fatal: ((e: Error) => void) | undefined;
  private lost: { reason: string; at: number } | undefined;

  constructor(
    private readonly options: DaemonOptions,
    ed: Ed25519,
    private readonly log: Logger,
  ) {
    mkdirSync(options.dataDir, { recursive: true });
    this.host = loadOrCreateHostKey(options.dataDir, ed);
    if (this.host.created) log.info('created host key', { hostKey: this.host.publicKey, dataDir: options.dataDir });
    const crypto = syncCrypto(ed);
    const baseUrl = options.url.replace(/\/$/, '');
    const pool = new SandboxPool({ threads: options.threads, maxMemoryMb: options.maxMemoryMb, maxCpuMs: options.maxCpuMs, log, onIdle: () => this.engine.dispatch() });
    this.pool = pool;
    const runner: SandboxRunner = {
      get idle() {
        return pool.idle;
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
        new AppCache(fileAppStore(options.dataDir), baseUrl, crypto, coordinatorKey, this.host, { maxBytes: options.maxDiskBytes, inUse }),
      openCredit: (coordinatorKey) => new CreditBook(options.dataDir, crypto, coordinatorKey, this.host.publicKey),
      capacity: () => options.threads + options.prefetch,
      checkpointLimits: () => options.checkpointLimits,
      events: {
        restored: (tasks, unreportedResults) => log.info('restored from the journal', { tasks, unreportedResults }),
        connected: (s) => log.info('connected', { hostId: s.hostId, userId: s.userId, threads: options.threads }),
        fetchFailed: (e) => log.warn('asking for work failed; trying again', { error: e.message }),
        creditAdded: (added, rejected, credit) => {
          if (added > 0) log.info('credit granted', { receipts: added, total: Number(credit.total.toFixed(6)) });
          if (rejected > 0) log.warn('ignored credit receipts that do not verify', { rejected });
        },
        creditFetchFailed: (e) => log.debug('could not fetch credit receipts', { error: e.message }),
        refused: (taskId, code, reason) => log.warn('refused a task', { taskId, code, reason }),
        prepareRetry: (taskId, e) => log.warn('could not fetch what a task needs; trying again', { taskId, error: e.message }),
        started: (task, resumed) => log.info(resumed ? 'task resumed from its checkpoint' : 'task started', { taskId: task.taskId, app: task.app, project: task.project }),
        finished: (task, f) => {
          const timing = { cpuTimeMs: f.cpuTimeMs, elapsedMs: f.elapsedMs };
          if (f.outcome.ok) log.info('task finished', { taskId: task.taskId, ...timing });
          else log.warn('task failed', { taskId: task.taskId, code: f.outcome.code, error: f.outcome.message, ...timing });
        },
        resultSaved: (r) => (r.outcome === 'error' ? this.errors++ : this.done++),
        aborted: (taskId, reason) => log.info('task aborted by the coordinator', { taskId, reason }),
        reportFailed: (e, unreported) => log.warn('reporting results failed; they are kept and sent again', { error: e.message, unreported }),
        acknowledged: (ack) => {
          if (ack.status === 'rejected') log.warn('result rejected', { taskId: ack.taskId, code: ack.error?.code, reason: ack.error?.message });
          else log.debug('result acknowledged', { taskId: ack.taskId, status: ack.status });
        },
        gaveBack: (tasks) => log.info('gave tasks back', { tasks }),
        giveBackFailed: (e) => log.warn('could not give tasks back; they stay in the journal', { error: e.message }),
        appLog: (task, level, text) => log[level]('app says', { taskId: task.taskId, text }),
      },
    });

    this.link = new CoordinatorLink({
      url: options.url,
      crypto,
      host: this.host,
      platform: { kind: 'node', engine: 'v8', os: process.platform, arch: process.arch },
      capabilities: { cores: options.threads, memoryMb: options.maxMemoryMb, wasm: true },
      hello: () => ({
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.accountKey === undefined ? {} : { accountKey: options.accountKey }),
      }),
      trust: (key) => {
        if (trustCoordinatorKey(options.dataDir, options.url, key, options.coordinatorKey).firstUse) {
          log.info('trusting the coordinator key on first use', { coordinatorKey: key });
        }
      },
      log,
    });
    this.link.on('fatal', (e) => this.fatal?.(e));
    this.link.on('lost', (reason) => (this.lost = { reason, at: Date.now() }));
    this.link.on('ready', () => (this.lost = undefined));
    // The journal is read before the engine hears of a session; attach() picks up one that came first.
    void this.engine.restore().then(
      () => this.engine.attach(this.link),
      (e: unknown) => this.fatal?.(e instanceof Error ? e : new Error(String(e))),
    );
  }

  /** Resolves never; rejects when the coordinator refuses this volunteer for good. */
  untilFatal(): Promise<never> {
    return new Promise((_, reject) => (this.fatal = reject));
  }

  view(): DaemonView {
    const held = this.engine.heldTasks();
    return {
      connection:
        this.engine.session !== undefined
          ? { state: 'connected' }
          : this.lost
            ? { state: 'lost', reason: this.lost.reason, sinceMs: Date.now() - this.lost.at }
            : { state: 'connecting' },
      running: held.filter((h) => h.state === 'running').map((h) => ({ taskId: h.task.taskId, project: h.task.project, app: h.task.app, progress: h.progress })),
      queued: held.filter((h) => h.state !== 'running').length,
      unreported: this.engine.unreportedCount,
      done: this.done,
      errors: this.errors,
      credit: this.engine.credit?.total ?? 0,
    };
  }

  /**
   * Stops asking for work, lets running tasks finish for up to graceMs, gives the rest back so
   * the coordinator reissues them at once, and reports every finished result it can.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const { engine } = this;
    engine.stopTaking();
    const waiting = engine.heldTasks().filter((h) => h.state !== 'running').map((h) => h.task.taskId);
    const running = () => engine.heldTasks().filter((h) => h.state === 'running').length;
    this.log.info('stopping', { running: running(), queued: waiting.length, graceSeconds: this.options.graceMs / 1000 });
    await engine.giveBack(waiting, 'the volunteer is stopping');

    const deadline = Date.now() + this.options.graceMs;
    while (running() > 0 && Date.now() < deadline) await sleep(100);
    await engine.giveBack(
      engine.heldTasks().map((h) => h.task.taskId),
      'the volunteer stopped before the task finished',
    );

    const flushUntil = Date.now() + FLUSH_MS;
    while (engine.unreportedCount > 0 && engine.session && Date.now() < flushUntil) {
      await engine.report();
      if (engine.unreportedCount > 0) await sleep(200);
    }
    if (engine.unreportedCount > 0) this.log.warn('results kept on disk for the next start', { unreported: engine.unreportedCount });
    this.link.close();
    await this.pool.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
