// The append-only credit ledger (triggers refuse UPDATE and DELETE). A replica has at most one
// grant (amount >= 0) and, if it was found invalid afterwards, one revocation taking back what it
// still held; corrections (an admin lowered its project's credit cap) take back part of a grant.
// Unique indexes per kind keep grants and revocations to one each, whatever retries happen. Each
// entry keeps the amount it was signed with and its exact units (micro-credits), which are what
// every sum adds up.
import type { Database, Statement } from 'better-sqlite3';
import type { CreditReceipt } from '../../protocol/messages.js';

export type LedgerKind = 'grant' | 'revocation' | 'correction';

export interface LedgerEntry extends CreditReceipt {
  kind: LedgerKind;
  replicaId: number;
  hostId: number;
  userId: number;
  teamId: number | null;
  /** The amount in whole micro-credits. */
  micro: number;
}

const RECEIPT_COLUMNS = `id AS entryId, replica_id AS taskId, workunit_id AS workunitId, host_key AS hostKey, amount,
  granted_at AS grantedAt, prev_hash AS prevHash, entry_hash AS entryHash, signature`;

export class LedgerStore {
  private readonly s: Record<string, Statement>;

  constructor(db: Database) {
    this.s = {
      last: db.prepare('SELECT id, entry_hash FROM credit_ledger ORDER BY id DESC LIMIT 1'),
      nextId: db.prepare('SELECT COALESCE(MAX(id), 0) + 1 AS id FROM credit_ledger'),
      insert: db.prepare(`INSERT INTO credit_ledger (id, kind, replica_id, workunit_id, host_id, host_key, user_id, team_id, amount, micro,
        granted_at, prev_hash, entry_hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      granted: db.prepare("SELECT 1 FROM credit_ledger WHERE replica_id = ? AND kind = 'grant'"),
      held: db.prepare(`SELECT SUM(micro) AS net, SUM(kind = 'grant') AS grants, SUM(kind = 'revocation') AS revocations
        FROM credit_ledger WHERE replica_id = ?`),
      after: db.prepare(`SELECT ${RECEIPT_COLUMNS} FROM credit_ledger WHERE id > ? ORDER BY id LIMIT ?`),
      ofHostAfter: db.prepare(`SELECT ${RECEIPT_COLUMNS} FROM credit_ledger WHERE host_id = ? AND id > ? ORDER BY id LIMIT ?`),
      hashBefore: db.prepare('SELECT entry_hash FROM credit_ledger WHERE id < ? ORDER BY id DESC LIMIT 1'),
    };
  }

  /** The id and hash the next entry must link to. */
  head(): { nextId: number; prevHash: string | undefined } {
    const last = this.s.last!.get() as { id: number; entry_hash: string } | undefined;
    return { nextId: (last?.id ?? 0) + 1, prevHash: last?.entry_hash };
  }

  hasGrant(replicaId: number): boolean {
    return this.s.granted!.get(replicaId) !== undefined;
  }

  /**
   * What a replica holds, in micro-credits, while it has a grant not revoked: the grant less any
   * corrections. Undefined without a grant, or once revoked.
   */
  unrevokedGrant(replicaId: number): number | undefined {
    const r = this.s.held!.get(replicaId) as { net: number | null; grants: number | null; revocations: number | null };
    return r.grants === 1 && r.revocations === 0 ? (r.net ?? 0) : undefined;
  }

  append(e: LedgerEntry): void {
    this.s.insert!.run(e.entryId, e.kind, e.replicaId, e.workunitId, e.hostId, e.hostKey, e.userId, e.teamId, e.amount, e.micro, e.grantedAt,
      e.prevHash, e.entryHash, e.signature);
  }

  entriesAfter(afterId: number, limit: number): CreditReceipt[] {
    return this.s.after!.all(afterId, limit) as CreditReceipt[];
  }

  entriesOfHostAfter(hostId: number, afterId: number, limit: number): CreditReceipt[] {
    return this.s.ofHostAfter!.all(hostId, afterId, limit) as CreditReceipt[];
  }

  /** Hash of the entry before `entryId` (to check a run of entries that starts mid-ledger). */
  hashBefore(entryId: number): string | undefined {
    return (this.s.hashBefore!.get(entryId) as { entry_hash: string } | undefined)?.entry_hash;
  }
}
