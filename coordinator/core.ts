// The coordinator without its network: store, keys, files and the work lifecycle, wired.
// The server adds HTTP and Socket.IO on top; tests drive it directly with their own clock.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { join } from 'node:path';
import type { Ed25519 } from '../protocol/ed25519.js';
import { nodeEd25519 } from '../protocol/ed25519-node.js';
import { creditUnits } from '../protocol/ledger.js';
import { AccountService } from './accounts/account-service.js';
import { AppRegistry } from './apps/app-registry.js';
import type { Config } from './config.js';
import { BlobStore, filesDirOf } from './files/blob-store.js';
import { secureDataDir, type DataDirModes } from './files/data-dir.js';
import { OutputCollector } from './files/output-collector.js';
import { OutputFiles } from './files/output-files.js';
import { OutputUploads } from './files/output-uploads.js';
import { keyFileOf, loadCoordinatorKey, type CoordinatorKey } from './identity/coordinator-key.js';
import type { Fence } from './cluster/fence.js';
import { instanceName } from './cluster/instance-name.js';
import { localControl, type JobControls } from './cluster/job-control.js';
import { Leases } from './cluster/leases.js';
import { LeasedStagedBatches, SOLE_KEEPER, type StagedBatchKeeper } from './cluster/staged-batches.js';
import { LeasedHolds, LocalHolds } from './cluster/work-holds.js';
import { DATABASE_FILE_NAME } from './ops/sqlite-file.js';
import { Store } from './store/store.js';
import type { Candidate } from './store/work-store.js';
import { HostRegistry } from './volunteers/host-registry.js';
import { VolunteerService } from './volunteers/volunteer-service.js';
import { CreditCorrection } from './work/credit-correction.js';
import { CreditGranter } from './work/credit-granter.js';
import { Cancellations } from './work/cancellation.js';
import { HostRecheck } from './work/host-recheck.js';
import { PriorityBounds } from './work/priority-bounds.js';
import { QuotaKeeper, type QuotaPolicy } from './work/host-quota.js';
import { Repair } from './work/repair.js';
import { Outbox, type HostNotifier } from './work/outbox.js';
import { ResultIntake } from './work/result-intake.js';
import { Scheduler } from './work/scheduler.js';
import { Submission } from './work/submission.js';
import { Transitioner } from './work/transitioner.js';

/** Work units retried per transaction. */
const RETRY_CHUNK = 500;

export type CoreOptions = Pick<
  Config,
  | 'dataDir' | 'filesDir' | 'keyFile' | 'distinctUsers' | 'trustThreshold' | 'spotCheckRate' | 'checkRate' | 'recheckDelayMs' | 'maxInFlightPerHost'
  | 'newHostTasks' | 'newHostTasksPerDay' | 'maxTasksPerDayPerHost' | 'newHostShare' | 'holdTimeoutMs' | 'maxCreditPerResult'
  | 'maxPriority' | 'maxInputBytes' | 'maxOutputBytes' | 'uploadGraceMs'
>;

export interface Core {
  ed: Ed25519;
  key: CoordinatorKey;
  /** Where the key was read from (--key-file, else the data dir's). */
  keyFile: string;
  keyCreated: boolean;
  /** The key file's mode when other users may read it (a --key-file; the data dir's is tightened). */
  keyFileMode?: string;
  /** What this start found readable by other users in the data dir, and tightened. */
  dataDirModes: DataDirModes;
  store: Store;
  blobs: BlobStore;
  /** Which stored files may count as outputs (canonical JSON). */
  outputs: OutputFiles;
  /** Uploads of outputs: by a host, for a task of its own, once, within --max-output-bytes. */
  uploads: OutputUploads;
  /** Removes uploaded outputs nothing needs any more (one pass, fenced when given a fence; resolves with how many). */
  collectOutputs(fence?: Fence): Promise<number>;
  /** What collectOutputs runs: one file removed, in a transaction of the caller's. */
  collector: OutputCollector;
  apps: AppRegistry;
  accounts: AccountService;
  submission: Submission;
  registry: HostRegistry;
  service: VolunteerService;
  /**
   * Cancels a batch's open work units a chunk at a time (a huge batch never stalls the loop)
   * and tells hosts to abort their tasks after each chunk commits. Resolves with how many.
   */
  cancelBatch(batchId: number): Promise<number>;
  /** Cancellations: and those cut short, which the resume job finishes. */
  cancellations: Cancellations;
  /** Opens a batch's failed work units again (those that failed with one of `codes`, if given), a chunk at a time. Resolves with how many. */
  retryBatch(batchId: number, codes?: string[]): Promise<number>;
  repair: Repair;
  /**
   * Re-checks the earlier results of caught hosts whose re-check is due: unfenced by itself (a
   * core on its own, which also kicks it when a host is caught), or as a turn under a lease with
   * its fence. Resolves when no host due is left to re-check.
   */
  recheckHosts(fence?: Fence): Promise<void>;
  /** Whether a host could take one of these replicas, quotas aside (for telling why a batch cannot move). */
  couldTake(hostId: number, candidates: Candidate[], now: number): Promise<boolean>;
  /** Projects' credit caps, and the job that takes back credit granted above a lowered one. */
  creditCaps: CreditCorrection;
  /** Runs the credit corrections pending (fenced when given a fence); resolves when none is left. */
  correctCredit(fence?: Fence): Promise<void>;
  /** Projects' priority bounds, and the job that brings queued work down to a lowered one. */
  priorities: PriorityBounds;
  /** Runs the priority lowerings pending (fenced when given a fence); resolves when none is left. */
  lowerPriorities(fence?: Fence): Promise<void>;
  /** Who holds a submission in progress: on PostgreSQL a lease per staged batch, so instances leave each other's alone. */
  stagedBatches: StagedBatchKeeper;
  /** This instance, as leases name their holder: unique among the instances sharing the database. */
  instance: string;
  /** Leases on the database: which instance runs each background job. */
  leases: Leases;
  close(): Promise<void>;
}

export function createCore(
  options: CoreOptions,
  notifier: HostNotifier,
  env: {
    clock?: () => number;
    random?: () => number;
    /** Draws task ids (default: unguessable ones); a seeded simulation passes its own. */
    taskIds?: () => number;
    onError?: (e: unknown) => void;
    onCorrectionError?: (e: unknown) => void;
    onPriorityError?: (e: unknown) => void;
    /** The store to work on (PostgreSQL: Store.openPostgres); default the data dir's SQLite file. */
    store?: Store;
    /** This instance's name in leases (default: host, process and a random part). */
    instance?: string;
    /** Where the background jobs that events kick run (a coordinator's leases); default: in this process, unfenced. */
    jobs?: JobControls;
  } = {},
): Core {
  const dataDirModes = secureDataDir(options.dataDir);
  const clock = env.clock ?? Date.now;
  const ed = nodeEd25519();
  // The data dir's own key is made at the first start; one named by --key-file must exist (admin init-key).
  const keyFile = keyFileOf(options);
  const { key, created, looseMode } = loadCoordinatorKey(keyFile, ed, { create: options.keyFile === undefined });
  const store = env.store ?? Store.open(join(options.dataDir, DATABASE_FILE_NAME));
  const blobs = new BlobStore(filesDirOf(options));
  const outputs = new OutputFiles(blobs);
  const uploads = new OutputUploads(store, outputs, options.maxOutputBytes);
  const collector = new OutputCollector(store, blobs, options.uploadGraceMs, clock);

  const random = env.random ?? Math.random;
  const credit = new CreditGranter(key, creditUnits(options.maxCreditPerResult));
  const quota: QuotaPolicy = {
    newHostTasks: options.newHostTasks,
    newHostTasksPerDay: options.newHostTasksPerDay,
    maxInFlight: options.maxInFlightPerHost,
    maxTasksPerDay: options.maxTasksPerDayPerHost,
  };
  const quotas = new QuotaKeeper(quota);
  const transitioner = new Transitioner(blobs, credit, quotas, {
    distinctUsers: options.distinctUsers,
    trustThreshold: options.trustThreshold,
    recheckDelayMs: options.recheckDelayMs,
    random,
  });
  // Hosts caught by a sentinel start the re-check of their earlier results once that commits.
  const onError = env.onError ?? ((e: unknown) => console.error('re-checking a caught host failed', e));
  const hosts: HostNotifier = {
    abort: (hostId, taskIds, reason) => notifier.abort(hostId, taskIds, reason),
    credit: (hostId, receipts) => notifier.credit(hostId, receipts),
    judged: (hostId, verdicts) => notifier.judged?.(hostId, verdicts),
    batchesChanged: (batchIds) => notifier.batchesChanged?.(batchIds),
    workAvailable: () => notifier.workAvailable?.(),
    hostsDistrusted: (hostIds) => {
      notifier.hostsDistrusted?.(hostIds);
      recheckControl.kick();
    },
  };
  const recheck = new HostRecheck(store, transitioner, hosts, clock);
  const recheckControl = env.jobs?.control('host-recheck') ?? localControl(() => recheck.kick(), onError);
  const onCorrectionError = env.onCorrectionError ?? ((e: unknown) => console.error('correcting a project’s credit failed', e));
  const creditCaps = new CreditCorrection(store, credit, hosts, clock, onCorrectionError, env.jobs?.control('credit-correction'));
  const scheduler = new Scheduler(key, {
    distinctUsers: options.distinctUsers,
    trustThreshold: options.trustThreshold,
    spotCheckRate: options.spotCheckRate,
    checkRate: options.checkRate,
    quota,
    newHostShare: options.newHostShare,
    holdTimeoutMs: options.holdTimeoutMs,
    random,
    taskIds: env.taskIds,
  });
  const intake = new ResultIntake(transitioner, outputs, uploads, quotas);
  const service = new VolunteerService(scheduler, intake, ed, transitioner, hosts, quotas, options.holdTimeoutMs, clock);
  const onPriorityError = env.onPriorityError ?? ((e: unknown) => console.error('lowering a project’s priorities failed', e));
  const priorities = new PriorityBounds(store, options.maxPriority, onPriorityError, env.jobs?.control('priority-lowering'));
  const instance = env.instance ?? instanceName();
  // Batches and hosts name the instance they are on (migration 19), for when it dies (cluster/orphans.ts).
  const submission = new Submission(store, blobs, transitioner, priorities, options.maxInputBytes, instance);
  const repair = new Repair(store, transitioner);
  const leases = new Leases(store.sql, instance);
  // Work an instance has in hand: on PostgreSQL a lease each, so that the others leave it alone.
  const holds = store.sql.dialect === 'postgres' ? new LeasedHolds(leases) : new LocalHolds();
  const cancellations = new Cancellations(store, submission, hosts, holds, clock);

  return {
    ed,
    key,
    keyFile,
    keyCreated: created,
    ...(looseMode === undefined ? {} : { keyFileMode: looseMode }),
    dataDirModes,
    store,
    blobs,
    outputs,
    uploads,
    collectOutputs: (fence) => collector.collect(fence),
    collector,
    apps: new AppRegistry(store, blobs, key),
    accounts: new AccountService(store.sql, clock),
    submission,
    registry: new HostRegistry(store, ed, key.publicKey, instance),
    service,
    cancelBatch: (batchId) => cancellations.cancel(batchId),
    cancellations,
    async retryBatch(batchId, codes) {
      let total = 0;
      for (;;) {
        const outbox = new Outbox();
        const part = await repair.retryPart(batchId, codes, RETRY_CHUNK, outbox, clock());
        outbox.flush(hosts);
        total += part.retried;
        if (part.done) return total;
        await nextTurn();
      }
    },
    repair,
    recheckHosts: (fence) => (fence ? recheck.run(fence) : recheck.kick()),
    couldTake: (hostId, candidates, now) => scheduler.couldTake(store, hostId, candidates, now),
    creditCaps,
    correctCredit: (fence) => (fence ? creditCaps.run(fence) : creditCaps.kick()),
    priorities,
    lowerPriorities: (fence) => (fence ? priorities.run(fence) : priorities.kick()),
    stagedBatches: store.sql.dialect === 'postgres' ? new LeasedStagedBatches(holds) : SOLE_KEEPER,
    instance,
    leases,
    close: async () => {
      recheck.stop();
      creditCaps.stop();
      priorities.stop();
      collector.stop();
      // Closing waits for a transaction of a job stopped mid-chunk to end.
      await store.close();
    },
  };
}
