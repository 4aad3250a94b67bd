// The benchmark's peer (BullMQ on a redis-server of its own) at a tiny size: whatever its speed,
// it must do the work it is compared on — one canonical result per work unit, from two jobs that
// different workers ran. No timing is checked here.
import { Queue } from 'bullmq';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanUpAll } from '../../bench/children.js';
import { connectionTo, useNodeRedis } from '../../bench/peer/bull-connection.js';
import { canonicalKey, jobId, REPLICA_QUEUES, type CanonicalRecord, type ReplicaReturn, type Variant } from '../../bench/peer/peer-jobs.js';
import { MEASURED_PHASE, runPeer } from '../../bench/peer/peer-run.js';
import { redisServerProblem, type Durability, type RedisServer } from '../../bench/peer/redis-server.js';
import { trivialOutput } from '../../bench/apps.js';
import { judge, Pairing } from '../../bench/peer/validator.js';
import { skipRedisServerTests } from '../helpers/redis.js';

const skip = skipRedisServerTests('benchmark peer', redisServerProblem());
const UNITS = 60;

interface Recorded {
  canonical: Map<number, CanonicalRecord>;
  /** Per unit, who ran each replica's job: as BullMQ stored it (processedBy), and as the job returned it. */
  ranBy: Map<number, { processedBy: string | undefined; returned: string | undefined }[]>;
}

async function read(server: RedisServer): Promise<Recorded> {
  const client = createClient({ url: server.url });
  await client.connect();
  const queues = REPLICA_QUEUES.map((q) => new Queue(q, { connection: connectionTo(server.port) }));
  try {
    const raw = await client.hGetAll(canonicalKey(MEASURED_PHASE));
    const canonical = new Map(Object.entries(raw).map(([unit, json]) => [Number(unit), JSON.parse(json) as CanonicalRecord]));
    const ranBy: Recorded['ranBy'] = new Map();
    for (let unit = 0; unit < UNITS; unit++) {
      const jobs = await Promise.all(queues.map((q) => q.getJob(jobId(MEASURED_PHASE, unit))));
      ranBy.set(
        unit,
        jobs.map((j) => ({ processedBy: j?.processedBy, returned: (j?.returnvalue as ReplicaReturn | undefined)?.worker })),
      );
    }
    return { canonical, ranBy };
  } finally {
    await Promise.all(queues.map((q) => q.close()));
    await client.quit();
  }
}

async function tinyRun(variant: Variant, durability: Durability): Promise<{ recorded: Recorded; canonicalCount: number }> {
  let recorded: Recorded | undefined;
  const run = await runPeer({
    variant,
    durability,
    units: UNITS,
    warmUpUnits: 10,
    processes: 2,
    workers: 4,
    concurrency: 4,
    timeoutMs: 60_000,
    inspect: async (server) => {
      recorded = await read(server);
    },
  });
  return { recorded: recorded!, canonicalCount: run.done.canonical };
}

function expectEveryUnitDecidedByTwoWorkers({ recorded, canonicalCount }: { recorded: Recorded; canonicalCount: number }): void {
  expect(canonicalCount).toBe(UNITS);
  expect([...recorded.canonical.keys()].sort((a, b) => a - b)).toEqual(Array.from({ length: UNITS }, (_, i) => i));
  for (const [unit, record] of recorded.canonical) {
    expect(record.output).toEqual(trivialOutput({ n: unit }));
    const ran = recorded.ranBy.get(unit)!;
    expect(ran).toHaveLength(2);
    const [a, b] = ran.map((r) => r.processedBy);
    expect(a).toBeTruthy();
    expect(b).toBeTruthy();
    expect(a).not.toBe(b);
    // What each job returned names the worker BullMQ says ran it, and the validator recorded those two.
    expect(ran.map((r) => r.returned)).toEqual([a, b]);
    expect([...record.workers].sort()).toEqual([a!, b!].sort());
  }
}

describe.skipIf(skip)('the benchmark peer (BullMQ on its own redis-server)', () => {
  useNodeRedis();
  afterAll(cleanUpAll);

  it('plain jobs, no AOF: one canonical result per work unit, its two jobs run by different workers', async () => {
    expectEveryUnitDecidedByTwoWorkers(await tinyRun('plain', 'none'));
  }, 120_000);

  it('flows, AOF always: one canonical result per work unit, its two jobs run by different workers', async () => {
    expectEveryUnitDecidedByTwoWorkers(await tinyRun('flow', 'fsync-always'));
  }, 120_000);
});

describe('the benchmark peer\'s validator', () => {
  it('records a canonical result only for equal outputs from two different workers', () => {
    const output = { n: 3, square: 9 };
    expect(judge({ output, worker: 'w0' }, { output: { n: 3, square: 9 }, worker: 'w1' })).toEqual({ kind: 'canonical', record: { output, workers: ['w0', 'w1'] } });
    expect(judge({ output, worker: 'w0' }, { output: { n: 3, square: 10 }, worker: 'w1' })).toEqual({ kind: 'disagree' });
    expect(judge({ output, worker: 'w0' }, { output, worker: 'w0' })).toEqual({ kind: 'same-worker', worker: 'w0' });
  });

  it('pairs the two replicas of a unit, never a job with itself when it completes twice', () => {
    const pairing = new Pairing();
    const r = (worker: string): ReplicaReturn => ({ output: 1, worker });
    expect(pairing.add('u1', 0, r('w0'))).toBeUndefined();
    // At-least-once delivery: replica 0 again (a stalled job run twice) waits for replica 1 still.
    expect(pairing.add('u1', 0, r('w2'))).toBeUndefined();
    expect(pairing.add('u1', 1, r('w1'))).toEqual([r('w2'), r('w1')]);
    expect(pairing.pending).toBe(0);
  });
});
