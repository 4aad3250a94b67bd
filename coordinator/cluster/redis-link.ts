// The coordinator's connection to Redis in cluster mode (--redis-url): one client to publish and
// one to subscribe, as the Socket.IO Redis adapter needs. Redis carries only what may be lost —
// pushes between instances, shared limits — never acknowledged data, which lives in PostgreSQL.
// A Redis that goes away is logged and reconnected to by the client; pushes between instances
// pause meanwhile (each instance still serves its own connections).
import { createClient } from 'redis';
import { errorFields, type Logger } from '../../common/log.js';

export type RedisClient = ReturnType<typeof createClient>;

export interface RedisLink {
  pub: RedisClient;
  sub: RedisClient;
  close(): Promise<void>;
}

/** How long a failing Redis goes unmentioned in the log after it was last mentioned. */
const WARN_EVERY_MS = 30_000;

/** How long the first connection may take: an instance that cannot reach Redis says so and stops. */
const CONNECT_TIMEOUT_MS = 5_000;

export async function connectRedis(url: string, log: Logger): Promise<RedisLink> {
  let connected = false;
  const socket = {
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Until the first connection: give up (connect() rejects with why). After: keep trying.
    reconnectStrategy: (retries: number, cause: Error) => (connected ? Math.min(100 * 2 ** retries, 5_000) : cause),
  };
  // Commands fail at once while Redis is away instead of queueing without bound and arriving
  // late: a push between instances is then lost, as Redis may lose it anyway.
  const pub = createClient({ url, socket, disableOfflineQueue: true });
  const sub = createClient({ url, socket });
  let warnedAt = -Infinity;
  for (const [role, client] of [['publish', pub], ['subscribe', sub]] as const) {
    // Without a listener a lost connection would crash the process; the client reconnects by itself.
    client.on('error', (e: unknown) => {
      if (Date.now() - warnedAt < WARN_EVERY_MS) return;
      warnedAt = Date.now();
      log.warn('Redis connection failed; pushes between instances wait until it is back', { role, ...errorFields(e) });
    });
  }
  try {
    await Promise.all([pub.connect(), sub.connect()]);
    connected = true;
  } catch (e) {
    await Promise.allSettled([pub.quit(), sub.quit()]);
    throw new Error(`cannot connect to Redis at ${redact(url)}: ${(e as Error).message}`);
  }
  return {
    pub,
    sub,
    async close() {
      await Promise.allSettled([pub.quit(), sub.quit()]);
    },
  };
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
