// Token buckets per key (an address, a socket): a steady rate with room for bursts. A limit of
// 0 turns a limiter off. Idle buckets are forgotten, so memory follows the active clients.
import type { NextFunction, Request, Response } from 'express';
import { addressGroup, clientAddress, type TrustFn } from './client-address.js';

export interface RateLimit {
  /** Sustained events per second; 0 is unlimited. */
  perSecond: number;
  /** Events allowed at once after a quiet spell. */
  burst: number;
}

/**
 * A budget per key. This instance's own (RateLimiter) answers at once; one shared by every
 * instance of a cluster (cluster/shared-rate-limit.ts) answers once Redis has.
 */
export interface TokenBucket {
  take(key: string): boolean | Promise<boolean>;
  /** Seconds until a key that was refused has a token again. */
  retryAfterSeconds(): number;
}

export class RateLimiter implements TokenBucket {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly limit: RateLimit,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes one token for the key; false when it has none left. */
  take(key: string): boolean {
    if (this.limit.perSecond <= 0) return true;
    const now = this.clock();
    const b = this.buckets.get(key) ?? { tokens: this.limit.burst, at: now };
    b.tokens = Math.min(this.limit.burst, b.tokens + ((now - b.at) / 1000) * this.limit.perSecond);
    b.at = now;
    const ok = b.tokens >= 1;
    if (ok) b.tokens -= 1;
    this.buckets.set(key, b);
    if (this.buckets.size > 50_000) this.prune(now);
    return ok;
  }

  /** Seconds until the key has a token again. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(1 / Math.max(this.limit.perSecond, 1e-9)));
  }

  private prune(now: number): void {
    const full = (this.limit.burst / this.limit.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at > full) this.buckets.delete(k);
  }
}

/** HTTP requests per client address (behind trusted proxies, the one they name): 429 with Retry-After when over. */
export function rateLimitByAddress(limiter: TokenBucket, trust: TrustFn, onRefused?: () => void) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const refuse = () => {
      onRefused?.();
      res.setHeader('Retry-After', String(limiter.retryAfterSeconds()));
      res.status(429).json({ error: { code: 'rate_limited', message: 'too many requests from this address; slow down' } });
    };
    whenTaken(limiter.take(addressGroup(clientAddress(req.socket.remoteAddress, req.headers, trust))), next, refuse, next);
  };
}

/** Goes on at once with a local answer, or once a shared one came (never synchronously waits). */
export function whenTaken(taken: boolean | Promise<boolean>, ok: () => void, refused: () => void, failed: (e: unknown) => void): void {
  if (typeof taken !== 'boolean') taken.then((t) => (t ? ok() : refused()), failed);
  else if (taken) ok();
  else refused();
}
