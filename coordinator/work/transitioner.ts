// Applies the state machines of transition-rules.ts (work units), sentinel-rules.ts (sentinels)
// and check-rules.ts (checks of done work units) to the store: expiry, validation, credit,
// reissue, failure and aborts; catches hosts that fail a check, and takes back the verdicts a
// caught cheater took part in. Callers run it inside their transaction.
import type { BlobStore } from '../files/blob-store.js';
import type { Tx } from '../store/store.js';
import type { CreditFact } from '../store/work-store.js';
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

/** What validation needs of a work unit's results, read before its rules run. */
interface Loaded {
  /** Each success's candidate; undefined when its output cannot be read (it agrees with nothing). */
  candidates: Map<number, Candidate | undefined>;
  /** Results validation met unreadable: forfeited once the plan is made. */
  unreadable: Set<number>;
}

export interface TransitionerOptions {
  /** Count at most one result per user in a quorum (and so never send two replicas to one user). */
  distinctUsers: boolean;
  /** Right answers to checks in a row after which a distrusted host is trusted again. */
  trustThreshold: number;
  /** A caught host's earlier results are re-checked after a random delay of up to this. */
  recheckDelayMs: number;
  random: () => number;
}

/**
 * A report's regular work units, open or done (a done one's new results are checks), locked and
 * read at once (transitionAll). Each is served to its own turn of the loop only, and none once
 * anything wider than judging one such work unit has run (a sentinel, a check that did more than
 * pass a trusted host, a caught host, another work unit judged in between) until those still to
 * come are read again: what that wrote may be what an entry read before.
 */
interface ReadAhead {
  rows: Map<number, { wu: Workunit; replicas: Replica[] }>;
  /** What granting their credit reads, of the same work units, read with them. */
  facts: Map<number, CreditFact[]>;
  /** Batches seen with no open sentinel: judging a report opens none. */
  noSentinels: Set<number>;
  /** The work unit whose turn it is. */
  next: number | undefined;
  stale: boolean;
}

export class Transitioner {
  private readonly apps = new Map<number, AppPolicy>();
  /** Per transaction (its Tx): at most one read-ahead at a time. */
  private readonly readAhead = new WeakMap<Tx, ReadAhead>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly credit: CreditGranter,
    private readonly quotas: QuotaKeeper,
    private readonly options: TransitionerOptions,
  ) {}

  /**
   * The ledger's turn, then the work unit's lock. Judging may append to the ledger while holding
   * work units, so a transaction that took a work unit and then waited for the turn could wait on
   * one that holds the turn and waits for that work unit (PostgreSQL broke such deadlocks between
   * a group of messages and the host re-check by failing one: "internal, try again"). Taking the
   * turn first orders every judging transaction the same way; SQLite's one writer has it already.
   */
  private async lock(tx: Tx, workunitId: number) {
    await tx.ledger.takeTurn();
    return tx.work.lockWorkunit(workunitId);
  }

  /**
   * Transitions the work units, in the order given, as transition does each: those open for
   * validation locked and read in two statements for all of them, not two each.
   */
  async transitionAll(tx: Tx, workunitIds: Iterable<number>, now: number, outbox: Outbox): Promise<void> {
    const ids = [...workunitIds];
    if (ids.length < 2 || this.readAhead.has(tx)) {
      for (const id of ids) await this.transition(tx, id, now, outbox);
      return;
    }
    await tx.ledger.takeTurn();
    const ahead: ReadAhead = { ...(await this.readOpen(tx, ids)), noSentinels: new Set(), next: undefined, stale: false };
    // Whether the open work units' batches have open sentinels (what finishing one of them asks),
    // read before judging writes anything: asked in between, it would send the writes held so far.
    const open = new Set([...ahead.rows.values()].filter((r) => r.wu.status === 'active').map((r) => r.wu.batchId));
    for (const batchId of open) if ((await tx.work.openSentinelsOfBatch(batchId)).length === 0) ahead.noSentinels.add(batchId);
    // Likewise what granting credit reads once a transaction: the ledger's end, the apps' caps.
    if (ahead.rows.size > 0) {
      await tx.ledger.head();
      for (const appId of new Set([...ahead.rows.values()].map((r) => r.wu.appId))) await tx.catalog.creditCapOfApp(appId);
    }
    this.readAhead.set(tx, ahead);
    try {
      // Nothing here reads a holder's totals or a quota level, nor opens a savepoint; so the loop
      // reads nothing for a plain verdict, and on PostgreSQL its writes go together at its end.
      await this.quotas.stepsAfter(tx, () => this.credit.totalsOnce(tx, async () => {
        for (const [i, id] of ids.entries()) {
          // After a wider step the open ones still to come are read again, together: one check in a
          // report must not cost every work unit after it two statements of its own.
          if (ahead.stale && ahead.rows.has(id)) {
            Object.assign(ahead, await this.readOpen(tx, ids.slice(i).filter((later) => ahead.rows.has(later))));
            ahead.stale = false;
          }
          ahead.next = id;
          await this.transition(tx, id, now, outbox);
        }
      }));
    } finally {
      this.readAhead.delete(tx);
    }
  }

  /**
   * The regular work units among ids open for validation or done (their checks' turn), locked
   * and read with their replicas and credit facts, and the recent averages of whom those would credit.
   */
  private async readOpen(tx: Tx, ids: readonly number[]): Promise<Pick<ReadAhead, 'rows' | 'facts'>> {
    const rows = await tx.work.lockWorkunitsWithReplicas(ids);
    for (const [id, row] of rows) if (!['active', 'done'].includes(row.wu.status) || row.wu.expectedOutputHash !== null) rows.delete(id);
    const facts = await tx.work.creditFactsOf([...rows.keys()]);
    const holders = [...facts.values()].flat().flatMap((f) => (f.holder ? [f.holder] : []));
    await tx.identities.knowAverages('hosts', holders.map((h) => h.hostId));
    await tx.identities.knowAverages('users', holders.map((h) => h.userId));
    await tx.identities.knowAverages('teams', holders.flatMap((h) => (h.teamId === null ? [] : [h.teamId])));
    return { rows, facts };
  }

  /** The work unit as transitionAll read it, if it may be used for this turn; else none until it is read again. */
  private readAheadFor(tx: Tx, workunitId: number): { wu: Workunit; replicas: Replica[]; facts: CreditFact[] } | undefined {
    const ahead = this.readAhead.get(tx);
    if (!ahead) return undefined;
    const row = ahead.next === workunitId && !ahead.stale ? ahead.rows.get(workunitId) : undefined;
    ahead.next = undefined;
    if (!row) ahead.stale = true;
    return row && { ...row, facts: ahead.facts.get(workunitId) ?? [] };
  }

  private readAheadIsStale(tx: Tx): void {
    const ahead = this.readAhead.get(tx);
    if (ahead) ahead.stale = true;
  }

  async transition(tx: Tx, workunitId: number, now: number, outbox: Outbox): Promise<void> {
    const ahead = this.readAheadFor(tx, workunitId);
    // Locked first: instances judging one work unit at once take turns, each seeing the last's results.
    const wu = ahead?.wu ?? (await this.lock(tx, workunitId));
    if (!wu) return;
    outbox.batchChanged(wu.batchId);
    // A work unit retried starts again: what came before counts for nothing.
    const replicas = (ahead?.replicas ?? (await tx.work.replicasOf(workunitId))).filter((r) => r.id > wu.retryFrom);
    const app = await this.app(tx, wu.appId);
    if (wu.expectedOutputHash !== null) return await this.judgeSentinel(tx, app, wu, replicas, now, outbox);
    if (wu.status === 'done') return await this.judgeChecks(tx, app, wu, replicas, now, outbox, ahead?.facts);
    // Only an open work unit is validated: a finished one's outputs (up to 64 MiB each) stay unread.
    const loaded = wu.status === 'active' ? await this.load(tx, app, replicas) : { candidates: new Map(), unreadable: new Set<number>() };
    const plan = planTransition(wu, replicas, now, (successes) => this.validate(app, wu, successes, loaded));
    await this.forfeitUnreadable(tx, replicas, loaded);
    // The facts read ahead hold while no result has been forfeited since.
    const facts = loaded.unreadable.size === 0 && plan.forfeit.length === 0 ? ahead?.facts : undefined;
    await this.apply(tx, wu, replicas, plan, now, outbox, facts);
  }

  /** Transitions work units whose replicas missed their deadline. Returns how many it handled. */
  async sweepDeadlines(tx: Tx, now: number, outbox: Outbox, limit = 500): Promise<number> {
    const ids = await tx.work.workunitsWithExpiredReplicas(now, limit);
    for (const id of ids) await this.transition(tx, id, now, outbox);
    return ids.length;
  }

  /**
   * Takes back what a caught host's (and any distrusted host's) results decided in a work unit: their valid results become
   * invalid and lose their credit, then the rest is validated again. If the rest still holds a
   * quorum, the work unit stays done (perhaps with another canonical result); if not, it is open
   * again and gets new replicas — or, in a cancelled batch, it fails.
   */
  async withdraw(tx: Tx, workunitId: number, caughtHostId: number, now: number, outbox: Outbox): Promise<void> {
    const { work } = tx;
    this.readAheadIsStale(tx);
    const wu = await this.lock(tx, workunitId);
    if (!wu || wu.expectedOutputHash !== null) return;
    outbox.batchChanged(wu.batchId);
    const replicas = await work.replicasOf(workunitId);
    // The caught host counts as distrusted even if it has earned its trust back since.
    const distrusted = new Set(replicas.filter((r) => r.hostDistrusted || (r.hostId !== null && r.hostId === caughtHostId)).map((r) => r.id));
    for (const r of replicas) {
      if (!distrusted.has(r.id) || r.validateState !== 'valid') continue;
      await work.forfeit(r.id);
      await this.credit.revoke(tx, wu.id, r.id, r.hostId!, now, outbox);
    }
    if (wu.status !== 'done') return;

    const rest = replicas.filter((r) => r.outcome === 'success' && !r.forfeited && !distrusted.has(r.id));
    // Judged at the submitted quorum: adaptive replication's quorum of 1 rested on trust, and a
    // work unit a caught host took part in gets none.
    const full = { ...wu, minQuorum: wu.submittedQuorum };
    let verdict: Verdict = { kind: 'inconclusive', largestGroup: 0 };
    if (rest.length >= full.minQuorum) {
      const app = await this.app(tx, wu.appId);
      const loaded = await this.load(tx, app, rest);
      verdict = this.validate(app, full, rest, loaded);
      await this.forfeitUnreadable(tx, rest, loaded);
    }
    if (verdict.kind === 'canonical') {
      if (verdict.canonicalId !== wu.canonicalReplicaId) await work.setCanonical(wu.id, verdict.canonicalId);
      await this.settle(tx, wu, rest, verdict, now, outbox);
      return;
    }
    // Too little is left: open again, as if the cheaters' answers had never come.
    for (const r of rest) await work.setValidateState(r.id, 'pending');
    await work.reopenWorkunit(wu.id);
    if (await work.batchIsActive(wu.batchId)) await this.transition(tx, wu.id, now, outbox);
    else await work.finishWorkunit(wu.id, 'failed', null, 'its canonical result was withdrawn (a host in its quorum was caught cheating) after the batch was cancelled', now);
  }

  private async app(tx: Tx, appId: number): Promise<AppPolicy> {
    let app = this.apps.get(appId);
    if (!app) {
      app = await tx.catalog.appById(appId);
      if (!app) throw new Error(`app ${appId} does not exist`);
      this.apps.set(appId, app);
    }
    return app;
  }

  /** Undefined when the output cannot be read: such a result agrees with nothing. */
  private async candidate(tx: Tx, app: AppPolicy, r: Replica): Promise<Candidate | undefined> {
    const candidate: Candidate = {
      replicaId: r.id,
      hostId: r.hostId ?? -r.id,
      userId: r.userId ?? -r.id,
      outputHash: r.outputHash ?? '',
      output: undefined,
    };
    // Only tolerance comparison looks inside outputs; exact compares canonical hashes.
    if (app.validation.mode === 'tolerance') {
      const loaded = await this.loadOutput(tx, r.id);
      if (!loaded.ok) return undefined;
      candidate.output = loaded.output;
    }
    return candidate;
  }

  /** The candidates validation compares, read before the rules run (they do no I/O). */
  private async load(tx: Tx, app: AppPolicy, replicas: Replica[]): Promise<Loaded> {
    const candidates = new Map<number, Candidate | undefined>();
    for (const r of replicas) if (r.outcome === 'success') candidates.set(r.id, await this.candidate(tx, app, r));
    return { candidates, unreadable: new Set() };
  }

  private validate(app: AppPolicy, wu: Pick<Workunit, 'minQuorum'>, successes: Replica[], loaded: Loaded): Verdict {
    const candidates: Candidate[] = [];
    for (const r of successes) {
      const candidate = loaded.candidates.get(r.id);
      if (candidate) candidates.push(candidate);
      else loaded.unreadable.add(r.id);
    }
    return findQuorum(candidates, { minQuorum: wu.minQuorum, distinctUsers: this.options.distinctUsers }, app.validation);
  }

  /**
   * One host's unreadable output (stored before uploads were checked, or its file gone) must not
   * stop the others' results: it is invalid for good and never counted again.
   */
  private async forfeitUnreadable(tx: Tx, replicas: Replica[], loaded: Loaded): Promise<void> {
    for (const r of replicas) {
      if (!loaded.unreadable.has(r.id)) continue;
      await tx.work.forfeit(r.id);
      if (r.hostId !== null) {
        await tx.identities.recordInvalid(r.hostId);
        await this.quotas.failed(tx, r.hostId);
      }
    }
  }

  private async loadOutput(tx: Tx, replicaId: number): Promise<{ ok: true; output: unknown } | { ok: false }> {
    const { outputJson, outputHash } = await tx.work.output(replicaId);
    try {
      if (outputJson !== null) return { ok: true, output: JSON.parse(outputJson) };
      if (outputHash !== null) return { ok: true, output: JSON.parse(this.blobs.read(outputHash).toString('utf8')) };
    } catch {
      return { ok: false };
    }
    return { ok: true, output: undefined };
  }

  private async apply(tx: Tx, wu: Workunit, replicas: Replica[], plan: TransitionPlan, now: number, outbox: Outbox, factsBefore?: CreditFact[]): Promise<void> {
    const { work } = tx;
    await this.expire(tx, plan.expire);
    for (const id of plan.forfeit) await work.forfeit(id);
    if (plan.verdict) await this.settle(tx, wu, replicas, plan.verdict, now, outbox, factsBefore);
    if (plan.finish) {
      const reason = plan.finish.status === 'failed' ? plan.finish.reason : null;
      await work.finishWorkunit(wu.id, plan.finish.status, plan.verdict?.canonicalId ?? null, reason, now);
    }
    const abortReason = plan.finish
      ? plan.finish.status === 'done'
        ? NOT_NEEDED
        : `work unit failed: ${plan.finish.reason}`
      : `work unit ${wu.status}`;
    await this.stop(tx, plan.abort, plan.cancelUnsent, abortReason, outbox);
    if (plan.create > 0) {
      await work.insertReplicas(wu.id, wu.priority, plan.create, now, 'regular');
      outbox.workAvailable();
    }
    if (plan.finish) await this.finishSentinelsIfDone(tx, wu.batchId, now, outbox);
  }

  /**
   * Records a verdict: validate states, trust and credit. Idempotent for replicas already settled.
   * factsBefore: the work unit's credit facts as read with `replicas`, if nothing changed them since.
   */
  private async settle(tx: Tx, wu: Workunit, replicas: Replica[], verdict: Extract<Verdict, { kind: 'canonical' }>, now: number, outbox: Outbox, factsBefore?: CreditFact[]): Promise<void> {
    const { work, identities } = tx;
    const byId = new Map(replicas.map((r) => [r.id, r]));
    // A single unchecked result (adaptive replication) says nothing about a host's reliability.
    const checked = wu.minQuorum > 1 ? 1 : 0;
    const newlyValid = verdict.valid.filter((id) => byId.get(id)!.validateState !== 'valid');
    await work.setValidateStates(newlyValid, 'valid'); // perhaps invalid before, outvoted by a cheater
    for (const id of verdict.invalid) {
      const r = byId.get(id)!;
      if (r.validateState === 'invalid') continue;
      // Valid once, in a verdict a caught cheater was part of: its credit goes.
      await this.credit.revoke(tx, wu.id, id, r.hostId!, now, outbox);
      await work.setValidateState(id, 'invalid');
      await identities.recordInvalid(r.hostId!);
      await this.quotas.failed(tx, r.hostId!);
      // It lost its quorum vote while its host's results counted (a quorum never counts a caught
      // host's): its host is told, once (host-verdicts.ts). Not again after a work unit reopened
      // and judged anew: a second word would say that a partner had been caught.
      if (r.hostDistrusted || r.forfeited) continue;
      const taskId = await work.markLostQuorum(id);
      if (taskId !== undefined) outbox.judged(r.hostId!, taskId, 'invalid');
    }
    // Read once every validate state is written (the grant rests on which are valid): whether
    // each result was granted before, and all the grant needs. Or, when nothing was taken back,
    // known without reading: as read before, with the verdict's valid results now valid.
    const facts = factsBefore && verdict.invalid.length === 0 ? validAfter(factsBefore, byId, verdict.valid) : await this.credit.facts(tx, wu.id);
    const granted = new Set(facts.filter((f) => f.granted).map((f) => f.replicaId));
    // A result validated again after its work unit was reopened raised trust the first time.
    const trusted = newlyValid.filter((id) => !granted.has(id)).map((id) => byId.get(id)!.hostId!);
    await identities.recordValidOfHosts(trusted, checked);
    for (const hostId of trusted) await this.quotas.valid(tx, hostId, wu.appId);
    await this.credit.grant(tx, wu, verdict.valid.map((id) => ({ replicaId: id, hostId: byId.get(id)!.hostId! })), now, outbox, facts);
  }

  private async judgeSentinel(tx: Tx, app: AppPolicy, wu: Workunit, replicas: Replica[], now: number, outbox: Outbox): Promise<void> {
    const { work } = tx;
    const expected = await this.expectedCandidate(tx, app, wu);
    const loaded = await this.load(tx, app, replicas);
    const matches = (r: Replica): boolean => {
      const candidate = loaded.candidates.get(r.id);
      return candidate !== undefined && outputsAgree(app.validation, expected, candidate);
    };
    const plan = planSentinel(wu, replicas, now, matches, (await work.hasOpenRegularWork(wu.batchId)), this.options.distinctUsers);
    await this.expire(tx, plan.expire);
    const byId = new Map(replicas.map((r) => [r.id, r]));
    const caught = await this.judge(tx, plan.judged.map((j) => ({ replica: byId.get(j.id)!, right: j.right })), wu.appId, now);
    if (plan.create > 0) {
      await work.insertReplicas(wu.id, wu.priority, plan.create, now, 'sentinel');
      outbox.workAvailable();
    }
    if (plan.finish) {
      await work.finishWorkunit(wu.id, 'done', plan.finish.canonicalId, null, now);
      await this.credit.grant(tx, wu, plan.finish.credited.map((id) => ({ replicaId: id, hostId: byId.get(id)!.hostId! })), now, outbox);
    }
    await this.stop(tx, plan.abort, plan.cancelUnsent, NOT_NEEDED, outbox);
    // Last, so that the work units it touches see this sentinel settled.
    for (const hostId of caught) await this.catchHost(tx, hostId, now, outbox);
  }

  /** factsBefore: the work unit's credit facts as read with `replicas` (read ahead), if nothing changed them since. */
  private async judgeChecks(tx: Tx, app: AppPolicy, wu: Workunit, replicas: Replica[], now: number, outbox: Outbox, factsBefore?: CreditFact[]): Promise<void> {
    const { work, identities } = tx;
    const byId = new Map(replicas.map((r) => [r.id, r]));
    const canonical = await this.candidate(tx, app, byId.get(wu.canonicalReplicaId!)!);
    // An unreadable output agrees with nothing (validation then counts it for nothing).
    const loaded = await this.load(tx, app, replicas);
    const agrees = (r: Replica) => {
      const candidate = loaded.candidates.get(r.id);
      return canonical !== undefined && candidate !== undefined && outputsAgree(app.validation, canonical, candidate);
    };
    const plan = planChecks(wu, replicas, now, agrees, (successes, minQuorum) => this.validate(app, { minQuorum }, successes, loaded));
    await this.forfeitUnreadable(tx, replicas, loaded);
    await this.expire(tx, plan.expire);
    const caught = (await this.judge(tx, 
      [...plan.judgedDistrusted.map((j) => ({ replica: byId.get(j.id)!, right: j.right })),
        ...plan.passed.map((id) => ({ replica: byId.get(id)!, right: true })),
        ...plan.failed.map((id) => ({ replica: byId.get(id)!, right: false }))],
      wu.appId,
      now,
    ));
    const credited = plan.passed.filter((id) => !byId.get(id)!.hostDistrusted);
    // Checks of trusted hosts that agreed, and nothing else: nothing another work unit reads has
    // changed, nor has anything of this one but the passed checks' validity (validAfter).
    const plain = !plan.overturn && caught.size === 0 && loaded.unreadable.size === 0 &&
      [plan.failed, plan.judgedDistrusted, plan.unsettled, plan.expire, plan.abort, plan.cancelUnsent].every((ids) => ids.length === 0) && plan.create === 0;
    if (!plain) this.readAheadIsStale(tx);
    if (plan.overturn) {
      // The answer that had been accepted lost: every result is judged again by the new verdict.
      const { valid, invalid, canonicalId } = plan.overturn;
      for (const id of invalid) {
        const r = byId.get(id)!;
        if (r.validateState === 'invalid') continue;
        if (r.validateState === 'valid') await this.credit.revoke(tx, wu.id, id, r.hostId!, now, outbox);
        await work.setValidateState(id, 'invalid');
        caught.add(r.hostId!);
      }
      for (const id of valid) {
        const r = byId.get(id)!;
        if (r.validateState === 'valid') continue;
        await work.setValidateState(id, 'valid');
        if (r.kind === 'check') await identities.recordCheckPassed(r.hostId!, this.options.trustThreshold, r.hostDistrusted);
        else if (!(await tx.ledger.hasGrant(id))) await identities.recordValid(r.hostId!, 1);
        await this.quotas.valid(tx, r.hostId!, wu.appId);
      }
      credited.push(...valid);
      await work.setCanonical(wu.id, canonicalId);
    }
    for (const id of plan.unsettled) await work.setValidateState(id, 'invalid');
    const facts = plain && factsBefore ? validAfter(factsBefore, byId, credited) : undefined;
    await this.credit.grant(tx, wu, credited.map((id) => ({ replicaId: id, hostId: byId.get(id)!.hostId! })), now, outbox, facts);
    // Arbiters go out ahead of the work unit's peers: a dispute holds results and credit back.
    if (plan.create > 0) {
      await work.insertReplicas(wu.id, wu.priority + 1, plan.create, now, 'check');
      outbox.workAvailable();
    }
    await this.stop(tx, plan.abort, plan.cancelUnsent, NOT_NEEDED, outbox);
    for (const hostId of caught) await this.catchHost(tx, hostId, now, outbox);
  }

  /**
   * Records answers to checks: a right one is valid and counts towards trust; a wrong one is
   * invalid and catches its host (returned, to be caught once the caller is done). A distrusted
   * host's answers count only towards its way back: its results are forfeited either way.
   */
  private async judge(tx: Tx, answers: { replica: Replica; right: boolean }[], appId: number, now: number): Promise<Set<number>> {
    const { work, identities } = tx;
    // A wrong answer, or any of a distrusted host's, may change whether the host is trusted, which
    // every work unit it has a result in reads. A right one of a trusted host changes nothing
    // those read (its counts of checks and valid results): what was read ahead still holds.
    if (answers.some(({ replica: r, right }) => !right || r.hostDistrusted)) this.readAheadIsStale(tx);
    const caught = new Set<number>();
    for (const { replica: r, right } of answers) {
      const hostId = r.hostId!;
      if (r.hostDistrusted) await work.forfeit(r.id);
      else if (right) await work.setValidateStates([r.id], 'valid');
      else await work.setValidateState(r.id, 'invalid');
      if (right) {
        await identities.recordCheckPassed(hostId, this.options.trustThreshold, r.hostDistrusted);
        await this.quotas.valid(tx, hostId, appId);
      } else if (r.hostDistrusted) await identities.recordCheckFailed(hostId, now, now);
      else caught.add(hostId);
    }
    return caught;
  }

  /**
   * A host failed a check. Nothing it can see changes: its tasks stay with it and keep coming in
   * the same mix, so that being caught tells it nothing about which task was a check. But its
   * results no longer count: those waiting for a quorum are forfeited (no credit), its tasks out
   * are replaced once it reports them or they expire (not before: see transition-rules.ts), and
   * after a random delay a background job re-checks what its results decided.
   */
  private async catchHost(tx: Tx, hostId: number, now: number, outbox: Outbox): Promise<void> {
    const { work, identities } = tx;
    this.readAheadIsStale(tx);
    await identities.recordCheckFailed(hostId, now, now + Math.floor(this.options.random() * this.options.recheckDelayMs));
    outbox.hostDistrusted(hostId);
    const touched = new Set<number>();
    for (const r of (await work.pendingOfHost(hostId))) {
      await work.forfeit(r.replicaId);
      // Pending again after a reopened work unit, it may still hold its first credit.
      await this.credit.revoke(tx, r.workunitId, r.replicaId, hostId, now, outbox);
      touched.add(r.workunitId);
    }
    for (const r of (await work.inProgressWithWorkunitOfHost(hostId))) touched.add(r.workunitId);
    for (const id of touched) await this.transition(tx, id, now, outbox);
  }

  /** Tasks past their deadline, or held without progress past the hold timeout: over, "no reply", and their hosts' quotas halved. */
  private async expire(tx: Tx, replicaIds: number[]): Promise<void> {
    for (const id of replicaIds) {
      const { changed, hostId } = await tx.work.endReplica(id, 'in_progress', 'no_reply');
      if (changed && hostId !== null) await this.quotas.failed(tx, hostId);
    }
  }

  private async expectedCandidate(tx: Tx, app: AppPolicy, wu: Workunit): Promise<Candidate> {
    const json = await tx.work.expectedOutputJson(wu.id);
    return {
      replicaId: 0,
      hostId: 0,
      userId: 0,
      outputHash: wu.expectedOutputHash!,
      output: app.validation.mode === 'tolerance' && json !== null ? JSON.parse(json) : undefined,
    };
  }

  /** Sentinels finish when the rest of their batch has. */
  private async finishSentinelsIfDone(tx: Tx, batchId: number, now: number, outbox: Outbox): Promise<void> {
    const { work } = tx;
    const noSentinels = this.readAhead.get(tx)?.noSentinels;
    if (noSentinels?.has(batchId)) return;
    // Its open sentinels first: most batches have none, found in a small index, while asking for
    // open regular work walks the batch's index entries of work units finished since the last vacuum.
    const sentinels = await work.openSentinelsOfBatch(batchId);
    if (sentinels.length === 0) noSentinels?.add(batchId);
    if (sentinels.length === 0 || (await work.hasOpenRegularWork(batchId))) return;
    for (const id of sentinels) await this.transition(tx, id, now, outbox);
  }

  private async stop(tx: Tx, abort: number[], cancelUnsent: number[], reason: string, outbox: Outbox): Promise<void> {
    const { work } = tx;
    for (const id of abort) {
      const { changed, hostId, taskId } = await work.endReplica(id, 'in_progress', 'aborted');
      if (changed && hostId !== null && taskId !== null) outbox.abort(hostId, taskId, reason);
    }
    for (const id of cancelUnsent) await work.endReplica(id, 'unsent', 'not_needed');
  }
}

/**
 * A work unit's credit facts as creditFacts would read them once `valid` are set valid: each
 * counts as valid when its state is, and its result was not forfeited nor its host distrusted.
 */
function validAfter(before: CreditFact[], byId: ReadonlyMap<number, Replica>, valid: readonly number[]): CreditFact[] {
  const nowValid = new Set(valid);
  return before.map((f) => {
    const r = byId.get(f.replicaId);
    // Before the work unit's retry: nothing here changes it.
    if (!r) return f;
    const state = nowValid.has(r.id) ? 'valid' : r.validateState;
    return { ...f, valid: state === 'valid' && !r.forfeited && !r.hostDistrusted };
  });
}
