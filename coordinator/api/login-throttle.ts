// Limits password guessing without locking out people who only share an address with a guesser.
// Failed logins are counted three ways in a sliding window:
//   - per account and address: one address guessing one account (the tight limit);
//   - per address, whatever the account: one address spraying many accounts;
//   - per account, from anywhere: many addresses guessing one account.
// An attempt is refused when any of its counts is full. An address the account logged in from
// before (its *known* addresses) skips the last two: a shared address where someone sprays, or an
// account others guess from elsewhere, does not keep its owner out where they usually log in; the
// first count still holds a guesser there. Attempts still being checked count as failures, so
// parallel guesses cannot get around a limit. Addresses are grouped as client-address.ts says (an
// IPv6 /64 is one address). docs/security.md says what this covers and what it does not.
import { addressGroup } from '../http/client-address.js';
import { ApiError } from './api-error.js';

export interface LoginLimits {
  /** Failed logins for one account from one address in a window. */
  perAccountAndAddress: number;
  /** Failed logins from one address, whatever the accounts. */
  perAddress: number;
  /** Failed logins for one account from every address together. */
  perAccount: number;
  windowMs: number;
  /** An address an account logged in from is known to it this long after. */
  knownForMs: number;
  /** Password checks in flight at once (each costs ~32 MiB and a thread-pool slot). */
  maxInFlight: number;
}

export const DEFAULT_LOGIN_LIMITS: LoginLimits = {
  perAccountAndAddress: 10,
  perAddress: 50,
  perAccount: 30,
  windowMs: 10 * 60_000,
  knownForMs: 30 * 24 * 3600_000,
  maxInFlight: 8,
};

/** Maps this large are pruned of what no longer counts. */
const PRUNE_AT = 10_000;
const MAX_KNOWN = 100_000;

interface Count {
  /** Times of the latest failures, at most `limit` of them (all that a decision needs). */
  times: number[];
  pending: number;
}

/** Failures per key in a sliding window. */
class Counts {
  private readonly m = new Map<string, Count>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** When the key may be tried again (ms since the epoch), or undefined when it may be now. */
  blockedUntil(key: string, now: number): number | undefined {
    const c = this.m.get(key);
    if (!c) return undefined;
    c.times = c.times.filter((t) => t > now - this.windowMs);
    if (c.times.length + c.pending < this.limit) return undefined;
    // Full of attempts still being checked: they end within a second or so.
    return c.times.length >= this.limit ? c.times[c.times.length - this.limit]! + this.windowMs : now + 1000;
  }

  begin(key: string): void {
    const c = this.m.get(key) ?? { times: [], pending: 0 };
    c.pending++;
    this.m.set(key, c);
  }

  end(key: string, failed: boolean, now: number): void {
    const c = this.m.get(key);
    if (!c) return;
    c.pending--;
    if (failed) {
      c.times.push(now);
      if (c.times.length > this.limit) c.times.shift();
    }
    if (c.pending === 0 && c.times.length === 0) this.m.delete(key);
    if (this.m.size > PRUNE_AT) this.prune(now);
  }

  // Each failure cost a password check, and checks run a few at a time: in one window the maps
  // hold at most what that many checks can fail.
  private prune(now: number): void {
    for (const [k, c] of this.m) if (c.pending === 0 && (c.times.at(-1) ?? 0) <= now - this.windowMs) this.m.delete(k);
  }
}

export interface LoginAttempt {
  account: string;
  address: string;
  pair: string;
}

/**
 * What the login route asks before and tells after each password check: this instance's own
 * counts (LoginThrottle), or counts every instance of a cluster shares (cluster/shared-login-throttle.ts).
 */
export interface LoginGate {
  /** Throws rate_limited (with Retry-After) when over a limit; then call end() exactly once. */
  begin(name: string, address: string): LoginAttempt | Promise<LoginAttempt>;
  end(attempt: LoginAttempt, ok: boolean): void | Promise<void>;
}

/** Which count refused an attempt: the same words whichever throttle counted. */
export type LoginLimitName = 'pair' | 'address' | 'account' | 'inFlight';

export function loginRefusal(which: LoginLimitName, waitMs: number): ApiError {
  if (which === 'inFlight') return new ApiError('rate_limited', 'too many logins at once; try again in a moment', 1);
  const s = Math.max(1, Math.ceil(waitMs / 1000));
  const message = {
    pair: 'too many failed logins for this account from your address',
    address: 'too many failed logins from your address',
    account: 'too many failed logins for this account, from several addresses; an address you logged in from before still may',
  }[which];
  return new ApiError('rate_limited', `${message}; try again in ${s < 90 ? `${s} seconds` : `${Math.ceil(s / 60)} minutes`}`, s);
}

/** The keys an attempt is counted under (an account's name in any case, an address's group). */
export function loginAttempt(name: string, address: string): LoginAttempt {
  const account = name.toLowerCase();
  const group = addressGroup(address);
  return { account, address: group, pair: `${account}\n${group}` };
}

export class LoginThrottle implements LoginGate {
  private readonly limits: LoginLimits;
  private readonly pairs: Counts;
  private readonly addresses: Counts;
  private readonly accounts: Counts;
  /** Account and address of each successful login, oldest first. */
  private readonly known = new Map<string, number>();
  private inFlight = 0;

  constructor(limits: Partial<LoginLimits> = {}) {
    this.limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
    this.pairs = new Counts(this.limits.perAccountAndAddress, this.limits.windowMs);
    this.addresses = new Counts(this.limits.perAddress, this.limits.windowMs);
    this.accounts = new Counts(this.limits.perAccount, this.limits.windowMs);
  }

  /**
   * Call before checking a password (throws rate_limited with a Retry-After when over a limit);
   * then call end() exactly once. Names are counted as given, whether an account has the name
   * or not, so a refusal does not tell which names exist.
   */
  begin(name: string, address: string, now = Date.now()): LoginAttempt {
    const attempt = loginAttempt(name, address);
    const known = (this.known.get(attempt.pair) ?? -Infinity) > now - this.limits.knownForMs;
    const pair = this.pairs.blockedUntil(attempt.pair, now);
    if (pair !== undefined) throw loginRefusal('pair', pair - now);
    if (!known) {
      const byAddress = this.addresses.blockedUntil(attempt.address, now);
      if (byAddress !== undefined) throw loginRefusal('address', byAddress - now);
      const byAccount = this.accounts.blockedUntil(attempt.account, now);
      if (byAccount !== undefined) throw loginRefusal('account', byAccount - now);
    }
    if (this.inFlight >= this.limits.maxInFlight) throw loginRefusal('inFlight', 0);
    this.inFlight++;
    this.pairs.begin(attempt.pair);
    this.addresses.begin(attempt.address);
    this.accounts.begin(attempt.account);
    return attempt;
  }

  end(attempt: LoginAttempt, ok: boolean, now = Date.now()): void {
    this.inFlight--;
    this.pairs.end(attempt.pair, !ok, now);
    this.addresses.end(attempt.address, !ok, now);
    this.accounts.end(attempt.account, !ok, now);
    if (ok) this.remember(attempt.pair, now);
  }

  private remember(pair: string, now: number): void {
    this.known.delete(pair);
    this.known.set(pair, now);
    // Oldest first: forget what expired, and past the cap the least recent.
    for (const [k, at] of this.known) {
      if (this.known.size <= MAX_KNOWN && at > now - this.limits.knownForMs) break;
      this.known.delete(k);
    }
  }
}
