// Who is calling: a bearer API token (scripts, the CLI) or a session cookie plus, for
// anything that changes state, the session's CSRF token in a header (the web UI).
import type { NextFunction, Request, Response } from 'express';
import type { AccountService, Session } from '../accounts/account-service.js';
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

/** The caller, if the request carries valid credentials; throws on a bad token or missing CSRF. */
export function identify(accounts: AccountService, req: Pick<Request, 'method' | 'headers'>): Caller | undefined {
  const auth = req.headers.authorization;
  if (auth !== undefined) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    const found = m ? accounts.accountByToken(m[1]!) : undefined;
    if (!found) throw new ApiError('unauthenticated', 'the API token is not valid (revoked, or its account is disabled)');
    return found;
  }
  const token = readCookie(req.headers.cookie, SESSION_COOKIE);
  if (token === undefined) return undefined;
  const session = accounts.session(token);
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

export function requireAccount(accounts: AccountService) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const c = identify(accounts, req);
    if (!c) throw new ApiError('unauthenticated', 'log in first (POST /api/v1/session) or send Authorization: Bearer <API token>');
    res.locals.caller = c;
    next();
  };
}

export function requireAdmin(_req: Request, res: Response, next: NextFunction): void {
  if (caller(res).account.role !== 'admin') throw new ApiError('forbidden', 'only an admin may do this');
  next();
}

/**
 * Limits password guessing: failed logins per address in a sliding window, counting attempts
 * still being checked (so parallel requests cannot get around it), and a cap on password checks
 * in flight overall (each costs ~32 MiB and a thread-pool slot).
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly pending = new Map<string, number>();
  private inFlight = 0;

  constructor(
    private readonly max = 10,
    private readonly windowMs = 10 * 60_000,
    private readonly maxInFlight = 8,
  ) {}

  /** Call before checking a password; then call end() exactly once. */
  begin(address: string, now = Date.now()): void {
    const recent = (this.failures.get(address) ?? []).filter((t) => t > now - this.windowMs);
    if (recent.length === 0) this.failures.delete(address);
    else this.failures.set(address, recent);
    const pending = this.pending.get(address) ?? 0;
    if (recent.length + pending >= this.max) throw new ApiError('rate_limited', 'too many failed logins from this address; try again in a few minutes');
    if (this.inFlight >= this.maxInFlight) throw new ApiError('rate_limited', 'too many logins at once; try again in a moment');
    this.pending.set(address, pending + 1);
    this.inFlight++;
  }

  end(address: string, ok: boolean, now = Date.now()): void {
    this.inFlight--;
    const pending = (this.pending.get(address) ?? 1) - 1;
    if (pending > 0) this.pending.set(address, pending);
    else this.pending.delete(address);
    if (ok) return;
    this.failures.set(address, [...(this.failures.get(address) ?? []), now]);
    if (this.failures.size > 10_000) {
      for (const [a, times] of this.failures) if ((times[times.length - 1] ?? 0) <= now - this.windowMs) this.failures.delete(a);
    }
  }
}
