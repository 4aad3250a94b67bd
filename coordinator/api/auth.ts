// Who is calling: a bearer API token (scripts, the CLI) or a session cookie plus, for
// anything that changes state, the session's CSRF token in a header (the web UI).
import type { NextFunction, Request, Response } from 'express';
import type { AccountService, Session } from '../accounts/account-service.js';
import type { OriginPolicy, RequestSource } from '../http/origin-policy.js';
import type { AccountRecord } from '../store/account-store.js';
import { ApiError } from './api-error.js';

export const SESSION_COOKIE = 'vg_session';
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface Caller {
  account: AccountRecord;
  session?: Session;
  /** Set when the caller used an API token. */
  tokenId?: number;
}

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined; // malformed: as if there were no cookie
      }
    }
  }
  return undefined;
}

/** A request as identify() reads it: HTTP, or a Socket.IO handshake. */
export interface CredentialSource extends RequestSource {
  method: string;
}

export function httpSource(req: Request): CredentialSource {
  return { method: req.method, headers: req.headers, peer: req.socket.remoteAddress, secure: 'encrypted' in req.socket };
}

/**
 * The caller, if the request carries valid credentials; throws on a bad token, on the session
 * cookie sent by a page of another origin, and on a cookie write without the CSRF token.
 */
export async function identify(accounts: AccountService, origins: OriginPolicy, req: CredentialSource): Promise<Caller | undefined> {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    const found = m ? await accounts.accountByToken(m[1]!) : undefined;
    if (!found) throw new ApiError('unauthenticated', 'the API token is not valid (revoked, or its account is disabled)');
    return found;
  }
  const token = readCookie(req.headers.cookie, SESSION_COOKIE);
  if (token === undefined) return undefined;
  const refused = origins.refusal(req);
  if (refused !== undefined) throw new ApiError('forbidden', refused);
  const session = await accounts.session(token);
  if (!session) return undefined;
  if (!SAFE_METHODS.has(req.method) && req.headers[CSRF_HEADER] !== session.csrfToken) {
    throw new ApiError('forbidden', `requests that change something need the session's CSRF token in the X-CSRF-Token header`);
  }
  return { account: session.account, session };
}

export function caller(res: Response): Caller {
  const c = res.locals.caller as Caller | undefined;
  if (!c) throw new ApiError('unauthenticated', 'log in first (POST /api/v1/session) or send Authorization: Bearer <API token>');
  return c;
}

export function requireAccount(accounts: AccountService, origins: OriginPolicy) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const c = await identify(accounts, origins, httpSource(req));
    if (!c) throw new ApiError('unauthenticated', 'log in first (POST /api/v1/session) or send Authorization: Bearer <API token>');
    res.locals.caller = c;
    next();
  };
}

export function requireAdmin(_req: Request, res: Response, next: NextFunction): void {
  if (caller(res).account.role !== 'admin') throw new ApiError('forbidden', 'only an admin may do this');
  next();
}
