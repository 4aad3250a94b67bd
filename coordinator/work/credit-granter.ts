// Grants credit to valid replicas, takes it back from replicas found invalid afterwards, and
// brings it down to a project's lowered cap: one signed, hash-chained ledger entry for each, and
// the totals and recent averages of the host, user and team, in the caller's transaction.
import { creditAmount, GENESIS_HASH, ledgerEntryHash } from '../../protocol/ledger.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { CreditFact, CreditHolders } from '../store/work-store.js';
import type { CreditHolder } from '../store/identities.js';
import type { LedgerKind } from '../store/ledger-store.js';
import type { Tx } from '../store/store.js';
import { addToAverage, creditableCpuMs, grantMicro, type Average } from './credit.js';
import type { Workunit } from './model.js';
import type { Outbox } from './outbox.js';

/** Whom an entry credits, and the task id its receipt names. */
type Holders = CreditHolders & { taskId: number };

/** What a holder's totals gain within a run of grants (CreditGranter.totalsOnce): written once at its end. */
interface PendingCredit {
  micro: number;
  avg: Average;
}

export class CreditGranter {
  /** Per transaction (its Tx), while totalsOnce runs: each holder's credit not written yet. */
  private readonly pending = new WeakMap<Tx, Map<CreditHolder, Map<number, PendingCredit>>>();

  constructor(
    private readonly key: CoordinatorKey,
    /** The most credit per result, in micro-credits, of a project whose admin set no cap. */
    private readonly defaultCapMicro: number,
  ) {}

  /**
   * Runs `fn` (which grants, revokes or corrects) with the hosts', users' and teams' totals and
   * averages kept in memory and written at its end, one statement per kind of holder on
   * PostgreSQL rather than one per entry: a report's grants credit its host once for all its
   * results. The averages come out exactly as entry by entry (the same additions, in order).
   * What fn reads of those totals in between is their value before it began, so fn must not
   * read them, and must not open a savepoint (one rolled back would leave its credit here).
   * When fn throws nothing is written: the caller's savepoint undoes what it did.
   */
  async totalsOnce<T>(tx: Tx, fn: () => Promise<T>): Promise<T> {
    if (this.pending.has(tx)) return fn();
    const pending = new Map<CreditHolder, Map<number, PendingCredit>>();
    this.pending.set(tx, pending);
    try {
      const out = await fn();
      for (const [holder, credits] of pending) await tx.identities.addCredits(holder, [...credits].map(([id, c]) => ({ id, ...c })));
      return out;
    } finally {
      this.pending.delete(tx);
    }
  }

  /** A project's cap in micro-credits: the one an admin set, or the coordinator's default. */
  effectiveCapMicro(projectCapMicro: number | null): number {
    return projectCapMicro ?? this.defaultCapMicro;
  }

  /**
   * Credits valid replicas, once each: what the work unit's valid results measured (each within
   * the time its task was out), within the researcher's estimate and the project's cap (credit.ts,
   * creditableCpuMs and grantMicro). Call once their
   * validate states are set: the valid ones are what the grant rests on.
   */
  async grant(tx: Tx, wu: Workunit, grants: { replicaId: number; hostId: number }[], now: number, outbox: Outbox, known?: CreditFact[]): Promise<void> {
    if (grants.length === 0) return;
    // Each result's CPU time no more than its task was out: a claim beyond that is not work done.
    const facts = new Map((known ?? (await this.facts(tx, wu.id))).map((r) => [r.replicaId, { ...r, cpuTimeMs: creditableCpuMs(r) }]));
    // Written once, whatever retries happen.
    const due = grants.filter((g) => facts.get(g.replicaId)?.granted !== true);
    if (due.length === 0) return;
    const validCpuMs = [...facts.values()].filter((r) => r.valid).map((r) => r.cpuTimeMs);
    const capMicro = this.effectiveCapMicro(await tx.catalog.creditCapOfApp(wu.appId));
    const credits: { replicaId: number; micro: number }[] = [];
    for (const { replicaId, hostId } of due) {
      const fact = facts.get(replicaId);
      const micro = grantMicro({ fpopsEst: wu.fpopsEst, ownCpuMs: fact?.cpuTimeMs ?? 0, validCpuMs, capMicro });
      const holders = fact?.holder?.hostId === hostId ? { ...fact.holder, taskId: fact.taskId ?? replicaId } : await this.holders(tx, hostId, replicaId);
      await this.append(tx, 'grant', wu.id, replicaId, holders, micro, now, outbox);
      credits.push({ replicaId, micro });
    }
    await tx.work.setCredits(credits);
  }

  /**
   * What a grant of the work unit's results rests on (creditFacts). Read it once every validate
   * state of the verdict is written: which results are valid is part of it.
   */
  facts(tx: Tx, workunitId: number): Promise<CreditFact[]> {
    return tx.work.creditFacts(workunitId);
  }

  /**
   * Takes back the credit of a replica found invalid after it was granted (its host was caught
   * cheating): an entry of the opposite of what it still holds, so the ledger stays append-only
   * and its sums stay the totals. Nothing happens for a replica without an unrevoked grant.
   */
  async revoke(tx: Tx, workunitId: number, replicaId: number, hostId: number, now: number, outbox: Outbox): Promise<void> {
    // The ledger's turn first: what the replica holds must not change before its entry is appended.
    await tx.ledger.takeTurn();
    const held = await tx.ledger.unrevokedGrant(replicaId);
    if (held === undefined || held === 0) return;
    await this.append(tx, 'revocation', workunitId, replicaId, await this.holders(tx, hostId, replicaId), -held, now, outbox);
    await tx.work.setCredit(replicaId, 0);
  }

  /**
   * Brings a replica's credit down to `capMicro` (its project's cap was lowered): an entry taking
   * back the excess. State-based, so running it again changes nothing.
   */
  async correct(tx: Tx, workunitId: number, replicaId: number, hostId: number, capMicro: number, now: number, outbox: Outbox): Promise<void> {
    await tx.ledger.takeTurn();
    const held = await tx.ledger.unrevokedGrant(replicaId);
    if (held === undefined || held <= capMicro) return;
    await this.append(tx, 'correction', workunitId, replicaId, await this.holders(tx, hostId, replicaId), capMicro - held, now, outbox);
    await tx.work.setCredit(replicaId, capMicro);
  }

  /** Whom a replica's entry credits, and the task id its receipt names. */
  private async holders(tx: Tx, hostId: number, replicaId: number): Promise<Holders> {
    const host = await tx.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} of replica ${replicaId} does not exist`);
    // The id its host knows the task by (task-ids.ts), as every receipt names it.
    const taskId = (await tx.work.taskOfReplica(replicaId))?.taskId ?? replicaId;
    return { hostId: host.id, hostKey: host.publicKey, userId: host.userId, teamId: host.teamId, taskId };
  }

  /** Appends a signed entry of `micro` micro-credits (whole units: sums stay exact). */
  private async append(tx: Tx, kind: LedgerKind, workunitId: number, replicaId: number, to: Holders, micro: number, now: number, outbox: Outbox): Promise<void> {
    if (!Number.isSafeInteger(micro)) throw new Error(`credit of ${micro} micro-credits is not a whole number of them`);
    const { ledger } = tx;
    const head = await ledger.head();
    const content = {
      entryId: head.nextId,
      taskId: to.taskId,
      workunitId,
      hostKey: to.hostKey,
      // A decimal number of credits, as receipts have always carried: micro / 10⁶ prints as
      // exactly that decimal, so a client gets the units back with round(amount × 10⁶).
      amount: creditAmount(micro),
      grantedAt: now,
      prevHash: head.prevHash ?? GENESIS_HASH,
    };
    const body = { ...content, entryHash: ledgerEntryHash(content) };
    const receipt: CreditReceipt = { ...body, signature: this.key.sign('creditReceipt', body) };
    await ledger.append({ ...receipt, kind, replicaId, hostId: to.hostId, userId: to.userId, teamId: to.teamId, micro });
    await this.addTo(tx, 'hosts', to.hostId, micro, now);
    await this.addTo(tx, 'users', to.userId, micro, now);
    if (to.teamId !== null) await this.addTo(tx, 'teams', to.teamId, micro, now);
    outbox.receipt(to.hostId, receipt);
  }

  private async addTo(tx: Tx, holder: CreditHolder, id: number, micro: number, now: number): Promise<void> {
    const held = this.pending.get(tx);
    if (!held) {
      await tx.identities.addCredit(holder, id, micro, addToAverage(await tx.identities.creditAverage(holder, id), creditAmount(micro), now));
      return;
    }
    let ofKind = held.get(holder);
    if (!ofKind) held.set(holder, (ofKind = new Map()));
    const before = ofKind.get(id) ?? { micro: 0, avg: await tx.identities.creditAverage(holder, id) };
    ofKind.set(id, { micro: before.micro + micro, avg: addToAverage(before.avg, creditAmount(micro), now) });
  }
}
