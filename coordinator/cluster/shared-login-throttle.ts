// The login throttle of a cluster: the same three counts as api/login-throttle.ts (per account and
// address, per address, per account; an address the account logged in from skips the last two),
// kept in Redis so that a guesser spreading attempts over N instances gets one allowance, not N.
// Each count is a sorted set of attempts by time; an attempt joins its three sets when it begins
// (still being checked, it counts as a failure, so parallel guesses cannot get around a limit) and
// leaves them if the password was right. Checking and joining is one script: two instances cannot
// both let through the attempt that fills a count. Password checks in flight stay per instance (they
// bound this process's memory). While Redis does not answer, the instance counts on its own.
import { randomBytes } from 'node:crypto';
import { errorFields, type Logger } from '../../common/log.js';
import { DEFAULT_LOGIN_LIMITS, LoginThrottle, loginAttempt, loginRefusal, type LoginAttempt, type LoginGate, type LoginLimitName, type LoginLimits } from '../api/login-throttle.js';
import { RedisScript, type ScriptRunner } from './redis-script.js';

const BEGIN = new RedisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local known = redis.call('EXISTS', KEYS[4]) == 1
local names = {'pair', 'address', 'account'}
for i = 1, 3 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if i == 1 or not known then
    local limit = tonumber(ARGV[i + 1])
    local n = redis.call('ZCARD', KEYS[i])
    if n >= limit then
      local nth = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
      return {names[i], tonumber(nth[2]) + window - now}
    end
  end
end
for i = 1, 3 do
  redis.call('ZADD', KEYS[i], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[i], window)
end
return {'ok', 0}
`);

const END = new RedisScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, 3 do
  if ARGV[1] == '1' then
    redis.call('ZREM', KEYS[i], ARGV[2])
  else
    redis.call('ZADD', KEYS[i], 'XX', now, ARGV[2])
    redis.call('PEXPIRE', KEYS[i], ARGV[4])
  end
end
if ARGV[1] == '1' then redis.call('SET', KEYS[4], '1', 'PX', ARGV[3]) end
return 1
`);

interface SharedAttempt extends LoginAttempt {
  /** This attempt's member in the three sets; absent when it was counted locally. */
  member?: string;
}

const WARN_EVERY_MS = 60_000;

export class SharedLoginThrottle implements LoginGate {
  private readonly limits: LoginLimits;
  /** Used while Redis does not answer. */
  private readonly local: LoginThrottle;
  private inFlight = 0;
  private warnedAt = -Infinity;

  constructor(
    private readonly redis: ScriptRunner,
    /** Names this platform's keys (the --redis-prefix); one hash tag keeps them on one Redis Cluster slot. */
    private readonly prefix: string,
    private readonly log: Logger,
    limits: Partial<LoginLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LOGIN_LIMITS, ...limits };
    this.local = new LoginThrottle(this.limits);
  }

  async begin(name: string, address: string): Promise<LoginAttempt> {
    const attempt: SharedAttempt = loginAttempt(name, address);
    if (this.inFlight >= this.limits.maxInFlight) throw loginRefusal('inFlight', 0);
    const member = randomBytes(12).toString('base64url');
    let reply: unknown;
    try {
      const { windowMs, perAccountAndAddress, perAddress, perAccount } = this.limits;
      reply = await BEGIN.run(this.redis, this.keys(attempt), [windowMs, perAccountAndAddress, perAddress, perAccount, member].map(String));
    } catch (error) {
      this.warn(error);
      return this.local.begin(name, address);
    }
    const [outcome, waitMs] = reply as [string, number];
    if (outcome !== 'ok') throw loginRefusal(outcome as LoginLimitName, waitMs);
    this.inFlight++;
    attempt.member = member;
    return attempt;
  }

  async end(attempt: LoginAttempt, ok: boolean): Promise<void> {
    const { member } = attempt as SharedAttempt;
    if (member === undefined) return this.local.end(attempt, ok);
    this.inFlight--;
    try {
      await END.run(this.redis, this.keys(attempt), [ok ? '1' : '0', member, String(this.limits.knownForMs), String(this.limits.windowMs)]);
    } catch (error) {
      // The attempt stays counted as a failure until the window passes: the safe side.
      this.warn(error);
    }
  }

  private keys(a: LoginAttempt): string[] {
    const base = `${this.prefix}:{login}:`;
    return [`${base}pair:${a.pair}`, `${base}address:${a.address}`, `${base}account:${a.account}`, `${base}known:${a.pair}`];
  }

  private warn(error: unknown): void {
    const now = Date.now();
    if (now - this.warnedAt < WARN_EVERY_MS) return;
    this.warnedAt = now;
    this.log.warn('Redis does not answer: failed logins are counted per instance until it does', errorFields(error));
  }
}
