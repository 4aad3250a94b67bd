// Researcher and admin accounts: creation, login sessions with CSRF tokens, API tokens.
// Session and API tokens are random secrets handed out once; only their SHA-256 is stored,
// so a copy of the database opens no doors.
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { AccountRecord, Role, TokenRecord } from '../store/account-store.js';
import type { Store } from '../store/store.js';
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
  constructor(
    private readonly store: Store,
    private readonly clock: () => number = Date.now,
  ) {}

  /**
   * On an empty database, creates the first admin: with the given password, or a random one
   * that the caller shows once. Nothing when accounts exist.
   */
  async ensureFirstAdmin(password?: string): Promise<{ name: string; password: string; generated: boolean } | undefined> {
    if (this.store.accounts.count() > 0) return undefined;
    const chosen = password === undefined ? undefined : Password.parse(password);
    const created = await this.create({ name: FIRST_ADMIN_NAME, role: 'admin', password: chosen });
    return { name: created.account.name, password: created.password ?? chosen!, generated: created.password !== undefined };
  }

  /** Returns the password too when it generated one (to be shown once). */
  async create(spec: z.input<typeof NewAccountSchema>): Promise<{ account: AccountRecord; password?: string }> {
    const a = NewAccountSchema.parse(spec);
    const password = a.password ?? generatePassword();
    const passwordHash = await hashPassword(password);
    const id = this.store.transaction(() => {
      if (this.store.accounts.byName(a.name)) throw new AccountError('conflict', `an account named "${a.name}" already exists`);
      return this.store.accounts.insert({ name: a.name, role: a.role, passwordHash, now: this.clock() });
    });
    const account = this.store.accounts.byId(id)!;
    return a.password === undefined ? { account, password } : { account };
  }

  list(): AccountRecord[] {
    return this.store.accounts.all();
  }

  byName(name: string): AccountRecord | undefined {
    const a = this.store.accounts.byName(name);
    if (!a) return undefined;
    const { passwordHash: _, ...account } = a;
    return account;
  }

  async update(id: number, change: { disabled?: boolean; role?: Role; password?: string }): Promise<AccountRecord> {
    const passwordHash = change.password === undefined ? undefined : await hashPassword(Password.parse(change.password));
    return this.store.transaction(() => {
      if (!this.store.accounts.byId(id)) throw new AccountError('not_found', `account ${id} does not exist`);
      if (change.role !== undefined) this.store.accounts.setRole(id, change.role);
      if (passwordHash !== undefined) {
        this.store.accounts.setPassword(id, passwordHash);
        this.endCredentials(id);
      }
      if (change.disabled !== undefined) {
        this.store.accounts.setDisabled(id, change.disabled);
        if (change.disabled) this.endCredentials(id);
      }
      return this.store.accounts.byId(id)!;
    });
  }

  /** A new session, or undefined when the name or password is wrong (or the account disabled). */
  async login(name: string, password: string): Promise<Session | undefined> {
    const found = this.store.accounts.byName(name);
    const ok = await verifyPassword(password, found?.passwordHash ?? DUMMY_HASH);
    if (!found || !ok || found.disabled) return undefined;
    const now = this.clock();
    const token = secret();
    const csrfToken = secret();
    const expiresAt = now + SESSION_TTL_MS;
    this.store.transaction(() => {
      this.store.accounts.deleteExpiredSessions(now);
      this.store.accounts.insertSession({ tokenHash: sha256(token), accountId: found.id, csrfToken, now, expiresAt });
    });
    const { passwordHash: _, ...account } = found;
    return { token, csrfToken, account, expiresAt };
  }

  session(token: string): Session | undefined {
    const s = this.store.accounts.session(sha256(token), this.clock());
    return s && { token, ...s };
  }

  logout(token: string): void {
    this.store.accounts.deleteSession(sha256(token));
  }

  /**
   * Checks the current password; ends the account's other sessions and revokes all its API
   * tokens, the one this change was made with included.
   */
  async changePassword(accountId: number, currentPassword: string, newPassword: string, keepSessionToken?: string): Promise<void> {
    const stored = this.store.accounts.passwordHash(accountId);
    if (!stored || !(await verifyPassword(currentPassword, stored))) throw new AccountError('forbidden', 'the current password is wrong');
    const hash = await hashPassword(Password.parse(newPassword));
    this.store.transaction(() => {
      this.store.accounts.setPassword(accountId, hash);
      this.endCredentials(accountId, keepSessionToken);
    });
  }

  /**
   * What a new password ends: everything the old one gave. A token made with the old password
   * (on a stolen laptop, in a leaked script) would otherwise outlive the change that was meant
   * to lock its holder out. Only the session that made the change is kept.
   */
  private endCredentials(accountId: number, keepSessionToken?: string): void {
    this.store.accounts.deleteSessionsOf(accountId, keepSessionToken === undefined ? '' : sha256(keepSessionToken));
    this.store.accounts.deleteTokensOf(accountId);
  }

  createToken(accountId: number, name: string): TokenRecord & { token: string } {
    const token = API_TOKEN_PREFIX + secret();
    const now = this.clock();
    const id = this.store.accounts.insertToken({ tokenHash: sha256(token), accountId, name, now });
    return { id, name, token, createdAt: now, lastUsedAt: null };
  }

  /** The account a token belongs to, and the token's id. */
  accountByToken(token: string): { account: AccountRecord; tokenId: number } | undefined {
    if (!token.startsWith(API_TOKEN_PREFIX)) return undefined;
    return this.store.accounts.accountByToken(sha256(token), this.clock());
  }

  tokens(accountId: number): TokenRecord[] {
    return this.store.accounts.tokensOf(accountId);
  }

  revokeToken(accountId: number, tokenId: number): boolean {
    return this.store.accounts.deleteToken(tokenId, accountId);
  }
}
