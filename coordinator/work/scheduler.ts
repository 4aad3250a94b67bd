// Assigns unsent replicas to a host (BOINC's scheduler): at most one replica of a work unit
// per host (and per user), a matching app version, homogeneous redundancy, adaptive
// replication, checks mixed in unannounced; commits the assignment and returns the signed tasks.
// A volunteer's project preferences (which projects, resource shares) are decided by the pure
// rules of project-preferences.ts; `assignByShare` below only applies them.
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { Task, TaskBody, VolunteerPreferences } from '../../protocol/messages.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { AppVersionRecord } from '../store/catalog.js';
import type { HostRecord } from '../store/identities.js';
import type { Store } from '../store/store.js';
import type { Candidate, TaskSource } from '../store/work-store.js';
import { hostMeets, pickVersion, usable } from './app-matching.js';
import { dailyRoom, inFlightRoom, newHostCap, quotaDay, type QuotaPolicy } from './host-quota.js';
import type { Outbox } from './outbox.js';
import type { AppPolicy } from './model.js';
import { decayWork, projectAllowed, projectOrder, resolvePreferences, type ResolvedPreferences } from './project-preferences.js';

export interface SchedulerOptions {
  /** Never send two replicas of one work unit to hosts of the same user. */
  distinctUsers: boolean;
  /** Consecutive valid results after which a host may get work units at quorum 1; and valid results after which it is no longer new. */
  trustThreshold: number;
  /** Share of a trusted host's work units that are still replicated, as spot checks. */
  spotCheckRate: number;
  /** What a host may hold and take (see host-quota.ts). */
  quota: QuotaPolicy;
  /** Share of a batch's work units that new hosts together may hold at once. */
  newHostShare: number;
  /** A task is taken back when its host reports no progress on it for this long. */
  holdTimeoutMs: number;
  /**
   * Share of every host's tasks that are checks: a researcher's sentinel where one waits, else a
   * done work unit sent again to compare the host's answer with the one other hosts agreed on.
   */
  checkRate: number;
  random: () => number;
}

/** New hosts together may always hold this many tasks of a batch, however small it is. */
export const NEW_HOST_FLOOR = 16;

interface AppChoice {
  policy: AppPolicy;
  /** The version this host runs, if any matches it. */
  version: AppVersionRecord | undefined;
  /** Tasks of this app the host may still take today, and how many it took in this round. */
  dailyLeft: number;
  taken: number;
}

/** What the scheduler needs of a replica it may give: which work unit, app, batch and version. */
type Offer = Pick<Candidate, 'workunitId' | 'appId' | 'hrClass' | 'pinnedVersionId'>;

/** One request: the host, what it has been given so far, and what it may still take. */
interface Round {
  host: HostRecord;
  now: number;
  tasks: Task[];
  outbox: Outbox | undefined;
  /** The apps met so far in this round. */
  apps: Map<number, AppChoice>;
  appFor(appId: number): AppChoice;
  /** The version this host would run for a replica: its batch's pinned one, else the app's newest. */
  versionFor(c: Offer): AppVersionRecord | undefined;
  /** For a new host: tasks of each batch new hosts may still take (read when first needed). */
  newHostRoom: Map<number, number> | undefined;
  /** The volunteer's preferences, when its request had any. */
  prefs: ResolvedPreferences | undefined;
  /** Work (fpops) each project sent the host in this round. */
  sent: Map<number, number>;
}

/** Where a round is in one project's queue (assignByShare reads each project's queue on its own). */
interface ProjectCursor {
  projectId: number;
  page: Candidate[];
  at: number;
  offset: number;
  takenFromPage: number;
  pageSize: number;
  scanned: number;
  done: boolean;
}

/** Fisher–Yates, in place. */
function shuffle<T>(list: T[], random: () => number): T[] {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [list[i], list[j]] = [list[j]!, list[i]!];
  }
  return list;
}

/** Candidates read at most per query; the first query reads about what is wanted. */
const PAGE = 256;
const MAX_SCANNED = 4096;
/** Done work units read per look for one to check a host on, and looks per check. */
const CHECK_WINDOW = 256;
const CHECK_LOOKS = 3;

export class Scheduler {
  constructor(
    private readonly store: Store,
    private readonly key: CoordinatorKey,
    private readonly options: SchedulerOptions,
  ) {}

  /**
   * Call inside a transaction: the assignments and the tasks describing them commit together.
   * With `holding` (the task ids the host has), tasks the host lost (e.g. a reply that never
   * arrived because the coordinator crashed) are sent again first, as BOINC's "resend lost results".
   */
  assign(hostId: number, count: number, now: number, holding?: number[], outbox?: Outbox, preferences?: VolunteerPreferences): Task[] {
    const host = this.store.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} does not exist`);
    const inProgress = this.store.work.inProgressOfHost(hostId);
    const resent = holding ? this.resendLost(host, inProgress, new Set(holding), count, now) : [];
    const resentCount = resent.length;
    const wanted = Math.min(count - resentCount, inFlightRoom(host.quotaLevel, inProgress.length, this.options.quota)) + resentCount;
    const prefs = preferences && resolvePreferences(preferences, (name) => this.store.catalog.projectByName(name)?.id);
    const round = this.round(host, now, resent, outbox, prefs);
    const apps = round.apps;

    // Every host, caught or not, gets the same mix: a check in `checkRate` of its slots,
    // unannounced, so that neither its tasks nor being caught tell it which were checks. A check
    // goes only where regular work could have: a task that came when there was no other work
    // would be a check for sure.
    let checks = 0;
    for (let i = resentCount; i < wanted; i++) if (this.options.random() < this.options.checkRate) checks++;
    if (prefs) this.assignByShare(round, wanted, checks);
    else {
      const regular = (limit: number, offset: number) => this.store.work.candidates(limit, offset);
      const before = round.tasks.length;
      this.takeFrom(round, regular, wanted - checks);
      const workFound = round.tasks.length > before || (before === wanted - checks && this.hasWork(round));
      if (checks > 0 && workFound) {
        this.takeFrom(round, (limit, offset) => this.store.work.sentinelCandidates(limit, offset), wanted);
        this.takeKnownAnswers(round, wanted);
        // Check slots nothing could fill get regular work.
        this.takeFrom(round, regular, wanted);
      }
    }
    for (const [appId, app] of apps) this.store.identities.tookTasks(hostId, appId, quotaDay(now), app.taken);
    if (round.sent.size > 0) {
      const recent = this.recentWork(hostId, now);
      for (const [projectId, work] of round.sent) this.store.work.setRecentWork(hostId, projectId, (recent.get(projectId) ?? 0) + work, now);
    }
    // Where a check sits in the list must not give it away, nor must a list in id order
    // tell that it has none: every list is shuffled.
    return shuffle(round.tasks, this.options.random);
  }

  /**
   * Whether the host could take one of these replicas, quotas aside: a version for its platform,
   * its class under homogeneous redundancy, and no replica of the work unit of its own (or its
   * user's). What a batch status uses to tell that no connected host may take its work.
   */
  couldTake(hostId: number, candidates: Candidate[], now: number): boolean {
    const host = this.store.identities.hostById(hostId);
    if (!host) return false;
    const round = this.round(host, now, [], undefined);
    return candidates.some((c) => this.fits(round, c));
  }

  /**
   * With preferences: each task comes from the project `projectOrder` puts first (the one
   * furthest below its share of this host's recent work), then from that project's queue in its
   * order. A check slot is filled the same way and then, only if that project has regular work
   * this host may take, with one of its sentinels or done work units: so a project's checks go
   * under the same preferences and in the same proportions as its regular work, and where a
   * check goes tells nothing. A project with no work for this host is left out for the round.
   */
  private assignByShare(round: Round, wanted: number, checks: number): void {
    const prefs = round.prefs!;
    const recent = this.recentWork(round.host.id, round.now);
    const work = () => {
      const w = new Map(recent);
      for (const [p, sent] of round.sent) w.set(p, (w.get(p) ?? 0) + sent);
      return w;
    };
    const open = new Set(this.store.work.projectsWithUnsentWork().filter((p) => projectAllowed(prefs, p)));
    const cursors = new Map<number, ProjectCursor>();
    let checksLeft = checks;
    while (round.tasks.length < wanted && open.size > 0) {
      const projectId = projectOrder(prefs, open, work())[0]!;
      let cursor = cursors.get(projectId);
      if (!cursor) cursors.set(projectId, (cursor = { projectId, page: [], at: 0, offset: 0, takenFromPage: 0, pageSize: Math.min(PAGE, 2 * wanted + 8), scanned: 0, done: false }));
      const next = this.peek(round, cursor);
      if (!next) {
        open.delete(projectId);
        continue;
      }
      if (checksLeft > 0) {
        checksLeft--;
        if (this.takeSentinelOf(round, projectId) || this.takeKnownAnswerOf(round, projectId)) continue;
      }
      cursor.at++;
      cursor.takenFromPage++;
      this.newHostMayTake(round, next.batchId);
      this.take(round, next.replicaId, next);
    }
  }

  /** The next candidate of a project's queue this host may take, left in place; reads on as needed. */
  private peek(round: Round, cursor: ProjectCursor): Candidate | undefined {
    for (;;) {
      for (; cursor.at < cursor.page.length; cursor.at++) {
        const c = cursor.page[cursor.at]!;
        if (this.mayTake(round, c) && this.newHostMayTake(round, c.batchId, false)) return c;
      }
      if (cursor.done || cursor.scanned >= MAX_SCANNED) return undefined;
      // Taken replicas leave the unsent set, so the next page starts that much earlier.
      cursor.offset += cursor.page.length - cursor.takenFromPage;
      cursor.page = this.store.work.projectCandidates(cursor.projectId, cursor.pageSize, cursor.offset);
      cursor.scanned += cursor.page.length;
      cursor.at = 0;
      cursor.takenFromPage = 0;
      cursor.done = cursor.page.length < cursor.pageSize;
      cursor.pageSize = Math.min(PAGE, cursor.pageSize * 4);
    }
  }

  /** One of the project's sentinels this host may take, taken; false if none. */
  private takeSentinelOf(round: Round, projectId: number): boolean {
    for (let offset = 0; offset < MAX_SCANNED; offset += PAGE) {
      const page = this.store.work.sentinelCandidates(PAGE, offset);
      const c = page.find((s) => s.projectId === projectId && this.mayTake(round, s) && this.newHostMayTake(round, s.batchId, false));
      if (c) {
        this.newHostMayTake(round, c.batchId);
        this.take(round, c.replicaId, c);
        return true;
      }
      if (page.length < PAGE) return false;
    }
    return false;
  }

  /** As takeKnownAnswers, one done work unit of the project sent again as a check; false if none was found. */
  private takeKnownAnswerOf(round: Round, projectId: number): boolean {
    const { work } = this.store;
    const range = work.doneRange();
    if (!range) return false;
    for (let looks = 0; looks < CHECK_LOOKS; looks++) {
      const from = range.low + Math.floor(this.options.random() * (range.high - range.low + 1));
      const found = work
        .checkCandidates(round.host.id, from, CHECK_WINDOW, 4)
        .find((c) => round.appFor(c.appId).policy.projectId === projectId && this.mayTake(round, c));
      if (!found) continue;
      this.take(round, work.insertReplica(found.workunitId, found.priority, round.now, 'check'), found);
      return true;
    }
    return false;
  }

  /** Each project's recent work on this host, decayed to now. */
  private recentWork(hostId: number, now: number): Map<number, number> {
    return new Map(this.store.work.recentWorkOfHost(hostId).map((r) => [r.projectId, decayWork(r.work, r.updatedAt, now)]));
  }

  /** A host with too few valid results to be held to less than a share of each batch. */
  private isNew(host: HostRecord): boolean {
    return host.nValid < this.options.trustThreshold;
  }

  private round(host: HostRecord, now: number, tasks: Task[], outbox: Outbox | undefined, prefs?: ResolvedPreferences): Round {
    const apps = new Map<number, AppChoice>();
    const pinned = new Map<number, AppVersionRecord | undefined>();
    const appFor = (appId: number): AppChoice => {
      let app = apps.get(appId);
      if (!app) {
        const policy = this.store.catalog.appById(appId)!;
        const quota = this.store.identities.appQuota(host.id, appId) ?? { level: host.quotaLevel, day: 0, used: 0 };
        app = {
          policy,
          version: pickVersion(this.store.catalog.versionsOfApp(appId), host.platformKind, host.capabilities),
          dailyLeft: dailyRoom(quota, now, this.options.quota),
          taken: 0,
        };
        apps.set(appId, app);
      }
      return app;
    };
    return {
      host,
      now,
      tasks,
      outbox,
      apps,
      appFor,
      versionFor: (c) => {
        if (c.pinnedVersionId === null) return appFor(c.appId).version;
        if (!pinned.has(c.pinnedVersionId)) {
          const v = this.store.catalog.versionById(c.pinnedVersionId);
          pinned.set(c.pinnedVersionId, v && usable(v) && hostMeets(host.platformKind, host.capabilities, v) ? v : undefined);
        }
        return pinned.get(c.pinnedVersionId);
      },
      newHostRoom: this.isNew(host) ? new Map() : undefined,
      prefs,
      sent: new Map(),
    };
  }

  /** Takes candidates of a queue in its order until the round has `wanted` tasks. */
  private takeFrom(round: Round, read: (limit: number, offset: number) => Candidate[], wanted: number): void {
    const { tasks } = round;
    let offset = 0;
    // Most candidates can be taken (a host skips only work units it already has), so a host
    // asking for one task reads a few rows, not a page: the read grows only when skipping.
    let pageSize = Math.min(PAGE, 2 * (wanted - tasks.length) + 8);
    for (let scanned = 0; tasks.length < wanted && scanned < MAX_SCANNED; pageSize = Math.min(PAGE, pageSize * 4)) {
      const page = read(pageSize, offset);
      scanned += page.length;
      let taken = 0;
      for (const c of page) {
        if (tasks.length >= wanted) break;
        if (!this.mayTake(round, c) || !this.newHostMayTake(round, c.batchId)) continue;
        this.take(round, c.replicaId, c);
        taken++;
      }
      if (page.length < pageSize) break; // that was all of this queue
      // Taken replicas leave the unsent set, so the next page starts that much earlier.
      offset += page.length - taken;
    }
  }

  /** Whether the regular queue has a replica this host may take. */
  private hasWork(round: Round): boolean {
    for (let offset = 0; offset < MAX_SCANNED; offset += PAGE) {
      const page = this.store.work.candidates(PAGE, offset);
      if (page.some((c) => this.mayTake(round, c) && this.newHostMayTake(round, c.batchId, false))) return true;
      if (page.length < PAGE) return false;
    }
    return false;
  }

  /**
   * Checks the coordinator makes on its own, sentinels or not: a new replica of a done work unit,
   * picked at random among those other hosts decided, whose answer the host's must match.
   */
  private takeKnownAnswers(round: Round, wanted: number): void {
    const { work } = this.store;
    const { tasks } = round;
    const range = work.doneRange();
    if (!range) return;
    const { low, high } = range;
    for (let looks = 0; tasks.length < wanted && looks < CHECK_LOOKS * (wanted - tasks.length); looks++) {
      const from = low + Math.floor(this.options.random() * (high - low + 1));
      const found = work.checkCandidates(round.host.id, from, CHECK_WINDOW, 4).find((c) => this.mayTake(round, c));
      if (!found) continue;
      this.take(round, work.insertReplica(found.workunitId, found.priority, round.now, 'check'), found);
    }
  }

  private mayTake(round: Round, c: Offer): boolean {
    const app = round.appFor(c.appId);
    if (round.prefs && !projectAllowed(round.prefs, app.policy.projectId)) return false;
    return app.dailyLeft > 0 && this.fits(round, c);
  }

  /** Quotas aside, whether this host may take this replica. */
  private fits(round: Round, c: Offer): boolean {
    const { host } = round;
    const app = round.appFor(c.appId);
    if (!round.versionFor(c)) return false;
    if (app.policy.homogeneousRedundancy && c.hrClass !== null && c.hrClass !== host.platformClass) return false;
    if (this.store.work.hostHasReplica(c.workunitId, host.id)) return false;
    return !(this.options.distinctUsers && this.store.work.userHasReplica(c.workunitId, host.userId));
  }

  /**
   * New hosts together hold at most a share of a batch's work units (a burst of fresh keys must
   * not sit on a batch). `use` counts the task as taken.
   */
  private newHostMayTake(round: Round, batchId: number, use = true): boolean {
    const rooms = round.newHostRoom;
    if (!rooms) return true;
    let left = rooms.get(batchId);
    if (left === undefined) {
      const load = this.store.work.newHostLoad(batchId);
      left = newHostCap(load.workunits, this.options.newHostShare, NEW_HOST_FLOOR) - load.held;
    }
    if (left <= 0) return false;
    rooms.set(batchId, use ? left - 1 : left);
    return true;
  }

  private resendLost(host: HostRecord, inProgress: number[], holding: Set<number>, count: number, now: number): Task[] {
    const tasks: Task[] = [];
    for (const replicaId of inProgress) {
      if (tasks.length >= count) break;
      if (holding.has(replicaId)) continue;
      const sent = this.store.work.sentTask(replicaId);
      if (!sent || sent.deadline < now) continue; // past its deadline: the transitioner reissues it
      const src = this.store.work.taskSource(replicaId);
      const body: TaskBody = {
        taskId: replicaId,
        workunitId: src.workunitId,
        hostKey: host.publicKey,
        appVersionHash: sent.appVersionHash,
        inputHash: src.inputHash,
        deadline: sent.deadline,
        rngSeed: src.rngSeed,
        fpopsEst: src.fpopsEst,
        issuedAt: sent.sentAt,
      };
      tasks.push(this.toTask(body, sent.signature, src));
    }
    return tasks;
  }

  private toTask(body: TaskBody, signature: string, src: TaskSource): Task {
    const task: Task = { ...body, signature, project: src.projectName, app: src.appName };
    if (src.inputJson !== null && src.inputJson.length <= MAX_INLINE_JSON_BYTES) task.input = JSON.parse(src.inputJson);
    return task;
  }

  private take(round: Round, replicaId: number, c: Offer & { batchId: number }): void {
    const { work } = this.store;
    const { host, now } = round;
    const { workunitId, batchId } = c;
    const choice = round.appFor(c.appId);
    choice.dailyLeft--;
    choice.taken++;
    const { policy: app } = choice;
    const version = round.versionFor(c);
    if (app.homogeneousRedundancy) work.setHrClass(workunitId, host.platformClass);
    if (app.adaptiveReplication) this.maybeReplicateOnce(replicaId, workunitId, host);

    const src = work.taskSource(replicaId);
    const body: TaskBody = {
      taskId: replicaId,
      workunitId,
      hostKey: host.publicKey,
      appVersionHash: version!.bundleHash,
      inputHash: src.inputHash,
      deadline: now + src.delayBoundMs,
      rngSeed: src.rngSeed,
      fpopsEst: src.fpopsEst,
      issuedAt: now,
    };
    const signature = this.key.sign('task', body);
    const assigned = work.assign({
      replicaId,
      hostId: host.id,
      appVersionId: version!.id,
      sentAt: now,
      deadline: body.deadline,
      holdUntil: now + this.options.holdTimeoutMs,
      newHost: round.newHostRoom !== undefined,
      taskSignature: signature,
    });
    if (!assigned) throw new Error(`replica ${replicaId} was no longer unsent`);
    round.tasks.push(this.toTask(body, signature, src));
    round.sent.set(app.projectId, (round.sent.get(app.projectId) ?? 0) + src.fpopsEst);
    round.outbox?.batchChanged(batchId);
  }

  /**
   * Adaptive replication: the first replica of a work unit sent to a trusted host may be the
   * only one (quorum 1), except for random spot checks. The other unsent replicas are dropped.
   */
  private maybeReplicateOnce(replicaId: number, workunitId: number, host: HostRecord): void {
    const { work } = this.store;
    if (host.consecutiveValid < this.options.trustThreshold) return;
    if (work.sentCount(workunitId) > 0) return;
    const wu = work.workunit(workunitId)!;
    if (wu.minQuorum <= 1 || wu.expectedOutputHash !== null) return;
    if (this.options.random() < this.options.spotCheckRate) return;
    work.reduceQuorumToOne(workunitId);
    for (const r of work.replicasOf(workunitId)) {
      if (r.id !== replicaId && r.status === 'unsent') work.endReplica(r.id, 'unsent', 'not_needed');
    }
  }
}
