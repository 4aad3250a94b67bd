// The peer's producer and validator in one process (run as a child of the peer scenario): the
// part of the coordinator's job that is not the volunteers'. It adds each phase's work units with
// BullMQ's bulk calls, pairs the two results of each unit, and records a canonical result in a
// Redis hash when they agree, then says when the last one is recorded.
// Usage: node --import tsx bench/peer/peer-driver.ts '<DriverConfig as JSON>'
import { FlowProducer, Queue, QueueEvents, Worker, type Job } from 'bullmq';
import { createClient } from 'redis';
import { connectionTo, useNodeRedis } from './bull-connection.js';
import type { DriverConfig, FromChild, PhaseDone, ToChild } from './peer-messages.js';
import { canonicalKey, jobId, REPLICA_QUEUES, unitOf, VALIDATE_QUEUE, type ReplicaJob, type ReplicaReturn } from './peer-jobs.js';
import { judge, Pairing } from './validator.js';

const send = (m: FromChild) => process.send?.(m);
if (!process.send) {
  process.stderr.write('bench/peer/peer-driver.ts runs as a child of the benchmark (it needs an IPC channel)\n');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));
const fail = (e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) });

const config = JSON.parse(process.argv[2] ?? '{}') as DriverConfig;
useNodeRedis();
const connection = connectionTo(config.port);
// The validator's own connection for recording canonical results (node-redis pipelines the
// commands issued in one turn of the event loop).
const records = createClient({ socket: { host: '127.0.0.1', port: config.port } });
records.on('error', fail);

interface Phase {
  name: string;
  units: number;
  done: PhaseDone;
}
let current: Phase | undefined;

/** Judges a pair and records its canonical result; the phase is done once every unit is decided. */
async function decide(phase: Phase, unit: number, a: ReplicaReturn, b: ReplicaReturn): Promise<void> {
  const verdict = judge(a, b);
  if (verdict.kind === 'canonical') {
    await records.hSet(canonicalKey(phase.name), String(unit), JSON.stringify(verdict.record));
    phase.done.canonical++;
  } else if (verdict.kind === 'disagree') phase.done.disagreed++;
  else phase.done.sameWorker++;
  const d = phase.done;
  if (d.canonical + d.disagreed + d.sameWorker === phase.units) {
    d.finishedAt = Date.now();
    current = undefined;
    send(d);
  }
}

function phaseOf(id: string): Phase | undefined {
  return current && id.startsWith(`${current.name}-`) ? current : undefined;
}

// Plain: two queues fed by addBulk; completions read back from each queue's events stream.
let queues: Queue<ReplicaJob>[] = [];
let events: QueueEvents[] = [];
const pairing = new Pairing();

// Flow: one FlowProducer; the parents' Worker is the validator.
let flows: FlowProducer | undefined;
let validator: Worker | undefined;

async function setUp(): Promise<void> {
  await records.connect();
  if (config.variant === 'plain') {
    queues = REPLICA_QUEUES.map((q) => new Queue<ReplicaJob>(q, { connection, streams: { events: { maxLen: config.eventsMaxLen } } }));
    // From the stream's start: nothing is added before they read, so none is missed.
    events = REPLICA_QUEUES.map((q) => new QueueEvents(q, { connection, lastEventId: '0' }));
    events.forEach((e, replica) => {
      e.on('completed', ({ jobId: id, returnvalue }) => {
        const phase = phaseOf(id);
        if (!phase) return;
        const pair = pairing.add(id, replica, returnvalue as unknown as ReplicaReturn);
        if (pair) decide(phase, unitOf(id), pair[0], pair[1]).catch(fail);
      });
      e.on('error', fail);
    });
    await Promise.all([...queues.map((q) => q.waitUntilReady()), ...events.map((e) => e.waitUntilReady())]);
  } else {
    flows = new FlowProducer({ connection });
    validator = new Worker(
      VALIDATE_QUEUE,
      async (job: Job<{ unit: number }>) => {
        const phase = phaseOf(job.id ?? '');
        const values = Object.values(await job.getChildrenValues<ReplicaReturn>());
        if (!phase || values.length !== 2) throw new Error(`parent ${job.id}: ${values.length} children values`);
        await decide(phase, job.data.unit, values[0]!, values[1]!);
      },
      { connection, concurrency: config.validatorConcurrency, name: 'validator' },
    );
    validator.on('error', fail);
    validator.on('failed', (job, e) => fail(`validator, job ${job?.id ?? '?'}: ${e.message}`));
    await Promise.all([flows.waitUntilReady(), validator.waitUntilReady()]);
  }
}

async function add(phase: string, from: number, to: number): Promise<void> {
  const units = Array.from({ length: to - from }, (_, k) => from + k);
  // The throughput scenario's inputs: {"n": i}.
  const data = (unit: number): ReplicaJob => ({ unit, input: { n: unit } });
  if (config.variant === 'plain') {
    await Promise.all(queues.map((q) => q.addBulk(units.map((u) => ({ name: 'task', data: data(u), opts: { jobId: jobId(phase, u) } })))));
  } else {
    await flows!.addBulk(
      units.map((u) => ({
        name: 'unit',
        queueName: VALIDATE_QUEUE,
        data: { unit: u },
        opts: { jobId: jobId(phase, u) },
        children: REPLICA_QUEUES.map((q) => ({ name: 'task', queueName: q, data: data(u), opts: { jobId: jobId(phase, u) } })),
      })),
    );
  }
}

async function run(name: string, units: number): Promise<void> {
  if (current) throw new Error(`phase ${current.name} is still running`);
  const phase: Phase = { name, units, done: { type: 'done', phase: name, startedAt: Date.now(), addedAt: 0, finishedAt: 0, canonical: 0, disagreed: 0, sameWorker: 0 } };
  current = phase;
  for (let from = 0; from < units; from += config.unitsPerBulk) await add(name, from, Math.min(units, from + config.unitsPerBulk));
  phase.done.addedAt = Date.now();
}

process.on('message', (m: ToChild) => {
  if (m.type === 'run') run(m.phase, m.units).catch(fail);
  if (m.type === 'exit') {
    const closing = [...queues, ...events, ...(flows ? [flows] : []), ...(validator ? [validator] : [])].map((c) => c.close());
    void Promise.allSettled([...closing, records.quit()]).finally(() => process.exit(0));
  }
});

setUp()
  .then(() => send({ type: 'ready' }))
  .catch(fail);
