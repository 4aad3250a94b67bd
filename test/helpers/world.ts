// A coordinator core on a real SQLite file in a temp dir, with a hand-driven clock and
// recorded notices: for deterministic tests of the lifecycle rules through the real store.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Capabilities, CreditReceipt, Platform, Result, ResultVerdict, Task, TaskVerdict } from '../../protocol/messages.js';
import { buildResult, type Outcome } from '../../protocol/results.js';
import type { Requirements, VersionPlatform } from '../../coordinator/store/catalog.js';
import { DEFAULT_MAX_CREDIT_PER_RESULT, DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_OUTPUT_BYTES } from '../../coordinator/config.js';
import { createCore, type Core, type CoreOptions } from '../../coordinator/core.js';
import type { Replication, Validation } from '../../coordinator/work/model.js';
import type { Assignment } from '../../coordinator/work/scheduler.js';
import { counterProblems } from './batch-counters.js';

export const PRIMES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'primes');
const ed = nodeEd25519();
/**
 * The CPU time a world host reports by default: more than the default fpopsEst takes on the
 * reference core (a second), so that what a valid result earns is the researcher's estimate.
 */
export const MINUTE_MS = 60_000;

export interface WorldHost {
  id: number;
  userId: number;
  publicKey: string;
  seed: string;
  request(count: number): Promise<Task[]>;
  /** The whole reply: the tasks, and the quota that limited them if one did. */
  requestWithLimit(count: number, holding?: number[]): Promise<Assignment>;
  /**
   * Reports, no sooner than the wall time each result says it took (`elapsedMs`) after its task
   * was sent: the world's clock moves on to then if it is not there yet, as a host computing would
   * have waited (credit pays no more CPU time than the coordinator saw a task out).
   */
  report(...results: Result[]): ReturnType<Core['service']['reportResults']>;
  /** A signed result; it says the task took a minute of CPU (and of wall time) unless told otherwise. */
  result(task: Task, outcome: Outcome, measured?: { cpuTimeMs: number; elapsedMs?: number }): Result;
  /** results.verdicts: what the host is told of these tasks, by task id. */
  verdicts(...tasks: Pick<Task, 'taskId'>[]): Promise<Record<number, ResultVerdict>>;
}

export interface World {
  core: Core;
  dataDir: string;
  now(): number;
  advance(ms: number): void;
  aborts: { hostId: number; taskIds: number[]; reason: string }[];
  credits: { hostId: number; receipts: CreditReceipt[] }[];
  /** results.judged pushes, as the hosts would be told them. */
  judged: { hostId: number; verdicts: TaskVerdict[] }[];
  addHost(opts?: { platform?: Platform; capabilities?: Capabilities; accountKey?: string; name?: string }): Promise<WorldHost>;
  addApp(opts?: { validation?: Validation; homogeneousRedundancy?: boolean; adaptiveReplication?: boolean; platform?: VersionPlatform; requirements?: Requirements }): Promise<number>;
  submit(appId: number, inputs: unknown[], replication?: Partial<Replication>): Promise<number>;
  workunitIds(batchId: number): number[];
  /** The work unit a task is of: a task names none (coordinator/work/task-ids.ts). */
  workunitOf(task: Pick<Task, 'taskId'>): number;
  /** The replica a task is: its task id is not the replica's. */
  replicaIdOf(task: Pick<Task, 'taskId'>): number;
  close(): Promise<void>;
}

/** A world's core options, but for its data dir. */
export const WORLD_OPTIONS: Omit<CoreOptions, 'dataDir'> = {
  distinctUsers: true, trustThreshold: 3, spotCheckRate: 0, checkRate: 0, recheckDelayMs: 0, maxInFlightPerHost: 100,
  // Quotas out of the way unless a test asks for them: every host here starts new.
  newHostTasks: 100, newHostTasksPerDay: 1_000_000, maxTasksPerDayPerHost: 1_000_000, newHostShare: 1, holdTimeoutMs: 30 * 86_400_000,
  maxCreditPerResult: DEFAULT_MAX_CREDIT_PER_RESULT, maxPriority: 1000, maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
  maxOutputBytes: DEFAULT_MAX_OUTPUT_BYTES, uploadGraceMs: 3_600_000,
};

/** `taskIds`: a seeded draw of task ids, for a simulation that must come out the same every run. */
export function createWorld(options: Partial<CoreOptions> = {}, random: () => number = () => 0.5, taskIds?: () => number): World {
  const dataDir = mkdtempSync(join(tmpdir(), 'vg-world-'));
  let now = 1_700_000_000_000;
  const aborts: World['aborts'] = [];
  const credits: World['credits'] = [];
  const judged: World['judged'] = [];
  const core = createCore(
    { dataDir, ...WORLD_OPTIONS, ...options },
    {
      abort: (hostId, taskIds, reason) => aborts.push({ hostId, taskIds, reason }),
      credit: (hostId, receipts) => credits.push({ hostId, receipts }),
      judged: (hostId, verdicts) => judged.push({ hostId, verdicts }),
    },
    { clock: () => now, random, taskIds },
  );
  let apps = 0;
  const taskRowOf = (taskId: number): { id: number; workunit_id: number } => {
    const row = core.store.db.prepare('SELECT id, workunit_id FROM replicas WHERE task_id = ?').get(taskId) as { id: number; workunit_id: number } | undefined;
    if (!row) throw new Error(`no replica has task id ${taskId}`);
    return row;
  };

  return {
    core,
    dataDir,
    now: () => now,
    advance: (ms) => void (now += ms),
    aborts,
    credits,
    judged,
    async addHost(opts = {}) {
      const seed = toHex(ed.randomSeed());
      const publicKey = toHex(ed.publicKeyFromSeed(fromHex(seed)));
      const host = await core.registry.register(
        {
          protocol: 2,
          hostKey: publicKey,
          platform: opts.platform ?? { kind: 'node', engine: 'v8' },
          capabilities: opts.capabilities ?? { wasm: true },
          name: opts.name,
          accountKey: opts.accountKey,
        },
        now,
      );
      return {
        id: host.id,
        userId: host.userId,
        publicKey,
        seed,
        request: (count) => core.store.transaction(async (tx) => (await core.service.requestTasks(tx, host.id, count)).tasks),
        requestWithLimit: (count, holding) => core.store.transaction((tx) => core.service.requestTasks(tx, host.id, count, holding)),
        report: async (...results) => {
          for (const r of results) {
            const sent = core.store.db.prepare('SELECT sent_at AS t FROM replicas WHERE task_id = ?').get(r.taskId) as { t: number | null } | undefined;
            if (typeof sent?.t === 'number') now = Math.max(now, sent.t + Math.ceil(r.elapsedMs));
          }
          // Signatures first, outside the transaction, as the volunteer namespace checks them.
          const signed = await core.service.verifyResults(results);
          return core.store.transaction((tx) => core.service.reportResults(tx, host.id, results, signed));
        },
        result: (task, outcome, measured = { cpuTimeMs: MINUTE_MS }) =>
          buildResult(ed, seed, task, outcome, { cpuTimeMs: measured.cpuTimeMs, elapsedMs: measured.elapsedMs ?? measured.cpuTimeMs }),
        verdicts: async (...tasks) => {
          const told = await core.store.transaction((tx) => core.service.verdicts(tx, host.id, tasks.map((t) => t.taskId)));
          return Object.fromEntries(told.map((v) => [v.taskId, v.verdict]));
        },
      };
    },
    async addApp(opts = {}) {
      const projectId = await core.apps.createProject({ name: `project ${++apps}` });
      const app = await core.apps.createApp(projectId, {
        name: 'primes',
        validation: opts.validation,
        homogeneousRedundancy: opts.homogeneousRedundancy,
        adaptiveReplication: opts.adaptiveReplication,
      });
      const files = readdirSync(PRIMES_DIR)
        .filter((f) => f.endsWith('.js'))
        .map((name) => ({ name, bytes: readFileSync(join(PRIMES_DIR, name)) }));
      await core.apps.addVersion(app.id, { files, platform: opts.platform, requirements: opts.requirements }, now);
      return app.id;
    },
    async submit(appId, inputs, replication = {}) {
      return (await core.submission.submitBatch({ appId, name: 'test batch', replication, workunits: inputs.map((input) => ({ input: input as never })) }, now)).batchId;
    },
    workunitIds(batchId) {
      return (core.store.db.prepare('SELECT id FROM workunits WHERE batch_id = ? ORDER BY id').all(batchId) as { id: number }[]).map((r) => r.id);
    },
    // Read synchronously from the world's SQLite file (test/helpers/task-ids.ts reads through the
    // store's SQL, on either backend, but asynchronously).
    workunitOf: (task) => taskRowOf(task.taskId).workunit_id,
    replicaIdOf: (task) => taskRowOf(task.taskId).id,
    /** Also checks that the counters triggers keep (batches', hosts') match the rows, whatever the test did. */
    async close() {
      const problems = core.store.db.open ? counterProblems(core.store.db) : [];
      await core.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (problems.length > 0) throw new Error(`counters drifted from the rows:\n${problems.join('\n')}`);
    },
  };
}
