// Researcher and admin accounts: creation, login sessions with CSRF tokens, API tokens.
// Session and API tokens are random secrets handed out once; only their SHA-256 is stored,
// so a copy of the database opens no doors.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { AccountStore, type AccountRecord, type Role, type TokenRecord } from '../store/account-store.js';
import { ConstraintError, type SqlDatabase } from '../store/sql/sql.js';
import { DUMMY_HASH, generatePassword, hashPassword, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, verifyPassword } from './passwords.js';

export const SESSION_TTL_MS = 7 * 24 * 3600 * 1000;
export const API_TOKEN_PREFIX = 'vgt_';
export const FIRST_ADMIN_NAME = 'admin';

export const AccountName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]*$/, 'use letters, digits and . _ @ - (starting with a letter or digit)');
export const Password = z
  .string()
  .min(MIN_PASSWORD_CHARS, `a password has at least ${MIN_PASSWORD_CHARS} characters`)
  .max(MAX_PASSWORD_CHARS);
export const RoleSchema = z.enum(['researcher', 'admin']);

export const NewAccountSchema = z.strictObject({
  name: AccountName,
  role: RoleSchema.default('researcher'),
  password: Password.optional(),
});

export class AccountError extends Error {
  override name = 'AccountError';
  constructor(
    readonly code: 'conflict' | 'not_found' | 'unauthenticated' | 'forbidden' | 'bad_request',
    message: string,
  ) {
    super(message);
  }
}

export interface Session {
  token: string;
  csrfToken: string;
  account: AccountRecord;
  expiresAt: number;
}

const sha256 = (secret: string) => createHash('sha256').update(secret).digest('hex');
const secret = () => randomBytes(32).toString('base64url');

export class AccountService {
  private readonly accounts: AccountStore;

  constructor(
    private readonly db: SqlDatabase,
    private readonly clock: () => number = Date.now,
  ) {
    this.accounts = new AccountStore(db);
  }

  /**
   * On an empty database, creates the first admin: with the given password, or a random one
   * that the caller shows once. Nothing when accounts exist, or when another instance starting
   * at the same time created it first.
   */
  async ensureFirstAdmin(password?: string): Promise<{ name: string; password: string; generated: boolean } | undefined> {
    if ((await this.accounts.count()) > 0) return undefined;
    const chosen = password === undefined ? undefined : Password.parse(password);
    const generated = chosen ?? generatePassword();
    const passwordHash = await hashPassword(generated);
    let id: number | undefined;
    try {
      id = await this.accounts.insertFirst({ name: FIRST_ADMIN_NAME, role: 'admin', passwordHash, now: this.clock() });
    } catch (error) {
      // Two instances on one new database: the other one's admin committed first.
      if (error instanceof ConstraintError && error.constraint === 'unique') return undefined;
      throw error;
    }
    if (id === undefined) return undefined;
    return { name: FIRST_ADMIN_NAME, password: generated, generated: chosen === undefined };
  }

  /** Returns the password too when it generated one (to be shown once). */
  async create(spec: z.input<typeof NewAccountSchema>): Promise<{ account: AccountRecord; password?: string }> {
    const a = NewAccountSchema.parse(spec);
    const password = a.password ?? generatePassword();
    const passwordHash = await hashPassword(password);
    const conflict = () => new AccountError('conflict', `an account named "${a.name}" already exists`);
    let id: number;
    try {
      id = await this.db.transaction(async (tx) => {
        const accounts = new AccountStore(tx);
        if (await accounts.byName(a.name)) throw conflict();
        return accounts.insert({ name: a.name, role: a.role, passwordHash, now: this.clock() });
      });
    } catch (error) {
      if (error instanceof ConstraintError && error.constraint === 'unique') throw conflict();
      throw error;
    }
    const account = (await this.accounts.byId(id))!;
    return a.password === undefined ? { account, password } : { account };
  }

  list(): Promise<AccountRecord[]> {
    return this.accounts.all();
  }

  async byName(name: string): Promise<AccountRecord | undefined> {
    const a = await this.accounts.byName(name);
    if (!a) return undefined;
    const { passwordHash: _, ...account } = a;
    return account;
  }

  async update(id: number, change: { disabled?: boolean; role?: Role; password?: string }): Promise<AccountRecord> {
    const passwordHash = change.password === undefined ? undefined : await hashPassword(Password.parse(change.password));
    return this.db.transaction(async (tx) => {
      const accounts = new AccountStore(tx);
      if (!(await accounts.byId(id))) throw new AccountError('not_found', `account ${id} does not exist`);
      if (change.role !== undefined) await accounts.setRole(id, change.role);
      if (passwordHash !== undefined) {
        await accounts.setPassword(id, passwordHash);
        await endCredentials(accounts, id);
      }
      if (change.disabled !== undefined) {
        await accounts.setDisabled(id, change.disabled);
        if (change.disabled) await endCredentials(accounts, id);
      }
      return (await accounts.byId(id))!;
    });
  }

  /** A new session, or undefined when the name or password is wrong (or the account disabled). */
  async login(name: string, password: string): Promise<Session | undefined> {
    const found = await this.accounts.byName(name);
    const ok = await verifyPassword(password, found?.passwordHash ?? DUMMY_HASH);
    if (!found || !ok || found.disabled) return undefined;
    const now = this.clock();
    const token = secret();
    const csrfToken = secret();
    const expiresAt = now + SESSION_TTL_MS;
    await this.db.transaction(async (tx) => {
      const accounts = new AccountStore(tx);
      await accounts.deleteExpiredSessions(now);
      await accounts.insertSession({ tokenHash: sha256(token), accountId: found.id, csrfToken, now, expiresAt });
    });
    const { passwordHash: _, ...account } = found;
    return { token, csrfToken, account, expiresAt };
  }

  async session(token: string): Promise<Session | undefined> {
    const s = await this.accounts.session(sha256(token), this.clock());
    return s && { token, ...s };
  }

  async logout(token: string): Promise<void> {
    await this.accounts.deleteSession(sha256(token));
  }

  /**
   * Checks the current password; ends the account's other sessions and revokes all its API
   * tokens, the one this change was made with included.
   */
  async changePassword(accountId: number, currentPassword: string, newPassword: string, keepSessionToken?: string): Promise<void> {
    const stored = await this.accounts.passwordHash(accountId);
    if (!stored || !(await verifyPassword(currentPassword, stored))) throw new AccountError('forbidden', 'the current password is wrong');
    const hash = await hashPassword(Password.parse(newPassword));
    await this.db.transaction(async (tx) => {
      const accounts = new AccountStore(tx);
      await accounts.setPassword(accountId, hash);
      await endCredentials(accounts, accountId, keepSessionToken);
    });
  }

  async createToken(accountId: number, name: string): Promise<TokenRecord & { token: string }> {
    const token = API_TOKEN_PREFIX + secret();
    const now = this.clock();
    const id = await this.accounts.insertToken({ tokenHash: sha256(token), accountId, name, now });
    return { id, name, token, createdAt: now, lastUsedAt: null };
  }

  /** The account a token belongs to, and the token's id. */
  async accountByToken(token: string): Promise<{ account: AccountRecord; tokenId: number } | undefined> {
    if (!token.startsWith(API_TOKEN_PREFIX)) return undefined;
    return this.accounts.accountByToken(sha256(token), this.clock());
  }

  tokens(accountId: number): Promise<TokenRecord[]> {
    return this.accounts.tokensOf(accountId);
  }

  revokeToken(accountId: number, tokenId: number): Promise<boolean> {
    return this.accounts.deleteToken(tokenId, accountId);
  }
}

/**
 * What a new password ends: everything the old one gave. A token made with the old password
 * (on a stolen laptop, in a leaked script) would otherwise outlive the change that was meant
 * to lock its holder out. Only the session that made the change is kept.
 */
async function endCredentials(accounts: AccountStore, accountId: number, keepSessionToken?: string): Promise<void> {
  await accounts.deleteSessionsOf(accountId, keepSessionToken === undefined ? '' : sha256(keepSessionToken));
  await accounts.deleteTokensOf(accountId);
}
