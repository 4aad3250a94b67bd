// The volunteer daemon: keeps every sandbox thread busy with verified tasks, fetching ahead;
// journals tasks, checkpoints and results so a crash or a lost connection loses nothing;
// reports results when connected; gives work back when it stops.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AppBundle } from '../app-runtime/run-app.js';
import type { Logger } from '../common/log.js';
import type { Ed25519 } from '../protocol/ed25519.js';
import { utf8 } from '../protocol/bytes.js';
import { canonicalJson } from '../protocol/canonical.js';
import { MAX_INLINE_JSON_BYTES } from '../protocol/limits.js';
import type { AbortNotice, CreditReceipt, Result, ResultAck, Task } from '../protocol/messages.js';
import { buildResult, type Outcome } from '../protocol/results.js';
import { taskProblem } from '../protocol/verify.js';
import { AppCache, VerificationError } from './app-cache.js';
import { CallError, CoordinatorLink, type Session } from './coordinator-link.js';
import { CreditBook } from './credit-book.js';
import { loadOrCreateHostKey, trustCoordinatorKey, type HostIdentity } from './identity.js';
import { SandboxPool, type Finished } from './sandbox/sandbox-pool.js';
import { TaskJournal } from './task-journal.js';

const RETRY_MS = 5_000;
const MAX_PREPARE_ATTEMPTS = 5;
const PROGRESS_REPORT_MS = 10_000;

export interface DaemonOptions {
  url: string;
  dataDir: string;
  threads: number;
  /** Tasks fetched ahead beyond one per thread, so no thread waits for the network. */
  prefetch: number;
  maxMemoryMb: number;
  maxCpuMs: number;
  graceMs: number;
  name?: string;
  accountKey?: string;
  coordinatorKey?: string;
}

type State = 'preparing' | 'queued' | 'running';

interface Held {
  task: Task;
  state: State;
  bundle?: AppBundle;
  input?: unknown;
  progress: number;
  attempts: number;
}

export interface ThreadView {
  taskId: number;
  project: string;
  app: string;
  progress: number;
}

export interface DaemonView {
  connected: boolean;
  running: ThreadView[];
  queued: number;
  unreported: number;
  done: number;
  errors: number;
  credit: number;
}

export class Daemon {
  readonly host: HostIdentity;
  private readonly held = new Map<number, Held>();
  private readonly unreported = new Map<number, Result>();
  private readonly journal: TaskJournal;
  private readonly pool: SandboxPool;
  private readonly link: CoordinatorLink;
  private cache: AppCache | undefined;
  private credit: CreditBook | undefined;
  private session: Session | undefined;
  private requesting = false;
  private reporting = false;
  private stopping = false;
  private fillTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private readonly progressTimer: NodeJS.Timeout;
  private done = 0;
  private errors = 0;
  private fatal: ((e: Error) => void) | undefined;

  constructor(
    private readonly options: DaemonOptions,
    private readonly ed: Ed25519,
    private readonly log: Logger,
  ) {
    mkdirSync(options.dataDir, { recursive: true });
    this.host = loadOrCreateHostKey(options.dataDir, ed);
    if (this.host.created) log.info('created host key', { hostKey: this.host.publicKey, dataDir: options.dataDir });
    this.journal = new TaskJournal(join(options.dataDir, 'journal'), log);
    this.pool = new SandboxPool({ threads: options.threads, maxMemoryMb: options.maxMemoryMb, maxCpuMs: options.maxCpuMs, log, onIdle: () => this.dispatch() });

    for (const r of this.journal.results()) this.unreported.set(r.taskId, r);
    for (const task of this.journal.tasks()) {
      if (!this.unreported.has(task.taskId)) this.held.set(task.taskId, { task, state: 'preparing', progress: 0, attempts: 0 });
    }
    if (this.held.size + this.unreported.size > 0) {
      log.info('restored from the journal', { tasks: this.held.size, unreportedResults: this.unreported.size });
    }

    this.link = new CoordinatorLink({
      url: options.url,
      ed,
      host: this.host,
      platform: { kind: 'node', engine: 'v8', os: process.platform, arch: process.arch },
      capabilities: { cores: options.threads, memoryMb: options.maxMemoryMb, wasm: true },
      ...(options.name === undefined ? {} : { name: options.name }),
      ...(options.accountKey === undefined ? {} : { accountKey: options.accountKey }),
      trust: (key) => {
        if (trustCoordinatorKey(options.dataDir, options.url, key, options.coordinatorKey).firstUse) {
          log.info('trusting the coordinator key on first use', { coordinatorKey: key });
        }
      },
      log,
    });
    this.link.on('ready', (s: Session) => this.onReady(s));
    this.link.on('lost', () => (this.session = undefined));
    this.link.on('abort', (n: AbortNotice) => this.abort(n.taskIds, n.reason));
    this.link.on('credit', (receipts: CreditReceipt[]) => this.addCredit(receipts));
    this.link.on('fatal', (e: Error) => this.fatal?.(e));
    this.progressTimer = setInterval(() => void this.reportProgress(), PROGRESS_REPORT_MS);
    this.progressTimer.unref();
  }

  /** Resolves never; rejects when the coordinator refuses this volunteer for good. */
  untilFatal(): Promise<never> {
    return new Promise((_, reject) => (this.fatal = reject));
  }

  view(): DaemonView {
    return {
      connected: this.session !== undefined,
      running: [...this.held.values()]
        .filter((h) => h.state === 'running')
        .map((h) => ({ taskId: h.task.taskId, project: h.task.project, app: h.task.app, progress: h.progress })),
      queued: [...this.held.values()].filter((h) => h.state !== 'running').length,
      unreported: this.unreported.size,
      done: this.done,
      errors: this.errors,
      credit: this.credit?.total ?? 0,
    };
  }

  // ---- connection ----

  private onReady(session: Session): void {
    this.session = session;
    this.cache ??= new AppCache(this.options.dataDir, this.options.url.replace(/\/$/, ''), this.ed, session.coordinatorKey, this.host);
    this.credit ??= new CreditBook(this.options.dataDir, this.ed, session.coordinatorKey, this.host.publicKey);
    this.log.info('connected', { hostId: session.hostId, userId: session.userId, threads: this.options.threads });
    for (const h of this.held.values()) if (h.state === 'preparing' && h.attempts === 0) void this.prepare(h);
    void this.catchUpCredit();
    this.scheduleReport(0);
    this.fill();
  }

  private async catchUpCredit(): Promise<void> {
    try {
      for (;;) {
        const { receipts } = await this.link.call<{ receipts: CreditReceipt[] }>('credit.receipts', { afterEntryId: this.credit!.lastEntryId, limit: 500 });
        this.addCredit(receipts);
        if (receipts.length < 500) return;
      }
    } catch (e) {
      this.log.debug('could not fetch credit receipts', { error: (e as Error).message });
    }
  }

  private addCredit(receipts: CreditReceipt[]): void {
    if (!this.credit) return;
    const { added, rejected } = this.credit.add(receipts);
    if (added > 0) this.log.info('credit granted', { receipts: added, total: Number(this.credit.total.toFixed(6)) });
    if (rejected > 0) this.log.warn('ignored credit receipts that do not verify', { rejected });
  }

  // ---- getting work ----

  private fill(delayMs = 0): void {
    if (this.fillTimer) clearTimeout(this.fillTimer);
    this.fillTimer = undefined;
    if (delayMs > 0) {
      this.fillTimer = setTimeout(() => this.fill(), delayMs);
      return;
    }
    void this.requestTasks();
  }

  private async requestTasks(): Promise<void> {
    const session = this.session;
    if (!session || this.stopping || this.requesting) return;
    const want = this.options.threads + this.options.prefetch - this.held.size;
    if (want <= 0) return;
    this.requesting = true;
    try {
      const reply = await this.link.call<{ tasks: Task[]; abort?: AbortNotice; retryAfterMs?: number }>('tasks.request', {
        count: Math.min(want, session.limits.maxTasksPerRequest),
        holding: [...this.held.keys(), ...this.unreported.keys()],
      });
      if (reply.abort) this.abort(reply.abort.taskIds, reply.abort.reason);
      for (const task of reply.tasks) this.accept(task, session.coordinatorKey);
      this.requesting = false;
      if (reply.tasks.length === 0) this.fill(reply.retryAfterMs ?? RETRY_MS);
      else this.fill();
    } catch (e) {
      this.requesting = false;
      this.log.warn('asking for work failed; trying again', { error: (e as Error).message });
      this.fill(RETRY_MS);
    }
  }

  private accept(task: Task, coordinatorKey: string): void {
    if (this.held.has(task.taskId) || this.unreported.has(task.taskId)) return;
    const problem = taskProblem(this.ed, coordinatorKey, this.host.publicKey, task);
    if (problem) return this.refuse(task, 'bad_signature', problem);
    this.journal.saveTask(task);
    const h: Held = { task, state: 'preparing', progress: 0, attempts: 0 };
    this.held.set(task.taskId, h);
    void this.prepare(h);
  }

  /** Fetches and verifies the app version and input; the task runs only if both verify. */
  private async prepare(h: Held): Promise<void> {
    const { task } = h;
    h.attempts++;
    try {
      const cache = this.cache!;
      h.bundle = await cache.bundle(task.appVersionHash);
      h.input = task.input !== undefined ? task.input : await cache.input(task.inputHash);
    } catch (e) {
      if (this.held.get(task.taskId) !== h) return;
      if (e instanceof VerificationError) return this.refuse(task, 'bad_app', e.message);
      if (h.attempts >= MAX_PREPARE_ATTEMPTS) return this.refuse(task, 'download_failed', (e as Error).message);
      this.log.warn('could not fetch what a task needs; trying again', { taskId: task.taskId, error: (e as Error).message });
      setTimeout(() => void (this.held.get(task.taskId) === h && this.prepare(h)), RETRY_MS).unref();
      return;
    }
    if (this.held.get(task.taskId) !== h) return; // aborted meanwhile
    h.state = 'queued';
    this.dispatch();
  }

  /** A task that must not run is reported as a client error, so it is reissued elsewhere. */
  private refuse(task: Task, code: string, message: string): void {
    this.log.warn('refused a task', { taskId: task.taskId, code, reason: message });
    this.held.delete(task.taskId);
    this.complete(task, { error: { code, message } }, { cpuTimeMs: 0, elapsedMs: 0 });
  }

  // ---- running ----

  private dispatch(): void {
    for (const h of this.held.values()) {
      if (this.pool.idle === 0 || this.stopping) return;
      if (h.state !== 'queued') continue;
      h.state = 'running';
      const { task } = h;
      const resume = this.journal.checkpoint(task.taskId);
      this.log.info(resume === undefined ? 'task started' : 'task resumed from its checkpoint', { taskId: task.taskId, app: task.app, project: task.project });
      this.pool
        .run(
          { type: 'run', taskId: task.taskId, entry: h.bundle!.entry, files: [...h.bundle!.files], input: h.input, rngSeed: task.rngSeed, ...(resume === undefined ? {} : { resume }) },
          {
            progress: (f) => (h.progress = f),
            checkpoint: async (json) => this.journal.saveCheckpoint(task.taskId, json),
            log: (level, text) => this.log[level]('app says', { taskId: task.taskId, text }),
          },
        )
        .then((f) => this.finished(h, f));
    }
  }

  private finished(h: Held, f: Finished): void {
    if (this.held.get(h.task.taskId) !== h) return; // aborted or given back
    if (!f.outcome.ok && f.outcome.code === 'aborted') return; // stopped by us: not a result
    this.held.delete(h.task.taskId);
    const timing = { cpuTimeMs: f.cpuTimeMs, elapsedMs: f.elapsedMs };
    if (f.outcome.ok) {
      this.log.info('task finished', { taskId: h.task.taskId, ...timing });
      this.complete(h.task, { output: JSON.parse(f.outcome.outputJson) as unknown }, timing);
    } else {
      this.log.warn('task failed', { taskId: h.task.taskId, code: f.outcome.code, error: f.outcome.message, ...timing });
      this.complete(h.task, { error: { code: f.outcome.code, message: f.outcome.message.slice(0, 2000) } }, timing);
    }
    this.dispatch();
    this.fill();
  }

  /** Signs the result and journals it before anything else: from here it survives a crash. */
  private complete(task: Task, outcome: Outcome, timing: { cpuTimeMs: number; elapsedMs: number }): void {
    const result = buildResult(this.ed, this.host.seed, task, outcome, { cpuTimeMs: Math.round(timing.cpuTimeMs), elapsedMs: Math.round(timing.elapsedMs) });
    this.journal.saveResult(result);
    this.unreported.set(task.taskId, result);
    if ('error' in outcome) this.errors++;
    else this.done++;
    this.scheduleReport();
  }

  private abort(taskIds: number[], reason: string): void {
    for (const id of taskIds) {
      const h = this.held.get(id);
      if (!h && !this.unreported.has(id)) continue;
      this.held.delete(id);
      this.unreported.delete(id);
      if (h?.state === 'running') this.pool.abort(id, reason);
      this.journal.forget(id);
      this.log.info('task aborted by the coordinator', { taskId: id, reason });
    }
    this.dispatch();
    this.fill();
  }

  // ---- reporting ----

  private scheduleReport(delayMs = 20): void {
    if (this.reportTimer) return;
    this.reportTimer = setTimeout(() => {
      this.reportTimer = undefined;
      void this.report();
    }, delayMs);
  }

  private async report(): Promise<void> {
    if (!this.session || this.reporting || this.unreported.size === 0) return;
    this.reporting = true;
    try {
      while (this.session && this.unreported.size > 0) {
        const batch = [...this.unreported.values()].slice(0, this.session.limits.maxResultsPerReport);
        const wire = await Promise.all(batch.map((r) => this.toWire(r)));
        const { results } = await this.link.call<{ results: ResultAck[] }>('results.report', { results: wire });
        for (const ack of results) this.acknowledged(ack);
      }
    } catch (e) {
      this.log.warn('reporting results failed; they are kept and sent again', { error: (e as Error).message, unreported: this.unreported.size });
      if (!(e instanceof CallError && e.code === 'timeout')) setTimeout(() => this.scheduleReport(0), RETRY_MS).unref();
    } finally {
      this.reporting = false;
    }
  }

  /** Outputs too large for a message are uploaded by hash first. */
  private async toWire(r: Result): Promise<Result> {
    if (r.output === undefined) return r;
    const json = canonicalJson(r.output);
    if (utf8(json).length <= MAX_INLINE_JSON_BYTES) return r;
    const { output, ...rest } = r;
    await this.cache!.uploadOutput(json);
    void output;
    return rest;
  }

  private acknowledged(ack: ResultAck): void {
    this.unreported.delete(ack.taskId);
    this.journal.forget(ack.taskId);
    if (ack.status === 'rejected') this.log.warn('result rejected', { taskId: ack.taskId, code: ack.error?.code, reason: ack.error?.message });
    else this.log.debug('result acknowledged', { taskId: ack.taskId, status: ack.status });
  }

  private async reportProgress(): Promise<void> {
    const updates = this.view().running.map((t) => ({ taskId: t.taskId, fraction: t.progress }));
    if (!this.session || updates.length === 0) return;
    await this.link.call('tasks.progress', { updates: updates.slice(0, this.session.limits.maxTasksPerRequest) }).catch(() => undefined);
  }

  // ---- stopping ----

  /**
   * Stops asking for work, lets running tasks finish for up to graceMs, gives the rest back so
   * the coordinator reissues them at once, and reports every finished result it can.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.fillTimer) clearTimeout(this.fillTimer);
    clearInterval(this.progressTimer);
    const waiting = [...this.held.values()].filter((h) => h.state !== 'running').map((h) => h.task.taskId);
    const running = this.view().running.length;
    this.log.info('stopping', { running, queued: waiting.length, graceSeconds: this.options.graceMs / 1000 });
    await this.giveBack(waiting, 'the volunteer is stopping');

    const deadline = Date.now() + this.options.graceMs;
    while ([...this.held.values()].some((h) => h.state === 'running') && Date.now() < deadline) await sleep(100);
    await this.giveBack([...this.held.keys()], 'the volunteer stopped before the task finished');

    const flushUntil = Date.now() + 10_000;
    while (this.unreported.size > 0 && this.session && Date.now() < flushUntil) {
      await this.report();
      if (this.unreported.size > 0) await sleep(200);
    }
    if (this.unreported.size > 0) this.log.warn('results kept on disk for the next start', { unreported: this.unreported.size });
    this.link.close();
    await this.pool.close();
  }

  private async giveBack(taskIds: number[], reason: string): Promise<void> {
    for (const id of taskIds) {
      const h = this.held.get(id);
      if (h?.state === 'running') this.pool.abort(id, reason);
    }
    if (!this.session || taskIds.length === 0) return; // still in the journal: resumed next start
    try {
      for (let i = 0; i < taskIds.length; i += 64) {
        const chunk = taskIds.slice(i, i + 64);
        await this.link.call('tasks.giveBack', { taskIds: chunk, reason });
        for (const id of chunk) {
          this.held.delete(id);
          this.journal.forget(id);
        }
      }
      this.log.info('gave tasks back', { tasks: taskIds.length });
    } catch (e) {
      this.log.warn('could not give tasks back; they stay in the journal', { error: (e as Error).message });
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
