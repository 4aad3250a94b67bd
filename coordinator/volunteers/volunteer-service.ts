// What volunteers can ask of the coordinator, one method per message: each runs in the
// transaction it is given (a savepoint of a group commit, usually) and, once that has
// committed, tells other hosts what changed (aborts, credit, results found invalid).
import type { Ed25519AsyncVerify } from '../../protocol/ed25519.js';
import type { CreditReceipt, Result, ResultAck, SignedResultList, TaskVerdict, UnsignedResult, VolunteerPreferences } from '../../protocol/messages.js';
import type { Tx } from '../store/store.js';
import type { QuotaKeeper } from '../work/host-quota.js';
import { verdictOf } from '../work/host-verdicts.js';
import { workunitTakesResults } from '../work/model.js';
import { Outbox, type HostNotifier } from '../work/outbox.js';
import type { ReportedResult, ResultIntake } from '../work/result-intake.js';
import { verifyResultList, verifyResultSignatures, type SignatureVerdicts } from '../work/result-signatures.js';
import type { Assignment, ListedAssignment, Scheduler } from '../work/scheduler.js';
import type { Transitioner } from '../work/transitioner.js';

export interface GiveBackAck {
  taskId: number;
  status: 'given_back' | 'not_in_progress';
}

export class VolunteerService {
  constructor(
    private readonly scheduler: Scheduler,
    private readonly intake: ResultIntake,
    private readonly ed: Ed25519AsyncVerify,
    private readonly transitioner: Transitioner,
    private readonly notifier: HostNotifier,
    private readonly quotas: QuotaKeeper,
    private readonly holdTimeoutMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Hosts heard from since their last_seen_at was last written (writeHeard). */
  private readonly heardFrom = new Set<number>();

  /** The host sent a message: it is seen now, written with the group's commit (writeHeard). */
  heard(hostId: number): void {
    this.heardFrom.add(hostId);
  }

  /**
   * Writes when the hosts heard from were seen, in one statement (at most once a minute a host):
   * a group commit's last step, where it was one statement a message.
   */
  async writeHeard(tx: Tx): Promise<void> {
    if (this.heardFrom.size === 0) return;
    const ids = [...this.heardFrom];
    this.heardFrom.clear();
    await tx.identities.seen(ids, this.clock());
  }

  /** New tasks for the host, and why there are fewer than it asked for when its own quota is why. */
  requestTasks(tx: Tx, hostId: number, count: number, holding?: number[], preferences?: VolunteerPreferences): Promise<Assignment> {
    return this.committed(tx, (outbox, now) => this.scheduler.assign(tx, hostId, count, now, holding, outbox, preferences));
  }

  /** As requestTasks, for protocol 3: the tasks under one signature of their list. */
  requestTaskList(tx: Tx, hostId: number, count: number, holding?: number[], preferences?: VolunteerPreferences): Promise<ListedAssignment> {
    return this.committed(tx, (outbox, now) => this.scheduler.assignListed(tx, hostId, count, now, holding, outbox, preferences));
  }

  /**
   * Of the tasks a host says it holds, those whose results are no longer wanted: aborted,
   * given back, not this host's, or of a finished work unit. (A task past its deadline is
   * still wanted while its work unit is open.) Covers hosts that missed the abort push.
   */
  async unwanted(tx: Tx, hostId: number, holding: number[]): Promise<number[]> {
    const unwanted: number[] = [];
    for (const taskId of holding) {
      const ids = await tx.work.replicaOfTask(hostId, taskId);
      const r = ids && (await tx.work.replicaForResult(ids.replicaId));
      if (
        !r || !workunitTakesResults(r.kind, r.workunitStatus) ||
        r.outcome === 'aborted' || r.outcome === 'abandoned' || r.outcome === 'not_needed'
      ) unwanted.push(taskId);
    }
    return unwanted;
  }

  /** Before reportResults, outside any transaction: its results' signatures, checked on other threads. */
  verifyResults(results: readonly Result[]): Promise<SignatureVerdicts> {
    return verifyResultSignatures(this.ed, results);
  }

  /** As verifyResults, for protocol 3: the report's one signature, over its list of results. */
  verifyResultList(results: readonly UnsignedResult[], list: SignedResultList): Promise<SignatureVerdicts> {
    return verifyResultList(this.ed, results, list);
  }

  async reportResults(tx: Tx, hostId: number, results: readonly ReportedResult[], signed: SignatureVerdicts): Promise<ResultAck[]> {
    const host = await tx.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} does not exist`);
    return this.committed(tx, (outbox, now) => this.intake.report(tx, host, results, signed, now, outbox));
  }

  /** A host hands tasks back (shutting down): they are reissued at once, not at the deadline. */
  giveBack(tx: Tx, hostId: number, taskIds: number[]): Promise<GiveBackAck[]> {
    return this.committed(tx, async (outbox, now) => {
      const acks: GiveBackAck[] = [];
      const touched = new Set<number>();
      for (const taskId of taskIds) {
        const ids = await tx.work.replicaOfTask(hostId, taskId);
        const r = ids && (await tx.work.replicaForResult(ids.replicaId));
        if (!r || r.status !== 'in_progress') {
          acks.push({ taskId, status: 'not_in_progress' });
          continue;
        }
        await tx.work.endReplica(r.id, 'in_progress', 'abandoned');
        touched.add(r.workunitId);
        acks.push({ taskId, status: 'given_back' });
      }
      for (const id of touched) await this.transitioner.transition(tx, id, now, outbox);
      return acks;
    });
  }

  /**
   * A host gone for good (its grace period passed): its tasks in progress get no reply and are
   * reissued. Its quota halves once for leaving, not once per task it held.
   */
  giveUpHost(tx: Tx, hostId: number): Promise<number> {
    return this.committed(tx, async (outbox, now) => {
      const ids = await tx.work.inProgressOfHost(hostId);
      const touched = new Set<number>();
      for (const id of ids) {
        await tx.work.endReplica(id, 'in_progress', 'no_reply');
        const r = await tx.work.replicaForResult(id);
        if (r) touched.add(r.workunitId);
      }
      if (ids.length > 0) await this.quotas.failed(tx, hostId);
      for (const id of touched) await this.transitioner.transition(tx, id, now, outbox);
      return ids.length;
    });
  }

  /** Progress on tasks: each may be held another hold timeout. */
  async progress(tx: Tx, hostId: number, updates: { taskId: number; fraction: number }[]): Promise<number> {
    const holdUntil = this.clock() + this.holdTimeoutMs;
    let updated = 0;
    for (const u of updates) if (await tx.work.setProgress(u.taskId, hostId, u.fraction, holdUntil)) updated++;
    return updated;
  }

  receipts(tx: Tx, hostId: number, afterEntryId: number, limit: number): Promise<CreditReceipt[]> {
    return tx.ledger.entriesOfHostAfter(hostId, afterEntryId, limit);
  }

  /**
   * What came of these tasks' results, as their host may be told (work/host-verdicts.ts): one
   * verdict per id, in the order asked; `unknown` for an id that is not one of this host's tasks.
   */
  async verdicts(tx: Tx, hostId: number, taskIds: number[]): Promise<TaskVerdict[]> {
    const facts = new Map((await tx.work.resultsOfHost(hostId, [...new Set(taskIds)])).map((f) => [f.taskId, f]));
    return taskIds.map((taskId) => ({ taskId, verdict: verdictOf(facts.get(taskId)) }));
  }

  /** Deadline sweep, run on a timer. */
  sweepDeadlines(tx: Tx): Promise<number> {
    return this.committed(tx, (outbox, now) => this.transitioner.sweepDeadlines(tx, now, outbox));
  }

  /** Runs fn in the caller's transaction, and tells hosts what changed once that commits. */
  private async committed<T>(tx: Tx, fn: (outbox: Outbox, now: number) => Promise<T>): Promise<T> {
    // The ledger's turn before any lock (as the group commit takes it): a host given up in a
    // transaction of its own ended its replicas (row locks) and then waited for the turn, while the
    // group holding the turn waited for one of those replicas (the host's late result): a deadlock
    // PostgreSQL broke by failing a message ("internal, try again"). Held already, it costs nothing.
    await tx.ledger.takeTurn();
    const outbox = new Outbox();
    const result = await fn(outbox, this.clock());
    tx.afterCommit(() => outbox.flush(this.notifier));
    return result;
  }
}
