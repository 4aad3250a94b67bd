// The coordinator's background jobs: what each does in a turn, and how often. Each runs under a
// lease of its own (cluster/singleton-jobs.ts), so that of several instances on one database
// exactly one runs it at a time, and another takes it over when that one dies. Every turn asks its
// fence in each transaction that writes. What events start (a host caught, a credit cap or a
// priority bound lowered, a batch cancelled) is recorded in the database before the job is
// kicked, so whichever instance holds the lease finds it.
import type { Logger } from '../common/log.js';
import type { Fence } from './cluster/fence.js';
import type { SingletonJobs } from './cluster/singleton-jobs.js';
import type { Config } from './config.js';
import type { Core } from './core.js';
import { giveUpOrphanedHosts, resumeOrphanedBatches } from './cluster/orphans.js';
import { discardStaged } from './work/batch-ingest.js';

/** How often the holder looks for submissions and cancellations a dead instance left (their holds last 15 s). */
const LEFTOVERS_MS = 5_000;

export type BackgroundJobsConfig = Pick<Config, 'transitionIntervalMs' | 'uploadGraceMs' | 'disconnectGraceMs'>;

/** What the jobs that take up a dead instance's work need of the server around the core. */
export interface ServerEdges {
  /** Which hosts are connected to any instance; rejects when an instance did not answer. */
  onlineEverywhere(): Promise<Set<number>>;
  /** Replicas were made for the batch: its watchers and idle hosts are told. */
  onReplicasMade(batchId: number): void;
  /** When this instance took its own lease, by the database's clock: hosts could come back to it since. */
  upSince: number;
}

/** What the jobs work on: a core (a running coordinator is one too). */
type JobCore = Omit<Core, 'close'>;

/** The jobs, each under its lease name. `pollMs` is how often the kicked ones look for work recorded elsewhere. */
export function addBackgroundJobs(jobs: Pick<SingletonJobs, 'add'>, core: JobCore, config: BackgroundJobsConfig, pollMs: number, edges: ServerEdges, log: Logger): void {
  jobs.add('deadline-sweep', {
    turnIntervalMs: config.transitionIntervalMs,
    turn: async (fence) => {
      const n = await core.store.transaction(async (tx) => ((await fence(tx.sql)) ? core.service.sweepDeadlines(tx) : 0));
      if (n > 0) log.info('deadline sweep', { workunits: n });
    },
  });
  // Caught hosts (recheck_pending), lowered caps and bounds (the project's row): kicked where the
  // event happened if that instance holds the lease, else found at the holder's next look.
  jobs.add('host-recheck', { turnIntervalMs: pollMs, turn: (fence) => core.recheckHosts(fence) });
  jobs.add('credit-correction', { turnIntervalMs: pollMs, turn: (fence) => core.correctCredit(fence) });
  jobs.add('priority-lowering', { turnIntervalMs: pollMs, turn: (fence) => core.lowerPriorities(fence) });
  // Uploaded outputs nothing needs any more: looked for every ten minutes, or twice per grace period if shorter.
  // Temp files of uploads a crash cut short (this instance's or another's sharing the files) go then too.
  jobs.add('output-collection', {
    turnIntervalMs: Math.max(1000, Math.min(600_000, Math.floor(config.uploadGraceMs / 2))),
    turn: async (fence) => {
      const temps = core.blobs.removeStaleTemps();
      if (temps > 0) log.info('removed temp files of uploads a crash cut short', { files: temps });
      const n = await core.collectOutputs(fence);
      if (n > 0) log.info('removed uploaded outputs nothing needs', { files: n });
    },
  });
  jobs.add('cancellations', { turnIntervalMs: LEFTOVERS_MS, turn: (fence) => finishCancellations(core, fence, log) });
  // On SQLite the one coordinator discards staged batches at start only: later ones are its own.
  // Likewise its hosts' grace periods and its batches' replicas are its own (timers, and the
  // replica maker, resumed at start); on PostgreSQL another instance takes up a dead one's
  // (cluster/orphans.ts), as soon as its lease lapsed and, for a host, its grace period ended.
  if (core.store.sql.dialect === 'postgres') {
    jobs.add('abandoned-submissions', { turnIntervalMs: LEFTOVERS_MS, turn: (fence) => discardAbandoned(core, fence, log) });
    const hosts = { onlineEverywhere: () => edges.onlineEverywhere(), graceMs: config.disconnectGraceMs, upSince: edges.upSince, log };
    jobs.add('orphaned-hosts', { turnIntervalMs: pollMs, turn: (fence) => giveUpOrphanedHosts(core, hosts, fence) });
    jobs.add('orphaned-batches', { turnIntervalMs: pollMs, turn: (fence) => resumeOrphanedBatches(core, fence, log, edges.onReplicasMade) });
  }
}

/** Cancellations cut short (their instance died, or the coordinator restarted), finished. */
async function finishCancellations(core: JobCore, fence: Fence, log: Logger): Promise<void> {
  for (const batchId of await core.cancellations.abandoned()) {
    log.warn('finishing a cancellation that was cut short', { batchId });
    if ((await core.cancellations.finish(batchId, fence)).fenced) return;
  }
}

/**
 * A submission cut short by a crash left a staged batch: it was never acknowledged. On SQLite any
 * staged batch found at start is such a one; on PostgreSQL one whose instance is gone
 * (cluster/staged-batches.ts).
 */
export async function discardAbandoned(core: JobCore, fence: Fence, log: Logger): Promise<void> {
  for (const { id, createdAt } of await core.store.work.stagedBatches()) {
    if (!(await core.stagedBatches.abandoned(id, createdAt, Date.now()))) continue;
    if (!(await discardStaged(core.submission, id, fence))) return;
    log.warn('discarded a batch whose submission never finished', { batchId: id });
  }
}
