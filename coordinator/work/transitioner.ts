// Applies the state machine of transition-rules.ts to the store: expiry, validation, credit,
// reissue, failure and aborts. Callers run it inside their transaction.
import type { BlobStore } from '../files/blob-store.js';
import type { Store } from '../store/store.js';
import type { CreditGranter } from './credit-granter.js';
import type { AppPolicy, Replica, Workunit } from './model.js';
import type { Outbox } from './outbox.js';
import { planTransition, type TransitionPlan } from './transition-rules.js';
import { findQuorum, type Candidate } from './validator.js';

export interface TransitionerOptions {
  /** Count at most one result per user in a quorum (and so never send two replicas to one user). */
  distinctUsers: boolean;
}

export class Transitioner {
  private readonly apps = new Map<number, AppPolicy>();

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly credit: CreditGranter,
    private readonly options: TransitionerOptions,
  ) {}

  transition(workunitId: number, now: number, outbox: Outbox): void {
    const wu = this.store.work.workunit(workunitId);
    if (!wu) return;
    outbox.batchChanged(wu.batchId);
    const replicas = this.store.work.replicasOf(workunitId);
    const app = this.app(wu.appId);
    const plan = planTransition(wu, replicas, now, (successes) => this.validate(app, wu, successes));
    this.apply(wu, replicas, plan, now, outbox);
  }

  /** Transitions work units whose replicas missed their deadline. Returns how many it handled. */
  sweepDeadlines(now: number, outbox: Outbox, limit = 500): number {
    const ids = this.store.work.workunitsWithExpiredReplicas(now, limit);
    for (const id of ids) this.transition(id, now, outbox);
    return ids.length;
  }

  private app(appId: number): AppPolicy {
    let app = this.apps.get(appId);
    if (!app) {
      app = this.store.catalog.appById(appId);
      if (!app) throw new Error(`app ${appId} does not exist`);
      this.apps.set(appId, app);
    }
    return app;
  }

  private validate(app: AppPolicy, wu: Workunit, successes: Replica[]) {
    const candidates: Candidate[] = successes.map((r) => {
      const candidate: Candidate = {
        replicaId: r.id,
        hostId: r.hostId ?? -r.id,
        userId: r.userId ?? -r.id,
        outputHash: r.outputHash ?? '',
        output: undefined,
      };
      // Only tolerance comparison looks inside outputs; exact compares canonical hashes.
      if (app.validation.mode === 'tolerance') candidate.output = this.loadOutput(r.id);
      return candidate;
    });
    return findQuorum(candidates, { minQuorum: wu.minQuorum, distinctUsers: this.options.distinctUsers }, app.validation);
  }

  private loadOutput(replicaId: number): unknown {
    const { outputJson, outputHash } = this.store.work.output(replicaId);
    if (outputJson !== null) return JSON.parse(outputJson);
    if (outputHash !== null) return JSON.parse(this.blobs.read(outputHash).toString('utf8'));
    return undefined;
  }

  private apply(wu: Workunit, replicas: Replica[], plan: TransitionPlan, now: number, outbox: Outbox): void {
    const { work, identities } = this.store;
    for (const id of plan.expire) work.endReplica(id, 'in_progress', 'no_reply');

    if (plan.verdict) {
      const byId = new Map(replicas.map((r) => [r.id, r]));
      // A single unchecked result (adaptive replication) says nothing about a host's reliability.
      const checked = wu.minQuorum > 1 ? 1 : 0;
      for (const id of plan.verdict.valid) {
        work.setValidateState(id, 'valid');
        identities.recordValid(byId.get(id)!.hostId!, checked);
      }
      for (const id of plan.verdict.invalid) {
        work.setValidateState(id, 'invalid');
        identities.recordInvalid(byId.get(id)!.hostId!);
      }
      this.credit.grant(
        wu,
        plan.verdict.valid.map((id) => ({ replicaId: id, hostId: byId.get(id)!.hostId! })),
        now,
        outbox,
      );
    }

    if (plan.finish) {
      const reason = plan.finish.status === 'failed' ? plan.finish.reason : null;
      work.finishWorkunit(wu.id, plan.finish.status, plan.verdict?.canonicalId ?? null, reason, now);
    }

    const abortReason = plan.finish
      ? plan.finish.status === 'done'
        ? 'work unit already has a canonical result'
        : `work unit failed: ${plan.finish.reason}`
      : `work unit ${wu.status}`;
    for (const id of plan.abort) {
      const { changed, hostId } = work.endReplica(id, 'in_progress', 'aborted');
      if (changed && hostId !== null) outbox.abort(hostId, id, abortReason);
    }
    for (const id of plan.cancelUnsent) work.endReplica(id, 'unsent', 'not_needed');
    if (plan.create > 0) work.insertReplicas(wu.id, wu.priority, plan.create, now);
  }
}
