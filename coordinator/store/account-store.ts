// Researcher and admin accounts, their web sessions and API tokens. Secrets are stored only
// as hashes; the callers hash.
import type { SqlExecutor } from './sql/sql.js';

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

/** Accounts' rows, on whichever connection it is given (a transaction's, or the database's). */
export class AccountStore {
  constructor(private readonly sql: SqlExecutor) {}

  async count(): Promise<number> {
    return (await this.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM researchers'))!.n;
  }

  async insert(a: { name: string; role: Role; passwordHash: string; now: number }): Promise<number> {
    const row = await this.sql.get<{ id: number }>('INSERT INTO researchers (name, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id', [a.name, a.role, a.passwordHash, a.now]);
    return row!.id;
  }

  /** Inserts the account only when there is none at all (the first admin); its id, or undefined. */
  async insertFirst(a: { name: string; role: Role; passwordHash: string; now: number }): Promise<number | undefined> {
    const row = await this.sql.get<{ id: number }>(
      'INSERT INTO researchers (name, role, password_hash, created_at) SELECT ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM researchers) RETURNING id',
      [a.name, a.role, a.passwordHash, a.now],
    );
    return row?.id;
  }

  async byId(id: number): Promise<AccountRecord | undefined> {
    const row = await this.sql.get<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM researchers a WHERE a.id = ?`, [id]);
    return row && toAccount(row);
  }

  /** Names are compared case-insensitively. */
  async byName(name: string): Promise<(AccountRecord & { passwordHash: string }) | undefined> {
    const row = await this.sql.get<AccountRow & { password_hash: string }>(`SELECT ${ACCOUNT_COLUMNS}, a.password_hash FROM researchers a WHERE a.name = ?`, [name]);
    return row && { ...toAccount(row), passwordHash: row.password_hash };
  }

  async passwordHash(id: number): Promise<string | undefined> {
    return (await this.sql.get<{ password_hash: string }>('SELECT password_hash FROM researchers WHERE id = ?', [id]))?.password_hash;
  }

  async all(): Promise<AccountRecord[]> {
    return (await this.sql.all<AccountRow>(`SELECT ${ACCOUNT_COLUMNS} FROM researchers a ORDER BY a.name`)).map(toAccount);
  }

  async setPassword(id: number, passwordHash: string): Promise<void> {
    await this.sql.run('UPDATE researchers SET password_hash = ? WHERE id = ?', [passwordHash, id]);
  }

  async setDisabled(id: number, disabled: boolean): Promise<void> {
    await this.sql.run('UPDATE researchers SET disabled = ? WHERE id = ?', [disabled ? 1 : 0, id]);
  }

  async setRole(id: number, role: Role): Promise<void> {
    await this.sql.run('UPDATE researchers SET role = ? WHERE id = ?', [role, id]);
  }

  async insertSession(s: { tokenHash: string; accountId: number; csrfToken: string; now: number; expiresAt: number }): Promise<void> {
    await this.sql.run('INSERT INTO sessions (token_hash, researcher_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)', [s.tokenHash, s.accountId, s.csrfToken, s.now, s.expiresAt]);
  }

  /** A live session of an enabled account. */
  async session(tokenHash: string, now: number): Promise<SessionRecord | undefined> {
    const row = await this.sql.get<AccountRow & { csrf_token: string; expires_at: number }>(
      `SELECT ${ACCOUNT_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s
        JOIN researchers a ON a.id = s.researcher_id WHERE s.token_hash = ? AND s.expires_at > ? AND a.disabled = 0`,
      [tokenHash, now],
    );
    return row && { account: toAccount(row), csrfToken: row.csrf_token, expiresAt: row.expires_at };
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.sql.run('DELETE FROM sessions WHERE token_hash = ?', [tokenHash]);
  }

  /** Ends every session of the account but the one given ('' for all). */
  async deleteSessionsOf(accountId: number, keepTokenHash = ''): Promise<void> {
    await this.sql.run('DELETE FROM sessions WHERE researcher_id = ? AND token_hash <> ?', [accountId, keepTokenHash]);
  }

  async deleteExpiredSessions(now: number): Promise<number> {
    return (await this.sql.run('DELETE FROM sessions WHERE expires_at <= ?', [now])).changes;
  }

  async insertToken(t: { tokenHash: string; accountId: number; name: string; now: number }): Promise<number> {
    const row = await this.sql.get<{ id: number }>('INSERT INTO api_tokens (token_hash, researcher_id, name, created_at) VALUES (?, ?, ?, ?) RETURNING id', [t.tokenHash, t.accountId, t.name, t.now]);
    return row!.id;
  }

  /** The enabled account a token belongs to; records when it was last used. */
  async accountByToken(tokenHash: string, now: number): Promise<{ account: AccountRecord; tokenId: number } | undefined> {
    const row = await this.sql.get<AccountRow & { token_id: number }>(
      `SELECT ${ACCOUNT_COLUMNS}, t.id AS token_id FROM api_tokens t
        JOIN researchers a ON a.id = t.researcher_id WHERE t.token_hash = ? AND a.disabled = 0`,
      [tokenHash],
    );
    if (!row) return undefined;
    // At most one write a minute per token, not one per request.
    await this.sql.run('UPDATE api_tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)', [now, row.token_id, now - 60_000]);
    return { account: toAccount(row), tokenId: row.token_id };
  }

  async tokensOf(accountId: number): Promise<TokenRecord[]> {
    const rows = await this.sql.all<{ id: number; name: string; created_at: number; last_used_at: number | null }>(
      'SELECT id, name, created_at, last_used_at FROM api_tokens WHERE researcher_id = ? ORDER BY id',
      [accountId],
    );
    return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at }));
  }

  async deleteToken(id: number, accountId: number): Promise<boolean> {
    return (await this.sql.run('DELETE FROM api_tokens WHERE id = ? AND researcher_id = ?', [id, accountId])).changes === 1;
  }

  async deleteTokensOf(accountId: number): Promise<void> {
    await this.sql.run('DELETE FROM api_tokens WHERE researcher_id = ?', [accountId]);
  }
}
