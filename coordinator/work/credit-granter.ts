// Grants credit to valid replicas: one signed, hash-chained ledger entry per replica, and
// the totals and recent averages of its host, user and team, in the caller's transaction.
import { GENESIS_HASH, ledgerEntryHash } from '../../protocol/ledger.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import type { CoordinatorKey } from '../identity/coordinator-key.js';
import type { Store } from '../store/store.js';
import { addToAverage, creditForFpops } from './credit.js';
import type { Workunit } from './model.js';
import type { Outbox } from './outbox.js';

export class CreditGranter {
  constructor(
    private readonly store: Store,
    private readonly key: CoordinatorKey,
  ) {}

  grant(wu: Workunit, grants: { replicaId: number; hostId: number }[], now: number, outbox: Outbox): void {
    const amount = creditForFpops(wu.fpopsEst);
    const { identities, ledger, work } = this.store;
    for (const { replicaId, hostId } of grants) {
      if (ledger.hasGrant(replicaId)) continue; // written once, whatever retries happen
      const host = identities.hostById(hostId);
      if (!host) throw new Error(`host ${hostId} of replica ${replicaId} does not exist`);
      const head = ledger.head();
      const content = {
        entryId: head.nextId,
        taskId: replicaId,
        workunitId: wu.id,
        hostKey: host.publicKey,
        amount,
        grantedAt: now,
        prevHash: head.prevHash ?? GENESIS_HASH,
      };
      const body = { ...content, entryHash: ledgerEntryHash(content) };
      const receipt: CreditReceipt = { ...body, signature: this.key.sign('creditReceipt', body) };
      ledger.append({ ...receipt, replicaId, hostId, userId: host.userId, teamId: host.teamId });
      work.setCredit(replicaId, amount);
      this.addTo('hosts', host.id, amount, now);
      this.addTo('users', host.userId, amount, now);
      if (host.teamId !== null) this.addTo('teams', host.teamId, amount, now);
      outbox.receipt(host.id, receipt);
    }
  }

  private addTo(holder: 'hosts' | 'users' | 'teams', id: number, amount: number, now: number): void {
    const avg = addToAverage(this.store.identities.creditAverage(holder, id), amount, now);
    this.store.identities.addCredit(holder, id, amount, avg);
  }
}
