// How the peer's processes reach their redis-server. BullMQ 6 made its Redis driver a choice:
// ioredis (the default, an optional peer dependency that this project does not install) or
// node-redis, which the project already depends on and BullMQ ships an adapter for
// (`createNodeRedisClient`). Every Worker, Queue, QueueEvents and FlowProducer given plain
// options below gets a client of its own from this factory (and a Worker a second, blocking one).
import { createNodeRedisClient, RedisConnection, type ConnectionOptions } from 'bullmq';
import { createClient } from 'redis';

let installed = false;

/** Makes BullMQ create node-redis clients in this process; call before making any BullMQ object. */
export function useNodeRedis(): void {
  if (installed) return;
  installed = true;
  RedisConnection.clientFactory = (opts) =>
    createNodeRedisClient(createClient({ socket: { host: typeof opts.host === 'string' ? opts.host : '127.0.0.1', port: typeof opts.port === 'number' ? opts.port : 6379 } }));
}

export function connectionTo(port: number): ConnectionOptions {
  return { host: '127.0.0.1', port };
}
