// Rate limits shared through a real Redis: instances draw on one budget per client, and limit on
// their own while Redis does not answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SharedRateLimiter } from '../../coordinator/cluster/shared-rate-limit.js';
import { RateLimiter } from '../../coordinator/http/rate-limit.js';
import { createLogger } from '../../common/log.js';
import { connectRedis, deleteKeys, skipRedisTests, testPrefix, type TestRedis } from '../helpers/redis.js';

const skip = await skipRedisTests('shared rate limits');

describe.skipIf(skip)('rate limits shared through Redis', () => {
  let clients: TestRedis[];
  const prefix = testPrefix();

  beforeAll(async () => {
    clients = await Promise.all([connectRedis(), connectRedis(), connectRedis()]);
  });
  afterAll(async () => {
    if (!clients) return;
    await deleteKeys(clients[0]!, prefix);
    await Promise.all(clients.map((c) => c.quit()));
  });

  it('gives a client one budget across three instances, not three', async () => {
    // 0.2 tokens a second: within the few seconds this takes, at most one more token refills.
    const limit = { perSecond: 0.2, burst: 10 };
    const instances = clients.map((c) => new SharedRateLimiter(c, prefix, limit, new RateLimiter(limit), createLogger('silent')));
    const granted = await Promise.all(Array.from({ length: 60 }, (_, i) => instances[i % 3]!.take('198.51.100.7')));
    const n = granted.filter(Boolean).length;
    expect(n).toBeGreaterThanOrEqual(10);
    expect(n).toBeLessThanOrEqual(11);
    // Another client has its own budget.
    expect(await instances[1]!.take('198.51.100.8')).toBe(true);
    // The key expires once the bucket would be full again, so Redis holds only active clients.
    const ttl = await clients[0]!.pTTL(`${prefix}198.51.100.7`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(51_000);
  });

  it('limits on its own, and says so, while Redis does not answer', async () => {
    const dead = await import('redis').then(({ createClient }) => createClient({ url: 'redis://127.0.0.1:1', socket: { reconnectStrategy: false, connectTimeout: 500 } }));
    dead.on('error', () => undefined);
    const lines: string[] = [];
    const limit = { perSecond: 0.01, burst: 3 };
    const limiter = new SharedRateLimiter(dead, prefix, limit, new RateLimiter(limit), createLogger('warn', (l) => lines.push(l)));
    const granted = [];
    for (let i = 0; i < 6; i++) granted.push(await limiter.take('lonely'));
    expect(granted).toEqual([true, true, true, false, false, false]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/Redis does not answer/);
  });
});
