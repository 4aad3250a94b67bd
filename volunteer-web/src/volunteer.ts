// The browser volunteer: volunteer-core's task engine with IndexedDB for its journal, cache and
// credit, a pool of Web Workers for its sandboxes (a worker runs tasks of one app version, and
// is replaced whenever something of a task could reach the next: sandbox/reuse.ts), and
// WebCrypto where the browser has it. What is the page's own: its controls (start, pause,
// cores, duty cycle, task time limit, the schedule, project choices and suspend), pausing on
// battery, when hidden or outside the schedule, handing back on pagehide only what has no
// checkpoint to lose, the coordinator key a volunteer can choose to trust anew, and what the
// page shows (workers, stats, the task history, activity).
import type { CreditReceipt } from '../../protocol/messages.js';
import { RUNNABLE_KIND_FEATURES } from '../../protocol/app-kind.js';
import { AppCache } from '../../volunteer-core/app-cache.js';
import { CallError, CoordinatorLink } from '../../volunteer-core/coordinator-link.js';
import { Emitter } from '../../volunteer-core/emitter.js';
import { describeLimit } from '../../volunteer-core/quota-limit.js';
import { TaskEngine, type HeldTask } from '../../volunteer-core/task-engine.js';
import { ACTIVE_STATES, acknowledged, awaitingVerdict, credited, creditOutcomes, finishedRun, judged, recordFor, remainingMs, type TaskRecord } from '../../volunteer-core/task-history.js';
import { idbAppStore } from './app-store.js';
import { CreditBook } from './credit-book.js';
import type { BrowserCrypto } from './crypto.js';
import { CoordinatorKeyMismatch, trustCoordinatorKey, trustedCoordinatorKey, type HostIdentity, type Trust } from './identity.js';
import type { Idb } from './idb.js';
import type { PowerState } from './power.js';
import { MB, saveSettings, type Settings } from './settings.js';
import { countTask, loadStats, saveStats, type Stats } from './stats.js';
import { WorkerPool, type SlotState } from './sandbox/worker-pool.js';
import { TaskJournal } from './task-journal.js';
import { IdleWatcher } from './idle.js';
import { scheduleBlocks } from '../../volunteer-core/schedule.js';
import { defaultChoice, preferencesFor, type ProjectChoice } from '../../volunteer-core/project-choices.js';
import type { TaskHistory } from './task-history.js';

const ACTIVITY_LINES = 12;

export interface Activity {
  at: number;
  level: 'info' | 'warn';
  text: string;
}

export interface WorkerView {
  state: SlotState;
  /** The slot's sandbox worker (numbered from 1 as the page started them) and how many tasks it was given. */
  sandbox: number;
  sandboxTasks: number;
  taskId?: number;
  project?: string;
  app?: string;
  progress: number;
  resumed: boolean;
}

/** A task of the history with what is live about it. */
export interface TaskRow extends TaskRecord {
  /** Elapsed so far, the current run included. */
  elapsedNowMs: number;
  remainingMs?: number;
  /** Held: at a checkpoint while paused (by the volunteer, the schedule, battery…), or its project suspended here. */
  hold?: 'paused' | 'suspended';
}

export type Phase = 'stopped' | 'connecting' | 'computing' | 'waiting' | 'paused' | 'blocked';

export interface VolunteerView {
  phase: Phase;
  pauseReasons: string[];
  /** Which of this browser's quotas keeps work back, in words, when the coordinator said one does (tasks.request `limited`). */
  limited?: string;
  connected: boolean;
  /** With several coordinator instances: the one it is on (or tries next), its place in this browser's order from 1, and how many there are. */
  instance?: { url: string; rank?: number; of: number };
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
  /** Newest first. */
  tasks: TaskRow[];
  trust?: Trust;
  problem?: string;
  keyMismatch?: { trusted: string; presented: string };
}

export class Volunteer extends Emitter<{ change: undefined }> {
  private readonly engine: TaskEngine<CreditBook>;
  private readonly pool: WorkerPool;
  private readonly stats = loadStats();
  private readonly activity: Activity[] = [];
  private link: CoordinatorLink | undefined;
  private trust: Trust | undefined;
  private power: PowerState = { onBattery: false, hidden: false, batteryKnown: false };
  private problem: string | undefined;
  private keyMismatch: CoordinatorKeyMismatch | undefined;
  /** When each running task's current run started. */
  private readonly runningSince = new Map<number, number>();
  /** Input on the page, or the system's idle state where the browser grants it. */
  readonly idle = new IdleWatcher(() => this.scheduleTick());
  /** The pause reasons last applied, to notice when the schedule changes them. */
  private appliedReasons = '';

  private constructor(
    private readonly db: Idb,
    readonly history: TaskHistory,
    private readonly crypto: BrowserCrypto,
    readonly host: HostIdentity,
    readonly settings: Settings,
    private readonly platform: { engine: string; os?: string },
  ) {
    super();
    const pool = new WorkerPool({
      size: settings.cores,
      maxTaskMs: settings.maxTaskMinutes * 60_000,
      dutyPercent: settings.dutyPercent,
      onIdle: () => this.engine.dispatch(),
      onBroken: (message) => {
        this.problem = message;
        this.changed();
      },
      suspended: (taskId) => this.suspendedTask(taskId),
      onLeftover: (taskId, what) => this.note('info', `Task ${taskId} ${what} after it ended; its sandbox was replaced.`),
    });
    this.pool = pool;
    this.engine = new TaskEngine({
      host,
      crypto,
      journal: new TaskJournal(db),
      runner: {
        get idle() {
          return pool.idle;
        },
        run: (job, events) => pool.run({ ...job, files: new Map(job.files) }, events),
        abort: (taskId, reason) => void pool.abort(taskId, reason),
      },
      openApps: (coordinatorKey, inUse) =>
        new AppCache(idbAppStore(db), () => this.link?.url ?? location.origin, crypto, coordinatorKey, host, {
          get maxBytes() {
            return settings.maxDiskMb * MB; // a change applies from the next write
          },
          inUse,
        }),
      openCredit: (coordinatorKey) => CreditBook.load(db, crypto, coordinatorKey, host.publicKey),
      // One running and one fetched ahead per core, besides the tasks of suspended projects.
      capacity: () => pool.size * 2 + this.engine.heldTasks().filter((h) => this.choice(h.task.project)?.suspended).length,
      mayStart: (task) => !this.choice(task.project)?.suspended,
      preferences: () => preferencesFor(this.settings.projects, this.settings.newProjects),
      checkpointLimits: () => ({ bytes: Math.round(settings.maxCheckpointMb * MB), totalBytes: Math.round(settings.maxCheckpointTotalMb * MB) }),
      canFetch: () => this.computing && !this.leaving,
      awaitingVerdict: () => awaitingVerdict(history.list()),
      events: {
        changed: () => this.changed(),
        restored: (tasks, results) => this.note('info', `Picked up where this tab left off: ${tasks} task(s), ${results} result(s) to report.`),
        connected: (s) => this.note('info', (this.link?.instances.length ?? 1) > 1 ? `Connected to the coordinator at ${s.url}.` : 'Connected to the coordinator.'),
        lost: () => this.note('warn', 'Lost the connection to the coordinator; reconnecting…'),
        creditAdded: (added, rejected, book) => {
          this.creditToHistory(book);
          if (added > 0) this.note('info', `Credit granted for ${added} valid result${added === 1 ? '' : 's'}.`);
          if (rejected > 0) this.note('warn', `Ignored ${rejected} credit receipt(s) that do not verify.`);
        },
        judged: (verdicts) => {
          for (const { taskId, verdict } of verdicts) {
            const before = history.get(taskId)?.state;
            const after = history.update(taskId, (r) => judged(r, verdict))?.state;
            if (after === 'invalid' && before !== 'invalid') this.note('warn', `Task ${taskId}: other volunteers agreed on a different result, so this one earns no credit.`);
          }
        },
        received: (task) => {
          if (!history.get(task.taskId)) history.put(recordFor(task, Date.now()));
        },
        refused: (taskId, code, message) => {
          history.update(taskId, (r) => finishedRun(r, { elapsedMs: 0, error: { code, message } }, Date.now()));
          this.note('warn', `Refused task ${taskId} (${code}): ${message}.`);
        },
        started: (task, resumed) => {
          this.runningSince.set(task.taskId, Date.now());
          history.update(task.taskId, (r) => ({ ...r, state: 'running' }));
          if (resumed) this.note('info', `Resumed task ${task.taskId} (${task.app}) from its checkpoint.`);
        },
        suspended: (task, f) => {
          this.runningSince.delete(task.taskId);
          const progress = this.engine.heldTasks().find((h) => h.task.taskId === task.taskId)?.progress ?? 0;
          history.update(task.taskId, (r) => ({ ...r, state: 'fetched', elapsedMs: r.elapsedMs + f.elapsedMs, progress }));
        },
        finished: (task, f) => {
          this.runningSince.delete(task.taskId);
          const error = f.outcome.ok ? undefined : { code: f.outcome.code, message: f.outcome.message };
          history.update(task.taskId, (r) => finishedRun(r, { elapsedMs: f.elapsedMs, ...(error ? { error } : {}) }, Date.now()));
          if (!f.outcome.ok) this.note('warn', `Task ${task.taskId} (${task.app}) failed: ${f.outcome.code}.`);
        },
        aborted: (taskId, reason) => {
          this.runningSince.delete(taskId);
          history.update(taskId, (r) => ({ ...r, state: 'aborted', finishedAt: Date.now(), error: { code: 'aborted', message: reason } }));
          this.note('info', `Task ${taskId} is no longer needed (${reason}).`);
        },
        acknowledged: (ack, result, task) => {
          history.update(ack.taskId, (r) => acknowledged(r, ack, Date.now()));
          if (this.engine.credit) this.creditToHistory(this.engine.credit);
          if (!result) return;
          if (ack.status === 'rejected') {
            this.note('warn', `The coordinator did not take the result of task ${ack.taskId}: ${ack.error?.code ?? 'rejected'}.`);
            return;
          }
          countTask(this.stats, task, result.outcome === 'success');
          saveStats(this.stats);
          if (result.outcome === 'success') this.note('info', `Reported task ${ack.taskId}${task ? ` (${task.project} · ${task.app})` : ''}.`);
        },
        gaveBack: (count) => this.note('info', `Handed ${count} task(s) back to the coordinator.`),
        appLog: (task, level, text) => console[level](`[task ${task.taskId}]`, text),
      },
    });
    this.idle.setThreshold(settings.idleMinutes);
    // Worker states (resting, paused) change without events of their own; the schedule with the clock.
    setInterval(() => {
      this.scheduleTick();
      this.changed();
    }, 1_000);
  }

  /** Restores the journal; connects at once if this browser volunteered before. */
  static async create(db: Idb, history: TaskHistory, crypto: BrowserCrypto, host: HostIdentity, settings: Settings, platform: { engine: string; os?: string }): Promise<Volunteer> {
    const v = new Volunteer(db, history, crypto, host, settings, platform);
    v.trust = await trustedCoordinatorKey(db);
    await v.engine.restore();
    // A task the list still shows in progress that the journal no longer has (the tab closed
    // before it was reported, and it went back to the coordinator) is over for this browser.
    for (const r of history.list()) {
      if (ACTIVE_STATES.has(r.state) && !v.engine.hasTask(r.taskId)) {
        history.update(r.taskId, (x) => ({ ...x, state: 'given_back', finishedAt: x.finishedAt ?? Date.now(), error: { code: 'given_back', message: 'this browser no longer held it when the page opened again' } }));
      }
    }
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
    this.engine.fill();
  }

  /** The volunteer paused: running tasks stop at their next checkpoint; tasks not begun go back. */
  pause(): void {
    this.settings.running = false;
    this.persist();
    this.applyPause();
    const notBegun = this.engine.heldTasks().filter((h) => h.state !== 'running' && !h.checkpointed).map((h) => h.task.taskId);
    void this.giveBack(notBegun, 'the volunteer paused');
  }

  /** Gives tasks back; those the coordinator took back are marked so in the history. */
  private async giveBack(taskIds: number[], reason: string): Promise<void> {
    await this.engine.giveBack(taskIds, reason);
    const still = new Set(this.engine.heldTasks().map((h) => h.task.taskId));
    for (const id of taskIds) if (!still.has(id)) this.markGivenBack(id, reason);
  }

  private markGivenBack(taskId: number, reason: string): void {
    this.runningSince.delete(taskId);
    this.history.update(taskId, (r) => ({ ...r, state: 'given_back', finishedAt: Date.now(), error: { code: 'given_back', message: reason } }));
  }

  /** Valid or invalid, and the credit, from the receipts: for tasks the history lists. */
  private creditToHistory(book: CreditBook): void {
    for (const [taskId, o] of creditOutcomes(book.all())) this.history.update(taskId, (r) => credited(r, o, Date.now()));
  }

  setCores(n: number): void {
    this.settings.cores = n;
    this.persist();
    this.pool.resize(n);
    this.engine.fill();
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

  /** Storage limits: they apply from the next write (the cache) or the next task (checkpoints). */
  setStorageLimits(limits: Partial<Pick<Settings, 'maxDiskMb' | 'maxCheckpointMb' | 'maxCheckpointTotalMb'>>): void {
    Object.assign(this.settings, limits);
    this.persist();
  }

  setPowerRules(rules: { pauseOnBattery?: boolean; pauseWhenHidden?: boolean }): void {
    Object.assign(this.settings, rules);
    this.persist();
    this.applyPause();
  }

  /** A project's choices: compute for it, its share, no new tasks, suspended here. */
  setProjectChoice(project: string, change: Partial<ProjectChoice>): void {
    const before = this.effectiveChoice(project);
    const after = { ...before, ...change };
    this.settings.projects[project] = after;
    this.persist();
    if (before.enabled && !after.enabled) {
      // No longer computed for: what has not begun goes back now (running tasks finish).
      const notBegun = this.engine.heldTasks().filter((h) => h.task.project === project && h.state !== 'running' && !h.checkpointed).map((h) => h.task.taskId);
      void this.giveBack(notBegun, 'the volunteer stopped computing for its project');
    }
    if (before.suspended !== after.suspended) this.note('info', `${after.suspended ? 'Suspended' : 'Resumed'} ${project} on this page.`);
    this.engine.dispatch();
    this.engine.fill(); // the new preferences go with the next request: now
    this.changed();
  }

  /**
   * Whether projects not chosen yet get work too. Turned off, the projects shown now (`known`)
   * that had no choice of their own are chosen as they were, computed for: only new ones are left out.
   */
  setNewProjects(on: boolean, known: readonly string[] = []): void {
    if (!on) for (const project of known) if (!this.choice(project)) this.settings.projects[project] = defaultChoice();
    this.settings.newProjects = on;
    this.persist();
    this.engine.fill();
    this.changed();
  }

  choice(project: string): ProjectChoice | undefined {
    return Object.hasOwn(this.settings.projects, project) ? this.settings.projects[project] : undefined;
  }

  /** A project's choices as they apply: one never chosen is computed for only while new projects are. */
  effectiveChoice(project: string): ProjectChoice {
    return this.choice(project) ?? { ...defaultChoice(), enabled: this.settings.newProjects };
  }

  private suspendedTask(taskId: number): boolean {
    const held = this.engine.heldTasks().find((h) => h.task.taskId === taskId);
    return held !== undefined && this.choice(held.task.project)?.suspended === true;
  }

  /** When to compute: always, in chosen hours, or when the computer is idle. */
  setSchedule(schedule: Partial<Pick<Settings, 'scheduleMode' | 'fromHour' | 'toHour' | 'idleMinutes'>>): void {
    Object.assign(this.settings, schedule);
    this.persist();
    this.idle.setThreshold(this.settings.idleMinutes);
    this.applyPause();
  }

  /** Why the schedule holds computing now, if it does. */
  scheduleReason(now = Date.now()): string | undefined {
    const s = this.settings;
    const { lastInputAt, systemIdle } = this.idle.state;
    return scheduleBlocks(
      { mode: s.scheduleMode, fromHour: s.fromHour, toHour: s.toHour, idleMinutes: s.idleMinutes },
      { now, hour: new Date(now).getHours(), lastInputAt, ...(systemIdle === undefined ? {} : { systemIdle }) },
    );
  }

  private scheduleTick(): void {
    if (this.pauseReasons().join() !== this.appliedReasons) this.applyPause();
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
    this.engine.forgetCoordinatorKey(); // the app cache and the credit book check signatures with the key
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
    // Asks for nothing more first: the room a hand-back makes would be filled again at once, with
    // the very tasks handed back (a host may take again what it gave back).
    this.leaving = true;
    const giveBack = this.engine.heldTasks().filter((h) => !h.checkpointed).map((h) => h.task.taskId);
    this.engine.handBack(giveBack, 'the browser tab closed');
    for (const id of giveBack) this.markGivenBack(id, 'the browser tab closed');
  }

  /** The tab came back from the back/forward cache: it takes work again. */
  pageShown(): void {
    this.leaving = false;
    this.engine.fill();
  }

  view(): VolunteerView {
    const held = this.engine.heldTasks();
    const byTask = new Map(held.map((h) => [h.task.taskId, h]));
    const workers = this.pool.view().map((s): WorkerView => {
      const h = s.taskId === undefined ? undefined : byTask.get(s.taskId);
      return {
        state: s.state,
        sandbox: s.sandbox,
        sandboxTasks: s.sandboxTasks,
        progress: h?.progress ?? 0,
        resumed: h?.state === 'running' && h.resumed,
        ...(h ? { taskId: h.task.taskId, project: h.task.project, app: h.task.app } : {}),
      };
    });
    const session = this.engine.session;
    const credit = this.engine.credit;
    return {
      phase: this.phase(),
      pauseReasons: this.pauseReasons(),
      ...(this.engine.limited ? { limited: describeLimit(this.engine.limited) } : {}),
      connected: session !== undefined,
      ...(this.link && this.link.instances.length > 1 ? { instance: { url: this.link.url, ...(this.link.rank === undefined ? {} : { rank: this.link.rank }), of: this.link.instances.length } } : {}),
      ...(session ? { hostId: session.hostId, userId: session.userId } : {}),
      workers,
      queued: held.filter((h) => h.state !== 'running').length,
      unreported: this.engine.unreportedCount,
      stats: this.stats,
      valid: credit?.validResults ?? 0,
      credit: credit?.total ?? 0,
      rac: credit?.rac() ?? 0,
      activity: this.activity,
      tasks: this.taskRows(byTask),
      ...(this.trust ? { trust: this.trust } : {}),
      ...(this.problem ? { problem: this.problem } : {}),
      ...(this.keyMismatch ? { keyMismatch: { trusted: this.keyMismatch.trusted.coordinatorKey, presented: this.keyMismatch.presented } } : {}),
    };
  }

  /** This browser's verified credit receipts (none before the first connection). */
  creditReceipts(): CreditReceipt[] {
    return this.engine.credit?.all() ?? [];
  }

  private taskRows(held: Map<number, HeldTask>): TaskRow[] {
    const now = Date.now();
    const pausedSlots = new Set(this.pool.view().filter((v) => v.state === 'paused' || v.state === 'pausing').map((v) => v.taskId));
    const records = this.history.list();
    return records.map((r) => {
      const h = held.get(r.taskId);
      const since = this.runningSince.get(r.taskId);
      const live: TaskRecord = h ? { ...r, progress: h.progress, state: h.state === 'running' ? 'running' : r.state === 'running' ? 'fetched' : r.state } : r;
      const elapsedNowMs = r.elapsedMs + (since === undefined ? 0 : now - since);
      const remaining = remainingMs(live, elapsedNowMs, records);
      const hold = h && this.choice(r.project)?.suspended ? 'suspended' : pausedSlots.has(r.taskId) ? 'paused' : undefined;
      return { ...live, elapsedNowMs, ...(remaining === undefined ? {} : { remainingMs: remaining }), ...(hold ? { hold } : {}) };
    });
  }

  private phase(): Phase {
    if (this.problem || this.keyMismatch) return 'blocked';
    if (!this.settings.running) return 'stopped';
    if (this.pauseReasons().length > 0) return 'paused';
    if (!this.engine.session) return 'connecting';
    if (this.pool.runningTaskIds().length > 0 || this.engine.heldTasks().length > 0) return 'computing';
    return this.engine.waitingForWork ? 'waiting' : 'computing';
  }

  private pauseReasons(): string[] {
    const reasons: string[] = [];
    if (this.settings.pauseOnBattery && this.power.onBattery) reasons.push('running on battery');
    if (this.settings.pauseWhenHidden && this.power.hidden) reasons.push('the tab is hidden');
    const scheduled = this.scheduleReason();
    if (scheduled) reasons.push(scheduled);
    return reasons;
  }

  /** The tab is going away: it asks for no more work. */
  private leaving = false;

  private get computing(): boolean {
    return this.settings.running && this.pauseReasons().length === 0 && !this.problem && !this.keyMismatch;
  }

  private applyPause(): void {
    const reasons = this.pauseReasons();
    this.appliedReasons = reasons.join();
    const paused = !this.settings.running || reasons.length > 0;
    this.pool.setPaused(paused);
    if (!paused) {
      this.engine.dispatch();
      this.engine.fill();
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
    // The page's own origin; its discovery document may list the coordinator's other instances.
    const link = new CoordinatorLink({
      urls: [location.origin],
      crypto: this.crypto,
      host: this.host,
      platform: { kind: 'browser', engine: this.platform.engine, ...(this.platform.os ? { os: this.platform.os } : {}) },
      capabilities: {
        cores: this.settings.cores, // in use, as the Node daemon reports its threads
        wasm: typeof WebAssembly === 'object',
        features: [...RUNNABLE_KIND_FEATURES],
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
    link.on('moved', (m) =>
      m.kind === 'failover'
        ? this.note('warn', `The coordinator instance at ${m.from} failed (${m.reason}); moving to ${m.to}.`)
        : this.note('info', `Moving back to the coordinator instance at ${m.to}.`),
    );
    link.on('fatal', (e) => {
      if (e instanceof CoordinatorKeyMismatch) this.keyMismatch = e;
      else if (e instanceof CallError && e.code === 'unauthenticated' && this.settings.accountKey) {
        this.problem = 'The coordinator does not know this browser’s account key. Remove it under “You” to carry on anonymously.';
      } else this.problem = `The coordinator refused this volunteer: ${e.message}`;
      this.changed();
    });
    this.engine.attach(link);
    this.changed();
  }
}

function deviceMemoryMb(): number | undefined {
  const gb = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
  return typeof gb === 'number' && gb > 0 ? Math.round(gb * 1024) : undefined;
}
