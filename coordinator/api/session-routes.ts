// Logging in and out, the caller's own password and API tokens, and (admins) accounts.
import express from 'express';
import { z } from 'zod';
import type { Account, AccountList, CreatedAccount, CreatedToken, Session as SessionBody, TokenList, UpdatedAccount } from '../../protocol/api.js';
import { NewAccountSchema, Password, RoleSchema, SESSION_TTL_MS, type AccountService, type Session } from '../accounts/account-service.js';
import type { AccountRecord } from '../store/account-store.js';
import { ApiError, parse } from './api-error.js';
import { jsonBody } from './json-body.js';
import { IdParam } from './params.js';
import { clientAddress, type TrustFn } from '../http/client-address.js';
import type { OriginPolicy } from '../http/origin-policy.js';
import { caller, httpSource, identify, requireAccount, requireAdmin, SESSION_COOKIE } from './auth.js';
import { LoginThrottle, type LoginGate } from './login-throttle.js';

const LoginSchema = z.strictObject({ name: z.string().min(1).max(64), password: z.string().min(1).max(1000) });
const PasswordChangeSchema = z.strictObject({ currentPassword: z.string().min(1).max(1000), newPassword: Password });
const TokenSpecSchema = z.strictObject({ name: z.string().trim().min(1).max(100) });
const AccountUpdateSchema = z
  .strictObject({ disabled: z.boolean().optional(), role: RoleSchema.optional(), password: Password.optional() })
  .refine((u) => Object.keys(u).length > 0, 'give at least one of disabled, role, password');

const publicAccount = (a: AccountRecord): Account => ({ id: a.id, name: a.name, role: a.role });

export interface SessionOptions {
  secureCookies: boolean;
  /** Which proxies' X-Forwarded-For names the client (the login throttle counts per address). */
  trust: TrustFn;
  /** Which pages may log in and use the session cookie. */
  origins: OriginPolicy;
  /** Counts failed logins (this instance's own counts when absent). */
  throttle?: LoginGate;
}

export function sessionRoutes(accounts: AccountService, options: SessionOptions): express.Router {
  const { secureCookies, trust, origins } = options;
  const router = express.Router();
  const throttle = options.throttle ?? new LoginThrottle();
  const json = jsonBody(16 * 1024);
  const signedIn = requireAccount(accounts, origins);
  const cookie = (value: string, maxAgeS: number) =>
    `${SESSION_COOKIE}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}${secureCookies ? '; Secure' : ''}`;

  router.post('/session', json, async (req, res) => {
    // A page elsewhere must not log the browser in either (to an account of its choosing).
    const refused = origins.refusal(httpSource(req));
    if (refused !== undefined) throw new ApiError('forbidden', refused);
    const { name, password } = parse(LoginSchema, req.body, 'login');
    const attempt = await throttle.begin(name, clientAddress(req.socket.remoteAddress, req.headers, trust));
    let session: Session | undefined;
    try {
      session = await accounts.login(name, password);
    } finally {
      await throttle.end(attempt, session !== undefined);
    }
    if (!session) throw new ApiError('unauthenticated', 'wrong name or password');
    res.setHeader('Set-Cookie', cookie(session.token, Math.floor(SESSION_TTL_MS / 1000)));
    res.json({ account: publicAccount(session.account), csrfToken: session.csrfToken } satisfies SessionBody);
  });

  router.get('/session', signedIn, (_req, res) => {
    const c = caller(res);
    res.json({ account: publicAccount(c.account), csrfToken: c.session?.csrfToken ?? null } satisfies SessionBody);
  });

  router.delete('/session', async (req, res) => {
    const c = await identify(accounts, origins, httpSource(req));
    if (c?.session) await accounts.logout(c.session.token);
    res.setHeader('Set-Cookie', cookie('', 0));
    res.status(204).end();
  });

  router.post('/session/password', json, signedIn, async (req, res) => {
    const c = caller(res);
    const body = parse(PasswordChangeSchema, req.body, 'password change');
    await accounts.changePassword(c.account.id, body.currentPassword, body.newPassword, c.session?.token);
    res.status(204).end();
  });

  router.get('/tokens', signedIn, async (_req, res) => {
    res.json({ tokens: await accounts.tokens(caller(res).account.id) } satisfies TokenList);
  });

  router.post('/tokens', json, signedIn, async (req, res) => {
    const { name } = parse(TokenSpecSchema, req.body, 'token');
    res.status(201).json((await accounts.createToken(caller(res).account.id, name)) satisfies CreatedToken);
  });

  router.delete('/tokens/:id', signedIn, async (req, res) => {
    const c = caller(res);
    if (req.params.id === 'current' && c.tokenId === undefined) throw new ApiError('bad_request', 'tokens/current means the API token of this request; send one');
    const id = req.params.id === 'current' ? c.tokenId! : parse(IdParam, req.params.id, 'token id');
    if (!(await accounts.revokeToken(caller(res).account.id, id))) throw new ApiError('not_found', `you have no token ${id}`);
    res.status(204).end();
  });

  router.get('/researchers', signedIn, requireAdmin, async (_req, res) => {
    res.json({ accounts: await accounts.list() } satisfies AccountList);
  });

  router.post('/researchers', json, signedIn, requireAdmin, async (req, res) => {
    const spec = parse(NewAccountSchema, req.body, 'account');
    const created = await accounts.create(spec);
    res.status(201).json(created satisfies CreatedAccount);
  });

  router.patch('/researchers/:id', json, signedIn, requireAdmin, async (req, res) => {
    const id = parse(IdParam, req.params.id, 'account id');
    const change = parse(AccountUpdateSchema, req.body, 'account change');
    if (id === caller(res).account.id && (change.disabled === true || change.role === 'researcher')) {
      throw new ApiError('bad_request', 'you cannot disable yourself or take away your own admin role');
    }
    res.json({ account: await accounts.update(id, change) } satisfies UpdatedAccount);
  });

  return router;
}

