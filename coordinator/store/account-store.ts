// Researcher and admin accounts, their web sessions and API tokens. Secrets are stored only
// as hashes; the callers hash.
import type { Database, Statement } from 'better-sqlite3';

export type Role = 'researcher' | 'admin';

export interface AccountRecord {
  id: number;
  name: string;
  role: Role;
  disabled: boolean;
  createdAt: number;
}

export interface SessionRecord {
  account: AccountRecord;
  csrfToken: string;
  expiresAt: number;
}

export interface TokenRecord {
  id: number;
  name: string;
  createdAt: number;
  lastUsedAt: number | null;
}

interface AccountRow {
  id: number;
  name: string;
  role: Role;
  disabled: number;
  created_at: number;
}

const toAccount = (r: AccountRow): AccountRecord => ({ id: r.id, name: r.name, role: r.role, disabled: r.disabled === 1, createdAt: r.created_at });

const ACCOUNT_COLUMNS = 'a.id, a.name, a.role, a.disabled, a.created_at';

export class AccountStore {
  private readonly s: Record<string, Statement>;

  constructor(db: Database) {
    this.s = {
      count: db.prepare('SELECT COUNT(*) AS n FROM researchers'),
      insert: db.prepare('INSERT INTO researchers (name, role, password_hash, created_at) VALUES (?, ?, ?, ?)'),
      byId: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM researchers a WHERE a.id = ?`),
      byName: db.prepare(`SELECT ${ACCOUNT_COLUMNS}, a.password_hash FROM researchers a WHERE a.name = ?`),
      passwordHash: db.prepare('SELECT password_hash FROM researchers WHERE id = ?'),
      all: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM researchers a ORDER BY a.name`),
      setPassword: db.prepare('UPDATE researchers SET password_hash = ? WHERE id = ?'),
      setDisabled: db.prepare('UPDATE researchers SET disabled = ? WHERE id = ?'),
      setRole: db.prepare('UPDATE researchers SET role = ? WHERE id = ?'),
      insertSession: db.prepare('INSERT INTO sessions (token_hash, researcher_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)'),
      session: db.prepare(`SELECT ${ACCOUNT_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s
        JOIN researchers a ON a.id = s.researcher_id WHERE s.token_hash = ? AND s.expires_at > ? AND a.disabled = 0`),
      deleteSession: db.prepare('DELETE FROM sessions WHERE token_hash = ?'),
      deleteSessionsOf: db.prepare('DELETE FROM sessions WHERE researcher_id = ? AND token_hash <> ?'),
      deleteExpiredSessions: db.prepare('DELETE FROM sessions WHERE expires_at <= ?'),
      insertToken: db.prepare('INSERT INTO api_tokens (token_hash, researcher_id, name, created_at) VALUES (?, ?, ?, ?)'),
      token: db.prepare(`SELECT ${ACCOUNT_COLUMNS}, t.id AS token_id FROM api_tokens t
        JOIN researchers a ON a.id = t.researcher_id WHERE t.token_hash = ? AND a.disabled = 0`),
      // At most one write a minute per token, not one per request.
      touchToken: db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ? - 60000)'),
      tokensOf: db.prepare('SELECT id, name, created_at, last_used_at FROM api_tokens WHERE researcher_id = ? ORDER BY id'),
      deleteToken: db.prepare('DELETE FROM api_tokens WHERE id = ? AND researcher_id = ?'),
      deleteTokensOf: db.prepare('DELETE FROM api_tokens WHERE researcher_id = ?'),
    };
  }

  count(): number {
    return (this.s.count!.get() as { n: number }).n;
  }

  insert(a: { name: string; role: Role; passwordHash: string; now: number }): number {
    return Number(this.s.insert!.run(a.name, a.role, a.passwordHash, a.now).lastInsertRowid);
  }

  byId(id: number): AccountRecord | undefined {
    const row = this.s.byId!.get(id) as AccountRow | undefined;
    return row && toAccount(row);
  }

  /** Names are compared case-insensitively. */
  byName(name: string): (AccountRecord & { passwordHash: string }) | undefined {
    const row = this.s.byName!.get(name) as (AccountRow & { password_hash: string }) | undefined;
    return row && { ...toAccount(row), passwordHash: row.password_hash };
  }

  passwordHash(id: number): string | undefined {
    return (this.s.passwordHash!.get(id) as { password_hash: string } | undefined)?.password_hash;
  }

  all(): AccountRecord[] {
    return (this.s.all!.all() as AccountRow[]).map(toAccount);
  }

  setPassword(id: number, passwordHash: string): void {
    this.s.setPassword!.run(passwordHash, id);
  }

  setDisabled(id: number, disabled: boolean): void {
    this.s.setDisabled!.run(disabled ? 1 : 0, id);
  }

  setRole(id: number, role: Role): void {
    this.s.setRole!.run(role, id);
  }

  insertSession(s: { tokenHash: string; accountId: number; csrfToken: string; now: number; expiresAt: number }): void {
    this.s.insertSession!.run(s.tokenHash, s.accountId, s.csrfToken, s.now, s.expiresAt);
  }

  /** A live session of an enabled account. */
  session(tokenHash: string, now: number): SessionRecord | undefined {
    const row = this.s.session!.get(tokenHash, now) as (AccountRow & { csrf_token: string; expires_at: number }) | undefined;
    return row && { account: toAccount(row), csrfToken: row.csrf_token, expiresAt: row.expires_at };
  }

  deleteSession(tokenHash: string): void {
    this.s.deleteSession!.run(tokenHash);
  }

  /** Ends every session of the account but the one given ('' for all). */
  deleteSessionsOf(accountId: number, keepTokenHash = ''): void {
    this.s.deleteSessionsOf!.run(accountId, keepTokenHash);
  }

  deleteExpiredSessions(now: number): number {
    return this.s.deleteExpiredSessions!.run(now).changes;
  }

  insertToken(t: { tokenHash: string; accountId: number; name: string; now: number }): number {
    return Number(this.s.insertToken!.run(t.tokenHash, t.accountId, t.name, t.now).lastInsertRowid);
  }

  /** The enabled account a token belongs to; records when it was last used. */
  accountByToken(tokenHash: string, now: number): { account: AccountRecord; tokenId: number } | undefined {
    const row = this.s.token!.get(tokenHash) as (AccountRow & { token_id: number }) | undefined;
    if (!row) return undefined;
    this.s.touchToken!.run(now, row.token_id, now);
    return { account: toAccount(row), tokenId: row.token_id };
  }

  tokensOf(accountId: number): TokenRecord[] {
    return (this.s.tokensOf!.all(accountId) as { id: number; name: string; created_at: number; last_used_at: number | null }[]).map((r) => ({
      id: r.id,
      name: r.name,
      createdAt: r.created_at,
      lastUsedAt: r.last_used_at,
    }));
  }

  deleteToken(id: number, accountId: number): boolean {
    return this.s.deleteToken!.run(id, accountId).changes === 1;
  }

  deleteTokensOf(accountId: number): void {
    this.s.deleteTokensOf!.run(accountId);
  }
}
