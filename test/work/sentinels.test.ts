// Sentinels through the real store, with a hand-driven clock: work units whose answer the
// researcher knows, mixed unannounced into hosts' tasks. A wrong answer distrusts the host,
// forfeits what it has waiting, aborts what it holds, and a re-check takes back the credit of
// what its results decided (reopening work units whose quorum no longer holds).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../protocol/canonical.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { jsonHash } from '../../protocol/hash.js';
import { verifyLedgerChain } from '../../protocol/ledger.js';
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { Task } from '../../protocol/messages.js';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';
import { creditForFpops } from '../../coordinator/work/credit.js';
import { DEFAULT_REPLICATION, type Replication } from '../../coordinator/work/model.js';
import { SubmissionError } from '../../coordinator/work/submission.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';

let world: World;
let tempDir: string | undefined;
afterEach(() => {
  world?.close();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
});

/** What one valid replica earns at the default fpopsEst. */
const CREDIT = creditForFpops(DEFAULT_REPLICATION.fpopsEst);
const NO_RIGHT_ANSWER = 'sentinel: no host returned the expected output';
const BATCH_OVER = 'the batch has no more open work';

interface Unit {
  input: unknown;
  expectedOutput?: unknown;
  replication?: Partial<Replication>;
}

// Every task's right answer echoes its input, so a sentinel's known answer is that echo too.
const regular = (tag: string, replication?: Partial<Replication>): Unit => ({ input: { r: tag }, ...(replication ? { replication } : {}) });
const sentinel = (n: number, replication?: Partial<Replication>): Unit => ({
  input: { s: n },
  expectedOutput: { echo: { s: n } },
  ...(replication ? { replication } : {}),
});
const right = (t: Task) => ({ output: { echo: t.input } });
/** What colluders agree on, and what a careless host returns. */
const forged = () => ({ output: { echo: 'forged' } });

function submit(w: World, appId: number, units: Unit[], replication: Partial<Replication> = {}): number {
  return w.core.submission.submitBatch({ appId, name: 'sentinels', replication, workunits: units as never[] }, w.now()).batchId;
}

function answer(host: WorldHost, task: Task, outcome: { output: unknown }): void {
  expect(host.report(host.result(task, outcome))).toEqual([{ taskId: task.taskId, status: 'accepted' }]);
}

const replicas = (w: World, wuId: number) => w.core.store.work.replicasOf(wuId);
const wu = (w: World, id: number) => w.core.store.work.workunit(id)!;
const replicaOf = (w: World, task: Task) => replicas(w, task.workunitId).find((r) => r.id === task.taskId)!;
const creditOf = (w: World, replicaId: number) =>
  (w.core.store.db.prepare('SELECT credit FROM replicas WHERE id = ?').get(replicaId) as { credit: number | null }).credit;

interface HostRow {
  consecutive_valid: number;
  n_valid: number;
  n_invalid: number;
  sentinels_passed: number;
  sentinels_failed: number;
  distrusted_at: number | null;
  recheck_pending: number;
  total_credit: number;
}
function hostRow(w: World, hostId: number): HostRow {
  return w.core.store.db
    .prepare(`SELECT consecutive_valid, n_valid, n_invalid, sentinels_passed, sentinels_failed, distrusted_at, recheck_pending,
      total_credit FROM hosts WHERE id = ?`)
    .get(hostId) as HostRow;
}

/** The ledger as replica id → the amounts of its entries, in order. */
function ledgerByReplica(w: World): Record<number, number[]> {
  const rows = w.core.store.db.prepare('SELECT replica_id AS r, amount FROM credit_ledger ORDER BY id').all() as { r: number; amount: number }[];
  const out: Record<number, number[]> = {};
  for (const { r, amount } of rows) (out[r] ??= []).push(amount);
  return out;
}

/** The chain verifies, and every total (host, user) and replica credit is what the ledger sums to. */
function expectLedgerConsistent(w: World): void {
  const entries = w.core.store.ledger.entriesAfter(0, 100_000);
  expect(verifyLedgerChain(nodeEd25519(), w.core.key.publicKey, entries)).toBeUndefined();
  const db = w.core.store.db;
  for (const [table, column] of [['hosts', 'host_id'], ['users', 'user_id']] as const) {
    const rows = db
      .prepare(`SELECT t.id, t.total_credit AS total, (SELECT COALESCE(SUM(l.amount), 0) FROM credit_ledger l WHERE l.${column} = t.id) AS sum
        FROM ${table} t`)
      .all() as { id: number; total: number; sum: number }[];
    for (const r of rows) expect(r.total, `${table} ${r.id}`).toBeCloseTo(r.sum, 9);
  }
  const perReplica = db
    .prepare('SELECT r.id, r.credit, SUM(l.amount) AS net FROM credit_ledger l JOIN replicas r ON r.id = l.replica_id GROUP BY r.id')
    .all() as { id: number; credit: number; net: number }[];
  for (const r of perReplica) expect(r.credit, `replica ${r.id}`).toBeCloseTo(r.net, 9);
}

/** A world whose sentinel lottery is decided by `roll.value`: below 0.5 a task slot is a sentinel. */
function lotteryWorld(): { roll: { value: number } } {
  const roll = { value: 0.9 };
  world = createWorld({ sentinelRate: 0.5 }, () => roll.value);
  return { roll };
}
const SENTINEL = 0.1;
const REGULAR = 0.9;

describe('submission', () => {
  it('stores a sentinel’s expected output as canonical JSON and its hash', () => {
    world = createWorld();
    const app = world.addApp();
    const expected = { b: 2, a: [1, 'x'] };
    const batch = submit(world, app, [regular('0'), { input: { s: 1 }, expectedOutput: expected }]);
    const rows = world.core.store.db
      .prepare('SELECT expected_output_json AS json, expected_output_hash AS hash FROM workunits WHERE batch_id = ? ORDER BY id')
      .all(batch);
    expect(rows).toEqual([
      { json: null, hash: null },
      { json: canonicalJson(expected), hash: jsonHash(expected) },
    ]);
    const [plain, known] = world.workunitIds(batch);
    expect(wu(world, plain!).expectedOutputHash).toBeNull();
    expect(wu(world, known!).expectedOutputHash).toBe(jsonHash(expected));
  });

  it('refuses a batch made only of sentinels, leaving no rows', () => {
    world = createWorld();
    const app = world.addApp();
    const attempt = () => submit(world, app, [sentinel(1), sentinel(2)]);
    expect(attempt).toThrow(SubmissionError);
    expect(attempt).toThrow(/at least one work unit without expectedOutput/);
    const db = world.core.store.db;
    expect(db.prepare('SELECT COUNT(*) AS n FROM batches').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM workunits').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM replicas').get()).toEqual({ n: 0 });
  });

  it('refuses an expected output too large to keep inline, naming the work unit', () => {
    world = createWorld();
    const app = world.addApp();
    const huge = { input: { s: 1 }, expectedOutput: 'x'.repeat(MAX_INLINE_JSON_BYTES) };
    expect(() => submit(world, app, [regular('0'), huge])).toThrow(/^workunits\[1\]: expectedOutput is larger than 262144 bytes/);
    expect(world.core.store.db.prepare('SELECT COUNT(*) AS n FROM workunits').get()).toEqual({ n: 0 });
  });
});

describe('mixing sentinels into tasks', () => {
  it('at rate 1 a host gets the sentinels it has not computed first (new replicas once the first are taken), then regular work', () => {
    world = createWorld({ sentinelRate: 1 });
    const app = world.addApp();
    const batch = submit(world, app, [regular('0'), regular('1'), regular('2'), sentinel(1), sentinel(2)]);
    const ids = world.workunitIds(batch);
    const regularIds = ids.slice(0, 3);
    const sentinelIds = ids.slice(3);
    const firstReplicas = sentinelIds.flatMap((id) => replicas(world, id).map((r) => r.id));
    const [a, b, c] = [world.addHost(), world.addHost(), world.addHost()];
    const workunitsOf = (tasks: Task[]) => tasks.map((t) => t.workunitId).sort((x, y) => x - y);

    const ta = a.request(2);
    const tb = b.request(2);
    expect(workunitsOf(ta)).toEqual(sentinelIds);
    expect(workunitsOf(tb)).toEqual(sentinelIds);
    // a and b took the replicas made with the batch; c's are made on the spot.
    expect([...ta, ...tb].map((t) => t.taskId).sort((x, y) => x - y)).toEqual(firstReplicas);
    const tc = c.request(2);
    expect(workunitsOf(tc)).toEqual(sentinelIds);
    for (const t of tc) expect(firstReplicas).not.toContain(t.taskId);
    for (const id of sentinelIds) {
      expect(replicas(world, id).map((r) => [r.status, r.hostId])).toEqual([
        ['in_progress', a.id],
        ['in_progress', b.id],
        ['in_progress', c.id],
      ]);
    }

    // Having computed every sentinel, a gets regular work, and no sentinel replica is made.
    for (const t of ta) answer(a, t, right(t));
    expect(workunitsOf(a.request(3))).toEqual(regularIds);
    for (const id of sentinelIds) expect(replicas(world, id)).toHaveLength(3);

    // A new host's sentinels are not all at the front of its list.
    const d = world.addHost();
    const td = d.request(4);
    const isSentinel = td.map((t) => sentinelIds.includes(t.workunitId));
    expect(isSentinel.filter(Boolean)).toHaveLength(2);
    expect(isSentinel).not.toEqual([true, true, false, false]);
  });

  it('at rate 0 sentinels go out only as their ordinary replicas', () => {
    world = createWorld({ sentinelRate: 0 });
    const app = world.addApp();
    const batch = submit(world, app, [regular('0'), sentinel(1)]);
    const [regularId, sentinelId] = world.workunitIds(batch);
    const made = replicas(world, sentinelId!).map((r) => r.id);
    const [a, b, c] = [world.addHost(), world.addHost(), world.addHost()];
    const ta = a.request(5);
    const tb = b.request(5);
    expect(ta.map((t) => t.workunitId)).toEqual([regularId, sentinelId]);
    expect(tb.map((t) => t.workunitId)).toEqual([regularId, sentinelId]);
    expect([ta[1]!.taskId, tb[1]!.taskId]).toEqual(made);
    expect(c.request(5)).toEqual([]);
    expect(replicas(world, sentinelId!).map((r) => r.id)).toEqual(made);
    // Still judged against the known answer on arrival.
    answer(a, ta[1]!, right(ta[1]!));
    expect(replicaOf(world, ta[1]!).validateState).toBe('valid');
    expect(hostRow(world, a.id).sentinels_passed).toBe(1);
  });

  it('a distrusted host gets only sentinels, and nothing once it has had them all', () => {
    world = createWorld({ sentinelRate: 1 });
    const app = world.addApp();
    const batch = submit(world, app, [regular('0'), regular('1'), sentinel(1), sentinel(2), sentinel(3)]);
    const sentinelIds = world.workunitIds(batch).slice(2);
    const cheat = world.addHost();
    const [first] = cheat.request(1);
    expect(sentinelIds).toContain(first!.workunitId);
    answer(cheat, first!, forged());
    expect(hostRow(world, cheat.id).distrusted_at).toBe(world.now());

    const rest = cheat.request(10);
    expect(rest.map((t) => t.workunitId).sort((x, y) => x - y)).toEqual(sentinelIds.filter((id) => id !== first!.workunitId));
    expect(cheat.request(10)).toEqual([]);
    // Regular work was there all along.
    expect(world.addHost().request(10).filter((t) => !sentinelIds.includes(t.workunitId))).toHaveLength(2);
  });
});

describe('judging sentinels', () => {
  it('a right answer is valid on arrival, earns credit and counts as a passed sentinel', () => {
    world = createWorld({ sentinelRate: 1 });
    const app = world.addApp();
    const batch = submit(world, app, [regular('0'), sentinel(1)]);
    const sentinelId = world.workunitIds(batch)[1]!;
    const host = world.addHost();
    const [t] = host.request(1);
    expect(t!.workunitId).toBe(sentinelId);
    answer(host, t!, right(t!));

    expect(replicaOf(world, t!)).toMatchObject({ outcome: 'success', validateState: 'valid' });
    expect(creditOf(world, t!.taskId)).toBe(CREDIT);
    expect(hostRow(world, host.id)).toEqual({
      consecutive_valid: 1,
      n_valid: 1,
      n_invalid: 0,
      sentinels_passed: 1,
      sentinels_failed: 0,
      distrusted_at: null,
      recheck_pending: 0,
      total_credit: CREDIT,
    });
    expect(ledgerByReplica(world)).toEqual({ [t!.taskId]: [CREDIT] });
    expect(world.credits).toEqual([{ hostId: host.id, receipts: [expect.objectContaining({ taskId: t!.taskId, amount: CREDIT })] }]);
    // Open while its batch has regular work.
    expect(wu(world, sentinelId)).toMatchObject({ status: 'active', canonicalReplicaId: null });
    expectLedgerConsistent(world);
  });

  it('a wrong answer distrusts the host: no credit, its waiting results forfeited and replaced, its tasks aborted and reissued', async () => {
    const { roll } = lotteryWorld();
    const app = world.addApp();
    // R1's budget has room for two results only: the forfeited one must not use it up. (Priority
    // 1 keeps the sentinel's own unsent replica out of the honest hosts' way.)
    const batch = submit(world, app, [regular('1', { maxTotalResults: 2, priority: 1 }), regular('2', { priority: 1 }), sentinel(1)]);
    const [r1, r2, s] = world.workunitIds(batch) as [number, number, number];
    const cheat = world.addHost();

    roll.value = REGULAR;
    const [t1, t2] = cheat.request(2);
    expect([t1!.workunitId, t2!.workunitId]).toEqual([r1, r2]);
    answer(cheat, t1!, right(t1!)); // waiting for a second result
    roll.value = SENTINEL;
    const [ts] = cheat.request(1);
    expect(ts!.workunitId).toBe(s);
    answer(cheat, ts!, forged());
    await world.core.recheckHosts();

    expect(replicaOf(world, ts!)).toMatchObject({ outcome: 'success', validateState: 'invalid' });
    expect(creditOf(world, ts!.taskId)).toBeNull();
    expect(hostRow(world, cheat.id)).toEqual({
      consecutive_valid: 0,
      n_valid: 0,
      n_invalid: 1,
      sentinels_passed: 0,
      sentinels_failed: 1,
      distrusted_at: world.now(),
      recheck_pending: 0, // the re-check ran (nothing of it was valid)
      total_credit: 0,
    });
    // Forfeited, and replaced by a new unsent replica (the budget does not count it).
    expect(replicas(world, r1).map((r) => [r.hostId, r.status, r.outcome, r.validateState])).toEqual([
      [cheat.id, 'over', 'success', 'invalid'],
      [null, 'unsent', null, null],
      [null, 'unsent', null, null],
    ]);
    // Aborted, the host told, and reissued.
    expect(replicas(world, r2).map((r) => [r.hostId, r.status, r.outcome])).toEqual([
      [cheat.id, 'over', 'aborted'],
      [null, 'unsent', null],
      [null, 'unsent', null],
    ]);
    expect(world.aborts).toEqual([{ hostId: cheat.id, taskIds: [t2!.taskId], reason: expect.stringMatching(/wrong result to a check with a known answer/) }]);
    expect(cheat.report(cheat.result(t2!, right(t2!)))[0]).toMatchObject({ status: 'rejected', error: { code: 'aborted' } });
    expect(ledgerByReplica(world)).toEqual({});

    roll.value = REGULAR;
    const [h1, h2] = [world.addHost(), world.addHost()];
    const done: Record<number, number> = {};
    for (const h of [h1, h2]) {
      const tasks = h.request(2);
      expect(tasks.map((t) => t.workunitId)).toEqual([r1, r2]);
      for (const t of tasks) {
        answer(h, t, right(t));
        done[t.workunitId] ??= t.taskId;
      }
    }
    expect(wu(world, r1)).toMatchObject({ status: 'done', canonicalReplicaId: done[r1] });
    expect(wu(world, r2)).toMatchObject({ status: 'done', canonicalReplicaId: done[r2] });
    expect(replicaOf(world, t1!).validateState).toBe('invalid');
    expect(hostRow(world, cheat.id).total_credit).toBe(0);
    expect(hostRow(world, h1.id).total_credit).toBe(2 * CREDIT);
    expect(hostRow(world, h2.id).total_credit).toBe(2 * CREDIT);
    expectLedgerConsistent(world);
  });
});

describe('taking back what a caught host decided', () => {
  it('colluders who won a quorum lose it: revoked, reopened, decided again by honest hosts', async () => {
    const { roll } = lotteryWorld();
    const app = world.addApp();
    const decided = submit(world, app, [regular('w', { priority: 1 })]);
    const checks = submit(world, app, [regular('x'), sentinel(1)]);
    const w = world.workunitIds(decided)[0]!;
    const s = world.workunitIds(checks)[1]!;
    const [c1, c2, h1, h2] = [world.addHost(), world.addHost(), world.addHost(), world.addHost()];

    const [tc1] = c1.request(1);
    const [tc2] = c2.request(1);
    expect([tc1!.workunitId, tc2!.workunitId]).toEqual([w, w]);
    answer(c1, tc1!, forged());
    answer(c2, tc2!, forged());
    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: tc1!.taskId });
    expect(ledgerByReplica(world)).toEqual({ [tc1!.taskId]: [CREDIT], [tc2!.taskId]: [CREDIT] });

    roll.value = SENTINEL;
    const [ts] = c1.request(1);
    expect(ts!.workunitId).toBe(s);
    answer(c1, ts!, forged());
    await world.core.recheckHosts();

    expect(hostRow(world, c1.id)).toMatchObject({ distrusted_at: world.now(), recheck_pending: 0, total_credit: 0 });
    expect(wu(world, w)).toMatchObject({ status: 'active', canonicalReplicaId: null, errorReason: null, finishedAt: null });
    expect(replicas(world, w).map((r) => [r.hostId, r.outcome, r.validateState])).toEqual([
      [c1.id, 'success', 'invalid'],
      [c2.id, 'success', 'pending'], // still holding its credit until judged again
      [null, null, null],
    ]);
    expect(ledgerByReplica(world)).toEqual({ [tc1!.taskId]: [CREDIT, -CREDIT], [tc2!.taskId]: [CREDIT] });
    expect(creditOf(world, tc1!.taskId)).toBe(0);
    expect(hostRow(world, c2.id).total_credit).toBe(CREDIT);
    const c1Receipts = world.credits.filter((c) => c.hostId === c1.id).flatMap((c) => c.receipts);
    expect(c1Receipts.map((r) => [r.taskId, r.amount])).toEqual([
      [tc1!.taskId, CREDIT],
      [tc1!.taskId, -CREDIT],
    ]);
    expectLedgerConsistent(world);

    roll.value = REGULAR;
    const [th1] = h1.request(1);
    expect(th1!.workunitId).toBe(w);
    answer(h1, th1!, right(th1!));
    expect(wu(world, w).status).toBe('active'); // one right, one forged: no quorum yet
    const [th2] = h2.request(1);
    expect(th2!.workunitId).toBe(w);
    answer(h2, th2!, right(th2!));

    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: th1!.taskId });
    const states = Object.fromEntries(replicas(world, w).map((r) => [r.hostId, r.validateState]));
    expect(states).toEqual({ [c1.id]: 'invalid', [c2.id]: 'invalid', [h1.id]: 'valid', [h2.id]: 'valid' });
    expect(ledgerByReplica(world)).toEqual({
      [tc1!.taskId]: [CREDIT, -CREDIT],
      [tc2!.taskId]: [CREDIT, -CREDIT],
      [th1!.taskId]: [CREDIT],
      [th2!.taskId]: [CREDIT],
    });
    expect([c1, c2, h1, h2].map((h) => hostRow(world, h.id).total_credit)).toEqual([0, 0, CREDIT, CREDIT]);
    expect(hostRow(world, c2.id)).toMatchObject({ n_invalid: 1, consecutive_valid: 0, distrusted_at: null });
    expect(world.credits.filter((c) => c.hostId === c2.id).flatMap((c) => c.receipts).map((r) => r.amount)).toEqual([CREDIT, -CREDIT]);
    expect(world.core.store.ledger.entriesAfter(0, 100).filter((e) => e.amount < 0)).toHaveLength(2);
    expectLedgerConsistent(world);
  });

  it('a work unit whose quorum holds without the caught host stays done; only its replica is revoked', async () => {
    const { roll } = lotteryWorld();
    const app = world.addApp();
    const decided = submit(world, app, [regular('w', { priority: 1 })]);
    submit(world, app, [regular('x'), sentinel(1)]);
    const w = world.workunitIds(decided)[0]!;
    // a and b answer alike but count once (one user), so the quorum takes a third result and
    // the work unit ends with three valid ones: without a, b and c still make a quorum.
    const { accountKey } = world.core.registry.createAccount({ name: 'alice' });
    const [a, b, c] = [world.addHost({ accountKey }), world.addHost(), world.addHost()];
    const [ta] = a.request(1);
    const [tb] = b.request(1);
    world.core.registry.register({ protocol: 1, hostKey: b.publicKey, platform: { kind: 'node', engine: 'v8' }, capabilities: { wasm: true }, accountKey }, world.now());
    expect(world.core.store.identities.hostById(b.id)!.userId).toBe(a.userId);
    answer(a, ta!, right(ta!));
    answer(b, tb!, right(tb!));
    expect(wu(world, w).status).toBe('active');
    const [tc] = c.request(1);
    answer(c, tc!, right(tc!));
    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: ta!.taskId });
    expect(replicas(world, w).map((r) => r.validateState)).toEqual(['valid', 'valid', 'valid']);

    roll.value = SENTINEL;
    const [ts] = a.request(1);
    answer(a, ts!, forged());
    await world.core.recheckHosts();

    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: tb!.taskId });
    expect(replicas(world, w).map((r) => [r.hostId, r.validateState])).toEqual([
      [a.id, 'invalid'],
      [b.id, 'valid'],
      [c.id, 'valid'],
    ]);
    expect(ledgerByReplica(world)).toEqual({
      [ta!.taskId]: [CREDIT, -CREDIT],
      [tb!.taskId]: [CREDIT],
      [tc!.taskId]: [CREDIT],
    });
    expect([a, b, c].map((h) => hostRow(world, h.id).total_credit)).toEqual([0, CREDIT, CREDIT]);
    expect(world.core.store.identities.userById(a.userId)!.totalCredit).toBe(CREDIT);
    expectLedgerConsistent(world);
  });

  it('in a cancelled batch a work unit whose quorum no longer holds fails instead of reopening', async () => {
    const { roll } = lotteryWorld();
    const app = world.addApp();
    const decided = submit(world, app, [regular('w', { priority: 1 }), regular('w2')]);
    submit(world, app, [regular('x'), sentinel(1)]);
    const [w, w2] = world.workunitIds(decided) as [number, number];
    const [c1, c2] = [world.addHost(), world.addHost()];
    const [tc1] = c1.request(1);
    const [tc2] = c2.request(1);
    answer(c1, tc1!, forged());
    answer(c2, tc2!, forged());
    expect(wu(world, w).status).toBe('done');
    expect(await world.core.cancelBatch(decided)).toBe(1);
    expect(wu(world, w2).status).toBe('cancelled');

    roll.value = SENTINEL;
    const [ts] = c1.request(1);
    answer(c1, ts!, forged());
    await world.core.recheckHosts();

    expect(wu(world, w)).toMatchObject({
      status: 'failed',
      canonicalReplicaId: null,
      errorReason: expect.stringMatching(/canonical result was withdrawn .* after the batch was cancelled/),
    });
    expect(replicas(world, w)).toHaveLength(2); // nothing reissued
    expect(replicaOf(world, tc1!).validateState).toBe('invalid');
    expect(ledgerByReplica(world)).toEqual({ [tc1!.taskId]: [CREDIT, -CREDIT], [tc2!.taskId]: [CREDIT] });
    expectLedgerConsistent(world);
  });

  it('a result forfeited by a host that later earned its trust back still counts for nothing when its work unit is re-checked', async () => {
    const { roll } = lotteryWorld();
    const app = world.addApp();
    // y keeps the batch open, so its sentinels stay open throughout.
    const batch = submit(world, app, [regular('w', { priority: 1 }), regular('y'), ...[1, 2, 3, 4, 5].map((n) => sentinel(n))]);
    const w = world.workunitIds(batch)[0]!;
    const [x, c, h] = [world.addHost(), world.addHost(), world.addHost()];

    // x answers w (rightly, as it happens), then fails a sentinel: its w result is forfeited.
    const [tx] = x.request(1);
    expect(tx!.workunitId).toBe(w);
    answer(x, tx!, right(tx!));
    roll.value = SENTINEL;
    const [bad] = x.request(1);
    answer(x, bad!, forged());
    await world.core.recheckHosts();
    expect(replicaOf(world, tx!).validateState).toBe('invalid');

    // c and h decide w without it.
    roll.value = REGULAR;
    const [tc] = c.request(1);
    const [th] = h.request(1);
    answer(c, tc!, right(tc!));
    answer(h, th!, right(th!));
    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: tc!.taskId });
    expect(replicaOf(world, tx!).validateState).toBe('invalid');

    // x earns its trust back on three sentinels.
    for (let i = 0; i < 3; i++) {
      const [t] = x.request(1);
      answer(x, t!, right(t!));
    }
    expect(hostRow(world, x.id).distrusted_at).toBeNull();

    // c is caught: without it, w has h's result only (x's was forfeited), so it must reopen.
    roll.value = SENTINEL;
    const [tcs] = c.request(1);
    answer(c, tcs!, forged());
    await world.core.recheckHosts();

    expect(replicaOf(world, tx!).validateState).toBe('invalid');
    expect(ledgerByReplica(world)[tx!.taskId]).toBeUndefined();
    // Its sentinel failure still on its record; credit from the three sentinels only.
    expect(hostRow(world, x.id)).toMatchObject({ n_invalid: 1, consecutive_valid: 3, total_credit: 3 * CREDIT });
    expect(wu(world, w)).toMatchObject({ status: 'active', canonicalReplicaId: null });
    expect(replicaOf(world, th!).validateState).toBe('pending');
    expectLedgerConsistent(world);
  });

  it('a work unit adaptive replication gave a trusted host alone reopens at the quorum it was submitted with', async () => {
    const { roll } = lotteryWorld(); // trustThreshold 3, no spot checks
    const app = world.addApp({ adaptiveReplication: true });
    // y keeps the batch open, so its sentinels stay open throughout.
    const batch = submit(world, app, [regular('w', { priority: 1 }), regular('y'), ...[1, 2, 3, 4].map((n) => sentinel(n))]);
    const w = world.workunitIds(batch)[0]!;
    const [c, h1, h2] = [world.addHost(), world.addHost(), world.addHost()];

    // c earns trust on three sentinels, then gets w alone and decides it with a forged answer.
    roll.value = SENTINEL;
    for (let i = 0; i < 3; i++) {
      const [t] = c.request(1);
      answer(c, t!, right(t!));
    }
    expect(hostRow(world, c.id).consecutive_valid).toBe(3);
    roll.value = REGULAR;
    const [tw] = c.request(1);
    expect(tw!.workunitId).toBe(w);
    expect(wu(world, w)).toMatchObject({ minQuorum: 1, targetNresults: 1, submittedQuorum: 2 });
    answer(c, tw!, forged());
    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: tw!.taskId });

    // Caught on the fourth sentinel: w is open again at quorum 2, where one answer decides nothing.
    roll.value = SENTINEL;
    const [ts] = c.request(1);
    answer(c, ts!, forged());
    await world.core.recheckHosts();
    expect(wu(world, w)).toMatchObject({ status: 'active', canonicalReplicaId: null, minQuorum: 2, targetNresults: 2, submittedQuorum: 2 });
    expect(ledgerByReplica(world)[tw!.taskId]).toEqual([CREDIT, -CREDIT]);

    roll.value = REGULAR;
    const [t1] = h1.request(1);
    expect(t1!.workunitId).toBe(w);
    answer(h1, t1!, right(t1!));
    expect(wu(world, w).status).toBe('active');
    const [t2] = h2.request(1);
    expect(t2!.workunitId).toBe(w);
    answer(h2, t2!, right(t2!));
    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: t1!.taskId });
    expect(replicas(world, w).map((r) => [r.hostId, r.outcome, r.validateState])).toEqual([
      [c.id, 'success', 'invalid'],
      [null, 'not_needed', null],
      [h1.id, 'success', 'valid'],
      [h2.id, 'success', 'valid'],
    ]);
    expectLedgerConsistent(world);
  });
});

describe('reinstatement', () => {
  it('a distrusted host that answers trustThreshold sentinels right is trusted again and gets regular work', async () => {
    const { roll } = lotteryWorld(); // trustThreshold 3
    const app = world.addApp();
    const batch = submit(world, app, [regular('0'), ...[1, 2, 3, 4].map((n) => sentinel(n))]);
    const regularId = world.workunitIds(batch)[0]!;
    const host = world.addHost();
    roll.value = SENTINEL;
    const [bad] = host.request(1);
    answer(host, bad!, forged());
    await world.core.recheckHosts();
    const caughtAt = world.now();

    // Distrusted: sentinels only, whatever the lottery says.
    roll.value = REGULAR;
    for (let passed = 1; passed <= 3; passed++) {
      world.advance(1000);
      const tasks = host.request(1);
      expect(tasks).toHaveLength(1);
      expect(tasks[0]!.workunitId).not.toBe(regularId);
      answer(host, tasks[0]!, right(tasks[0]!));
      expect(hostRow(world, host.id)).toMatchObject({
        sentinels_passed: passed,
        sentinels_failed: 1,
        consecutive_valid: passed,
        n_valid: passed,
        distrusted_at: passed < 3 ? caughtAt : null,
        total_credit: passed * CREDIT,
      });
    }
    const [next] = host.request(1);
    expect(next!.workunitId).toBe(regularId);
    expectLedgerConsistent(world);
  });
});

describe('finishing sentinels', () => {
  it('when the batch’s last regular work unit finishes: done with the first right replica, failed without one, the rest aborted', () => {
    const { roll } = lotteryWorld();
    const app = world.addApp();
    const batch = submit(world, app, [regular('w'), sentinel(1), sentinel(2), sentinel(3, { targetNresults: 3 })]);
    const [w, s1, s2, s3] = world.workunitIds(batch) as [number, number, number, number];
    const [a, b, h1, h2] = [world.addHost(), world.addHost(), world.addHost(), world.addHost()];
    const byWorkunit = (tasks: Task[]) => Object.fromEntries(tasks.map((t) => [t.workunitId, t])) as Record<number, Task>;

    roll.value = SENTINEL;
    const ta = byWorkunit(a.request(3));
    const tb = byWorkunit(b.request(3));
    expect(Object.keys(ta).map(Number).sort()).toEqual([s1, s2, s3]);
    expect(Object.keys(tb).map(Number).sort()).toEqual([s1, s2, s3]);
    answer(a, ta[s1]!, right(ta[s1]!));
    answer(b, tb[s1]!, right(tb[s1]!));
    answer(b, tb[s2]!, forged());
    expect(world.aborts).toEqual([]); // b held no regular task
    for (const id of [s1, s2, s3]) expect(wu(world, id).status).toBe('active');

    roll.value = REGULAR;
    const [t1] = h1.request(1);
    const [t2] = h2.request(1);
    expect([t1!.workunitId, t2!.workunitId]).toEqual([w, w]);
    answer(h1, t1!, right(t1!));
    expect(wu(world, s1).status).toBe('active');
    answer(h2, t2!, right(t2!));
    expect(wu(world, w).status).toBe('done');

    expect(wu(world, s1)).toMatchObject({ status: 'done', canonicalReplicaId: ta[s1]!.taskId, errorReason: null });
    expect(wu(world, s2)).toMatchObject({ status: 'failed', canonicalReplicaId: null, errorReason: NO_RIGHT_ANSWER });
    expect(wu(world, s3)).toMatchObject({ status: 'failed', canonicalReplicaId: null, errorReason: NO_RIGHT_ANSWER });
    expect(replicas(world, s1).map((r) => [r.hostId, r.outcome, r.validateState])).toEqual([
      [a.id, 'success', 'valid'],
      [b.id, 'success', 'valid'],
    ]);
    expect(replicas(world, s2).map((r) => [r.hostId, r.outcome, r.validateState])).toEqual([
      [a.id, 'aborted', null],
      [b.id, 'success', 'invalid'],
    ]);
    expect(replicas(world, s3).map((r) => [r.hostId, r.outcome])).toEqual([
      [a.id, 'aborted'],
      [b.id, 'aborted'],
      [null, 'not_needed'],
    ]);
    const aborts = [...world.aborts].sort((x, y) => x.hostId - y.hostId);
    expect(aborts).toEqual([
      { hostId: a.id, taskIds: [ta[s2]!.taskId, ta[s3]!.taskId], reason: BATCH_OVER },
      { hostId: b.id, taskIds: [tb[s3]!.taskId], reason: BATCH_OVER },
    ]);
    expect(a.report(a.result(ta[s3]!, right(ta[s3]!)))[0]).toMatchObject({ status: 'rejected', error: { code: 'aborted' } });
    expect(ledgerByReplica(world)).toEqual({
      [ta[s1]!.taskId]: [CREDIT],
      [tb[s1]!.taskId]: [CREDIT],
      [t1!.taskId]: [CREDIT],
      [t2!.taskId]: [CREDIT],
    });
    expectLedgerConsistent(world);
  });
});

describe('migration 3', () => {
  it('rebuilds credit_ledger keeping its rows and triggers, with one grant and one revocation per replica', () => {
    tempDir = mkdtempSync(join(tmpdir(), 'vg-migration-'));
    const db = new Database(join(tempDir, 'v2.db'));
    // As openDatabase sets it, so the rebuild runs with foreign keys enforced.
    db.pragma('foreign_keys = ON');
    try {
      expect(migrate(db, MIGRATIONS.filter((m) => m.version <= 2))).toEqual([1, 2]);
      const t = 1_700_000_000_000;
      db.prepare('INSERT INTO users (id, name, created_at) VALUES (1, ?, ?)').run('u', t);
      db.prepare(`INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at,
        last_seen_at) VALUES (1, 'k', 1, 'node', 'node', '{}', '{}', ?, ?)`).run(t, t);
      db.prepare("INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ?)").run(t);
      db.prepare(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ?)`).run(t);
      db.prepare("INSERT INTO batches (id, project_id, app_id, name, created_at) VALUES (1, 1, 1, 'b', ?)").run(t);
      db.prepare(`INSERT INTO workunits (id, batch_id, app_id, input_hash, min_quorum, target_nresults, max_error_results,
        max_total_results, max_success_results, delay_bound_ms, fpops_est, priority, rng_seed, status, created_at)
        VALUES (1, 1, 1, 'h', 2, 2, 3, 8, 6, 1000, 1e10, 0, 'seed', 'done', ?)`).run(t);
      const replica = db.prepare(`INSERT INTO replicas (id, workunit_id, priority, status, outcome, validate_state, host_id, created_at, credit)
        VALUES (?, 1, 0, 'over', 'success', 'valid', 1, ?, ?)`);
      replica.run(1, t, 10);
      replica.run(2, t, 20);
      const entry = db.prepare(`INSERT INTO credit_ledger (id, replica_id, workunit_id, host_id, host_key, user_id, team_id, amount,
        granted_at, prev_hash, entry_hash, signature) VALUES (?, ?, 1, 1, 'k', 1, NULL, ?, ?, ?, ?, ?)`);
      entry.run(1, 1, 10, t, '0'.repeat(64), 'e1', 's1');
      entry.run(2, 2, 20, t, 'e1', 'e2', 's2');
      const ledger = () => db.prepare('SELECT * FROM credit_ledger ORDER BY id').all();
      const before = ledger();

      expect(migrate(db, MIGRATIONS.filter((m) => m.version <= 3))).toEqual([3]);
      expect(ledger()).toEqual(before);
      expect(db.prepare('SELECT version FROM schema_migrations ORDER BY version').all()).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
      expect(db.prepare('SELECT sentinels_passed, sentinels_failed, distrusted_at, recheck_pending FROM hosts').get()).toEqual({
        sentinels_passed: 0,
        sentinels_failed: 0,
        distrusted_at: null,
        recheck_pending: 0,
      });
      expect(db.prepare('SELECT expected_output_json, expected_output_hash FROM workunits').get()).toEqual({ expected_output_json: null, expected_output_hash: null });

      expect(() => db.prepare('UPDATE credit_ledger SET amount = 1e9').run()).toThrow(/append-only/);
      expect(() => db.prepare('DELETE FROM credit_ledger').run()).toThrow(/append-only/);
      expect(() => entry.run(3, 1, 5, t, 'e2', 'e3', 's3')).toThrow(/UNIQUE constraint failed: credit_ledger.replica_id/);
      entry.run(3, 1, -10, t, 'e2', 'e3', 's3');
      expect(() => entry.run(4, 1, -10, t, 'e3', 'e4', 's4')).toThrow(/UNIQUE constraint failed: credit_ledger.replica_id/);
      expect((db.prepare('SELECT replica_id, amount FROM credit_ledger ORDER BY id').all())).toEqual([
        { replica_id: 1, amount: 10 },
        { replica_id: 2, amount: 20 },
        { replica_id: 1, amount: -10 },
      ]);
      expect(db.pragma('foreign_key_check')).toEqual([]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(migrate(db, MIGRATIONS.filter((m) => m.version <= 3))).toEqual([]);
    } finally {
      db.close();
    }
  });
});
