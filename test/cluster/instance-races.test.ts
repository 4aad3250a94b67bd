// Two coordinator instances on one PostgreSQL database, scripted: one holds its transaction open
// while the other does the same thing. On SQLite one writer made each of these impossible; on
// PostgreSQL a row lock or a rule must: the two results of a quorum-2 work unit judged at once
// validate it exactly once; credit granted at once on both is appended to one chain in turn; a
// batch's replicas made at once are made once; an instance starting while another takes a
// submission leaves that staged batch alone; and replicas another instance is sending are
// skipped without waiting, and count against nothing of the host that did not get them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Result, Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { createCore, type Core, type CoreOptions } from '../../coordinator/core.js';
import { discardAbandoned } from '../../coordinator/background-jobs.js';
import { UNFENCED } from '../../coordinator/cluster/fence.js';
import { createLogger } from '../../common/log.js';
import { Store, type Tx } from '../../coordinator/store/store.js';
import { addPrimesApp } from '../helpers/batches.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator } from '../helpers/test-coordinator.js';
import { interleave as interleaveOn } from '../helpers/interleave.js';
import { WORLD_OPTIONS } from '../helpers/world.js';

const skip = await skipPostgresTests('two instances judging one work unit');
const ed = nodeEd25519();
const NOW = 1_700_000_000_000;

/** A promise and the function that settles it: a point one transaction waits at until the script says go. */

describe.skipIf(skip)('two instances on one PostgreSQL database', () => {
  let database: TestDatabase;
  let dataDir: string;
  let a: Core;
  let b: Core;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'vg-race-'));
    a = await open();
    b = await open();
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** An instance on the test's database, with the world's options but for `options`. */
  const open = async (options: Partial<CoreOptions> = {}) =>
    createCore({ dataDir, ...WORLD_OPTIONS, ...options }, { abort: () => {}, credit: () => {} }, { clock: () => NOW, store: await Store.openPostgres(database.url) });

  async function host(core: Core, accountKey?: string): Promise<{ id: number; seed: string }> {
    const seed = toHex(ed.randomSeed());
    const hostKey = toHex(ed.publicKeyFromSeed(fromHex(seed)));
    const h = await core.registry.register({ protocol: 2, hostKey, platform: { kind: 'node', engine: 'v8' }, capabilities: { wasm: true }, ...(accountKey ? { accountKey } : {}) }, NOW);
    return { id: h.id, seed };
  }

  const output = { primes: [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47], count: 15 };

  /** An app of its own (a version known to work), a batch of `n` work units at quorum 2, and two hosts. */
  async function setUp(name: string, n: number) {
    const app = { id: await addPrimesApp(a, name) };
    // A version known to work, as most are: its first result does not write the version's row
    // (which would make the two instances wait for each other by chance).
    await a.store.sql.run('UPDATE app_versions SET succeeded = 1 WHERE app_id = ?', [app.id]);
    const workunits = Array.from({ length: n }, () => ({ input: { from: 1, to: 50 } }));
    await a.submission.submitBatch({ appId: app.id, name, replication: { minQuorum: 2, targetNresults: 2 }, workunits }, NOW);
    return [await host(a), await host(b)] as const;
  }

  const tasks = async (core: Core, h: { id: number }, n: number): Promise<Task[]> =>
    core.store.transaction(async (tx) => (await core.service.requestTasks(tx, h.id, n)).tasks);
  const result = (h: { seed: string }, t: Task) => buildResult(ed, h.seed, t, { output }, { cpuTimeMs: 1000, elapsedMs: 1000 });
  /** A report of r as a transaction's work: its signature checked first, before any transaction, as a coordinator does. */
  const reporting = async (core: Core, h: { id: number }, r: Result) => {
    const signed = await core.service.verifyResults([r]);
    return (tx: Tx) => core.service.reportResults(tx, h.id, [r], signed);
  };

  /**
   * Runs first on one instance up to `hold` and keeps its transaction open; meanwhile second on
   * the other; then lets the first commit. Says whether second finished before that (it did not wait).
   */
  const interleave = <T, U>(first: (hold: () => Promise<void>) => Promise<T>, second: () => Promise<U>) => interleaveOn(a.store.sql, first, second);

  it('validates a work unit whose two results are judged at once on two instances exactly once', async () => {
    const [one, two] = await setUp('race', 1);
    const [t1, t2] = [(await tasks(a, one, 1))[0]!, (await tasks(b, two, 1))[0]!];
    const wuId = await workunitOfTask(a, t1);
    expect(await workunitOfTask(a, t2)).toBe(wuId);
    // Instance a records and judges its result and holds its transaction open. Instance b does
    // the same meanwhile: it must not judge on what it sees (a's result is not committed) but
    // wait for the work unit; without the lock it judged alone, and nobody saw the quorum.
    const [first, second] = [await reporting(a, one, result(one, t1)), await reporting(b, two, result(two, t2))];
    const run = await interleave(
      (hold) => a.store.transaction(async (tx) => {
        const acks = await first(tx);
        await hold();
        return acks;
      }),
      () => b.store.transaction(second),
    );
    expect([...run.first, ...run.second].map((x) => x.status)).toEqual(['accepted', 'accepted']);
    const wu = await a.store.sql.get<{ status: string; canonical: number | null }>('SELECT status, canonical_replica_id AS canonical FROM workunits WHERE id = ?', [wuId]);
    const states = await a.store.sql.all<{ state: string }>('SELECT validate_state AS state FROM replicas WHERE workunit_id = ? ORDER BY id', [wuId]);
    const grants = await a.store.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM credit_ledger WHERE workunit_id = ? AND kind = 'grant'", [wuId]);
    expect({ wu, states: states.map((s) => s.state), grants: grants!.n, secondWaited: run.secondWaited }).toEqual({
      wu: { status: 'done', canonical: expect.any(Number) },
      states: ['valid', 'valid'],
      grants: 2,
      secondWaited: true,
    });
  });

  it('appends the credit of work units validated at once on two instances to one chain, in turn', async () => {
    // Two work units with no host in common, each one result short of its quorum, one on each instance.
    const [one, two] = await setUp('ledger', 2);
    const [three, four] = [await host(a), await host(b)];
    // Replicas go out in order: one and two share the first work unit, three and four the second.
    const [w1, v1, w2, v2] = [(await tasks(a, one, 1))[0]!, (await tasks(a, two, 1))[0]!, (await tasks(b, three, 1))[0]!, (await tasks(b, four, 1))[0]!];
    const [wu1, wu2] = [await workunitOfTask(a, w1), await workunitOfTask(a, w2)];
    expect([await workunitOfTask(a, v1), await workunitOfTask(a, v2)]).toEqual([wu1, wu2]);
    expect(wu1).not.toBe(wu2);
    await a.store.transaction(await reporting(a, one, result(one, w1)));
    await b.store.transaction(await reporting(b, three, result(three, w2)));
    const before = (await a.store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM credit_ledger'))!.n;
    // Both complete their quorum and grant at once: both would take the same next entry of the chain.
    const [first, second] = [await reporting(a, two, result(two, v1)), await reporting(b, four, result(four, v2))];
    const run = await interleave(
      (hold) => a.store.transaction(async (tx) => {
        const acks = await first(tx);
        await hold();
        return acks;
      }),
      () => b.store.transaction(second),
    );
    expect([...run.first, ...run.second].map((x) => x.status)).toEqual(['accepted', 'accepted']);
    const entries = await a.store.sql.all<{ id: number; prev: string; hash: string }>('SELECT id, prev_hash AS prev, entry_hash AS hash FROM credit_ledger ORDER BY id');
    expect(entries.length).toBe(before + 4);
    entries.forEach((e, i) => {
      expect(e.id).toBe(i + 1);
      if (i > 0) expect(e.prev).toBe(entries[i - 1]!.hash);
    });
    expect(run.secondWaited).toBe(true);
  });

  it('makes the replicas of a batch once when two instances make them at once', async () => {
    const app = { id: await addPrimesApp(a, 'replicas') };
    // A batch committed but without replicas yet, as a submission leaves it (ReplicaMaker's work).
    const stage = await a.submission.begin({ appId: app.id, name: 'replicas', replication: { minQuorum: 2, targetNresults: 2 } }, NOW);
    if (!('batchId' in stage) || !('app' in stage)) throw new Error('the batch was not staged');
    await a.submission.addChunk(stage, Array.from({ length: 20 }, (_, i) => ({ value: { input: { from: i, to: i + 10 } }, where: `workunits[${i}]` })), NOW);
    await a.submission.commit(stage);
    const run = await interleave(
      (hold) => a.store.transaction(async (tx) => {
        await a.submission.makeReplicas(stage.batchId, 100, NOW, tx);
        await hold();
        return 0;
      }),
      async () => ((await b.submission.makeReplicas(stage.batchId, 100, NOW)) ? 0 : 1),
    );
    const perWorkunit = await a.store.sql.all<{ n: number }>(
      'SELECT COUNT(r.id) AS n FROM workunits w LEFT JOIN replicas r ON r.workunit_id = w.id WHERE w.batch_id = ? GROUP BY w.id',
      [stage.batchId],
    );
    expect({ counts: [...new Set(perWorkunit.map((r) => r.n))], workunits: perWorkunit.length, secondWaited: run.secondWaited }).toEqual({ counts: [2], workunits: 20, secondWaited: true });
  });

  it('leaves alone a batch another instance is still submitting, and discards one whose instance died', async () => {
    const app = { id: await addPrimesApp(a, 'staged') };
    // Instance a is in the middle of a submission (staged, not committed, its lease held) when another instance starts.
    const stage = await a.submission.begin({ appId: app.id, name: 'streaming in', replication: {} }, Date.now());
    if (!('app' in stage)) throw new Error('the batch was not staged');
    const release = await a.stagedBatches.hold(stage.batchId);
    await a.submission.addChunk(stage, [{ value: { input: { from: 1, to: 9 } }, where: 'workunits[0]' }], Date.now());
    const staged = async () => (await a.store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM batches WHERE id = ?', [stage.batchId]))!.n;
    // Another instance starts and looks for abandoned submissions (a turn of the job that does, run here at once).
    const anotherLooks = async () => {
      const other = await startTestCoordinator({ dataDir, databaseUrl: database.url });
      try {
        await discardAbandoned(other, UNFENCED, createLogger('silent'));
      } finally {
        await other.close();
      }
    };
    await anotherLooks();
    expect(await staged()).toBe(1);
    // Instance a dies: its lease is no longer renewed and lapses. The next instance to look clears the batch.
    await a.store.sql.run("UPDATE leases SET expires_at = 0 WHERE name = 'submission:' || ?", [String(stage.batchId)]);
    await anotherLooks();
    expect(await staged()).toBe(0);
    await release();
  });

  it('keeps the first result of a task when the host sends another to the other instance at once', async () => {
    const [one] = await setUp('swap', 1);
    const [t] = await tasks(a, one, 1);
    const honest = result(one, t!);
    const forged = buildResult(ed, one.seed, t!, { output: { primes: [4, 6, 8], count: 3 } }, { cpuTimeMs: 1000, elapsedMs: 1000 });
    const [first, second] = [await reporting(a, one, honest), await reporting(b, one, forged)];
    const run = await interleave(
      (hold) => a.store.transaction(async (tx) => {
        const acks = await first(tx);
        await hold();
        return acks;
      }),
      () => b.store.transaction(second),
    );
    expect(run.first.map((x) => x.status)).toEqual(['accepted']);
    expect(run.second.map((x) => [x.status, x.error?.code])).toEqual([['rejected', 'conflict']]);
    const stored = await a.store.sql.get<{ output: string }>('SELECT output_json AS output FROM replicas WHERE workunit_id = ? AND host_id = ?', [await workunitOfTask(a, t!), one.id]);
    expect(JSON.parse(stored!.output)).toEqual(output);
  });

  /** Replicas a host holds now, and of how many work units. */
  async function holding(hostId: number): Promise<{ tasks: number; workunits: number }> {
    const row = await a.store.sql.get<{ tasks: number; workunits: number }>(
      "SELECT COUNT(*) AS tasks, COUNT(DISTINCT workunit_id) AS workunits FROM replicas WHERE host_id = ? AND status = 'in_progress'",
      [hostId],
    );
    return { tasks: Number(row!.tasks), workunits: Number(row!.workunits) };
  }

  it('keeps a host within its in-flight allowance when it asks both instances at once', async () => {
    const [one] = await setUp('in-flight', 150);
    // The world's allowance is 100 tasks in flight; a asks for all it may have and holds.
    const run = await interleave(
      (hold) => a.store.transaction(async (tx) => {
        const got = await a.service.requestTasks(tx, one.id, 1000);
        await hold();
        return got.tasks;
      }),
      () => tasks(b, one, 1000),
    );
    expect({ first: run.first.length, second: run.second.length, secondWaited: run.secondWaited }).toEqual({ first: 100, second: 0, secondWaited: true });
    expect(await holding(one.id)).toEqual({ tasks: 100, workunits: 100 });
  });

  /** Work units two hosts both hold a replica of. */
  async function shared(h1: number, h2: number): Promise<number> {
    const row = await a.store.sql.get<{ n: number }>(
      "SELECT COUNT(DISTINCT r1.workunit_id) AS n FROM replicas r1 JOIN replicas r2 ON r2.workunit_id = r1.workunit_id WHERE r1.host_id = ? AND r2.host_id = ? AND r1.status = 'in_progress' AND r2.status = 'in_progress'",
      [h1, h2],
    );
    return Number(row!.n);
  }

  it('sends a host one replica of a work unit when it asks both instances at once', async () => {
    // Quorum 2: each work unit has a second replica this host must not get. Each instance is
    // asked for as many as it may give, so b sees every work unit a took.
    const [one] = await setUp('one-per-host', 40);
    const run = await interleave(
      (hold) => a.store.transaction(async (tx) => {
        const got = await a.service.requestTasks(tx, one.id, 50);
        await hold();
        return got.tasks;
      }),
      () => tasks(b, one, 50),
    );
    expect(run.first.length + run.second.length).toBeGreaterThan(0);
    const held = await holding(one.id);
    expect(held.workunits).toBe(held.tasks);
  });

  it("sends one user's two hosts, one on each instance, one replica of a work unit between them", async () => {
    await setUp('one-per-user', 40);
    const { accountKey } = await a.registry.createAccount({ name: 'twin-owner' });
    const [h1, h2] = [await host(a, accountKey), await host(b, accountKey)];
    const run = await interleave(
      (hold) => a.store.transaction(async (tx) => {
        const got = await a.service.requestTasks(tx, h1.id, 50);
        await hold();
        return got.tasks;
      }),
      () => tasks(b, h2, 50),
    );
    expect(run.first.length + run.second.length).toBeGreaterThan(0);
    expect(await shared(h1.id, h2.id)).toBe(0);
  });
  /**
   * A batch of `n` work units at `quorum` whose replicas come first in the queue (a priority above
   * the other tests' batches): its replicas' ids in the queue's order.
   */
  async function queued(core: Core, name: string, n: number, quorum: number, priority: number): Promise<{ batchId: number; queue: { id: number; workunitId: number }[] }> {
    const appId = await addPrimesApp(core, name);
    await core.store.sql.run('UPDATE app_versions SET succeeded = 1 WHERE app_id = ?', [appId]);
    const workunits = Array.from({ length: n }, (_, i) => ({ input: { from: i, to: i + 50 } }));
    const { batchId } = await core.submission.submitBatch({ appId, name, replication: { minQuorum: quorum, targetNresults: quorum, priority }, workunits }, NOW);
    const queue = await core.store.sql.all<{ id: number; workunitId: number }>(
      "SELECT r.id, r.workunit_id AS workunitId FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ? AND r.status = 'unsent' ORDER BY r.priority DESC, r.id",
      [batchId],
    );
    return { batchId, queue };
  }

  /**
   * Instance b locks these replicas, as while sending them, until `send` has run; then sends them
   * to a host of its own. Says what `send` returned, whether it waited for b, and whether b could
   * still send every one of them (else this instance sent one too).
   */
  async function whileLocked<T>(replicaIds: number[], send: () => Promise<T>): Promise<{ sent: T; waited: boolean; otherSentAll: boolean }> {
    const other = await host(b);
    const list = replicaIds.map(() => '?').join(', ');
    const run = await interleave(
      (hold) => b.store.transaction(async (tx) => {
        await tx.sql.all(`SELECT id FROM replicas WHERE id IN (${list}) FOR NO KEY UPDATE`, replicaIds);
        await hold();
        return (await tx.sql.run(`UPDATE replicas SET status = 'in_progress', host_id = ? WHERE id IN (${list}) AND status = 'unsent'`, [other.id, ...replicaIds])).changes;
      }),
      send,
    );
    return { sent: run.second, waited: run.secondWaited, otherSentAll: run.first === replicaIds.length };
  }

  /** The host's tasks of the batch: replica ids and work units. */
  async function sentOf(hostId: number, batchId: number): Promise<{ replicas: number[]; workunits: number }> {
    const rows = await a.store.sql.all<{ id: number; workunitId: number }>(
      'SELECT r.id, r.workunit_id AS workunitId FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ? AND r.host_id = ?',
      [batchId, hostId],
    );
    return { replicas: rows.map((r) => r.id), workunits: new Set(rows.map((r) => r.workunitId)).size };
  }

  it('skips replicas another instance is sending, without waiting, and sends a replica of their work unit instead', async () => {
    // Quorum 2: a work unit's two replicas are next to each other in the queue. The first replica
    // of the first work unit and the second of the third are another instance's.
    const { batchId, queue } = await queued(a, 'claimed-elsewhere', 10, 2, 900);
    const locked = [queue[0]!.id, queue[5]!.id];
    const one = await host(a);
    const run = await whileLocked(locked, () => tasks(a, one, 10));
    const mine = await sentOf(one.id, batchId);
    // Every work unit, one replica each, none of them one the other instance had.
    expect({ tasks: run.sent.length, mine: mine.replicas.length, workunits: mine.workunits, overlap: mine.replicas.filter((id) => locked.includes(id)), waited: run.waited, otherSentAll: run.otherSentAll }).toEqual({
      tasks: 10, mine: 10, workunits: 10, overlap: [], waited: false, otherSentAll: true,
    });
  });

  it('counts no new-host room and no daily quota for replicas another instance was sending', async () => {
    // New hosts together may hold 16 of a 40-work-unit batch (share 0.25, floor 16), and a host 5 of an app's tasks a day.
    const c = await open({ newHostShare: 0.25 });
    const d = await open({ newHostTasksPerDay: 5 });
    try {
      const room = await queued(c, 'room-elsewhere', 40, 1, 901);
      const first = await host(c);
      const roomRun = await whileLocked([room.queue[0]!.id, room.queue[3]!.id], () => tasks(c, first, 40));
      const daily = await queued(d, 'daily-elsewhere', 10, 1, 902);
      const second = await host(d);
      const dailyRun = await whileLocked([daily.queue[0]!.id, daily.queue[2]!.id], () => tasks(d, second, 10));
      const used = await a.store.sql.get<{ used: number }>('SELECT q.used FROM host_app_quotas q JOIN batches b ON b.app_id = q.app_id WHERE q.host_id = ? AND b.id = ?', [second.id, daily.batchId]);
      expect({
        room: (await sentOf(first.id, room.batchId)).replicas.length,
        daily: (await sentOf(second.id, daily.batchId)).replicas.length,
        used: Number(used?.used),
        waited: [roomRun.waited, dailyRun.waited],
        otherSentAll: [roomRun.otherSentAll, dailyRun.otherSentAll],
      }).toEqual({ room: 16, daily: 5, used: 5, waited: [false, false], otherSentAll: [true, true] });
    } finally {
      await c.close();
      await d.close();
    }
  });
});
