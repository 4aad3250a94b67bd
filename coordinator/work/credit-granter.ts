// Grants credit to valid replicas, and takes it back from replicas found invalid afterwards:
// one signed, hash-chained ledger entry per grant or revocation, and the totals and recent
// averages of the host, user and team, in the caller's transaction.
import { creditAmount, GENESIS_HASH, ledgerEntryHash } from '../../protocol/ledger.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { HostRecord } from '../store/identities.js';
import type { Store } from '../store/store.js';
import { addToAverage, microForFpops } from './credit.js';
import type { Workunit } from './model.js';
import type { Outbox } from './outbox.js';

export class CreditGranter {
  constructor(
    private readonly store: Store,
    private readonly key: CoordinatorKey,
  ) {}

  grant(wu: Workunit, grants: { replicaId: number; hostId: number }[], now: number, outbox: Outbox): void {
    const micro = microForFpops(wu.fpopsEst);
    for (const { replicaId, hostId } of grants) {
      if (this.store.ledger.hasGrant(replicaId)) continue; // written once, whatever retries happen
      this.append(wu.id, replicaId, this.host(hostId, replicaId), micro, now, outbox);
      this.store.work.setCredit(replicaId, micro);
    }
  }

  /**
   * Takes back the credit of a replica found invalid after it was granted (its host was caught
   * cheating): an entry of the opposite amount, so the ledger stays append-only and its sums
   * stay the totals. Nothing happens for a replica without an unrevoked grant.
   */
  revoke(workunitId: number, replicaId: number, hostId: number, now: number, outbox: Outbox): void {
    const granted = this.store.ledger.unrevokedGrant(replicaId);
    if (granted === undefined || granted === 0) return;
    this.append(workunitId, replicaId, this.host(hostId, replicaId), -granted, now, outbox);
    this.store.work.setCredit(replicaId, 0);
  }

  private host(hostId: number, replicaId: number): HostRecord {
    const host = this.store.identities.hostById(hostId);
    if (!host) throw new Error(`host ${hostId} of replica ${replicaId} does not exist`);
    return host;
  }

  /** Appends a signed entry of `micro` micro-credits (whole units: sums stay exact). */
  private append(workunitId: number, replicaId: number, host: HostRecord, micro: number, now: number, outbox: Outbox): void {
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
    ledger.append({ ...receipt, replicaId, hostId: host.id, userId: host.userId, teamId: host.teamId, micro });
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
