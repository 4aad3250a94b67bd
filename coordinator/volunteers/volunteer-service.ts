// What volunteers can ask of the coordinator, one method per message: each runs its
// transaction and, once that has committed, tells other hosts what changed (aborts,
// credit). A method may run inside a larger transaction (group commit): it is then a
// savepoint, and the telling waits for the outer commit.
import type { CreditReceipt, Result, ResultAck, Task, VolunteerPreferences } from '../../protocol/messages.js';
import type { Store } from '../store/store.js';
import type { QuotaKeeper } from '../work/host-quota.js';
import { workunitTakesResults } from '../work/model.js';
import { Outbox, type HostNotifier } from '../work/outbox.js';
import type { ResultIntake } from '../work/result-intake.js';
import type { Scheduler } from '../work/scheduler.js';
import type { Transitioner } from '../work/transitioner.js';

export interface GiveBackAck {
  taskId: number;
  status: 'given_back' | 'not_in_progress';
}

export class VolunteerService {
  constructor(
    private readonly store: Store,
    private readonly scheduler: Scheduler,
    private readonly intake: ResultIntake,
    private readonly transitioner: Transitioner,
    private readonly notifier: HostNotifier,
    private readonly quotas: QuotaKeeper,
    private readonly holdTimeoutMs: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The host sent a message: it was seen now. */
  seen(hostId: number): void {
    this.store.identities.seen(hostId, this.clock());
  }

  requestTasks(hostId: number, count: number, holding?: number[], preferences?: VolunteerPreferences): Task[] {
    return this.committed((outbox, now) => this.scheduler.assign(hostId, count, now, holding, outbox, preferences));
  }

  /**
   * Of the tasks a host says it holds, those whose results are no longer wanted: aborted,
   * given back, not this host's, or of a finished work unit. (A task past its deadline is
   * still wanted while its work unit is open.) Covers hosts that missed the abort push.
   */
  unwanted(hostId: number, holding: number[]): number[] {
    return holding.filter((taskId) => {
      const r = this.store.work.replicaForResult(taskId);
      if (!r || r.hostId !== hostId || !workunitTakesResults(r.kind, r.workunitStatus)) return true;
      return r.outcome === 'aborted' || r.outcome === 'abandoned' || r.outcome === 'not_needed';
    });
  }

  reportResults(hostId: number, results: Result[]): ResultAck[] {
    const host = this.store.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} does not exist`);
    return this.committed((outbox, now) => this.intake.report(host, results, now, outbox));
  }

  /** A host hands tasks back (shutting down): they are reissued at once, not at the deadline. */
  giveBack(hostId: number, taskIds: number[]): GiveBackAck[] {
    return this.committed((outbox, now) => {
      const acks: GiveBackAck[] = [];
      const touched = new Set<number>();
      for (const taskId of taskIds) {
        const r = this.store.work.replicaForResult(taskId);
        if (!r || r.hostId !== hostId || r.status !== 'in_progress') {
          acks.push({ taskId, status: 'not_in_progress' });
          continue;
        }
        this.store.work.endReplica(taskId, 'in_progress', 'abandoned');
        touched.add(r.workunitId);
        acks.push({ taskId, status: 'given_back' });
      }
      for (const id of touched) this.transitioner.transition(id, now, outbox);
      return acks;
    });
  }

  /**
   * A host gone for good (its grace period passed): its tasks in progress get no reply and are
   * reissued. Its quota halves once for leaving, not once per task it held.
   */
  giveUpHost(hostId: number): number {
    return this.committed((outbox, now) => {
      const ids = this.store.work.inProgressOfHost(hostId);
      const touched = new Set<number>();
      for (const id of ids) {
        this.store.work.endReplica(id, 'in_progress', 'no_reply');
        const r = this.store.work.replicaForResult(id);
        if (r) touched.add(r.workunitId);
      }
      if (ids.length > 0) this.quotas.failed(hostId);
      for (const id of touched) this.transitioner.transition(id, now, outbox);
      return ids.length;
    });
  }

  /** Progress on tasks: each may be held another hold timeout. */
  progress(hostId: number, updates: { taskId: number; fraction: number }[]): number {
    const holdUntil = this.clock() + this.holdTimeoutMs;
    return this.store.transaction(() => updates.filter((u) => this.store.work.setProgress(u.taskId, hostId, u.fraction, holdUntil)).length);
  }

  receipts(hostId: number, afterEntryId: number, limit: number): CreditReceipt[] {
    return this.store.ledger.entriesOfHostAfter(hostId, afterEntryId, limit);
  }

  /** Deadline sweep, run on a timer. */
  sweepDeadlines(): number {
    return this.committed((outbox, now) => this.transitioner.sweepDeadlines(now, outbox));
  }

  private committed<T>(fn: (outbox: Outbox, now: number) => T): T {
    const outbox = new Outbox();
    const now = this.clock();
    return this.store.transaction(() => {
      const result = fn(outbox, now);
      this.store.afterCommit(() => outbox.flush(this.notifier));
      return result;
    });
  }
}
