// Grants credit to valid replicas, takes it back from replicas found invalid afterwards, and
// brings it down to a project's lowered cap: one signed, hash-chained ledger entry for each, and
// the totals and recent averages of the host, user and team, in the caller's transaction.
import { creditAmount, GENESIS_HASH, ledgerEntryHash } from '../../protocol/ledger.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { HostRecord } from '../store/identities.js';
import type { LedgerKind } from '../store/ledger-store.js';
import type { Store } from '../store/store.js';
import { addToAverage, grantMicro } from './credit.js';
import type { Workunit } from './model.js';
import type { Outbox } from './outbox.js';

export class CreditGranter {
  constructor(
    private readonly store: Store,
    private readonly key: CoordinatorKey,
    /** The most credit per result, in micro-credits, of a project whose admin set no cap. */
    private readonly defaultCapMicro: number,
  ) {}

  /** A project's cap in micro-credits: the one an admin set, or the coordinator's default. */
  effectiveCapMicro(projectCapMicro: number | null): number {
    return projectCapMicro ?? this.defaultCapMicro;
  }

  /**
   * Credits valid replicas, once each: what the work unit's valid results measured, within the
   * researcher's estimate and the project's cap (credit.ts, grantMicro). Call once their
   * validate states are set: the valid ones are what the grant rests on.
   */
  grant(wu: Workunit, grants: { replicaId: number; hostId: number }[], now: number, outbox: Outbox): void {
    // Written once, whatever retries happen.
    const due = grants.filter((g) => !this.store.ledger.hasGrant(g.replicaId));
    if (due.length === 0) return;
    const measured = this.store.work.measuredResults(wu.id);
    const validCpuMs = measured.filter((r) => r.valid).map((r) => r.cpuTimeMs);
    const capMicro = this.effectiveCapMicro(this.store.catalog.creditCapOfApp(wu.appId));
    for (const { replicaId, hostId } of due) {
      const ownCpuMs = measured.find((r) => r.replicaId === replicaId)?.cpuTimeMs ?? 0;
      const micro = grantMicro({ fpopsEst: wu.fpopsEst, ownCpuMs, validCpuMs, capMicro });
      this.append('grant', wu.id, replicaId, this.host(hostId, replicaId), micro, now, outbox);
      this.store.work.setCredit(replicaId, micro);
    }
  }

  /**
   * Takes back the credit of a replica found invalid after it was granted (its host was caught
   * cheating): an entry of the opposite of what it still holds, so the ledger stays append-only
   * and its sums stay the totals. Nothing happens for a replica without an unrevoked grant.
   */
  revoke(workunitId: number, replicaId: number, hostId: number, now: number, outbox: Outbox): void {
    const held = this.store.ledger.unrevokedGrant(replicaId);
    if (held === undefined || held === 0) return;
    this.append('revocation', workunitId, replicaId, this.host(hostId, replicaId), -held, now, outbox);
    this.store.work.setCredit(replicaId, 0);
  }

  /**
   * Brings a replica's credit down to `capMicro` (its project's cap was lowered): an entry taking
   * back the excess. State-based, so running it again changes nothing.
   */
  correct(workunitId: number, replicaId: number, hostId: number, capMicro: number, now: number, outbox: Outbox): void {
    const held = this.store.ledger.unrevokedGrant(replicaId);
    if (held === undefined || held <= capMicro) return;
    this.append('correction', workunitId, replicaId, this.host(hostId, replicaId), capMicro - held, now, outbox);
    this.store.work.setCredit(replicaId, capMicro);
  }

  private host(hostId: number, replicaId: number): HostRecord {
    const host = this.store.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} of replica ${replicaId} does not exist`);
    return host;
  }

  /** Appends a signed entry of `micro` micro-credits (whole units: sums stay exact). */
  private append(kind: LedgerKind, workunitId: number, replicaId: number, host: HostRecord, micro: number, now: number, outbox: Outbox): void {
    if (!Number.isSafeInteger(micro)) throw new Error(`credit of ${micro} micro-credits is not a whole number of them`);
    const { ledger } = this.store;
    const head = ledger.head();
    const content = {
      entryId: head.nextId,
      taskId: replicaId,
      workunitId,
      hostKey: host.publicKey,
      // A decimal number of credits, as receipts have always carried: micro / 10⁶ prints as
      // exactly that decimal, so a client gets the units back with round(amount × 10⁶).
      amount: creditAmount(micro),
      grantedAt: now,
      prevHash: head.prevHash ?? GENESIS_HASH,
    };
    const body = { ...content, entryHash: ledgerEntryHash(content) };
    const receipt: CreditReceipt = { ...body, signature: this.key.sign('creditReceipt', body) };
    ledger.append({ ...receipt, kind, replicaId, hostId: host.id, userId: host.userId, teamId: host.teamId, micro });
    this.addTo('hosts', host.id, micro, now);
    this.addTo('users', host.userId, micro, now);
    if (host.teamId !== null) this.addTo('teams', host.teamId, micro, now);
    outbox.receipt(host.id, receipt);
  }

  private addTo(holder: 'hosts' | 'users' | 'teams', id: number, micro: number, now: number): void {
    const avg = addToAverage(this.store.identities.creditAverage(holder, id), creditAmount(micro), now);
    this.store.identities.addCredit(holder, id, micro, avg);
  }
}
