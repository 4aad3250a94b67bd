// The volunteer's task loop, the same for the daemon and the page: keeps every sandbox busy
// with verified tasks, fetching ahead; journals tasks, checkpoints and results so a crash, a
// reload or a lost connection loses nothing; reports signed results when connected, in
// batches; gives work back. Where the two volunteers differ (files or IndexedDB, worker
// threads or Web Workers, Node crypto or WebCrypto, logs or an activity list) they pass adapters.
import { redactPaths } from '../app-runtime/redact-paths.js';
import { AppLogTail, type AppLog } from '../protocol/app-log.js';
import type { AppBundle, AppOutcome, CheckpointLimits, TaskHost } from '../app-runtime/run-app.js';
import type { AppKind } from '../protocol/app-kind.js';
import { utf8 } from '../protocol/bytes.js';
import { canonicalJson } from '../protocol/canonical.js';
import { MAX_ERROR_MESSAGE_CHARS, MAX_INLINE_JSON_BYTES, MAX_VERDICTS_PER_REQUEST } from '../protocol/limits.js';
import {
  SignedTaskListSchema,
  TaskLimitSchema,
  TaskVerdictSchema,
  UnsignedTaskSchema,
  type TaskLimit,
  type TaskVerdict,
  type VolunteerPreferences,
  type AbortNotice,
  type ResultAck,
  type UnsignedResult,
  type UnsignedTask,
} from '../protocol/messages.js';
import { buildUnsignedResult, type Outcome } from '../protocol/results.js';
import { resultListBody } from '../protocol/signed-lists.js';
import { listedTaskProblems } from '../protocol/verify.js';
import { UploadRefused, VerificationError, type CacheUse } from './app-cache.js';
import { realClock, type Clock, type TimerId } from './clock.js';
import { CallError, type LinkEvents, type Session } from './coordinator-link.js';
import type { VolunteerCrypto } from './crypto.js';

const RETRY_MS = 5_000;
const MAX_PREPARE_ATTEMPTS = 5;
const PROGRESS_REPORT_MS = 10_000;
/** How far apart idle hosts told of new work ask for it. */
const AVAILABLE_JITTER_MS = 1000;
const GIVE_BACK_CHUNK = 64;
/** Room a report's envelope (Socket.IO framing, the event name, the ack id) takes besides its results. */
const REPORT_OVERHEAD_BYTES = 4096;
const RECEIPTS_PAGE = 500;
/**
 * How often (×0.5–1.5) a connected host asks what came of results still waiting for their
 * verdict, 64 at a time, those asked longest ago first; and once after every connect. A lost
 * quorum vote is pushed when it is judged: asking is the catch-up for pushes missed meanwhile.
 */
const VERDICTS_MS = 60_000;

// ---- the adapters ----

/** Every task held, its last checkpoint, and every result until acknowledged. */
export interface TaskJournal {
  saveTask(task: UnsignedTask): Promise<void>;
  saveCheckpoint(taskId: number, stateJson: string): Promise<void>;
  checkpoint(taskId: number): Promise<string | undefined>;
  saveResult(result: UnsignedResult): Promise<void>;
  /** Drops everything about a task: acknowledged, aborted or given back. */
  forget(taskId: number): Promise<void>;
  tasks(): Promise<UnsignedTask[]>;
  results(): Promise<UnsignedResult[]>;
}

/** Verified app versions and inputs (volunteer-core/app-cache.ts), and the upload of large outputs. */
export interface AppSource {
  bundle(appVersionHash: string): Promise<AppBundle>;
  input(inputHash: string): Promise<unknown>;
  /** Uploads a task's large output; throws UploadRefused when the coordinator never will take it. */
  uploadOutput(outputJson: string, taskId: number): Promise<void>;
}

/** The host's credit receipts: each checked before it is kept. */
export interface CreditStore {
  readonly lastEntryId: number;
  add(receipts: unknown[]): { added: number; rejected: number } | Promise<{ added: number; rejected: number }>;
}

export interface SandboxJob {
  taskId: number;
  /** The app version's hash: the page runs one version's tasks on a worker before another's. */
  appVersionHash: string;
  entry: string;
  /** Absent: a JavaScript module. */
  kind?: AppKind;
  files: ReadonlyMap<string, Uint8Array>;
  input: unknown;
  rngSeed: string;
  /** Canonical JSON of the last checkpoint, when resuming. */
  resume?: string;
  checkpointLimits?: CheckpointLimits;
}

/** What a running task tells its volunteer: app-runtime's TaskHost. */
export type TaskEvents = TaskHost;

export interface Finished {
  /** Besides the app's own outcome, a limit code: cpu_limit, aborted, suspended (resume later)… */
  outcome: AppOutcome | { ok: false; code: string; message: string };
  cpuTimeMs: number;
  elapsedMs: number;
}

export interface SandboxRunner {
  /** Free sandboxes now (0 while paused). */
  readonly idle: number;
  /** Starts a job on a free sandbox; undefined when none is free. */
  run(job: SandboxJob, events: TaskEvents): Promise<Finished> | undefined;
  /** Stops a running task; it finishes with the code 'aborted'. */
  abort(taskId: number, reason: string): void;
}

/** The part of volunteer-core/coordinator-link.ts the engine uses. */
export interface EngineLink {
  readonly session: Session | undefined;
  call<T extends object>(event: string, payload: unknown): Promise<T>;
  /** Sends without waiting for the answer. */
  fire(event: string, payload: unknown): void;
  on<K extends 'ready' | 'lost' | 'abort' | 'credit' | 'available' | 'judged'>(event: K, listener: (value: LinkEvents[K]) => void): () => void;
}

/** What happened, for the daemon's log or the page's activity list. Every one is optional. */
export interface EngineEvents<C> {
  /** Something the page shows changed. */
  changed(): void;
  restored(tasks: number, results: number): void;
  connected(session: Session): void;
  lost(reason: string): void;
  fetchFailed(error: Error): void;
  /** An ask for work was answered, with this many tasks. */
  asked(received: number): void;
  /** The host's own quota began to keep work back (or another of its quotas did); see `limited`. */
  limited(limit: TaskLimit): void;
  creditAdded(added: number, rejected: number, credit: C): void;
  creditFetchFailed(error: Error): void;
  /** What came of reported results, pushed or asked for (results.judged, results.verdicts). */
  judged(verdicts: TaskVerdict[]): void;
  /** A task verified and journalled: it is this host's now. */
  received(task: UnsignedTask): void;
  refused(taskId: number, code: string, message: string): void;
  prepareRetry(taskId: number, error: Error): void;
  started(task: UnsignedTask, resumed: boolean): void;
  finished(task: UnsignedTask, f: Finished): void;
  /** A run stopped early (paused, fewer cores, its project suspended): it resumes from its checkpoint. */
  suspended(task: UnsignedTask, f: Finished): void;
  /** A result is signed and journalled. */
  resultSaved(result: UnsignedResult): void;
  aborted(taskId: number, reason: string): void;
  reportFailed(error: Error, unreported: number): void;
  /** The coordinator answered for a result; `result` and `task` when this run still knew them. */
  acknowledged(ack: ResultAck, result: UnsignedResult | undefined, task: Pick<UnsignedTask, 'project' | 'app'> | undefined): void;
  gaveBack(count: number): void;
  giveBackFailed(error: Error): void;
  appLog(task: UnsignedTask, level: 'debug' | 'info' | 'warn' | 'error', text: string): void;
}

export interface EngineOptions<C extends CreditStore> {
  host: { publicKey: string; seed: string };
  crypto: VolunteerCrypto;
  journal: TaskJournal;
  runner: SandboxRunner;
  /**
   * Opened at the first connect, when the coordinator's key is known. `inUse`: what the tasks
   * held now need, which the cache must keep.
   */
  openApps(coordinatorKey: string, inUse: () => CacheUse): AppSource;
  openCredit(coordinatorKey: string): C | Promise<C>;
  /** How many tasks to hold: one per sandbox plus those fetched ahead. */
  capacity(): number;
  /** How much each task may checkpoint (the runtime's defaults when absent). */
  checkpointLimits?(): CheckpointLimits;
  /** Whether to ask for work now (besides being connected and not stopping). */
  canFetch?(): boolean;
  /** Whether a task that is ready may start now (the page holds a suspended project's tasks). */
  mayStart?(task: UnsignedTask): boolean;
  /** Which projects to compute for, sent with every tasks.request (docs/protocol.md). */
  preferences?(): VolunteerPreferences | undefined;
  /** Tasks whose results were reported and still wait for their verdict (the task list's pending validation). */
  awaitingVerdict?(): Iterable<number>;
  /** For spreading requests in time; Math.random by default. */
  random?: () => number;
  events?: Partial<EngineEvents<C>>;
  clock?: Clock;
  retryMs?: number;
}

// ---- the engine ----

export type HeldState = 'preparing' | 'queued' | 'running';

interface Held {
  task: UnsignedTask;
  state: HeldState;
  bundle?: AppBundle;
  input?: unknown;
  progress: number;
  attempts: number;
  /** Canonical JSON of the last checkpoint (also in the journal). */
  checkpoint?: string;
  resumed: boolean;
  /** What the app logged in its current run, for the result (the researcher sees it). */
  log?: AppLogTail;
}

export interface HeldTask {
  task: UnsignedTask;
  state: HeldState;
  progress: number;
  checkpointed: boolean;
  /** Running from a checkpoint written before. */
  resumed: boolean;
}

type RefusedTask = Pick<UnsignedTask, 'taskId' | 'workunitId' | 'hostKey'> & Partial<Pick<UnsignedTask, 'project' | 'app'>>;

export class TaskEngine<C extends CreditStore = CreditStore> {
  private readonly held = new Map<number, Held>();
  private readonly unreported = new Map<number, { result: UnsignedResult; task?: Pick<UnsignedTask, 'project' | 'app'> }>();
  /** Tasks over whose results are being signed and journalled: no longer held, not yet unreported. */
  private readonly completing = new Set<number>();
  private readonly clock: Clock;
  private readonly retryMs: number;
  private readonly events: Partial<EngineEvents<C>>;
  private link: EngineLink | undefined;
  private apps: AppSource | undefined;
  private creditStore: C | undefined;
  private current: Session | undefined;
  private requesting = false;
  private reporting = false;
  private stopping = false;
  private fillTimer: TimerId | undefined;
  private reportTimer: TimerId | undefined;
  private verdictTimer: TimerId | undefined;
  private askingVerdicts = false;
  /** When each task awaiting its verdict was last asked about: those asked longest ago go first. */
  private readonly verdictAskedAt = new Map<number, number>();
  /** The session whose coordinator does not know results.verdicts (older than it): not asked again on it. */
  private verdictsUnknownTo: Session | undefined;
  private readonly progressTimer: TimerId;
  /** The last ask for work came back empty. */
  waitingForWork = false;
  /** The host's own quota, when the last ask for work said it is why fewer tasks came (docs/protocol.md, `limited`). */
  limited: TaskLimit | undefined;
  /** When the engine asks for work next, while it waits to (the clock's ms). */
  nextAskAt: number | undefined;

  constructor(private readonly o: EngineOptions<C>) {
    this.clock = o.clock ?? realClock;
    this.retryMs = o.retryMs ?? RETRY_MS;
    this.events = o.events ?? {};
    this.progressTimer = this.clock.setInterval(() => void this.reportProgress(), PROGRESS_REPORT_MS);
  }

  /** Takes back what the journal holds: tasks (with their checkpoints) and unreported results. */
  async restore(): Promise<void> {
    const { journal, host } = this.o;
    for (const r of await journal.results()) this.unreported.set(r.taskId, { result: r });
    for (const task of await journal.tasks()) {
      if (this.unreported.has(task.taskId) || task.hostKey !== host.publicKey) continue;
      const checkpoint = await journal.checkpoint(task.taskId);
      this.held.set(task.taskId, { task, state: 'preparing', progress: 0, attempts: 0, resumed: false, ...(checkpoint === undefined ? {} : { checkpoint }) });
    }
    if (this.held.size + this.unreported.size > 0) this.events.restored?.(this.held.size, this.unreported.size);
  }

  /** Listens to a link; picks up its session if it is connected already. */
  attach(link: EngineLink): void {
    this.link = link;
    link.on('ready', (s) => void this.onReady(s));
    link.on('lost', (reason) => {
      this.current = undefined;
      this.clock.clearTimeout(this.verdictTimer);
      this.verdictTimer = undefined;
      this.events.lost?.(reason);
    });
    link.on('abort', (n: AbortNotice) => void this.abort(n.taskIds, n.reason));
    link.on('credit', (receipts) => void this.addCredit(receipts));
    link.on('judged', (verdicts) => this.judged(verdicts));
    // Told there may be work: ask within a second (spread, so a thousand idle hosts do not ask
    // in the same millisecond) instead of at the end of the wait the last empty answer set.
    link.on('available', () => {
      if (this.waitingForWork) this.fill(Math.floor((this.o.random ?? Math.random)() * AVAILABLE_JITTER_MS) + 1);
    });
    if (link.session) void this.onReady(link.session);
  }

  get session(): Session | undefined {
    return this.current;
  }

  get credit(): C | undefined {
    return this.creditStore;
  }

  get unreportedCount(): number {
    return this.unreported.size;
  }

  /** Tasks held, being completed, or with a result to report: every task this host still has. */
  hasTask(taskId: number): boolean {
    return this.held.has(taskId) || this.completing.has(taskId) || this.unreported.has(taskId);
  }

  heldTasks(): HeldTask[] {
    return [...this.held.values()].map((h) => ({ task: h.task, state: h.state, progress: h.progress, checkpointed: h.checkpoint !== undefined, resumed: h.resumed }));
  }

  private cacheUse(): CacheUse {
    const appVersions = new Set<string>();
    const inputs = new Set<string>();
    for (const { task } of this.held.values()) {
      appVersions.add(task.appVersionHash);
      if (task.input === undefined) inputs.add(task.inputHash);
    }
    return { appVersions, inputs };
  }

  /** The coordinator's key changed (and the volunteer accepted it): what was checked with the old one goes. */
  forgetCoordinatorKey(): void {
    this.apps = undefined;
    this.creditStore = undefined;
  }

  // ---- connection ----

  private async onReady(session: Session): Promise<void> {
    this.current = session;
    this.apps ??= this.o.openApps(session.coordinatorKey, () => this.cacheUse());
    this.creditStore ??= await this.o.openCredit(session.coordinatorKey);
    this.events.connected?.(session);
    for (const h of this.held.values()) if (h.state === 'preparing' && h.attempts === 0) void this.prepare(h);
    // Receipts first: what they make valid need not be asked about.
    void this.catchUpCredit().then(() => this.askVerdicts());
    this.scheduleVerdicts();
    this.scheduleReport(0);
    this.fill();
  }

  private async catchUpCredit(): Promise<void> {
    try {
      for (;;) {
        const { receipts } = await this.link!.call<{ receipts: unknown[] }>('credit.receipts', { afterEntryId: this.creditStore!.lastEntryId, limit: RECEIPTS_PAGE });
        await this.addCredit(receipts);
        if (receipts.length < RECEIPTS_PAGE) return;
      }
    } catch (e) {
      this.events.creditFetchFailed?.(asError(e)); // caught up next time
    }
  }

  // ---- verdicts ----

  private scheduleVerdicts(): void {
    this.clock.clearTimeout(this.verdictTimer);
    const wait = Math.round(VERDICTS_MS * (0.5 + (this.o.random ?? Math.random)()));
    this.verdictTimer = this.clock.setTimeout(() => {
      this.verdictTimer = undefined;
      void this.askVerdicts().finally(() => this.current && !this.stopping && this.scheduleVerdicts());
    }, wait);
  }

  /**
   * Asks what came of results still waiting for their verdict (results.verdicts), at most 64, those
   * asked longest ago first. Nothing to ask, no connection, or a coordinator from before the
   * message (it answers bad_request; asked again only after the next connect): nothing is sent.
   */
  async askVerdicts(): Promise<void> {
    const session = this.current;
    if (!session || this.askingVerdicts || this.verdictsUnknownTo === session) return;
    const awaiting = new Set(this.o.awaitingVerdict?.() ?? []);
    for (const id of this.verdictAskedAt.keys()) if (!awaiting.has(id)) this.verdictAskedAt.delete(id);
    if (awaiting.size === 0) return;
    const taskIds = [...awaiting].sort((a, b) => (this.verdictAskedAt.get(a) ?? -1) - (this.verdictAskedAt.get(b) ?? -1)).slice(0, MAX_VERDICTS_PER_REQUEST);
    this.askingVerdicts = true;
    try {
      const reply = await this.link!.call<{ verdicts?: unknown }>('results.verdicts', { taskIds });
      const now = this.clock.now();
      for (const id of taskIds) this.verdictAskedAt.set(id, now);
      // Each verdict checked on its own: one this client cannot read (a later coordinator's) is left out.
      const verdicts = (Array.isArray(reply.verdicts) ? reply.verdicts : []).flatMap((v: unknown) => {
        const parsed = TaskVerdictSchema.safeParse(v);
        return parsed.success && awaiting.has(parsed.data.taskId) ? [parsed.data] : [];
      });
      if (verdicts.length > 0) this.judged(verdicts);
    } catch (e) {
      if (e instanceof CallError && e.code === 'bad_request') this.verdictsUnknownTo = session;
      // Anything else (the connection lost, a timeout): asked again at the next turn.
    } finally {
      this.askingVerdicts = false;
    }
  }

  private judged(verdicts: TaskVerdict[]): void {
    this.events.judged?.(verdicts);
    this.changed();
  }

  private async addCredit(receipts: unknown[]): Promise<void> {
    const credit = this.creditStore;
    if (!credit) return;
    const { added, rejected } = await credit.add(receipts);
    this.events.creditAdded?.(added, rejected, credit);
    this.changed();
  }

  // ---- getting work ----

  /** Asks for work now, or after `delayMs`, if there is room. */
  fill(delayMs = 0): void {
    this.clock.clearTimeout(this.fillTimer);
    this.fillTimer = undefined;
    this.nextAskAt = undefined;
    if (delayMs > 0) {
      this.nextAskAt = this.clock.now() + delayMs;
      this.fillTimer = this.clock.setTimeout(() => this.fill(), delayMs);
      return;
    }
    void this.requestTasks();
  }

  private async requestTasks(): Promise<void> {
    const session = this.current;
    if (!session || this.stopping || this.requesting || this.o.canFetch?.() === false) return;
    const want = this.o.capacity() - this.held.size;
    if (want <= 0) return;
    this.requesting = true;
    try {
      const preferences = this.o.preferences?.();
      const reply = await this.link!.call<{ tasks: unknown[]; taskList?: unknown; abort?: AbortNotice; retryAfterMs?: number; limited?: unknown }>('tasks.request', {
        count: Math.min(want, session.limits.maxTasksPerRequest),
        holding: [...this.held.keys(), ...this.completing, ...this.unreported.keys()],
        ...(preferences ? { preferences } : {}),
      });
      if (reply.abort) await this.abort(reply.abort.taskIds, reply.abort.reason);
      if (reply.tasks.length > 0) await this.accept(reply.tasks, reply.taskList, session.coordinatorKey);
      this.waitingForWork = reply.tasks.length === 0;
      // Display only: a `limited` this client cannot read (a later coordinator's) is as none.
      const limited = reply.limited === undefined ? undefined : TaskLimitSchema.safeParse(reply.limited).data;
      if (limited && limited.by !== this.limited?.by) this.events.limited?.(limited);
      this.limited = limited;
      this.requesting = false;
      this.events.asked?.(reply.tasks.length);
      this.changed();
      if (reply.tasks.length === 0) this.fill(reply.retryAfterMs ?? this.retryMs);
      else this.fill();
    } catch (e) {
      this.requesting = false;
      // A request cut by the lost connection is no failure of its own: 'lost' said so, and 'ready' asks again.
      if (isDisconnect(e)) return;
      this.events.fetchFailed?.(asError(e));
      this.fill(this.retryMs);
    }
  }

  /**
   * Verifies a reply's tasks (schema, the coordinator's one signature of their list, each task at
   * its place in it, addressed to this host, inline input) before taking them. A malformed task
   * leaves the list unmatched: then none is taken, and each is refused (reported as an error, so
   * that it goes to another host).
   */
  private async accept(raws: unknown[], rawList: unknown, coordinatorKey: string): Promise<void> {
    const { host, crypto, journal } = this.o;
    const parsed = raws.map((raw) => UnsignedTaskSchema.safeParse(raw));
    const list = SignedTaskListSchema.safeParse(rawList);
    if (!list.success || parsed.some((p) => !p.success)) {
      for (const [i, p] of parsed.entries()) {
        const t = (p.success ? p.data : raws[i]) as Partial<UnsignedTask> | null;
        if (t && Number.isSafeInteger(t.taskId) && Number.isSafeInteger(t.workunitId) && !this.holds(t.taskId!)) {
          await this.refuse({ taskId: t.taskId!, workunitId: t.workunitId!, hostKey: host.publicKey }, 'bad_signature', p.success ? 'the task list is malformed, or another task of its reply is' : 'the task is malformed');
        }
      }
      return;
    }
    const tasks = parsed.map((p) => p.data!);
    const problems = await crypto.check((ed) => listedTaskProblems(ed, coordinatorKey, host.publicKey, tasks, list.data));
    for (const [i, task] of tasks.entries()) {
      if (this.holds(task.taskId)) continue;
      const problem = problems[i];
      if (problem) {
        await this.refuse(task, 'bad_signature', problem);
        continue;
      }
      await journal.saveTask(task);
      const h: Held = { task, state: 'preparing', progress: 0, attempts: 0, resumed: false };
      this.held.set(task.taskId, h);
      this.events.received?.(task);
      void this.prepare(h);
    }
  }

  private holds(taskId: number): boolean {
    return this.held.has(taskId) || this.completing.has(taskId) || this.unreported.has(taskId);
  }

  /** Fetches and verifies the app version and input; the task runs only if both verify. */
  private async prepare(h: Held): Promise<void> {
    const { task } = h;
    h.attempts++;
    try {
      const apps = this.apps!;
      h.bundle = await apps.bundle(task.appVersionHash);
      h.input = task.input !== undefined ? task.input : await apps.input(task.inputHash);
    } catch (e) {
      if (this.held.get(task.taskId) !== h) return;
      if (e instanceof VerificationError) return this.refuse(task, e.code, e.message);
      if (h.attempts >= MAX_PREPARE_ATTEMPTS) return this.refuse(task, 'download_failed', asError(e).message);
      this.events.prepareRetry?.(task.taskId, asError(e));
      this.clock.setTimeout(() => void (this.held.get(task.taskId) === h && this.prepare(h)), this.retryMs);
      return;
    }
    if (this.held.get(task.taskId) !== h) return; // aborted meanwhile
    h.state = 'queued';
    this.dispatch();
  }

  /** A task that must not run is reported as a client error, so it is reissued elsewhere. */
  private async refuse(task: RefusedTask, code: string, message: string): Promise<void> {
    this.held.delete(task.taskId);
    this.events.refused?.(task.taskId, code, message);
    await this.complete(task, { error: { code, message } }, { cpuTimeMs: 0, elapsedMs: 0 });
  }

  // ---- running ----

  /** Starts queued tasks on free sandboxes. */
  dispatch(): void {
    const { runner, journal } = this.o;
    for (const h of this.held.values()) {
      if (this.stopping || runner.idle === 0) break;
      if (h.state !== 'queued') continue;
      const { task } = h;
      if (this.o.mayStart?.(task) === false) continue;
      const resume = h.checkpoint;
      const checkpointLimits = this.o.checkpointLimits?.();
      // Marked first: starting it may free a slot and call dispatch again, which must not
      // start the same task on a second sandbox.
      h.state = 'running';
      h.log = new AppLogTail();
      const running = runner.run(
        {
          taskId: task.taskId,
          appVersionHash: task.appVersionHash,
          entry: h.bundle!.entry,
          ...(h.bundle!.kind === undefined || h.bundle!.kind === 'javascript' ? {} : { kind: h.bundle!.kind }),
          files: h.bundle!.files,
          input: h.input,
          rngSeed: task.rngSeed,
          ...(resume === undefined ? {} : { resume }),
          ...(checkpointLimits === undefined ? {} : { checkpointLimits }),
        },
        {
          progress: (f) => {
            h.progress = f;
            this.changed();
          },
          checkpoint: async (json) => {
            if (this.held.get(task.taskId) !== h) throw new Error('the task was stopped');
            await journal.saveCheckpoint(task.taskId, json);
            // Stopped while writing: its journal entries are already gone; drop this one too.
            if (this.held.get(task.taskId) !== h) return void (await journal.forget(task.taskId));
            h.checkpoint = json;
          },
          log: (level, text) => {
            // Sent to the researcher: no path of this machine, as for error messages.
            if (this.held.get(task.taskId) === h) h.log!.add(level, redactPaths(text));
            this.events.appLog?.(task, level, text);
          },
        },
      );
      if (!running) {
        h.state = 'queued';
        break;
      }
      h.resumed = resume !== undefined;
      this.events.started?.(task, h.resumed);
      void running.then((f) => this.finished(h, f));
    }
    this.changed();
  }

  private async finished(h: Held, f: Finished): Promise<void> {
    const { task } = h;
    h.resumed = false;
    if (this.held.get(task.taskId) !== h) return; // aborted or given back
    if (!f.outcome.ok && f.outcome.code === 'aborted') return; // stopped by us: not a result
    if (!f.outcome.ok && f.outcome.code === 'suspended') {
      h.state = 'queued'; // resumes from its last checkpoint when there is room again
      this.events.suspended?.(task, f);
      this.dispatch();
      return;
    }
    this.held.delete(task.taskId);
    this.events.finished?.(task, f);
    const timing = { cpuTimeMs: f.cpuTimeMs, elapsedMs: f.elapsedMs };
    const log = h.log?.log;
    if (f.outcome.ok) await this.complete(task, { output: JSON.parse(f.outcome.outputJson) as unknown }, timing, log);
    else await this.complete(task, { error: { code: f.outcome.code, message: f.outcome.message } }, timing, log);
    this.dispatch();
    this.fill();
  }

  /**
   * Builds the result and journals it before anything else: from here it survives a crash or a
   * reload. An error's message names no file of this machine: it goes to the coordinator and
   * the researcher.
   */
  private async complete(task: RefusedTask, outcome: Outcome, timing: { cpuTimeMs: number; elapsedMs: number }, log?: AppLog): Promise<void> {
    const { journal } = this.o;
    if ('error' in outcome && outcome.error) {
      outcome = { error: { code: outcome.error.code, message: redactPaths(outcome.error.message).slice(0, MAX_ERROR_MESSAGE_CHARS) } };
    }
    const rounded = { cpuTimeMs: Math.round(timing.cpuTimeMs), elapsedMs: Math.round(timing.elapsedMs) };
    // Named in `holding` meanwhile: an ask for work that left it out would have the coordinator
    // send it again as lost, and it would run twice.
    this.completing.add(task.taskId);
    let result: UnsignedResult;
    try {
      // Unsigned: the report it goes in is signed as a whole (protocol 3).
      result = buildUnsignedResult(task, outcome, rounded, log);
      await journal.saveResult(result);
      this.unreported.set(task.taskId, { result, ...(task.project !== undefined && task.app !== undefined ? { task: { project: task.project, app: task.app } } : {}) });
    } finally {
      this.completing.delete(task.taskId);
    }
    this.events.resultSaved?.(result);
    this.scheduleReport();
    this.changed();
  }

  private async abort(taskIds: number[], reason: string): Promise<void> {
    for (const id of taskIds) {
      const h = this.held.get(id);
      if (!h && !this.unreported.has(id)) continue;
      this.held.delete(id);
      this.unreported.delete(id);
      if (h?.state === 'running') this.o.runner.abort(id, reason);
      await this.o.journal.forget(id);
      this.events.aborted?.(id, reason);
    }
    this.dispatch();
    this.fill();
  }

  // ---- reporting ----

  private scheduleReport(delayMs = 20): void {
    if (this.reportTimer) return;
    this.reportTimer = this.clock.setTimeout(() => {
      this.reportTimer = undefined;
      void this.report();
    }, delayMs);
  }

  /** Reports every unreported result, maxResultsPerReport at a time; on failure they are kept and sent again. */
  async report(): Promise<void> {
    if (!this.current || this.reporting || this.unreported.size === 0) return;
    this.reporting = true;
    try {
      while (this.current && this.unreported.size > 0) {
        const batch = [...this.unreported.values()].slice(0, this.current.limits.maxResultsPerReport);
        const wire = fitInMessage(await Promise.all(batch.map(({ result }) => this.toWire(result))), this.current.limits.maxMessageBytes);
        // One signature for the report, over its results' list in the order sent.
        const body = resultListBody(this.o.host.publicKey, wire);
        const resultList = { ...body, signature: await this.o.crypto.sign(this.o.host.seed, 'resultList', body) };
        const { results } = await this.link!.call<{ results: ResultAck[] }>('results.report', { results: wire, resultList });
        for (const ack of results) await this.acknowledged(ack);
      }
    } catch (e) {
      // Cut by the lost connection: 'lost' said so, and 'ready' reports them.
      if (isDisconnect(e)) return;
      this.events.reportFailed?.(asError(e), this.unreported.size);
      // A call that timed out is sent again with the next result, or after the reconnect.
      if (!(e instanceof CallError && e.code === 'timeout')) this.clock.setTimeout(() => this.scheduleReport(0), this.retryMs);
    } finally {
      this.reporting = false;
    }
  }

  /**
   * Outputs too large for a message are uploaded by hash first. One the coordinator will never
   * take (over its --max-output-bytes, or refused for good) becomes an error result instead, so
   * that the task is given to another host rather than reported forever.
   */
  private async toWire(r: UnsignedResult): Promise<UnsignedResult> {
    if (r.output === undefined) return r;
    const json = canonicalJson(r.output);
    const size = utf8(json).length;
    if (size <= MAX_INLINE_JSON_BYTES) return r;
    const max = this.current?.limits.maxOutputBytes;
    try {
      if (max !== undefined && size > max) throw new UploadRefused(`the output is ${size} bytes, over the coordinator's limit of ${max}`);
      await this.apps!.uploadOutput(json, r.taskId);
    } catch (e) {
      if (!(e instanceof UploadRefused)) throw e;
      const code = max !== undefined && size > max ? 'output_too_large' : 'upload_refused';
      return this.replaceWithError(r, code, e.message);
    }
    const { output: _output, ...rest } = r;
    return rest;
  }

  /** Journals an error result in place of a success that cannot be reported. */
  private async replaceWithError(r: UnsignedResult, code: string, message: string): Promise<UnsignedResult> {
    const { journal } = this.o;
    const timing = { cpuTimeMs: r.cpuTimeMs, elapsedMs: r.elapsedMs };
    const error = { code, message: message.slice(0, MAX_ERROR_MESSAGE_CHARS) };
    const log = r.log ? { lines: r.log, omitted: r.logOmitted ?? 0 } : undefined;
    const replaced = buildUnsignedResult(r, { error }, timing, log);
    await journal.saveResult(replaced);
    const entry = this.unreported.get(r.taskId);
    if (entry) entry.result = replaced;
    this.events.resultSaved?.(replaced);
    return replaced;
  }

  private async acknowledged(ack: ResultAck): Promise<void> {
    const entry = this.unreported.get(ack.taskId);
    this.unreported.delete(ack.taskId);
    await this.o.journal.forget(ack.taskId);
    this.events.acknowledged?.(ack, entry?.result, entry?.task);
    this.changed();
  }

  private async reportProgress(): Promise<void> {
    const updates = [...this.held.values()].filter((h) => h.state === 'running').map((h) => ({ taskId: h.task.taskId, fraction: h.progress }));
    if (!this.current || updates.length === 0) return;
    await this.link!.call('tasks.progress', { updates: updates.slice(0, this.current.limits.maxTasksPerRequest) }).catch(() => undefined);
  }

  // ---- giving back and stopping ----

  /**
   * Gives tasks back so the coordinator reissues them at once; running ones are stopped. Without
   * a connection, or if the call fails, they stay in the journal (and are named in `holding`).
   */
  async giveBack(taskIds: number[], reason: string): Promise<void> {
    const { runner, journal } = this.o;
    for (const id of taskIds) if (this.held.get(id)?.state === 'running') runner.abort(id, reason);
    if (!this.current || taskIds.length === 0) return;
    try {
      for (let i = 0; i < taskIds.length; i += GIVE_BACK_CHUNK) {
        const chunk = taskIds.slice(i, i + GIVE_BACK_CHUNK);
        await this.link!.call('tasks.giveBack', { taskIds: chunk, reason });
        for (const id of chunk) {
          if (this.held.get(id)?.state === 'running') runner.abort(id, reason); // started meanwhile
          this.held.delete(id);
          await journal.forget(id);
        }
      }
      this.events.gaveBack?.(taskIds.length);
    } catch (e) {
      this.events.giveBackFailed?.(asError(e));
    }
    this.changed();
  }

  /** Gives tasks back without waiting for answers (the page is going away) and forgets them. */
  handBack(taskIds: number[], reason: string): void {
    for (let i = 0; i < taskIds.length; i += GIVE_BACK_CHUNK) {
      this.link?.fire('tasks.giveBack', { taskIds: taskIds.slice(i, i + GIVE_BACK_CHUNK), reason });
    }
    for (const id of taskIds) {
      this.held.delete(id);
      void this.o.journal.forget(id);
    }
  }

  /** Asks for no more work and starts nothing new; what runs goes on. */
  stopTaking(): void {
    this.stopping = true;
    this.clock.clearTimeout(this.fillTimer);
    this.clock.clearTimeout(this.verdictTimer);
    this.clock.clearInterval(this.progressTimer);
  }

  private changed(): void {
    this.events.changed?.();
  }
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

const isDisconnect = (e: unknown): boolean => e instanceof CallError && e.code === 'disconnected';

/**
 * The first results that fit in one message together (always at least one: a result's inline
 * output and log are bounded well under a message), so that several large inline outputs are
 * reported over several messages instead of one the coordinator would refuse.
 */
function fitInMessage(results: UnsignedResult[], maxMessageBytes: number): UnsignedResult[] {
  const room = maxMessageBytes - REPORT_OVERHEAD_BYTES;
  let bytes = 0;
  let n = 0;
  for (const r of results) {
    bytes += utf8(JSON.stringify(r)).length + 1;
    if (n > 0 && bytes > room) break;
    n++;
  }
  return results.slice(0, n);
}
