// Failed logins counted in a real Redis by three instances at once: a guesser gets one allowance
// for the cluster, parallel guesses cannot get around it, an owner's known address still gets in,
// and an instance counts on its own while Redis does not answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { SharedLoginThrottle } from '../../coordinator/cluster/shared-login-throttle.js';
import { connectRedis, deleteKeys, skipRedisTests, testPrefix, type TestRedis } from '../helpers/redis.js';

const skip = await skipRedisTests('shared login throttle');

describe.skipIf(skip)('failed logins counted through Redis', () => {
  let clients: TestRedis[];
  const prefix = testPrefix();
  const silent = createLogger('silent');
  const three = () => clients.map((c) => new SharedLoginThrottle(c, prefix, silent));

  beforeAll(async () => {
    clients = await Promise.all([connectRedis(), connectRedis(), connectRedis()]);
  });
  afterAll(async () => {
    if (!clients) return;
    await deleteKeys(clients[0]!, prefix);
    await Promise.all(clients.map((c) => c.quit()));
  });

  it('lets at most the limit of parallel guesses through, over all instances', async () => {
    const instances = three();
    const attempts = await Promise.allSettled(Array.from({ length: 24 }, (_, i) => instances[i % 3]!.begin('Grace', '203.0.113.1')));
    const begun = attempts.filter((a) => a.status === 'fulfilled');
    expect(begun).toHaveLength(10);
    for (const r of attempts) if (r.status === 'rejected') expect((r.reason as Error).message).toMatch(/too many failed logins for this account from your address; try again in \d+ minutes/);
    // They all fail: still ten, and the next is refused wherever it goes.
    await Promise.all(begun.map((a, i) => instances[i % 3]!.end((a as PromiseFulfilledResult<Awaited<ReturnType<SharedLoginThrottle['begin']>>>).value, false)));
    await expect(instances[2]!.begin('grace', '203.0.113.1')).rejects.toThrow(/for this account from your address/);
  });

  it('counts one account guessed from many addresses, but lets its owner in from an address it used before', async () => {
    const instances = three();
    // The owner logs in once from home.
    const home = await instances[0]!.begin('linus', '192.0.2.10');
    await instances[0]!.end(home, true);
    for (let i = 0; i < 30; i++) {
      const a = await instances[i % 3]!.begin('linus', `198.18.${i}.1`);
      await instances[i % 3]!.end(a, false);
    }
    await expect(instances[1]!.begin('linus', '198.18.200.1')).rejects.toThrow(/for this account, from several addresses/);
    const again = await instances[2]!.begin('linus', '192.0.2.10');
    await instances[2]!.end(again, true);
  });

  it('a right password takes the attempt out of the counts', async () => {
    const instances = three();
    for (let i = 0; i < 25; i++) {
      const a = await instances[i % 3]!.begin('ada', '203.0.113.50');
      await instances[(i + 1) % 3]!.end(a, true);
    }
  });

  it('counts on its own, and says so once, while Redis does not answer', async () => {
    const { createClient } = await import('redis');
    const dead = createClient({ url: 'redis://127.0.0.1:1', socket: { reconnectStrategy: false, connectTimeout: 500 } });
    dead.on('error', () => undefined);
    const lines: string[] = [];
    const throttle = new SharedLoginThrottle(dead, prefix, createLogger('warn', (l) => lines.push(l)));
    for (let i = 0; i < 10; i++) await throttle.end(await throttle.begin('eve', '203.0.113.99'), false);
    await expect(throttle.begin('eve', '203.0.113.99')).rejects.toThrow(/too many failed logins/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/failed logins are counted per instance/);
  });
});
