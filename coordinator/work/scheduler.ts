// Assigns unsent replicas to a host (BOINC's scheduler): at most one replica of a work unit
// per host (and per user), a matching app version, homogeneous redundancy, adaptive
// replication, checks mixed in unannounced; commits the assignment and returns the tasks, signed
// one by one (protocol 2) or under one signature of their list (protocol 3).
// A volunteer's project preferences (which projects, resource shares) are decided by the pure
// rules of project-preferences.ts; `assignByShare` below only applies them.
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import {
  MAX_LIMITED_APPS,
  type SignedTaskList,
  type Task,
  type TaskBody,
  type TaskLimit,
  type UnsignedTask,
  type VolunteerPreferences,
} from '../../protocol/messages.js';
import { taskListBody } from '../../protocol/signed-lists.js';
import { taskBody } from '../../protocol/signing.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { AppVersionRecord } from '../store/catalog.js';
import type { HostRecord } from '../store/identities.js';
import type { Repositories, Tx } from '../store/store.js';
import type { AssignedTask, Candidate, CheckCandidate, TaskSource } from '../store/work-store.js';
import { hostMeets, pickVersion, usable } from './app-matching.js';
import { dailyAllowance, dailyRoom, inFlightAllowance, inFlightRoom, newHostCap, quotaDay, quotaDayEnds, type QuotaPolicy } from './host-quota.js';
import type { Outbox } from './outbox.js';
import type { AppPolicy } from './model.js';
import { randomTaskId, workunitRef, type TaskIds } from './task-ids.js';
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
  /** Draws task ids; by default unguessable (randomTaskId). A simulation passes a seeded one. */
  taskIds?: () => number;
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
  /** Tasks of this app it may take a day, and took today before this round. */
  dailyAllowed: number;
  usedBefore: number;
}

/** The tasks of one request, and why there are fewer than asked for when this host's quota is why. */
export interface Assignment {
  tasks: Task[];
  limited?: TaskLimit;
}

/** Protocol 3's: the tasks unsigned, and the coordinator's one signature of their list (none when there are none). */
export interface ListedAssignment {
  tasks: UnsignedTask[];
  taskList?: SignedTaskList;
  limited?: TaskLimit;
}

/**
 * How a round signs its tasks: `each` on its own (protocol 2), its signature stored with the
 * assignment and sent again with a lost task; `list` not at all, the caller signs the list.
 */
type TaskSigning = 'each' | 'list';

/** A task of a round: under `each`, its own signature (absent for a lost task sent before under `list`). */
type RoundTask = UnsignedTask & { signature?: string };

/** What the scheduler needs of a replica it may give: which work unit, app, batch and version. */
type Offer = Pick<Candidate, 'workunitId' | 'appId' | 'hrClass' | 'pinnedVersionId'>;

/** One request: the host, what it has been given so far, and what it may still take. */
interface Round {
  host: HostRecord;
  now: number;
  tasks: RoundTask[];
  signing: TaskSigning;
  outbox: Outbox | undefined;
  /** The apps met so far in this round. */
  apps: Map<number, AppChoice>;
  appFor(appId: number): Promise<AppChoice>;
  /** The version this host would run for a replica: its batch's pinned one, else the app's newest. */
  versionFor(c: Offer): Promise<AppVersionRecord | undefined>;
  /** For a new host: tasks of each batch new hosts may still take (read when first needed). */
  newHostRoom: Map<number, number> | undefined;
  /** The volunteer's preferences, when its request had any. */
  prefs: ResolvedPreferences | undefined;
  /** Work (fpops) each project sent the host in this round. */
  sent: Map<number, number>;
  /** Apps with regular work this host could have taken but for its daily quota. */
  dailyBlocked: Set<number>;
  /**
   * Work units whether this host (or, with distinct users, its user) already has a replica that
   * keeps it from another: read a page of candidates at a time (learnHeld), then kept as it takes.
   */
  held: Map<number, boolean>;
  /** Task ids drawn for this round that no replica has (drawTaskId). */
  freeTaskIds: number[];
  /** How many tasks the round is for: the task ids drawn at once. */
  wanted: number;
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
    private readonly key: CoordinatorKey,
    private readonly options: SchedulerOptions,
  ) {}

  /**
   * Call inside a transaction: the assignments and the tasks describing them commit together.
   * With `holding` (the task ids the host has), tasks the host lost (e.g. a reply that never
   * arrived because the coordinator crashed) are sent again first, as BOINC's "resend lost results".
   * With the tasks comes which of the host's own quotas kept it from more, if one did (limitOf).
   */
  async assign(tx: Tx, hostId: number, count: number, now: number, holding?: number[], outbox?: Outbox, preferences?: VolunteerPreferences): Promise<Assignment> {
    const { tasks, limited } = await this.assignRound(tx, hostId, count, now, holding, outbox, preferences, 'each');
    // A lost task sent again that was first sent under protocol 3 has no signature stored: signed
    // now, to the same bytes it would have had (Ed25519 is deterministic, and the body is the same).
    const signed = tasks.map((t) => ({ ...t, signature: t.signature ?? this.key.sign('task', taskBody(t)) }));
    return limited ? { tasks: signed, limited } : { tasks: signed };
  }

  /** As assign, for protocol 3: the tasks are not signed one by one, their list is (domain taskList). */
  async assignListed(tx: Tx, hostId: number, count: number, now: number, holding?: number[], outbox?: Outbox, preferences?: VolunteerPreferences): Promise<ListedAssignment> {
    const { tasks, limited, host } = await this.assignRound(tx, hostId, count, now, holding, outbox, preferences, 'list');
    const listed: ListedAssignment = { tasks };
    if (tasks.length > 0) {
      const body = taskListBody(host.publicKey, tasks);
      listed.taskList = { ...body, signature: this.key.sign('taskList', body) };
    }
    if (limited) listed.limited = limited;
    return listed;
  }

  private async assignRound(
    tx: Tx,
    hostId: number,
    count: number,
    now: number,
    holding: number[] | undefined,
    outbox: Outbox | undefined,
    preferences: VolunteerPreferences | undefined,
    signing: TaskSigning,
  ): Promise<{ tasks: RoundTask[]; limited?: TaskLimit; host: HostRecord }> {
    const host = await tx.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} does not exist`);
    // Before reading what the host (and its user's other hosts) hold, so that its caps and one
    // replica per host and user hold across instances: the ledger's turn, which judging takes first
    // too. One turn for both, taken before any other lock, so no two transactions can each hold
    // what the other waits for (a turn per host or user deadlocked with judging: one group sending
    // to a user's host then judging, another judging then sending to the same user's other host).
    await tx.ledger.takeTurn();
    const inProgress = await tx.work.inProgressTasksOfHost(hostId);
    const resent = holding ? (await this.resendLost(tx, host, inProgress, new Set(holding), count, now, signing)) : [];
    const resentCount = resent.length;
    const wanted = Math.min(count - resentCount, inFlightRoom(host.quotaLevel, inProgress.length, this.options.quota)) + resentCount;
    const ids = new Map<string, number>();
    for (const p of preferences?.projects ?? []) {
      const id = (await tx.catalog.projectByName(p.project))?.id;
      if (id !== undefined) ids.set(p.project, id);
    }
    const prefs = preferences && resolvePreferences(preferences, (name) => ids.get(name));
    const round = await this.round(tx, host, now, resent, signing, outbox, prefs);
    round.wanted = wanted;
    // Every active batch's room at once, so that noRoomLeft can tell when none is left.
    if (round.newHostRoom) for (const [batchId, left] of await this.newHostRooms(tx)) round.newHostRoom.set(batchId, left);
    const apps = round.apps;

    // Every host, caught or not, gets the same mix: a check in `checkRate` of its slots,
    // unannounced, so that neither its tasks nor being caught tell it which were checks. A check
    // goes only where regular work could have: a task that came when there was no other work
    // would be a check for sure.
    let checks = 0;
    for (let i = resentCount; i < wanted; i++) if (this.options.random() < this.options.checkRate) checks++;
    if (prefs) await this.assignByShare(tx, round, wanted, checks);
    else {
      const regular = (limit: number, offset: number) => tx.work.candidates(limit, offset);
      const before = round.tasks.length;
      await this.takeFrom(tx, round, regular, wanted - checks, true);
      const workFound = round.tasks.length > before || (before === wanted - checks && (await this.hasWork(tx, round)));
      if (checks > 0 && workFound) {
        await this.takeFrom(tx, round, (limit, offset) => tx.work.sentinelCandidates(limit, offset), wanted, false);
        await this.takeKnownAnswers(tx, round, wanted);
        // Check slots nothing could fill get regular work.
        await this.takeFrom(tx, round, regular, wanted, true);
      }
    }
    for (const [appId, app] of apps) await tx.identities.tookTasks(hostId, appId, quotaDay(now), app.taken);
    if (round.sent.size > 0) {
      const recent = await this.recentWork(tx, hostId, now);
      for (const [projectId, work] of round.sent) await tx.work.setRecentWork(hostId, projectId, (recent.get(projectId) ?? 0) + work, now);
    }
    // Where a check sits in the list must not give it away, nor must a list in id order
    // tell that it has none: every list is shuffled.
    const tasks = shuffle(round.tasks, this.options.random);
    const limited = await this.limitOf(tx, round, { count, wanted, held: inProgress.length + tasks.length - resentCount });
    return limited ? { tasks, limited, host } : { tasks, host };
  }

  /**
   * Why the round has fewer tasks than asked for, when this host's own quota is why: its tasks in
   * flight, else the daily quota of the apps whose regular work it was refused. Both depend only
   * on its quota levels and counts, which follow from what it was sent and reported and the
   * documented rules (docs/protocol.md), never on whether it is distrusted or which tasks were
   * checks: a caught host and an honest one at the same levels and counts get the same answer.
   * A daily block is noted on regular work only (see noteDailyBlock), so a sentinel waiting
   * behind a spent quota does not show.
   *
   * The new-host share is not reported: a cap on what all new hosts together hold of a batch
   * depends on other hosts' tasks, which this host cannot know or act on, and whether it still
   * counts as new is a count of its results that validated; its request then reads as "no work
   * now", which it is for this host, and `tasks.available` tells it when that changes.
   */
  private async limitOf(tx: Repositories, round: Round, r: { count: number; wanted: number; held: number }): Promise<TaskLimit | undefined> {
    if (round.tasks.length >= r.count) return undefined;
    // The in-flight cap cut the request, and the round took all the cap left room for.
    if (r.wanted < r.count && round.tasks.length === r.wanted) {
      return { by: 'in_flight', held: r.held, allowed: inFlightAllowance(round.host.quotaLevel, this.options.quota) };
    }
    if (round.dailyBlocked.size === 0) return undefined;
    const apps: Extract<TaskLimit, { by: 'daily' }>['apps'] = [];
    for (const appId of [...round.dailyBlocked].sort((a, b) => a - b).slice(0, MAX_LIMITED_APPS)) {
      const app = await round.appFor(appId);
      const project = (await tx.catalog.projectById(app.policy.projectId))!;
      apps.push({ project: project.name, app: app.policy.name, allowed: app.dailyAllowed, used: app.usedBefore + app.taken });
    }
    return { by: 'daily', apps, resetsAt: quotaDayEnds(round.now) };
  }

  /**
   * Whether the host could take one of these replicas, quotas aside: a version for its platform,
   * its class under homogeneous redundancy, and no replica of the work unit of its own (or its
   * user's). What a batch status uses to tell that no connected host may take its work.
   */
  async couldTake(tx: Repositories, hostId: number, candidates: Candidate[], now: number): Promise<boolean> {
    const host = await tx.identities.hostById(hostId);
    if (!host) return false;
    const round = await this.round(tx, host, now, [], 'list', undefined); // sends nothing: how it would sign is moot
    await this.learnHeld(tx, round, candidates);
    for (const c of candidates) if (await this.fits(tx, round, c)) return true;
    return false;
  }

  /**
   * With preferences: each task comes from the project `projectOrder` puts first (the one
   * furthest below its share of this host's recent work), then from that project's queue in its
   * order. A check slot is filled the same way and then, only if that project has regular work
   * this host may take, with one of its sentinels or done work units: so a project's checks go
   * under the same preferences and in the same proportions as its regular work, and where a
   * check goes tells nothing. A project with no work for this host is left out for the round.
   */
  private async assignByShare(tx: Repositories, round: Round, wanted: number, checks: number): Promise<void> {
    const prefs = round.prefs!;
    const recent = await this.recentWork(tx, round.host.id, round.now);
    const work = () => {
      const w = new Map(recent);
      for (const [p, sent] of round.sent) w.set(p, (w.get(p) ?? 0) + sent);
      return w;
    };
    const open = new Set((await tx.work.projectsWithUnsentWork()).filter((p) => projectAllowed(prefs, p)));
    const cursors = new Map<number, ProjectCursor>();
    let checksLeft = checks;
    while (round.tasks.length < wanted && open.size > 0) {
      const projectId = projectOrder(prefs, open, work())[0]!;
      let cursor = cursors.get(projectId);
      if (!cursor) cursors.set(projectId, (cursor = { projectId, page: [], at: 0, offset: 0, takenFromPage: 0, pageSize: Math.min(PAGE, 2 * wanted + 8), scanned: 0, done: false }));
      const next = await this.peek(tx, round, cursor);
      if (!next) {
        open.delete(projectId);
        continue;
      }
      if (checksLeft > 0) {
        checksLeft--;
        if ((await this.takeSentinelOf(tx, round, projectId)) || (await this.takeKnownAnswerOf(tx, round, projectId))) continue;
      }
      cursor.at++;
      cursor.takenFromPage++;
      await this.take(tx, round, next.replicaId, next, true);
    }
  }

  /** The next candidate of a project's queue this host may take, left in place; reads on as needed. */
  private async peek(tx: Repositories, round: Round, cursor: ProjectCursor): Promise<Candidate | undefined> {
    for (;;) {
      for (; cursor.at < cursor.page.length; cursor.at++) {
        const c = cursor.page[cursor.at]!;
        if (await this.mayTakeOffer(tx, round, c)) return c;
        await this.noteDailyBlock(tx, round, c);
      }
      if (cursor.done || cursor.scanned >= MAX_SCANNED || this.noRoomLeft(round, cursor.page)) return undefined;
      // Taken replicas leave the unsent set, so the next page starts that much earlier.
      cursor.offset += cursor.page.length - cursor.takenFromPage;
      cursor.page = await tx.work.projectCandidates(cursor.projectId, cursor.pageSize, cursor.offset);
      await this.learnHeld(tx, round, cursor.page);
      cursor.scanned += cursor.page.length;
      cursor.at = 0;
      cursor.takenFromPage = 0;
      cursor.done = cursor.page.length < cursor.pageSize;
      cursor.pageSize = Math.min(PAGE, cursor.pageSize * 4);
    }
  }

  /** One of the project's sentinels this host may take, taken; false if none. */
  private async takeSentinelOf(tx: Repositories, round: Round, projectId: number): Promise<boolean> {
    for (let offset = 0; offset < MAX_SCANNED; offset += PAGE) {
      const page = await tx.work.sentinelCandidates(PAGE, offset);
      await this.learnHeld(tx, round, page.filter((s) => s.projectId === projectId));
      let c: Candidate | undefined;
      for (const s of page) {
        if (s.projectId === projectId && (await this.mayTakeOffer(tx, round, s))) {
          c = s;
          break;
        }
      }
      if (c) {
        return await this.take(tx, round, c.replicaId, c, true);
      }
      if (page.length < PAGE) return false;
    }
    return false;
  }

  /** As takeKnownAnswers, one done work unit of the project sent again as a check; false if none was found. */
  private async takeKnownAnswerOf(tx: Repositories, round: Round, projectId: number): Promise<boolean> {
    const { work } = tx;
    const range = await work.doneRange();
    if (!range) return false;
    for (let looks = 0; looks < CHECK_LOOKS; looks++) {
      const from = range.low + Math.floor(this.options.random() * (range.high - range.low + 1));
      let found: CheckCandidate | undefined;
      const candidates = await work.checkCandidates(round.host.id, from, CHECK_WINDOW, 4);
      await this.learnHeld(tx, round, candidates);
      for (const c of candidates) {
        if ((await round.appFor(c.appId)).policy.projectId === projectId && (await this.mayTake(tx, round, c))) {
          found = c;
          break;
        }
      }
      if (!found) continue;
      await this.send(tx, round, [await this.makeCheck(tx, round, found)]);
      return true;
    }
    return false;
  }

  /**
   * A new replica of a done work unit, counted as the host's (use). Made in this transaction, it
   * is seen by no other until the commit: it needs no claim before it is sent, and checks found
   * in one round are sent together (a few statements whatever their number: send).
   */
  private async makeCheck(tx: Repositories, round: Round, c: CheckCandidate): Promise<CheckCandidate & { replicaId: number }> {
    const replicaId = await tx.work.insertReplica(c.workunitId, c.priority, round.now, 'check');
    await this.use(tx, round, c, false);
    return { ...c, replicaId };
  }

  /** Each project's recent work on this host, decayed to now. */
  private async recentWork(tx: Repositories, hostId: number, now: number): Promise<Map<number, number>> {
    return new Map((await tx.work.recentWorkOfHost(hostId)).map((r) => [r.projectId, decayWork(r.work, r.updatedAt, now)]));
  }

  /** A host with too few valid results to be held to less than a share of each batch. */
  private isNew(host: HostRecord): boolean {
    return host.nValid < this.options.trustThreshold;
  }

  private async round(tx: Repositories, host: HostRecord, now: number, tasks: RoundTask[], signing: TaskSigning, outbox: Outbox | undefined, prefs?: ResolvedPreferences): Promise<Round> {
    const apps = new Map<number, AppChoice>();
    const pinned = new Map<number, AppVersionRecord | undefined>();
    const appFor = async (appId: number): Promise<AppChoice> => {
      let app = apps.get(appId);
      if (!app) {
        const policy = (await tx.catalog.appById(appId))!;
        const quota = (await tx.identities.appQuota(host.id, appId)) ?? { level: host.quotaLevel, day: 0, used: 0 };
        app = {
          policy,
          version: pickVersion((await tx.catalog.versionsOfApp(appId)), host.platformKind, host.capabilities),
          dailyLeft: dailyRoom(quota, now, this.options.quota),
          taken: 0,
          dailyAllowed: dailyAllowance(quota.level, this.options.quota),
          usedBefore: quota.day === quotaDay(now) ? quota.used : 0,
        };
        apps.set(appId, app);
      }
      return app;
    };
    return {
      host,
      now,
      tasks,
      signing,
      outbox,
      apps,
      appFor,
      versionFor: async (c) => {
        if (c.pinnedVersionId === null) return (await appFor(c.appId)).version;
        if (!pinned.has(c.pinnedVersionId)) {
          const v = await tx.catalog.versionById(c.pinnedVersionId);
          pinned.set(c.pinnedVersionId, v && usable(v) && hostMeets(host.platformKind, host.capabilities, v) ? v : undefined);
        }
        return pinned.get(c.pinnedVersionId);
      },
      newHostRoom: this.isNew(host) ? new Map() : undefined,
      prefs,
      sent: new Map(),
      dailyBlocked: new Set(),
      held: new Map(),
      freeTaskIds: [],
      wanted: 1,
    };
  }

  /** Takes candidates of a queue in its order until the round has `wanted` tasks; `regular`: the queue of regular work. */
  private async takeFrom(tx: Repositories, round: Round, read: (limit: number, offset: number) => Promise<Candidate[]>, wanted: number, regular: boolean): Promise<void> {
    const { tasks } = round;
    let offset = 0;
    // Most candidates can be taken (a host skips only work units it already has), so a host
    // asking for one task reads a few rows, not a page: the read grows only when skipping.
    let pageSize = Math.min(PAGE, 2 * (wanted - tasks.length) + 8);
    for (let scanned = 0; tasks.length < wanted && scanned < MAX_SCANNED; pageSize = Math.min(PAGE, pageSize * 4)) {
      const page = await read(pageSize, offset);
      await this.learnHeld(tx, round, page);
      scanned += page.length;
      const taken = await this.takePage(tx, round, page, wanted, regular);
      if (page.length < pageSize || this.noRoomLeft(round, page)) break; // that was all of this queue, or all it may take
      // Taken replicas leave the unsent set, so the next page starts that much earlier.
      offset += page.length - taken;
    }
  }

  /**
   * Takes what the round may of a page, in its order, in a few statements rather than a few a
   * task: picks in memory what taking one at a time would take, then claims them all in one
   * statement and sends them all at once. When another instance claimed some first, they are left
   * out, every pick of that pass is undone (with what it noted of daily quotas) and the page is
   * picked again from its start: the tasks sent are those taking one at a time would have sent
   * (a replica claimed in a pass undone and not picked again stays unsent, locked until the
   * transaction ends, as one another instance is sending). Returns how many were sent.
   */
  private async takePage(tx: Repositories, round: Round, page: readonly Candidate[], wanted: number, regular: boolean): Promise<number> {
    const lost = new Set<number>();
    for (;;) {
      const blocked = new Set(round.dailyBlocked);
      const picks = await this.pick(tx, round, page, wanted, regular, lost);
      const claimed = await tx.work.claimUnsent(picks.map((c) => c.replicaId));
      if (picks.every((c) => claimed.has(c.replicaId))) {
        await this.send(tx, round, picks);
        return picks.length;
      }
      for (const c of picks) {
        if (!claimed.has(c.replicaId)) lost.add(c.replicaId);
        await this.unuse(round, c);
      }
      round.dailyBlocked = blocked;
    }
  }

  /** The candidates of a page the round would take one at a time, in its order, but for `lost`; each counted as taken (use). */
  private async pick(tx: Repositories, round: Round, page: readonly Candidate[], wanted: number, regular: boolean, lost: ReadonlySet<number>): Promise<Candidate[]> {
    const picks: Candidate[] = [];
    for (const c of page) {
      if (round.tasks.length + picks.length >= wanted) break;
      if (lost.has(c.replicaId)) continue;
      if (!(await this.mayTakeOffer(tx, round, c))) {
        if (regular) await this.noteDailyBlock(tx, round, c);
        continue;
      }
      await this.use(tx, round, c, true);
      picks.push(c);
    }
    return picks;
  }

  /** Whether the regular queue has a replica this host may take. */
  private async hasWork(tx: Repositories, round: Round): Promise<boolean> {
    for (let offset = 0; offset < MAX_SCANNED; offset += PAGE) {
      const page = await tx.work.candidates(PAGE, offset);
      await this.learnHeld(tx, round, page);
      for (const c of page) {
        if (await this.mayTakeOffer(tx, round, c)) return true;
        await this.noteDailyBlock(tx, round, c);
      }
      if (page.length < PAGE || this.noRoomLeft(round, page)) return false;
    }
    return false;
  }

  /**
   * Checks the coordinator makes on its own, sentinels or not: a new replica of a done work unit,
   * picked at random among those other hosts decided, whose answer the host's must match.
   */
  private async takeKnownAnswers(tx: Repositories, round: Round, wanted: number): Promise<void> {
    const { work } = tx;
    const { tasks } = round;
    const range = await work.doneRange();
    if (!range) return;
    const { low, high } = range;
    // Sent together once found: the host's held work units (round.held) and quotas are counted as each is made.
    const made: (CheckCandidate & { replicaId: number })[] = [];
    const left = () => wanted - tasks.length - made.length;
    for (let looks = 0; left() > 0 && looks < CHECK_LOOKS * (wanted - tasks.length); looks++) {
      const from = low + Math.floor(this.options.random() * (high - low + 1));
      let found: CheckCandidate | undefined;
      const candidates = await work.checkCandidates(round.host.id, from, CHECK_WINDOW, 4);
      await this.learnHeld(tx, round, candidates);
      for (const c of candidates) {
        if (await this.mayTake(tx, round, c)) {
          found = c;
          break;
        }
      }
      if (!found) continue;
      made.push(await this.makeCheck(tx, round, found));
    }
    await this.send(tx, round, made);
  }

  /**
   * Whether the host may take this replica of a batch, counting the new-host share without
   * using it. The share first: it is known without a query once read for the batch, and when a
   * batch's share is spent every replica of it would otherwise cost the queries of `fits` (on
   * PostgreSQL, thousands of round trips a request: seconds).
   */
  private async mayTakeOffer(tx: Repositories, round: Round, c: Offer & { batchId: number }): Promise<boolean> {
    return (await this.newHostMayTake(tx, round, c.batchId, false)) && (await this.mayTake(tx, round, c));
  }

  private async mayTake(tx: Repositories, round: Round, c: Offer): Promise<boolean> {
    const app = await round.appFor(c.appId);
    if (round.prefs && !projectAllowed(round.prefs, app.policy.projectId)) return false;
    return app.dailyLeft > 0 && (await this.fits(tx, round, c));
  }

  /**
   * A regular replica this host may not take: notes its app when the daily quota is all that
   * stands in the way. Called for regular work only: a sentinel or check met behind a spent
   * quota must not show in the reply (limitOf).
   */
  private async noteDailyBlock(tx: Repositories, round: Round, c: Offer): Promise<void> {
    if (round.dailyBlocked.has(c.appId)) return;
    const app = await round.appFor(c.appId);
    if (app.dailyLeft > 0 || (round.prefs && !projectAllowed(round.prefs, app.policy.projectId))) return;
    if (await this.fits(tx, round, c)) round.dailyBlocked.add(c.appId);
  }

  /** Quotas aside, whether this host may take this replica. */
  private async fits(tx: Repositories, round: Round, c: Offer): Promise<boolean> {
    const { host } = round;
    const app = await round.appFor(c.appId);
    if (!(await round.versionFor(c))) return false;
    if (app.policy.homogeneousRedundancy && c.hrClass !== null && c.hrClass !== host.platformClass) return false;
    let held = round.held.get(c.workunitId);
    if (held === undefined) {
      held = (await tx.work.hostHasReplica(c.workunitId, host.id)) || (this.options.distinctUsers && (await tx.work.userHasReplica(c.workunitId, host.userId)));
      round.held.set(c.workunitId, held);
    }
    return !held;
  }

  /** Reads, in one statement, which of a page's work units the host (or its user) has: fits then needs no statement of its own. */
  private async learnHeld(tx: Repositories, round: Round, page: readonly Offer[]): Promise<void> {
    const unknown = page.map((c) => c.workunitId).filter((id) => !round.held.has(id));
    if (unknown.length === 0) return;
    const held = await tx.work.heldAmong(unknown, round.host.id, this.options.distinctUsers ? round.host.userId : null);
    for (const id of unknown) round.held.set(id, held.has(id));
  }

  /**
   * New hosts together hold at most a share of a batch's work units (a burst of fresh keys must
   * not sit on a batch). `use` counts the task as taken.
   */
  private async newHostMayTake(tx: Repositories, round: Round, batchId: number, use = true): Promise<boolean> {
    const rooms = round.newHostRoom;
    if (!rooms) return true;
    let left = rooms.get(batchId);
    if (left === undefined) {
      const load = await tx.work.newHostLoad(batchId);
      left = newHostCap(load.workunits, this.options.newHostShare, NEW_HOST_FLOOR) - load.held;
      // Kept when spent too: every other replica of the batch met in this round is refused
      // without reading the batch again.
      rooms.set(batchId, left);
    }
    if (left <= 0) return false;
    rooms.set(batchId, use ? left - 1 : left);
    return true;
  }

  /** What a new host may still take of each active batch (the new hosts' share left), read in one query. */
  private async newHostRooms(tx: Repositories): Promise<Map<number, number>> {
    return new Map((await tx.work.newHostLoads()).map((l) => [l.batchId, newHostCap(l.workunits, this.options.newHostShare, NEW_HOST_FLOOR) - l.held]));
  }

  /**
   * A new host facing batches whose new-host share is all spent: reading on through the queue
   * would only refuse every replica in it (up to MAX_SCANNED, a page read each 256 on PostgreSQL).
   * A batch made since the round began is not in the map: read on then.
   */
  private noRoomLeft(round: Round, page: readonly Candidate[]): boolean {
    const rooms = round.newHostRoom;
    return rooms !== undefined && page.every((c) => rooms.has(c.batchId)) && [...rooms.values()].every((left) => left <= 0);
  }

  /** `holding`: the task ids the host says it has. */
  private async resendLost(tx: Repositories, host: HostRecord, inProgress: TaskIds[], holding: Set<number>, count: number, now: number, signing: TaskSigning): Promise<RoundTask[]> {
    const tasks: RoundTask[] = [];
    for (const ids of inProgress) {
      if (tasks.length >= count) break;
      if (holding.has(ids.taskId)) continue;
      const sent = await tx.work.sentTask(ids.replicaId);
      if (!sent || sent.deadline < now) continue; // past its deadline: the transitioner reissues it
      const src = await tx.work.taskSource(ids.replicaId);
      // The same body as was signed, ids included.
      const body: TaskBody = {
        taskId: ids.taskId,
        workunitId: workunitRef(ids),
        hostKey: host.publicKey,
        appVersionHash: sent.appVersionHash,
        inputHash: src.inputHash,
        deadline: sent.deadline,
        rngSeed: src.rngSeed,
        fpopsEst: src.fpopsEst,
        issuedAt: sent.sentAt,
      };
      // Under `list` it goes into the reply's signed list; under `each` with the signature it was sent with, if any.
      tasks.push(this.toTask(body, signing === 'each' ? sent.signature : null, src));
    }
    return tasks;
  }

  private toTask(body: TaskBody, signature: string | null, src: TaskSource): RoundTask {
    const task: RoundTask = signature === null ? { ...body, project: src.projectName, app: src.appName } : { ...body, signature, project: src.projectName, app: src.appName };
    if (src.inputJson !== null && src.inputJson.length <= MAX_INLINE_JSON_BYTES) task.input = JSON.parse(src.inputJson);
    return task;
  }

  /**
   * Sends the replica to the host; false when it was taken meanwhile (by another instance), and
   * nothing was written or counted. `newHostRoom`: it counts against the new hosts' share of its batch.
   */
  private async take(tx: Repositories, round: Round, replicaId: number, c: Offer & { batchId: number }, newHostRoom: boolean): Promise<boolean> {
    if (!(await tx.work.claimUnsent([replicaId])).has(replicaId)) return false;
    await this.use(tx, round, c, newHostRoom);
    await this.send(tx, round, [{ ...c, replicaId }]);
    return true;
  }

  /**
   * Counts a replica the round takes as the host's: its work unit's other replicas are not for
   * this host (nor, with distinct users, its user) any more, it uses a task of its app's daily
   * quota and, with `newHostRoom`, of the new hosts' share of its batch. The host may take it (mayTake).
   */
  private async use(tx: Repositories, round: Round, c: Offer & { batchId: number }, newHostRoom: boolean): Promise<void> {
    round.held.set(c.workunitId, true);
    const app = await round.appFor(c.appId);
    app.dailyLeft--;
    app.taken++;
    if (newHostRoom) await this.newHostMayTake(tx, round, c.batchId);
  }

  /** Undoes use (with the new hosts' share), for a replica another instance claimed first: as if the round had never met it. */
  private async unuse(round: Round, c: Offer & { batchId: number }): Promise<void> {
    // Taken only when not held (fits).
    round.held.set(c.workunitId, false);
    const app = await round.appFor(c.appId);
    app.dailyLeft++;
    app.taken--;
    const rooms = round.newHostRoom;
    const left = rooms?.get(c.batchId);
    if (rooms && left !== undefined) rooms.set(c.batchId, left + 1);
  }

  /**
   * Sends claimed replicas the round counts as taken (use) to the host, in their order, in a few
   * statements whatever their number: their work units' class under homogeneous redundancy in
   * one, their sources in one, their assignments in one. Adaptive replication decides one work
   * unit at a time (a few statements each, and a random draw each, in order). Under `each` every
   * task is signed on its own and its signature stored; under `list` none is (assignListed signs the list).
   */
  private async send(tx: Repositories, round: Round, picks: readonly (Offer & { batchId: number; replicaId: number })[]): Promise<void> {
    if (picks.length === 0) return;
    const { work } = tx;
    const { host, now } = round;
    const sending: { c: (typeof picks)[number]; app: AppPolicy }[] = [];
    for (const c of picks) sending.push({ c, app: (await round.appFor(c.appId)).policy });
    await work.setHrClass(sending.filter((s) => s.app.homogeneousRedundancy).map((s) => s.c.workunitId), host.platformClass);
    for (const { c, app } of sending) if (app.adaptiveReplication) await this.maybeReplicateOnce(tx, c.replicaId, c.workunitId, host);

    const sources = await work.taskSources(picks.map((c) => c.replicaId));
    const drawn = new Set<number>();
    const rows: AssignedTask[] = [];
    const tasks: RoundTask[] = [];
    for (const { c } of sending) {
      const { replicaId, workunitId } = c;
      const src = sources.get(replicaId);
      if (!src) throw new Error(`replica ${replicaId} was claimed but its work unit could not be read`);
      const version = await round.versionFor(c);
      if (!version) throw new Error(`replica ${replicaId} was taken for host ${host.id} without a version it runs`);
      const taskId = await this.drawTaskId(tx, round, replicaId, drawn);
      drawn.add(taskId);
      const body: TaskBody = {
        taskId,
        workunitId: workunitRef({ replicaId, taskId, workunitId }),
        hostKey: host.publicKey,
        appVersionHash: version.bundleHash,
        inputHash: src.inputHash,
        deadline: now + src.delayBoundMs,
        rngSeed: src.rngSeed,
        fpopsEst: src.fpopsEst,
        issuedAt: now,
      };
      const signature = round.signing === 'each' ? this.key.sign('task', body) : null;
      rows.push({ replicaId, taskId, appVersionId: version.id, deadline: body.deadline, taskSignature: signature });
      tasks.push(this.toTask(body, signature, src));
    }
    const assigned = await work.assign({ hostId: host.id, sentAt: now, holdUntil: now + this.options.holdTimeoutMs, newHost: round.newHostRoom !== undefined, tasks: rows });
    if (assigned !== rows.length) throw new Error(`${rows.length - assigned} of replicas ${rows.map((r) => r.replicaId).join(', ')} were no longer unsent`);
    sending.forEach(({ c, app }, i) => {
      const task = tasks[i]!;
      round.tasks.push(task);
      round.sent.set(app.projectId, (round.sent.get(app.projectId) ?? 0) + task.fpopsEst);
      round.outbox?.batchChanged(c.batchId);
    });
  }

  /**
   * A task id no replica has: random, so it tells nothing of the replica's age or kind. Never its
   * replica's own id, which marks a task sent before migration 17 (workunitRef). Two instances
   * drawing the same one at once (about never) are stopped by the unique index: one request fails
   * and its host asks again. `unwritten`: those drawn for tasks of this round not written yet.
   */
  private async drawTaskId(tx: Repositories, round: Round, replicaId: number, unwritten: ReadonlySet<number>): Promise<number> {
    for (;;) {
      // As many as the round may send, checked in one statement rather than one a task.
      if (round.freeTaskIds.length === 0) {
        const drawn = new Set<number>();
        while (drawn.size < Math.max(1, round.wanted - round.tasks.length - unwritten.size)) drawn.add((this.options.taskIds ?? randomTaskId)());
        // Those drawn for tasks not written yet are some replica's too.
        round.freeTaskIds = (await tx.work.freeTaskIds([...drawn])).filter((id) => !unwritten.has(id));
      }
      // None left when every one drawn was some replica's: drawn again.
      const id = round.freeTaskIds.pop();
      if (id !== undefined && id !== replicaId) return id;
    }
  }

  /**
   * Adaptive replication: the first replica of a work unit sent to a trusted host may be the
   * only one (quorum 1), except for random spot checks. The other unsent replicas are dropped.
   */
  private async maybeReplicateOnce(tx: Repositories, replicaId: number, workunitId: number, host: HostRecord): Promise<void> {
    const { work } = tx;
    if (host.consecutiveValid < this.options.trustThreshold) return;
    if ((await work.sentCount(workunitId)) > 0) return;
    const wu = (await work.workunit(workunitId))!;
    if (wu.minQuorum <= 1 || wu.expectedOutputHash !== null) return;
    if (this.options.random() < this.options.spotCheckRate) return;
    await work.reduceQuorumToOne(workunitId);
    for (const r of (await work.replicasOf(workunitId))) {
      if (r.id !== replicaId && r.status === 'unsent') await work.endReplica(r.id, 'unsent', 'not_needed');
    }
  }
}
