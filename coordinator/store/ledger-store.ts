// The append-only credit ledger (triggers refuse UPDATE and DELETE). A replica has at most one
// grant (amount >= 0) and, if it was found invalid afterwards, one revocation taking back what it
// still held; corrections (an admin lowered its project's credit cap) take back part of a grant.
// Unique indexes per kind keep grants and revocations to one each, whatever retries happen. Each
// entry keeps the amount it was signed with and its exact units (micro-credits), which are what
// every sum adds up.
import type { SqlExecutor } from './sql/sql.js';
import type { HeldWrite } from './sql/write-behind.js';
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

// Entries from before migration 17 named the task by its replica's id.
const RECEIPT_COLUMNS = `id AS entryId, COALESCE(task_id, replica_id) AS taskId, workunit_id AS workunitId, host_key AS hostKey, amount,
  granted_at AS grantedAt, prev_hash AS prevHash, entry_hash AS entryHash, signature`;

const SQL: Record<string, string> = {
  last: 'SELECT id, entry_hash FROM credit_ledger ORDER BY id DESC LIMIT 1',
  nextId: 'SELECT COALESCE(MAX(id), 0) + 1 AS id FROM credit_ledger',
  insert: `INSERT INTO credit_ledger (id, kind, replica_id, task_id, workunit_id, host_id, host_key, user_id, team_id, amount, micro,
    granted_at, prev_hash, entry_hash, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  // PostgreSQL only (held writes). JSON carries each amount as the shortest text that reads back as the same double.
  insertMany: `INSERT INTO credit_ledger (id, kind, replica_id, task_id, workunit_id, host_id, host_key, user_id, team_id, amount, micro,
    granted_at, prev_hash, entry_hash, signature)
    SELECT j.id, j.kind, j.replica_id, j.task_id, j.workunit_id, j.host_id, j.host_key, j.user_id, j.team_id, j.amount, j.micro,
      j.granted_at, j.prev_hash, j.entry_hash, j.signature
    FROM json_to_recordset(CAST(@rows AS json)) AS j(id BIGINT, kind TEXT, replica_id BIGINT, task_id BIGINT, workunit_id BIGINT, host_id BIGINT,
      host_key TEXT, user_id BIGINT, team_id BIGINT, amount DOUBLE PRECISION, micro BIGINT, granted_at BIGINT, prev_hash TEXT, entry_hash TEXT,
      signature TEXT)
    ORDER BY j.id`,
  granted: "SELECT 1 FROM credit_ledger WHERE replica_id = ? AND kind = 'grant'",
  held: `SELECT SUM(micro) AS net, COUNT(*) FILTER (WHERE kind = 'grant') AS grants, COUNT(*) FILTER (WHERE kind = 'revocation') AS revocations
    FROM credit_ledger WHERE replica_id = ?`,
  after: `SELECT ${RECEIPT_COLUMNS} FROM credit_ledger WHERE id > ? ORDER BY id LIMIT ?`,
  ofHostAfter: `SELECT ${RECEIPT_COLUMNS} FROM credit_ledger WHERE host_id = ? AND id > ? ORDER BY id LIMIT ?`,
  hashBefore: 'SELECT entry_hash FROM credit_ledger WHERE id < ? ORDER BY id DESC LIMIT 1',
};

/** Entries appended, held (PostgreSQL) and inserted in one statement, in the order appended. */
const ENTRIES: HeldWrite<number, LedgerEntry> = {
  name: 'ledger entries',
  async write(sql, held) {
    const rows = [...held.values()].map((e) => ({
      id: e.entryId, kind: e.kind, replica_id: e.replicaId, task_id: e.taskId, workunit_id: e.workunitId, host_id: e.hostId, host_key: e.hostKey,
      user_id: e.userId, team_id: e.teamId, amount: e.amount, micro: e.micro, granted_at: e.grantedAt, prev_hash: e.prevHash, entry_hash: e.entryHash,
      signature: e.signature,
    }));
    await sql.run(SQL.insertMany!, { rows: JSON.stringify(rows) });
  },
};

export interface LedgerHead {
  nextId: number;
  prevHash: string | undefined;
}

const HEAD_MEMO = 'ledger.head';

/** The advisory lock key of the ledger's end on PostgreSQL ("vg-ledger"; the coordinator's own constant). */
const LEDGER_LOCK = 0x76672d6c;

export class LedgerStore {
  constructor(private readonly sql: SqlExecutor) {}

  /**
   * The chain's end, to append to. On PostgreSQL the caller's transaction first takes the
   * ledger's turn (an advisory lock until it ends): instances appending at once would both take
   * the same next entry. One turn for the whole chain is its serial point (see
   * docs/architecture.md: the sequencer that takes it out of message transactions).
   */
  async head(): Promise<LedgerHead> {
    await this.takeTurn();
    // Held by the turn (PostgreSQL) or the one writer (SQLite): the end this transaction read or
    // appended last is still the end. A grant a task costs a read less.
    const known = this.sql.memo?.get(HEAD_MEMO) as LedgerHead | undefined;
    if (known) return known;
    const last = (await this.sql.get(SQL.last!)) as { id: number; entry_hash: string } | undefined;
    const head: LedgerHead = { nextId: (last?.id ?? 0) + 1, prevHash: last?.entry_hash };
    this.sql.memo?.set(HEAD_MEMO, head);
    return head;
  }

  /**
   * Takes the ledger's turn for the rest of the transaction (PostgreSQL; SQLite's one writer has it
   * already). Taken again, it is already held. Take it before reading what a replica holds when
   * what is appended depends on it: another instance may be appending for that replica.
   */
  async takeTurn(): Promise<void> {
    if (this.sql.dialect !== 'postgres') return;
    if (this.sql.advisoryXactLock) await this.sql.advisoryXactLock(LEDGER_LOCK);
    else await this.sql.run(`SELECT pg_advisory_xact_lock(${LEDGER_LOCK})`);
  }

  async hasGrant(replicaId: number): Promise<boolean> {
    return (await this.sql.get(SQL.granted!, [replicaId])) !== undefined;
  }

  /**
   * What a replica holds, in micro-credits, while it has a grant not revoked: the grant less any
   * corrections. Undefined without a grant, or once revoked.
   */
  async unrevokedGrant(replicaId: number): Promise<number | undefined> {
    const r = (await this.sql.get(SQL.held!, [replicaId])) as { net: number | null; grants: number | null; revocations: number | null };
    return r.grants === 1 && r.revocations === 0 ? (r.net ?? 0) : undefined;
  }

  async append(e: LedgerEntry): Promise<void> {
    if (this.sql.hold) this.sql.hold(ENTRIES, e.entryId, e);
    else await this.sql.run(SQL.insert!, [e.entryId, e.kind, e.replicaId, e.taskId, e.workunitId, e.hostId, e.hostKey, e.userId, e.teamId, e.amount, e.micro, e.grantedAt, e.prevHash, e.entryHash, e.signature]);
    this.sql.memo?.set(HEAD_MEMO, { nextId: e.entryId + 1, prevHash: e.entryHash } satisfies LedgerHead);
  }

  async entriesAfter(afterId: number, limit: number): Promise<CreditReceipt[]> {
    return (await this.sql.all(SQL.after!, [afterId, limit])) as CreditReceipt[];
  }

  async entriesOfHostAfter(hostId: number, afterId: number, limit: number): Promise<CreditReceipt[]> {
    return (await this.sql.all(SQL.ofHostAfter!, [hostId, afterId, limit])) as CreditReceipt[];
  }

  /** Hash of the entry before `entryId` (to check a run of entries that starts mid-ledger). */
  async hashBefore(entryId: number): Promise<string | undefined> {
    return ((await this.sql.get(SQL.hashBefore!, [entryId])) as { entry_hash: string } | undefined)?.entry_hash;
  }
}
