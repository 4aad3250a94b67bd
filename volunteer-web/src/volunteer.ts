// The browser volunteer: keeps every sandbox worker busy with verified tasks, fetching ahead;
// journals tasks, checkpoints and results in IndexedDB so a reload loses nothing; reports
// signed results when connected; hands work back when the tab goes away. The browser twin of
// volunteer-node/daemon.ts, driven by the page's controls instead of flags.
import type { AppBundle } from '../../app-runtime/run-app.js';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { MAX_ERROR_MESSAGE_CHARS, MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import { TaskSchema, type AbortNotice, type Result, type ResultAck, type Task } from '../../protocol/messages.js';
import { buildResult, type Outcome } from '../../protocol/results.js';
import { taskProblem } from '../../protocol/verify.js';
import { AppCache, VerificationError } from './app-cache.js';
import { CallError, CoordinatorLink, type Session } from './coordinator-link.js';
import { CreditBook } from './credit-book.js';
import type { BrowserCrypto } from './crypto.js';
import { Emitter } from './emitter.js';
import { CoordinatorKeyMismatch, trustCoordinatorKey, trustedCoordinatorKey, type HostIdentity, type Trust } from './identity.js';
import type { Idb } from './idb.js';
import type { PowerState } from './power.js';
import { saveSettings, type Settings } from './settings.js';
import { countTask, loadStats, saveStats, type Stats } from './stats.js';
import { WorkerPool, type Finished, type SlotState } from './sandbox/worker-pool.js';
import { TaskJournal } from './task-journal.js';

const RETRY_MS = 5_000;
const MAX_PREPARE_ATTEMPTS = 5;
const PROGRESS_REPORT_MS = 10_000;
const ACTIVITY_LINES = 12;

type State = 'preparing' | 'queued' | 'running';

interface Held {
  task: Task;
  state: State;
  bundle?: AppBundle;
  input?: unknown;
  progress: number;
  attempts: number;
  /** Canonical JSON of the last checkpoint (also in the journal). */
  checkpoint?: string;
}

export interface Activity {
  at: number;
  level: 'info' | 'warn';
  text: string;
}

export interface WorkerView {
  state: SlotState;
  taskId?: number;
  project?: string;
  app?: string;
  progress: number;
  resumed: boolean;
}

export type Phase = 'stopped' | 'connecting' | 'computing' | 'waiting' | 'paused' | 'blocked';

export interface VolunteerView {
  phase: Phase;
  pauseReasons: string[];
  connected: boolean;
  hostId?: number;
  userId?: number;
  workers: WorkerView[];
  queued: number;
  unreported: number;
  stats: Stats;
  valid: number;
  credit: number;
  rac: number;
  activity: Activity[];
  trust?: Trust;
  problem?: string;
  keyMismatch?: { trusted: string; presented: string };
}

export class Volunteer extends Emitter<{ change: undefined }> {
  private readonly held = new Map<number, Held>();
  private readonly unreported = new Map<number, Result>();
  private readonly journal: TaskJournal;
  private readonly pool: WorkerPool;
  private readonly stats = loadStats();
  private readonly activity: Activity[] = [];
  private link: CoordinatorLink | undefined;
  private session: Session | undefined;
  private cache: AppCache | undefined;
  private credit: CreditBook | undefined;
  private trust: Trust | undefined;
  private requesting = false;
  private reporting = false;
  private fillTimer: ReturnType<typeof setTimeout> | undefined;
  private reportTimer: ReturnType<typeof setTimeout> | undefined;
  private waitingForWork = false;
  private power: PowerState = { onBattery: false, hidden: false, batteryKnown: false };
  private problem: string | undefined;
  private keyMismatch: CoordinatorKeyMismatch | undefined;
  private readonly resumed = new Set<number>();

  private constructor(
    private readonly db: Idb,
    private readonly crypto: BrowserCrypto,
    readonly host: HostIdentity,
    readonly settings: Settings,
    private readonly platform: { engine: string; os?: string },
  ) {
    super();
    this.journal = new TaskJournal(db);
    this.pool = new WorkerPool({
      size: settings.cores,
      maxTaskMs: settings.maxTaskMinutes * 60_000,
      dutyPercent: settings.dutyPercent,
      onIdle: () => this.dispatch(),
      onBroken: (message) => {
        this.problem = message;
        this.changed();
      },
    });
    setInterval(() => void this.reportProgress(), PROGRESS_REPORT_MS);
    // Worker states (resting, paused) change without events of their own.
    setInterval(() => this.changed(), 1_000);
  }

  /** Restores the journal; connects at once if this browser volunteered before. */
  static async create(db: Idb, crypto: BrowserCrypto, host: HostIdentity, settings: Settings, platform: { engine: string; os?: string }): Promise<Volunteer> {
    const v = new Volunteer(db, crypto, host, settings, platform);
    v.trust = await trustedCoordinatorKey(db);
    for (const r of await v.journal.results()) v.unreported.set(r.taskId, r);
    for (const task of await v.journal.tasks()) {
      if (v.unreported.has(task.taskId) || task.hostKey !== host.publicKey) continue;
      const checkpoint = await v.journal.checkpoint(task.taskId);
      v.held.set(task.taskId, { task, state: 'preparing', progress: 0, attempts: 0, ...(checkpoint === undefined ? {} : { checkpoint }) });
    }
    if (v.held.size + v.unreported.size > 0) v.note('info', `Picked up where this tab left off: ${v.held.size} task(s), ${v.unreported.size} result(s) to report.`);
    v.applyPause();
    if (settings.joined) v.connect();
    return v;
  }

  // ---- controls ----

  start(): void {
    this.settings.running = true;
    this.settings.joined = true;
    this.persist();
    this.connect();
    this.applyPause();
    this.fill();
  }

  /** The volunteer paused: running tasks stop at their next checkpoint; tasks not begun go back. */
  pause(): void {
    this.settings.running = false;
    this.persist();
    this.applyPause();
    const notBegun = [...this.held.values()].filter((h) => h.state !== 'running' && h.checkpoint === undefined).map((h) => h.task.taskId);
    void this.giveBack(notBegun, 'the volunteer paused');
  }

  setCores(n: number): void {
    this.settings.cores = n;
    this.persist();
    this.pool.resize(n);
    this.fill();
  }

  setDuty(percent: number): void {
    this.settings.dutyPercent = percent;
    this.persist();
    this.pool.setDuty(percent);
  }

  setMaxTaskMinutes(minutes: number): void {
    this.settings.maxTaskMinutes = minutes;
    this.persist();
    this.pool.setMaxTaskMs(minutes * 60_000);
  }

  setPowerRules(rules: { pauseOnBattery?: boolean; pauseWhenHidden?: boolean }): void {
    Object.assign(this.settings, rules);
    this.persist();
    this.applyPause();
  }

  setPower(power: PowerState): void {
    this.power = { ...power };
    this.applyPause();
  }

  /** Nickname and account are sent in hello: handshake again. */
  setIdentity(fields: { nickname: string; team: string; accountKey?: string }): void {
    this.settings.nickname = fields.nickname;
    this.settings.team = fields.team;
    if (fields.accountKey === undefined) delete this.settings.accountKey;
    else this.settings.accountKey = fields.accountKey;
    this.persist();
    if (this.problem && /account/.test(this.problem)) this.problem = undefined;
    this.link?.reconnect();
    this.changed();
  }

  /** The volunteer accepted the coordinator's new key. */
  async acceptNewCoordinatorKey(): Promise<void> {
    const m = this.keyMismatch;
    if (!m) return;
    await this.db.put('meta', 'coordinator', { coordinatorKey: m.presented, firstSeen: Date.now() }, true);
    this.keyMismatch = undefined;
    this.problem = undefined;
    this.cache = undefined; // both check signatures with the key
    this.credit = undefined;
    this.trust = await trustedCoordinatorKey(this.db);
    this.note('warn', 'Now trusting the coordinator’s new key.');
    this.link?.reconnect();
  }

  /**
   * The tab is going away (closed, reloaded, navigated). Tasks with nothing to lose go back at
   * once, best effort; tasks with a checkpoint stay in the journal: a reload resumes them, and
   * if the tab does not come back the coordinator reissues them after its disconnect grace.
   */
  pageHidden(): void {
    const giveBack = [...this.held.values()].filter((h) => h.checkpoint === undefined).map((h) => h.task.taskId);
    for (let i = 0; i < giveBack.length; i += 64) {
      this.link?.fire('tasks.giveBack', { taskIds: giveBack.slice(i, i + 64), reason: 'the browser tab closed' });
    }
    for (const id of giveBack) {
      this.held.delete(id);
      void this.journal.forget(id);
    }
  }

  view(): VolunteerView {
    const byTask = new Map([...this.held.values()].map((h) => [h.task.taskId, h]));
    const workers = this.pool.view().map((s): WorkerView => {
      const h = s.taskId === undefined ? undefined : byTask.get(s.taskId);
      return {
        state: s.state,
        progress: h?.progress ?? 0,
        resumed: s.taskId !== undefined && this.resumed.has(s.taskId),
        ...(h ? { taskId: h.task.taskId, project: h.task.project, app: h.task.app } : {}),
      };
    });
    return {
      phase: this.phase(),
      pauseReasons: this.pauseReasons(),
      connected: this.session !== undefined,
      ...(this.session ? { hostId: this.session.hostId, userId: this.session.userId } : {}),
      workers,
      queued: [...this.held.values()].filter((h) => h.state !== 'running').length,
      unreported: this.unreported.size,
      stats: this.stats,
      valid: this.credit?.validResults ?? 0,
      credit: this.credit?.total ?? 0,
      rac: this.credit?.rac() ?? 0,
      activity: this.activity,
      ...(this.trust ? { trust: this.trust } : {}),
      ...(this.problem ? { problem: this.problem } : {}),
      ...(this.keyMismatch ? { keyMismatch: { trusted: this.keyMismatch.trusted.coordinatorKey, presented: this.keyMismatch.presented } } : {}),
    };
  }

  private phase(): Phase {
    if (this.problem || this.keyMismatch) return 'blocked';
    if (!this.settings.running) return 'stopped';
    if (this.pauseReasons().length > 0) return 'paused';
    if (!this.session) return 'connecting';
    if (this.pool.runningTaskIds().length > 0 || this.held.size > 0) return 'computing';
    return this.waitingForWork ? 'waiting' : 'computing';
  }

  private pauseReasons(): string[] {
    const reasons: string[] = [];
    if (this.settings.pauseOnBattery && this.power.onBattery) reasons.push('running on battery');
    if (this.settings.pauseWhenHidden && this.power.hidden) reasons.push('the tab is hidden');
    return reasons;
  }

  private applyPause(): void {
    const paused = !this.settings.running || this.pauseReasons().length > 0;
    this.pool.setPaused(paused);
    if (!paused) {
      this.dispatch();
      this.fill();
    }
    this.changed();
  }

  private persist(): void {
    saveSettings(this.settings);
  }

  private note(level: Activity['level'], text: string): void {
    this.activity.unshift({ at: Date.now(), level, text });
    this.activity.length = Math.min(this.activity.length, ACTIVITY_LINES);
    this.changed();
  }

  private changed(): void {
    this.emit('change', undefined);
  }

  // ---- connection ----

  private connect(): void {
    if (this.link) return;
    const link = new CoordinatorLink({
      crypto: this.crypto,
      host: this.host,
      platform: { kind: 'browser', engine: this.platform.engine, ...(this.platform.os ? { os: this.platform.os } : {}) },
      capabilities: {
        cores: this.settings.cores, // in use, as the Node daemon reports its threads
        wasm: typeof WebAssembly === 'object',
        ...(deviceMemoryMb() ? { memoryMb: deviceMemoryMb() } : {}),
      },
      hello: () => ({
        ...(this.settings.nickname.trim() ? { name: this.settings.nickname.trim().slice(0, 64) } : {}),
        ...(this.settings.accountKey ? { accountKey: this.settings.accountKey } : {}),
      }),
      trust: async (key) => {
        const { trust, firstUse } = await trustCoordinatorKey(this.db, key);
        this.trust = trust;
        if (firstUse) this.note('info', 'Trusting this coordinator’s key from now on (first use).');
      },
    });
    this.link = link;
    link.on('ready', (s) => void this.onReady(s));
    link.on('lost', () => {
      this.session = undefined;
      this.note('warn', 'Lost the connection to the coordinator; reconnecting…');
    });
    link.on('fatal', (e) => {
      if (e instanceof CoordinatorKeyMismatch) this.keyMismatch = e;
      else if (e instanceof CallError && e.code === 'unauthenticated' && this.settings.accountKey) {
        this.problem = 'The coordinator does not know this browser’s account key. Remove it under “You” to carry on anonymously.';
      } else this.problem = `The coordinator refused this volunteer: ${e.message}`;
      this.changed();
    });
    link.on('abort', (n: AbortNotice) => void this.abort(n.taskIds, n.reason));
    link.on('credit', (receipts) => void this.addCredit(receipts));
    this.changed();
  }

  private async onReady(session: Session): Promise<void> {
    this.session = session;
    this.cache ??= new AppCache(this.db, this.crypto, session.coordinatorKey, this.host);
    this.credit ??= await CreditBook.load(this.db, this.crypto, session.coordinatorKey, this.host.publicKey);
    this.note('info', 'Connected to the coordinator.');
    for (const h of this.held.values()) if (h.state === 'preparing' && h.attempts === 0) void this.prepare(h);
    void this.catchUpCredit();
    this.scheduleReport(0);
    this.fill();
  }

  private async catchUpCredit(): Promise<void> {
    try {
      for (;;) {
        const { receipts } = await this.link!.call<{ receipts: unknown[] }>('credit.receipts', { afterEntryId: this.credit!.lastEntryId, limit: 500 });
        await this.addCredit(receipts);
        if (receipts.length < 500) return;
      }
    } catch {
      // caught up next time
    }
  }

  private async addCredit(receipts: unknown[]): Promise<void> {
    if (!this.credit) return;
    const { added, rejected } = await this.credit.add(receipts);
    if (added > 0) this.note('info', `Credit granted for ${added} valid result${added === 1 ? '' : 's'}.`);
    if (rejected > 0) this.note('warn', `Ignored ${rejected} credit receipt(s) that do not verify.`);
    this.changed();
  }

  // ---- getting work ----

  private get computing(): boolean {
    return this.settings.running && this.pauseReasons().length === 0 && !this.problem && !this.keyMismatch;
  }

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
    if (!session || !this.computing || this.requesting) return;
    const cores = this.pool.size;
    const want = cores * 2 - this.held.size; // one running and one fetched ahead per core
    if (want <= 0) return;
    this.requesting = true;
    try {
      const reply = await this.link!.call<{ tasks: unknown[]; abort?: AbortNotice; retryAfterMs?: number }>('tasks.request', {
        count: Math.min(want, session.limits.maxTasksPerRequest),
        holding: [...this.held.keys(), ...this.unreported.keys()],
      });
      if (reply.abort) await this.abort(reply.abort.taskIds, reply.abort.reason);
      for (const raw of reply.tasks) await this.accept(raw, session.coordinatorKey);
      this.waitingForWork = reply.tasks.length === 0;
      this.requesting = false;
      this.changed();
      if (reply.tasks.length === 0) this.fill(reply.retryAfterMs ?? RETRY_MS);
      else this.fill();
    } catch {
      this.requesting = false;
      this.fill(RETRY_MS);
    }
  }

  /** Verifies a task (schema, coordinator signature, addressed to this host, inline input) before taking it. */
  private async accept(raw: unknown, coordinatorKey: string): Promise<void> {
    const parsed = TaskSchema.safeParse(raw);
    if (!parsed.success) {
      const t = raw as Partial<Task> | null;
      if (t && Number.isSafeInteger(t.taskId) && Number.isSafeInteger(t.workunitId)) {
        await this.refuse({ taskId: t.taskId!, workunitId: t.workunitId!, hostKey: this.host.publicKey, project: '?', app: '?' }, 'bad_signature', 'the task is malformed');
      }
      return;
    }
    const task = parsed.data;
    if (this.held.has(task.taskId) || this.unreported.has(task.taskId)) return;
    const problem = await this.crypto.check((ed) => taskProblem(ed, coordinatorKey, this.host.publicKey, task));
    if (problem) return this.refuse(task, 'bad_signature', problem);
    await this.journal.saveTask(task);
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
      if (e instanceof VerificationError) return this.refuse(task, e.code, e.message);
      if (h.attempts >= MAX_PREPARE_ATTEMPTS) return this.refuse(task, 'download_failed', e instanceof Error ? e.message : String(e));
      setTimeout(() => void (this.held.get(task.taskId) === h && this.prepare(h)), RETRY_MS);
      return;
    }
    if (this.held.get(task.taskId) !== h) return; // aborted meanwhile
    h.state = 'queued';
    this.dispatch();
  }

  /** A task that must not run is reported as a client error, so it is reissued elsewhere. */
  private async refuse(task: Pick<Task, 'taskId' | 'workunitId' | 'hostKey' | 'project' | 'app'>, code: string, message: string): Promise<void> {
    this.held.delete(task.taskId);
    this.note('warn', `Refused task ${task.taskId} (${code}): ${message}.`);
    await this.complete(task, { error: { code, message } }, { cpuTimeMs: 0, elapsedMs: 0 });
  }

  // ---- running ----

  private dispatch(): void {
    for (const h of this.held.values()) {
      if (h.state !== 'queued' || this.pool.idle === 0) continue;
      const { task } = h;
      const resume = h.checkpoint;
      const running = this.pool.run(
        { taskId: task.taskId, entry: h.bundle!.entry, files: new Map(h.bundle!.files), input: h.input, rngSeed: task.rngSeed, ...(resume === undefined ? {} : { resume }) },
        {
          progress: (f) => {
            h.progress = f;
            this.changed();
          },
          checkpoint: async (json) => {
            if (this.held.get(task.taskId) !== h) throw new Error('the task was stopped');
            await this.journal.saveCheckpoint(task.taskId, json);
            // Stopped while writing: its journal entries are already gone; drop this one too.
            if (this.held.get(task.taskId) !== h) return void (await this.journal.forget(task.taskId));
            h.checkpoint = json;
          },
          log: (level, text) => console[level](`[task ${task.taskId}]`, text),
        },
      );
      if (!running) return;
      h.state = 'running';
      if (resume !== undefined) {
        this.resumed.add(task.taskId);
        this.note('info', `Resumed task ${task.taskId} (${task.app}) from its checkpoint.`);
      }
      void running.then((f) => this.finished(h, f));
    }
    this.changed();
  }

  private async finished(h: Held, f: Finished): Promise<void> {
    const { task } = h;
    this.resumed.delete(task.taskId);
    if (this.held.get(task.taskId) !== h) return; // aborted or given back
    if (!f.outcome.ok && f.outcome.code === 'aborted') return; // stopped by us: not a result
    if (!f.outcome.ok && f.outcome.code === 'suspended') {
      h.state = 'queued'; // resumes from its last checkpoint when there is room again
      this.dispatch();
      return;
    }
    this.held.delete(task.taskId);
    const timing = { cpuTimeMs: f.cpuTimeMs, elapsedMs: f.elapsedMs };
    if (f.outcome.ok) {
      await this.complete(task, { output: JSON.parse(f.outcome.outputJson) as unknown }, timing);
    } else {
      this.note('warn', `Task ${task.taskId} (${task.app}) failed: ${f.outcome.code}.`);
      await this.complete(task, { error: { code: f.outcome.code, message: f.outcome.message.slice(0, MAX_ERROR_MESSAGE_CHARS) } }, timing);
    }
    this.dispatch();
    this.fill();
  }

  /** Signs the result and journals it before anything else: from here it survives a reload. */
  private async complete(task: Pick<Task, 'taskId' | 'workunitId' | 'hostKey'>, outcome: Outcome, timing: { cpuTimeMs: number; elapsedMs: number }): Promise<void> {
    const rounded = { cpuTimeMs: Math.round(timing.cpuTimeMs), elapsedMs: Math.round(timing.elapsedMs) };
    const result = await this.crypto.signWith(this.host.seed, (ed) => buildResult(ed, this.host.seed, task, outcome, rounded));
    await this.journal.saveResult(result);
    this.unreported.set(task.taskId, result);
    this.projectOf.set(task.taskId, task as Task);
    this.scheduleReport();
    this.changed();
  }

  private readonly projectOf = new Map<number, Pick<Task, 'project' | 'app'>>();

  private async abort(taskIds: number[], reason: string): Promise<void> {
    for (const id of taskIds) {
      const h = this.held.get(id);
      if (!h && !this.unreported.has(id)) continue;
      this.held.delete(id);
      this.unreported.delete(id);
      if (h?.state === 'running') this.pool.abort(id, reason);
      await this.journal.forget(id);
      this.note('info', `Task ${id} is no longer needed (${reason}).`);
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
        const { results } = await this.link!.call<{ results: ResultAck[] }>('results.report', { results: wire });
        for (const ack of results) await this.acknowledged(ack);
      }
    } catch (e) {
      if (!(e instanceof CallError && e.code === 'timeout')) setTimeout(() => this.scheduleReport(0), RETRY_MS);
    } finally {
      this.reporting = false;
    }
  }

  /** Outputs too large for a message are uploaded by hash first. */
  private async toWire(r: Result): Promise<Result> {
    if (r.output === undefined) return r;
    const json = canonicalJson(r.output);
    if (utf8(json).length <= MAX_INLINE_JSON_BYTES) return r;
    await this.cache!.uploadOutput(json);
    const { output: _output, ...rest } = r;
    return rest;
  }

  private async acknowledged(ack: ResultAck): Promise<void> {
    const result = this.unreported.get(ack.taskId);
    this.unreported.delete(ack.taskId);
    await this.journal.forget(ack.taskId);
    if (!result) return;
    const task = this.projectOf.get(ack.taskId);
    this.projectOf.delete(ack.taskId);
    if (ack.status === 'rejected') {
      this.note('warn', `The coordinator did not take the result of task ${ack.taskId}: ${ack.error?.code ?? 'rejected'}.`);
      return;
    }
    countTask(this.stats, task, result.outcome === 'success');
    saveStats(this.stats);
    if (result.outcome === 'success') this.note('info', `Reported task ${ack.taskId}${task ? ` (${task.project} · ${task.app})` : ''}.`);
    this.changed();
  }

  private async reportProgress(): Promise<void> {
    const updates = [...this.held.values()].filter((h) => h.state === 'running').map((h) => ({ taskId: h.task.taskId, fraction: h.progress }));
    if (!this.session || updates.length === 0) return;
    await this.link!.call('tasks.progress', { updates: updates.slice(0, this.session.limits.maxTasksPerRequest) }).catch(() => undefined);
  }

  private async giveBack(taskIds: number[], reason: string): Promise<void> {
    if (!this.session || taskIds.length === 0) return; // still in the journal: resumed next time
    try {
      for (let i = 0; i < taskIds.length; i += 64) {
        const chunk = taskIds.slice(i, i + 64);
        await this.link!.call('tasks.giveBack', { taskIds: chunk, reason });
        for (const id of chunk) {
          if (this.held.get(id)?.state === 'running') this.pool.abort(id, reason); // started meanwhile
          this.held.delete(id);
          await this.journal.forget(id);
        }
      }
      this.note('info', `Handed ${taskIds.length} task(s) back to the coordinator.`);
    } catch {
      // they stay in the journal and are asked about again with `holding`
    }
  }
}

function deviceMemoryMb(): number | undefined {
  const gb = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  return typeof gb === 'number' && gb > 0 ? Math.round(gb * 1024) : undefined;
}
