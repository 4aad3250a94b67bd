// Rate limits that hold across instances: the same token bucket as `http/rate-limit.ts`, kept in
// Redis, so a client spreading its requests over N coordinators gets one budget, not N. One Lua
// script takes a token atomically, by Redis's clock. Redis carries only what may be lost: when it
// does not answer, each instance limits on its own (the local bucket) until it does again.
import { errorFields, type Logger } from '../../common/log.js';
import { RateLimiter, type RateLimit, type TokenBucket } from '../http/rate-limit.js';
import { RedisScript, type ScriptRunner } from './redis-script.js';

export type { ScriptRunner } from './redis-script.js';

const TAKE_TOKEN = new RedisScript(`
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) / 1000 * rate)
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return ok
`);

/** How long a failing Redis goes unmentioned in the log after it was last mentioned. */
const WARN_EVERY_MS = 60_000;

export class SharedRateLimiter implements TokenBucket {
  private warnedAt = -Infinity;

  constructor(
    private readonly redis: ScriptRunner,
    /** Names this limit's keys in Redis (e.g. `vg:rate:http:`), apart from every other limit's. */
    private readonly prefix: string,
    private readonly limit: RateLimit,
    /** Used while Redis does not answer. */
    private readonly local: RateLimiter,
    private readonly log: Logger,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Takes one token for the key from the budget all instances share; false when none is left. */
  take(key: string): boolean | Promise<boolean> {
    return this.limit.perSecond <= 0 || this.takeShared(key);
  }

  private async takeShared(key: string): Promise<boolean> {
    try {
      return (await TAKE_TOKEN.run(this.redis, [this.prefix + key], [String(this.limit.perSecond), String(this.limit.burst)])) === 1;
    } catch (error) {
      const now = this.clock();
      if (now - this.warnedAt >= WARN_EVERY_MS) {
        this.warnedAt = now;
        this.log.warn('Redis does not answer: rate limits are per instance until it does', { limit: this.prefix, ...errorFields(error) });
      }
      return this.local.take(key);
    }
  }

  retryAfterSeconds(): number {
    return this.local.retryAfterSeconds();
  }
}

/** Makes the limiter named `name`: shared through Redis in a cluster, this instance's own otherwise. */
export type LimiterFactory = (name: string, limit: RateLimit) => TokenBucket;

export function limiterFactory(redis: ScriptRunner | undefined, prefix: string, log: Logger): LimiterFactory {
  if (!redis) return (_name, limit) => new RateLimiter(limit);
  return (name, limit) => new SharedRateLimiter(redis, `${prefix}:rate:${name}:`, limit, new RateLimiter(limit), log);
}
