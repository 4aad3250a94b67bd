// A process of BullMQ workers (run as a child of the peer scenario), the peer's counterpart of
// bench/sim-volunteers.ts: several Workers, each with its own connections and `concurrency` jobs
// at once, computing the trivial app's output directly as the simulated volunteers do.
// Usage: node --import tsx bench/peer/peer-workers.ts '<WorkersConfig as JSON>'
import { Worker, type Job } from 'bullmq';
import { trivialOutput } from '../apps.js';
import { connectionTo, useNodeRedis } from './bull-connection.js';
import type { FromChild, ToChild, WorkersConfig } from './peer-messages.js';
import type { ReplicaJob, ReplicaReturn } from './peer-jobs.js';

const send = (m: FromChild) => process.send?.(m);
if (!process.send) {
  process.stderr.write('bench/peer/peer-workers.ts runs as a child of the benchmark (it needs an IPC channel)\n');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));

const config = JSON.parse(process.argv[2] ?? '{}') as WorkersConfig;
useNodeRedis();
const processed: Record<string, number> = {};

const workers = config.workers.map(({ name, queue }) => {
  processed[name] = 0;
  const worker = new Worker<ReplicaJob, ReplicaReturn>(
    queue,
    async (job: Job<ReplicaJob>) => {
      processed[name]!++;
      return { output: trivialOutput(job.data.input), worker: name };
    },
    // `name` is also stored on each job it runs (job.processedBy), which the test reads.
    { connection: connectionTo(config.port), concurrency: config.concurrency, name },
  );
  worker.on('error', (e) => send({ type: 'error', message: `worker ${name}: ${e.message}` }));
  worker.on('failed', (job, e) => send({ type: 'error', message: `worker ${name}, job ${job?.id ?? '?'}: ${e.message}` }));
  return worker;
});

process.on('message', (m: ToChild) => {
  if (m.type === 'counts') send({ type: 'counts', processed });
  if (m.type === 'exit') void Promise.allSettled(workers.map((w) => w.close())).finally(() => process.exit(0));
});

Promise.all(workers.map((w) => w.waitUntilReady()))
  .then(() => send({ type: 'ready' }))
  .catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
