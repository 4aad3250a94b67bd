// Applies the state machines of transition-rules.ts (work units), sentinel-rules.ts (sentinels)
// and check-rules.ts (checks of done work units) to the store: expiry, validation, credit,
// reissue, failure and aborts; catches hosts that fail a check, and takes back the verdicts a
// caught cheater took part in. Callers run it inside their transaction.
import type { BlobStore } from '../files/blob-store.js';
import type { Store } from '../store/store.js';
import type { CreditGranter } from './credit-granter.js';
import type { AppPolicy, Replica, Workunit } from './model.js';
import { planChecks } from './check-rules.js';
import type { QuotaKeeper } from './host-quota.js';
import type { Outbox } from './outbox.js';
import { planSentinel } from './sentinel-rules.js';
import { planTransition, type TransitionPlan } from './transition-rules.js';
import { findQuorum, outputsAgree, type Candidate, type Verdict } from './validator.js';

/** Said to a host whose task is no longer wanted because its work unit is decided, whatever kind it was. */
const NOT_NEEDED = 'work unit already has a canonical result';

export interface TransitionerOptions {
  /** Count at most one result per user in a quorum (and so never send two replicas to one user). */
  distinctUsers: boolean;
  /** Right answers to checks in a row after which a distrusted host is trusted again. */
  trustThreshold: number;
  /** A caught host's earlier results are re-checked after a random delay of up to this. */
  recheckDelayMs: number;
  random: () => number;
}

export class Transitioner {
  private readonly apps = new Map<number, AppPolicy>();

  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    private readonly credit: CreditGranter,
    private readonly quotas: QuotaKeeper,
    private readonly options: TransitionerOptions,
  ) {}

  transition(workunitId: number, now: number, outbox: Outbox): void {
    const wu = this.store.work.workunit(workunitId);
    if (!wu) return;
    outbox.batchChanged(wu.batchId);
    // A work unit retried starts again: what came before counts for nothing.
    const replicas = this.store.work.replicasOf(workunitId).filter((r) => r.id > wu.retryFrom);
    const app = this.app(wu.appId);
    if (wu.expectedOutputHash !== null) return this.judgeSentinel(app, wu, replicas, now, outbox);
    if (wu.status === 'done') return this.judgeChecks(app, wu, replicas, now, outbox);
    const plan = planTransition(wu, replicas, now, (successes) => this.validate(app, wu, successes));
    this.apply(wu, replicas, plan, now, outbox);
  }

  /** Transitions work units whose replicas missed their deadline. Returns how many it handled. */
  sweepDeadlines(now: number, outbox: Outbox, limit = 500): number {
    const ids = this.store.work.workunitsWithExpiredReplicas(now, limit);
    for (const id of ids) this.transition(id, now, outbox);
    return ids.length;
  }

  /**
   * Takes back what a caught host's (and any distrusted host's) results decided in a work unit: their valid results become
   * invalid and lose their credit, then the rest is validated again. If the rest still holds a
   * quorum, the work unit stays done (perhaps with another canonical result); if not, it is open
   * again and gets new replicas — or, in a cancelled batch, it fails.
   */
  withdraw(workunitId: number, caughtHostId: number, now: number, outbox: Outbox): void {
    const { work } = this.store;
    const wu = work.workunit(workunitId);
    if (!wu || wu.expectedOutputHash !== null) return;
    outbox.batchChanged(wu.batchId);
    const replicas = work.replicasOf(workunitId);
    // The caught host counts as distrusted even if it has earned its trust back since.
    const distrusted = new Set(replicas.filter((r) => r.hostDistrusted || (r.hostId !== null && r.hostId === caughtHostId)).map((r) => r.id));
    for (const r of replicas) {
      if (!distrusted.has(r.id) || r.validateState !== 'valid') continue;
      work.forfeit(r.id);
      this.credit.revoke(wu.id, r.id, r.hostId!, now, outbox);
    }
    if (wu.status !== 'done') return;

    const rest = replicas.filter((r) => r.outcome === 'success' && !r.forfeited && !distrusted.has(r.id));
    // Judged at the submitted quorum: adaptive replication's quorum of 1 rested on trust, and a
    // work unit a caught host took part in gets none.
    const full = { ...wu, minQuorum: wu.submittedQuorum };
    const verdict: Verdict = rest.length >= full.minQuorum ? this.validate(this.app(wu.appId), full, rest) : { kind: 'inconclusive', largestGroup: 0 };
    if (verdict.kind === 'canonical') {
      if (verdict.canonicalId !== wu.canonicalReplicaId) work.setCanonical(wu.id, verdict.canonicalId);
      this.settle(wu, rest, verdict, now, outbox);
      return;
    }
    // Too little is left: open again, as if the cheaters' answers had never come.
    for (const r of rest) work.setValidateState(r.id, 'pending');
    work.reopenWorkunit(wu.id);
    if (work.batchIsActive(wu.batchId)) this.transition(wu.id, now, outbox);
    else work.finishWorkunit(wu.id, 'failed', null, 'its canonical result was withdrawn (a host in its quorum was caught cheating) after the batch was cancelled', now);
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

  /** Undefined when the output cannot be read: such a result agrees with nothing. */
  private candidate(app: AppPolicy, r: Replica): Candidate | undefined {
    const candidate: Candidate = {
      replicaId: r.id,
      hostId: r.hostId ?? -r.id,
      userId: r.userId ?? -r.id,
      outputHash: r.outputHash ?? '',
      output: undefined,
    };
    // Only tolerance comparison looks inside outputs; exact compares canonical hashes.
    if (app.validation.mode === 'tolerance') {
      const loaded = this.loadOutput(r.id);
      if (!loaded.ok) return undefined;
      candidate.output = loaded.output;
    }
    return candidate;
  }

  private validate(app: AppPolicy, wu: Pick<Workunit, 'minQuorum'>, successes: Replica[]) {
    const candidates: Candidate[] = [];
    for (const r of successes) {
      const candidate = this.candidate(app, r);
      if (candidate) candidates.push(candidate);
      else {
        // One host's unreadable output (stored before uploads were checked, or its file gone)
        // must not stop the others' results: it is invalid for good and never counted again.
        this.store.work.forfeit(r.id);
        if (r.hostId !== null) {
          this.store.identities.recordInvalid(r.hostId);
          this.quotas.failed(r.hostId);
        }
      }
    }
    return findQuorum(candidates, { minQuorum: wu.minQuorum, distinctUsers: this.options.distinctUsers }, app.validation);
  }

  private loadOutput(replicaId: number): { ok: true; output: unknown } | { ok: false } {
    const { outputJson, outputHash } = this.store.work.output(replicaId);
    try {
      if (outputJson !== null) return { ok: true, output: JSON.parse(outputJson) };
      if (outputHash !== null) return { ok: true, output: JSON.parse(this.blobs.read(outputHash).toString('utf8')) };
    } catch {
      return { ok: false };
    }
    return { ok: true, output: undefined };
  }

  private apply(wu: Workunit, replicas: Replica[], plan: TransitionPlan, now: number, outbox: Outbox): void {
    const { work } = this.store;
    this.expire(plan.expire);
    for (const id of plan.forfeit) work.forfeit(id);
    if (plan.verdict) this.settle(wu, replicas, plan.verdict, now, outbox);
    if (plan.finish) {
      const reason = plan.finish.status === 'failed' ? plan.finish.reason : null;
      work.finishWorkunit(wu.id, plan.finish.status, plan.verdict?.canonicalId ?? null, reason, now);
    }
    const abortReason = plan.finish
      ? plan.finish.status === 'done'
        ? NOT_NEEDED
        : `work unit failed: ${plan.finish.reason}`
      : `work unit ${wu.status}`;
    this.stop(plan.abort, plan.cancelUnsent, abortReason, outbox);
    if (plan.create > 0) {
      work.insertReplicas(wu.id, wu.priority, plan.create, now, 'regular');
      outbox.workAvailable();
    }
    if (plan.finish) this.finishSentinelsIfDone(wu.batchId, now, outbox);
  }

  /** Records a verdict: validate states, trust and credit. Idempotent for replicas already settled. */
  private settle(wu: Workunit, replicas: Replica[], verdict: Extract<Verdict, { kind: 'canonical' }>, now: number, outbox: Outbox): void {
    const { work, identities, ledger } = this.store;
    const byId = new Map(replicas.map((r) => [r.id, r]));
    // A single unchecked result (adaptive replication) says nothing about a host's reliability.
    const checked = wu.minQuorum > 1 ? 1 : 0;
    for (const id of verdict.valid) {
      const r = byId.get(id)!;
      if (r.validateState === 'valid') continue;
      work.setValidateState(id, 'valid'); // perhaps invalid before, outvoted by a cheater
      // A result validated again after its work unit was reopened raised trust the first time.
      if (!ledger.hasGrant(id)) {
        identities.recordValid(r.hostId!, checked);
        this.quotas.valid(r.hostId!, wu.appId);
      }
    }
    for (const id of verdict.invalid) {
      const r = byId.get(id)!;
      if (r.validateState === 'invalid') continue;
      // Valid once, in a verdict a caught cheater was part of: its credit goes.
      this.credit.revoke(wu.id, id, r.hostId!, now, outbox);
      work.setValidateState(id, 'invalid');
      identities.recordInvalid(r.hostId!);
      this.quotas.failed(r.hostId!);
    }
    this.credit.grant(wu, verdict.valid.map((id) => ({ replicaId: id, hostId: byId.get(id)!.hostId! })), now, outbox);
  }

  private judgeSentinel(app: AppPolicy, wu: Workunit, replicas: Replica[], now: number, outbox: Outbox): void {
    const { work } = this.store;
    let expected: Candidate | undefined;
    const matches = (r: Replica): boolean => {
      expected ??= this.expectedCandidate(app, wu);
      const candidate = this.candidate(app, r);
      return candidate !== undefined && outputsAgree(app.validation, expected, candidate);
    };
    const plan = planSentinel(wu, replicas, now, matches, work.hasOpenRegularWork(wu.batchId), this.options.distinctUsers);
    this.expire(plan.expire);
    const byId = new Map(replicas.map((r) => [r.id, r]));
    const caught = this.judge(plan.judged.map((j) => ({ replica: byId.get(j.id)!, right: j.right })), wu.appId, now);
    if (plan.create > 0) {
      work.insertReplicas(wu.id, wu.priority, plan.create, now, 'sentinel');
      outbox.workAvailable();
    }
    if (plan.finish) {
      work.finishWorkunit(wu.id, 'done', plan.finish.canonicalId, null, now);
      this.credit.grant(wu, plan.finish.credited.map((id) => ({ replicaId: id, hostId: byId.get(id)!.hostId! })), now, outbox);
    }
    this.stop(plan.abort, plan.cancelUnsent, NOT_NEEDED, outbox);
    // Last, so that the work units it touches see this sentinel settled.
    for (const hostId of caught) this.catchHost(hostId, now, outbox);
  }

  private judgeChecks(app: AppPolicy, wu: Workunit, replicas: Replica[], now: number, outbox: Outbox): void {
    const { work, identities } = this.store;
    const byId = new Map(replicas.map((r) => [r.id, r]));
    const canonical = this.candidate(app, byId.get(wu.canonicalReplicaId!)!);
    // An unreadable output agrees with nothing (validation then counts it for nothing).
    const agrees = (r: Replica) => {
      const candidate = this.candidate(app, r);
      return canonical !== undefined && candidate !== undefined && outputsAgree(app.validation, canonical, candidate);
    };
    const plan = planChecks(wu, replicas, now, agrees, (successes, minQuorum) => this.validate(app, { minQuorum }, successes));
    this.expire(plan.expire);
    const caught = this.judge(
      [...plan.judgedDistrusted.map((j) => ({ replica: byId.get(j.id)!, right: j.right })),
        ...plan.passed.map((id) => ({ replica: byId.get(id)!, right: true })),
        ...plan.failed.map((id) => ({ replica: byId.get(id)!, right: false }))],
      wu.appId,
      now,
    );
    const credited = plan.passed.filter((id) => !byId.get(id)!.hostDistrusted);
    if (plan.overturn) {
      // The answer that had been accepted lost: every result is judged again by the new verdict.
      const { valid, invalid, canonicalId } = plan.overturn;
      for (const id of invalid) {
        const r = byId.get(id)!;
        if (r.validateState === 'invalid') continue;
        if (r.validateState === 'valid') this.credit.revoke(wu.id, id, r.hostId!, now, outbox);
        work.setValidateState(id, 'invalid');
        caught.add(r.hostId!);
      }
      for (const id of valid) {
        const r = byId.get(id)!;
        if (r.validateState === 'valid') continue;
        work.setValidateState(id, 'valid');
        if (r.kind === 'check') identities.recordCheckPassed(r.hostId!, this.options.trustThreshold);
        else if (!this.store.ledger.hasGrant(id)) identities.recordValid(r.hostId!, 1);
        this.quotas.valid(r.hostId!, wu.appId);
      }
      credited.push(...valid);
      work.setCanonical(wu.id, canonicalId);
    }
    for (const id of plan.unsettled) work.setValidateState(id, 'invalid');
    this.credit.grant(wu, credited.map((id) => ({ replicaId: id, hostId: byId.get(id)!.hostId! })), now, outbox);
    // Arbiters go out ahead of the work unit's peers: a dispute holds results and credit back.
    if (plan.create > 0) {
      work.insertReplicas(wu.id, wu.priority + 1, plan.create, now, 'check');
      outbox.workAvailable();
    }
    this.stop(plan.abort, plan.cancelUnsent, NOT_NEEDED, outbox);
    for (const hostId of caught) this.catchHost(hostId, now, outbox);
  }

  /**
   * Records answers to checks: a right one is valid and counts towards trust; a wrong one is
   * invalid and catches its host (returned, to be caught once the caller is done). A distrusted
   * host's answers count only towards its way back: its results are forfeited either way.
   */
  private judge(answers: { replica: Replica; right: boolean }[], appId: number, now: number): Set<number> {
    const { work, identities } = this.store;
    const caught = new Set<number>();
    for (const { replica: r, right } of answers) {
      const hostId = r.hostId!;
      if (r.hostDistrusted) work.forfeit(r.id);
      else work.setValidateState(r.id, right ? 'valid' : 'invalid');
      if (right) {
        identities.recordCheckPassed(hostId, this.options.trustThreshold);
        this.quotas.valid(hostId, appId);
      } else if (r.hostDistrusted) identities.recordCheckFailed(hostId, now, now);
      else caught.add(hostId);
    }
    return caught;
  }

  /**
   * A host failed a check. Nothing it can see changes: its tasks stay with it and keep coming in
   * the same mix, so that being caught tells it nothing about which task was a check. But its
   * results no longer count: those waiting for a quorum are forfeited (no credit), its tasks out
   * are replaced, and after a random delay a background job re-checks what its results decided.
   */
  private catchHost(hostId: number, now: number, outbox: Outbox): void {
    const { work, identities } = this.store;
    identities.recordCheckFailed(hostId, now, now + Math.floor(this.options.random() * this.options.recheckDelayMs));
    outbox.hostDistrusted(hostId);
    const touched = new Set<number>();
    for (const r of work.pendingOfHost(hostId)) {
      work.forfeit(r.replicaId);
      // Pending again after a reopened work unit, it may still hold its first credit.
      this.credit.revoke(r.workunitId, r.replicaId, hostId, now, outbox);
      touched.add(r.workunitId);
    }
    for (const r of work.inProgressWithWorkunitOfHost(hostId)) touched.add(r.workunitId);
    for (const id of touched) this.transition(id, now, outbox);
  }

  /** Tasks past their deadline, or held without progress past the hold timeout: over, "no reply", and their hosts' quotas halved. */
  private expire(replicaIds: number[]): void {
    for (const id of replicaIds) {
      const { changed, hostId } = this.store.work.endReplica(id, 'in_progress', 'no_reply');
      if (changed && hostId !== null) this.quotas.failed(hostId);
    }
  }

  private expectedCandidate(app: AppPolicy, wu: Workunit): Candidate {
    const json = this.store.work.expectedOutputJson(wu.id);
    return {
      replicaId: 0,
      hostId: 0,
      userId: 0,
      outputHash: wu.expectedOutputHash!,
      output: app.validation.mode === 'tolerance' && json !== null ? JSON.parse(json) : undefined,
    };
  }

  /** Sentinels finish when the rest of their batch has. */
  private finishSentinelsIfDone(batchId: number, now: number, outbox: Outbox): void {
    const { work } = this.store;
    if (work.hasOpenRegularWork(batchId)) return;
    for (const id of work.openSentinelsOfBatch(batchId)) this.transition(id, now, outbox);
  }

  private stop(abort: number[], cancelUnsent: number[], reason: string, outbox: Outbox): void {
    const { work } = this.store;
    for (const id of abort) {
      const { changed, hostId } = work.endReplica(id, 'in_progress', 'aborted');
      if (changed && hostId !== null) outbox.abort(hostId, id, reason);
    }
    for (const id of cancelUnsent) work.endReplica(id, 'unsent', 'not_needed');
  }
}
