// A real Redis server for tests: the machine's (127.0.0.1:6379) or VG_TEST_REDIS_URL. Tests use
// keys under a prefix of their own and delete them after; they never flush or reconfigure the
// server. Under CI=true a missing server fails the suite; elsewhere the suite is skipped and says
// how to start one.
import { randomBytes } from 'node:crypto';
import { createClient } from 'redis';

export const REDIS_URL = process.env.VG_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export type TestRedis = ReturnType<typeof createClient>;

let reachable: Promise<string | null> | undefined;

/** Null when the server answers, else why not. */
export function redisProblem(): Promise<string | null> {
  reachable ??= (async () => {
    const client = createClient({ url: REDIS_URL, socket: { connectTimeout: 3_000, reconnectStrategy: false } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return null;
    } catch (error) {
      return `Redis at ${REDIS_URL} does not answer (${(error as Error).message})`;
    } finally {
      if (client.isOpen) await client.quit().catch(() => undefined);
    }
  })();
  return reachable;
}

export async function skipRedisTests(suite: string): Promise<boolean> {
  const problem = await redisProblem();
  if (!problem || process.env.CI === 'true') return false;
  console.warn(
    `[${suite}] skipped: ${problem}. Start one with \`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no\` ` +
      '(Debian: `apt-get install -y redis-server`), or set VG_TEST_REDIS_URL',
  );
  return true;
}

export async function connectRedis(): Promise<TestRedis> {
  const client = createClient({ url: REDIS_URL });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** A key prefix no other test run uses. */
export function testPrefix(): string {
  return `vg-test:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** Deletes this run's keys (by SCAN, never KEYS or FLUSH). */
export async function deleteKeys(client: TestRedis, prefix: string): Promise<void> {
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 100 })) {
    if (keys.length > 0) await client.del(keys);
  }
}

/**
 * For suites that start a redis-server of their own (the benchmark's peer): true when they should
 * be skipped, having said why. Under CI=true a missing binary fails them instead.
 */
export function skipRedisServerTests(suite: string, problem: string | null): boolean {
  if (!problem || process.env.CI === 'true') return false;
  console.warn(`[${suite}] skipped: ${problem}. Install one (Debian: \`apt-get install -y redis-server\`) or set VG_REDIS_SERVER to its path`);
  return true;
}
