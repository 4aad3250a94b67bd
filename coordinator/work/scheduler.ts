// Assigns unsent replicas to a host (BOINC's scheduler): at most one replica of a work unit
// per host (and per user), a matching app version, homogeneous redundancy, adaptive
// replication, checks mixed in unannounced; commits the assignment and returns the signed tasks.
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { Task, TaskBody } from '../../protocol/messages.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { AppVersionRecord } from '../store/catalog.js';
import type { HostRecord } from '../store/identities.js';
import type { Store } from '../store/store.js';
import type { Candidate, TaskSource } from '../store/work-store.js';
import { pickVersion } from './app-matching.js';
import type { Outbox } from './outbox.js';
import type { AppPolicy } from './model.js';

export interface SchedulerOptions {
  /** Never send two replicas of one work unit to hosts of the same user. */
  distinctUsers: boolean;
  /** Consecutive valid results after which a host may get work units at quorum 1. */
  trustThreshold: number;
  /** Share of a trusted host's work units that are still replicated, as spot checks. */
  spotCheckRate: number;
  /** Most tasks a host may hold at once. */
  maxInFlightPerHost: number;
  /**
   * Share of every host's tasks that are checks: a researcher's sentinel where one waits, else a
   * done work unit sent again to compare the host's answer with the one other hosts agreed on.
   */
  checkRate: number;
  random: () => number;
}

interface AppChoice {
  policy: AppPolicy;
  /** The version this host runs, if any matches it. */
  version: AppVersionRecord | undefined;
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
/** Work units read per look for one to check a host on, and looks per check. */
const CHECK_WINDOW = 256;
const CHECK_LOOKS = 2;

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
  assign(hostId: number, count: number, now: number, holding?: number[], outbox?: Outbox): Task[] {
    const host = this.store.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} does not exist`);
    const inProgress = this.store.work.inProgressOfHost(hostId);
    const tasks: Task[] = holding ? this.resendLost(host, inProgress, new Set(holding), count, now) : [];
    const room = this.options.maxInFlightPerHost - inProgress.length;
    const wanted = Math.min(count - tasks.length, Math.max(0, room)) + tasks.length;
    const apps = new Map<number, AppChoice>();
    const appFor = (appId: number): AppChoice => {
      let app = apps.get(appId);
      if (!app) {
        const policy = this.store.catalog.appById(appId)!;
        app = { policy, version: pickVersion(this.store.catalog.versionsOfApp(appId), host.platformKind, host.capabilities) };
        apps.set(appId, app);
      }
      return app;
    };

    // Every host, caught or not, gets the same mix: a check in `checkRate` of its slots,
    // unannounced, so that neither its tasks nor being caught tell it which were checks. A check
    // goes only where regular work could have: a task that came when there was no other work
    // would be a check for sure.
    let checks = 0;
    for (let i = tasks.length; i < wanted; i++) if (this.options.random() < this.options.checkRate) checks++;
    const regular = (limit: number, offset: number) => this.store.work.candidates(limit, offset);
    const before = tasks.length;
    this.takeFrom(regular, host, tasks, wanted - checks, now, appFor, outbox);
    const workFound = tasks.length > before || (before === wanted - checks && this.hasWork(host, appFor));
    if (checks > 0 && workFound) {
      this.takeFrom((limit, offset) => this.store.work.sentinelCandidates(limit, offset), host, tasks, wanted, now, appFor, outbox);
      this.takeKnownAnswers(host, tasks, wanted, now, appFor, outbox);
      // Check slots nothing could fill get regular work.
      this.takeFrom(regular, host, tasks, wanted, now, appFor, outbox);
    }
    // Where a check sits in the list must not give it away, nor must a list in id order
    // tell that it has none: every list is shuffled.
    return shuffle(tasks, this.options.random);
  }

  /** Takes candidates of a queue in its order until `tasks` has `wanted`. */
  private takeFrom(
    read: (limit: number, offset: number) => Candidate[],
    host: HostRecord,
    tasks: Task[],
    wanted: number,
    now: number,
    appFor: (appId: number) => AppChoice,
    outbox?: Outbox,
  ): void {
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
        const app = appFor(c.appId);
        if (!this.mayTake(host, c.workunitId, c.hrClass, app)) continue;
        tasks.push(this.take(c.replicaId, c.workunitId, host, app.policy, app.version!, now));
        outbox?.batchChanged(c.batchId);
        taken++;
      }
      if (page.length < pageSize) break; // that was all of this queue
      // Taken replicas leave the unsent set, so the next page starts that much earlier.
      offset += page.length - taken;
    }
  }

  /** Whether the regular queue has a replica this host may take. */
  private hasWork(host: HostRecord, appFor: (appId: number) => AppChoice): boolean {
    for (let offset = 0; offset < MAX_SCANNED; offset += PAGE) {
      const page = this.store.work.candidates(PAGE, offset);
      if (page.some((c) => this.mayTake(host, c.workunitId, c.hrClass, appFor(c.appId)))) return true;
      if (page.length < PAGE) return false;
    }
    return false;
  }

  /**
   * Checks the coordinator makes on its own, sentinels or not: a new replica of a done work unit,
   * picked at random among those other hosts decided, whose answer the host's must match.
   */
  private takeKnownAnswers(host: HostRecord, tasks: Task[], wanted: number, now: number, appFor: (appId: number) => AppChoice, outbox?: Outbox): void {
    const { work } = this.store;
    const { low, high } = work.workunitIdRange();
    for (let looks = 0; tasks.length < wanted && looks < CHECK_LOOKS * (wanted - tasks.length); looks++) {
      // From a random point; a second look from the start, in case the point fell past the last.
      const from = looks % CHECK_LOOKS === 0 ? low + Math.floor(this.options.random() * (high - low + 1)) : low;
      const found = work.checkCandidates(host.id, from, CHECK_WINDOW, 4).find((c) => this.mayTake(host, c.workunitId, c.hrClass, appFor(c.appId)));
      if (!found) continue;
      const app = appFor(found.appId);
      const replicaId = work.insertReplica(found.workunitId, found.priority, now, 'check');
      tasks.push(this.take(replicaId, found.workunitId, host, app.policy, app.version!, now));
      outbox?.batchChanged(found.batchId);
    }
  }

  private mayTake(host: HostRecord, workunitId: number, hrClass: string | null, app: AppChoice): boolean {
    if (!app.version) return false;
    if (app.policy.homogeneousRedundancy && hrClass !== null && hrClass !== host.platformClass) return false;
    if (this.store.work.hostHasReplica(workunitId, host.id)) return false;
    return !(this.options.distinctUsers && this.store.work.userHasReplica(workunitId, host.userId));
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

  private take(replicaId: number, workunitId: number, host: HostRecord, app: AppPolicy, version: AppVersionRecord, now: number): Task {
    const { work } = this.store;
    if (app.homogeneousRedundancy) work.setHrClass(workunitId, host.platformClass);
    if (app.adaptiveReplication) this.maybeReplicateOnce(replicaId, workunitId, host);

    const src = work.taskSource(replicaId);
    const body: TaskBody = {
      taskId: replicaId,
      workunitId,
      hostKey: host.publicKey,
      appVersionHash: version.bundleHash,
      inputHash: src.inputHash,
      deadline: now + src.delayBoundMs,
      rngSeed: src.rngSeed,
      fpopsEst: src.fpopsEst,
      issuedAt: now,
    };
    const signature = this.key.sign('task', body);
    const assigned = work.assign({ replicaId, hostId: host.id, appVersionId: version.id, sentAt: now, deadline: body.deadline, taskSignature: signature });
    if (!assigned) throw new Error(`replica ${replicaId} was no longer unsent`);
    return this.toTask(body, signature, src);
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
