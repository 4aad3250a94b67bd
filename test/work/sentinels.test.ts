// Sentinels through the real store, with a hand-driven clock: work units whose answer the
// researcher knows, drawn into hosts' tasks at the check rate and run like any other work unit.
// A wrong answer catches the host without telling it: its results stop counting, and a re-check
// takes back the credit of what its results decided (reopening work units whose quorum no longer holds).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalJson } from '../../protocol/canonical.js';
import { jsonHash } from '../../protocol/hash.js';
import { MAX_INLINE_JSON_BYTES } from '../../protocol/limits.js';
import type { Task } from '../../protocol/messages.js';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';
import { resultPieces } from '../../coordinator/research/results-export.js';
import { SubmissionError } from '../../coordinator/work/submission.js';
import type { CoreOptions } from '../../coordinator/core.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';
import {
  answer, creditOf, CREDIT, CREDIT_MICRO, expectLedgerConsistent, forged, hostRow, ledgerByTask, lotteryWorld, REGULAR, regular, replicaOf, replicas, right,
  sentinel, SENTINEL, submit, wu,
} from '../helpers/judging.js';

function lottery(options: Partial<CoreOptions> = {}): { roll: { value: number } } {
  const made = lotteryWorld(options);
  world = made.world;
  return made;
}

let world: World;
let tempDir: string | undefined;
afterEach(async () => {
  await world?.close();
  if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  tempDir = undefined;
});


describe('submission', () => {
  it('stores a sentinel’s expected output as canonical JSON and its hash', async () => {
    world = createWorld();
    const app = await world.addApp();
    const expected = { b: 2, a: [1, 'x'] };
    const batch = await submit(world, app, [regular('0'), { input: { s: 1 }, expectedOutput: expected }]);
    const rows = world.core.store.db
      .prepare('SELECT expected_output_json AS json, expected_output_hash AS hash FROM workunits WHERE batch_id = ? ORDER BY id')
      .all(batch);
    expect(rows).toEqual([
      { json: null, hash: null },
      { json: canonicalJson(expected), hash: jsonHash(expected) },
    ]);
    const [plain, known] = world.workunitIds(batch);
    expect((await wu(world, plain!)).expectedOutputHash).toBeNull();
    expect((await wu(world, known!)).expectedOutputHash).toBe(jsonHash(expected));
  });

  it('refuses a batch made only of sentinels, leaving no rows', async () => {
    world = createWorld();
    const app = await world.addApp();
    const attempt = async () => (await submit(world, app, [sentinel(1), sentinel(2)]));
    await expect(attempt).rejects.toThrow(SubmissionError);
    await expect(attempt).rejects.toThrow(/at least one work unit without expectedOutput/);
    const db = world.core.store.db;
    expect(db.prepare('SELECT COUNT(*) AS n FROM batches').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM workunits').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT COUNT(*) AS n FROM replicas').get()).toEqual({ n: 0 });
  });

  it('refuses an expected output too large to keep inline, naming the work unit', async () => {
    world = createWorld();
    const app = await world.addApp();
    const huge = { input: { s: 1 }, expectedOutput: 'x'.repeat(MAX_INLINE_JSON_BYTES) };
    await expect(submit(world, app, [regular('0'), huge])).rejects.toThrow(/^workunits\[1\]: expectedOutput is larger than 262144 bytes/);
    expect(world.core.store.db.prepare('SELECT COUNT(*) AS n FROM workunits').get()).toEqual({ n: 0 });
  });
});

describe('mixing sentinels into tasks', () => {
  it('sentinels wait in a queue of their own, drawn at the check rate: each goes to as many hosts as a regular work unit', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    // In batch order the sentinels come first: they must still not go out as regular work.
    const batch = await submit(world, app, [sentinel(1), sentinel(2), regular('0'), regular('1'), regular('2')]);
    const ids = world.workunitIds(batch);
    const sentinelIds = ids.slice(0, 2);
    const regularIds = ids.slice(2);
    const made = (await Promise.all(sentinelIds.map(async (id) => (await replicas(world, id)).map((r) => r.id)))).flat();
    const workunitsOf = (tasks: Task[]) => tasks.map((t) => world.workunitOf(t)).sort((x, y) => x - y);
    const [a, b, c] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];

    roll.value = REGULAR;
    expect(workunitsOf((await a.request(3)))).toEqual(regularIds);
    roll.value = SENTINEL;
    const tb = await b.request(2);
    const tc = await c.request(2);
    expect(workunitsOf(tb)).toEqual(sentinelIds);
    expect(workunitsOf(tc)).toEqual(sentinelIds);
    // The replicas made with the batch, and no more: a sentinel is no one's check twice over.
    expect([...tb, ...tc].map((t) => world.replicaIdOf(t)).sort((x, y) => x - y)).toEqual(made);
    const d = await world.addHost();
    expect(workunitsOf((await d.request(5)))).toEqual(regularIds);
    for (const id of sentinelIds) expect((await replicas(world, id))).toHaveLength(2);
  });

  it('at check rate 0 sentinels are never handed out, and finish with their batch without failing it', async () => {
    world = createWorld({ checkRate: 0 });
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('0'), sentinel(1)]);
    const [regularId, sentinelId] = world.workunitIds(batch) as [number, number];
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const ta = await a.request(5);
    const tb = await b.request(5);
    expect(ta.map((t) => world.workunitOf(t))).toEqual([regularId]);
    expect(tb.map((t) => world.workunitOf(t))).toEqual([regularId]);
    await answer(a, ta[0]!, right(ta[0]!));
    await answer(b, tb[0]!, right(tb[0]!));
    expect((await wu(world, sentinelId))).toMatchObject({ status: 'done', canonicalReplicaId: null, errorReason: null });
    expect((await replicas(world, sentinelId)).map((r) => r.outcome)).toEqual(['not_needed', 'not_needed']);
    expect((await world.core.store.reports.workunitCounts(batch))).toEqual({ active: 0, done: 2, failed: 0, cancelled: 0 });
  });
});

describe('a caught host is not told', () => {
  it('keeps getting the same mix: regular work when no check is drawn, not the open sentinels of every batch', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [...['0', '1', '2', '3'].map((t) => regular(t)), ...[1, 2, 3, 4, 5, 6].map((n) => sentinel(n))]);
    const sentinelIds = world.workunitIds(batch).slice(4);
    const cheat = await world.addHost();
    roll.value = SENTINEL;
    const [first] = await cheat.request(1);
    expect(sentinelIds).toContain(world.workunitOf(first!));
    await answer(cheat, first!, forged());
    await world.core.recheckHosts();
    expect(hostRow(world, cheat.id).distrusted_at).toBe(world.now());

    // Today's lottery says "no check": a caught host gets regular work like anyone.
    roll.value = REGULAR;
    const after = await cheat.request(10);
    expect(after.map((t) => world.workunitOf(t)).filter((id) => sentinelIds.includes(id))).toEqual([]);
    expect(after).toHaveLength(4);
    // Nothing was aborted, nothing said.
    expect(world.aborts).toEqual([]);
  });

  // What a reply says of the host's quota (tasks.request's `limited`) is a function of its quota
  // levels and counts alone: a caught host, with sentinels open and checks drawn, hears what an
  // honest host at the same levels and counts hears.
  for (const [what, quotas, expected] of [
    ['in flight', { newHostTasks: 2, newHostTasksPerDay: 100 }, { by: 'in_flight', held: 2, allowed: 2 }],
    ['a day', { newHostTasks: 4, newHostTasksPerDay: 3 }, { by: 'daily', apps: [{ project: 'project 1', app: 'primes', allowed: 3, used: 3 }] }],
  ] as const) {
    it(`its quota reads as an honest host's at the same levels: tasks ${what}`, async () => {
      const { roll } = lottery(quotas);
      const app = await world.addApp();
      await submit(world, app, [...Array.from({ length: 12 }, (_, i) => regular(String(i))), ...[1, 2, 3, 4, 5, 6].map((n) => sentinel(n))]);
      const [cheat, honest] = [await world.addHost(), await world.addHost()];
      roll.value = SENTINEL;
      const [first] = await cheat.request(1);
      await answer(cheat, first!, forged());
      await world.core.recheckHosts();
      expect(hostRow(world, cheat.id).distrusted_at).toBe(world.now());
      roll.value = REGULAR;
      const [own] = await honest.request(1);
      await answer(honest, own!, right(own!)); // waits for a quorum: no level changes
      const state = async (h: WorldHost) => [(await world.core.store.identities.hostById(h.id))!.quotaLevel, await world.core.store.identities.appQuota(h.id, app)];
      expect(await state(cheat)).toEqual(await state(honest));

      // Every slot a check, where a check can go: the caught host's sentinels stay hidden.
      roll.value = SENTINEL;
      for (let i = 0; i < 2; i++) {
        const [c, h] = [await cheat.requestWithLimit(10), await honest.requestWithLimit(10)];
        expect(c.tasks.length).toBe(h.tasks.length);
        expect(c.limited).toEqual(h.limited);
        expect(c.limited).toMatchObject(expected);
      }
      expect(world.aborts).toEqual([]);
    });
  }

  it('its tasks stay with it and its results are accepted, but count for nothing: its work units are done by others', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    // R1's budget has room for two results only: neither the forfeited nor the ignored one may use it up.
    // r3 is there so that there is regular work left for the cheat: a check comes only then.
    const batch = await submit(world, app, [regular('1', { maxTotalResults: 2 }), regular('2', { maxTotalResults: 2 }), regular('3'), sentinel(1)]);
    const [r1, r2, r3, s] = world.workunitIds(batch) as [number, number, number, number];
    const cheat = await world.addHost();

    roll.value = REGULAR;
    const [t1, t2] = await cheat.request(2);
    expect([world.workunitOf(t1!), world.workunitOf(t2!)]).toEqual([r1, r2]);
    await answer(cheat, t1!, right(t1!)); // waiting for a second result
    roll.value = SENTINEL;
    const [ts] = await cheat.request(1);
    expect(world.workunitOf(ts!)).toBe(s);
    await answer(cheat, ts!, forged());
    await world.core.recheckHosts();

    expect((await replicaOf(world, ts!))).toMatchObject({ outcome: 'success', validateState: 'invalid' });
    expect(hostRow(world, cheat.id)).toEqual({
      consecutive_valid: 0,
      n_valid: 0,
      n_invalid: 2, // the sentinel, and its forfeited result for r1
      sentinels_passed: 0,
      sentinels_failed: 1,
      distrusted_at: world.now(),
      recheck_pending: 0, // the re-check ran (nothing of it was valid)
      total_credit_micro: 0,
    });
    // Its waiting result is forfeited and replaced; its task out is kept, and waited for as an
    // honest host's would be (a replacement beside it would finish first, and the abort tell).
    expect((await replicas(world, r1)).map((r) => [r.hostId, r.status, r.outcome, r.validateState])).toEqual([
      [cheat.id, 'over', 'success', 'invalid'],
      [null, 'unsent', null, null],
      [null, 'unsent', null, null],
    ]);
    expect((await replicas(world, r2)).map((r) => [r.hostId, r.status])).toEqual([
      [cheat.id, 'in_progress'],
      [null, 'unsent'],
    ]);
    expect(world.aborts).toEqual([]);
    // Its result for r2 is accepted as anyone's, forfeited, and replaced.
    await answer(cheat, t2!, right(t2!));
    expect((await replicaOf(world, t2!))).toMatchObject({ outcome: 'success', validateState: 'invalid', forfeited: true });
    expect((await replicas(world, r2)).map((r) => r.status)).toEqual(['over', 'unsent', 'unsent']);

    roll.value = REGULAR;
    const [h1, h2] = [(await world.addHost()), (await world.addHost())];
    for (const h of [h1, h2]) {
      const tasks = await h.request(3);
      expect(tasks.map((t) => world.workunitOf(t)).sort()).toEqual([r1, r2, r3]);
      for (const t of tasks) await answer(h, t, right(t));
    }
    expect((await wu(world, r1)).status).toBe('done');
    expect((await wu(world, r2)).status).toBe('done');
    expect(world.credits.filter((c) => c.hostId === cheat.id)).toEqual([]);
    expect(hostRow(world, h1.id).total_credit_micro).toBe(3 * CREDIT_MICRO);
    expect(ledgerByTask(world)[t1!.taskId]).toBeUndefined();
    await expectLedgerConsistent(world);
  });

  it('caught in the same report as a result that agrees with a colluder’s: that result is judged after the catch and decides nothing', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('1'), regular('2'), sentinel(1)]);
    const [r1, , s] = world.workunitIds(batch) as [number, number, number];
    const [colluder, cheat] = [await world.addHost(), await world.addHost()];
    roll.value = REGULAR;
    const [c1] = await colluder.request(1);
    expect(world.workunitOf(c1!)).toBe(r1);
    await answer(colluder, c1!, forged()); // waiting for a second result
    const [t1] = await cheat.request(1);
    expect(world.workunitOf(t1!)).toBe(r1);
    roll.value = SENTINEL;
    const [ts] = await cheat.request(1);
    expect(world.workunitOf(ts!)).toBe(s);
    // One report: the wrong sentinel answer first, then the forged result that agrees with the colluder's.
    const acks = await cheat.report(cheat.result(ts!, forged()), cheat.result(t1!, forged()));
    expect(acks.map((a) => a.status)).toEqual(['accepted', 'accepted']);
    expect(hostRow(world, cheat.id).distrusted_at).toBe(world.now());
    // Read before the catch, r1 held two agreeing results; judged after it, only the colluder's counts.
    expect((await wu(world, r1)).status).toBe('active');
    expect((await replicaOf(world, t1!))).toMatchObject({ validateState: 'invalid', forfeited: true });
    expect((await replicaOf(world, c1!))).toMatchObject({ validateState: 'pending' });
    expect(world.credits.filter((c) => c.hostId === cheat.id || c.hostId === colluder.id)).toEqual([]);
    await expectLedgerConsistent(world);
  });

  it('sees the same abort a regular work unit’s straggler sees when its sentinel is decided', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('0'), regular('1'), sentinel(1)]);
    const s = world.workunitIds(batch)[2]!;
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    roll.value = SENTINEL;
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    expect([world.workunitOf(ta!), world.workunitOf(tb!)]).toEqual([s, s]);
    await answer(a, ta!, right(ta!));
    // a is a quorum of one right answer short; b's answer makes it (no credit before).
    expect(world.credits).toEqual([]);
    await answer(b, tb!, right(tb!));
    expect((await wu(world, s))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(ta!) });
    expect(world.credits.map((x) => x.hostId).sort()).toEqual([a.id, b.id].sort());
  });
});

describe('judging sentinels', () => {
  it('a right answer is valid on arrival and counts as a passed check; its credit waits for a quorum of right answers', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('0'), sentinel(1)]);
    const sentinelId = world.workunitIds(batch)[1]!;
    const [host, other] = [(await world.addHost()), (await world.addHost())];
    roll.value = SENTINEL;
    const [t] = await host.request(1);
    expect(world.workunitOf(t!)).toBe(sentinelId);
    await answer(host, t!, right(t!));

    expect((await replicaOf(world, t!))).toMatchObject({ outcome: 'success', validateState: 'valid' });
    expect(creditOf(world, world.replicaIdOf(t!))).toBeNull();
    expect(hostRow(world, host.id)).toMatchObject({ consecutive_valid: 1, n_valid: 1, sentinels_passed: 1, distrusted_at: null, total_credit_micro: 0 });
    expect(world.credits).toEqual([]);
    expect((await wu(world, sentinelId))).toMatchObject({ status: 'active', canonicalReplicaId: null });

    const [t2] = await other.request(1);
    await answer(other, t2!, right(t2!));
    expect((await wu(world, sentinelId))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(t!) });
    expect(ledgerByTask(world)).toEqual({ [t!.taskId]: [CREDIT], [t2!.taskId]: [CREDIT] });
    expect(hostRow(world, host.id).total_credit_micro).toBe(CREDIT_MICRO);
    await expectLedgerConsistent(world);
  });

  it('a wrong answer is replaced by another replica, as a regular disagreement would be', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('0'), sentinel(1)]);
    const s = world.workunitIds(batch)[1]!;
    const [cheat, h1, h2] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = SENTINEL;
    const [tc] = await cheat.request(1);
    await answer(cheat, tc!, forged());
    expect((await replicas(world, s)).map((r) => [r.hostId, r.status])).toEqual([
      [cheat.id, 'over'],
      [null, 'unsent'],
      [null, 'unsent'],
    ]);
    for (const h of [h1, h2]) {
      const [t] = await h.request(1);
      expect(world.workunitOf(t!)).toBe(s);
      await answer(h, t!, right(t!));
    }
    expect((await wu(world, s)).status).toBe('done');
    expect((await replicas(world, s)).map((r) => r.validateState)).toEqual(['invalid', 'valid', 'valid']);
  });
});


describe('taking back what a caught host decided', () => {
  it('colluders who won a quorum lose it: revoked, reopened, decided again by honest hosts', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const decided = await submit(world, app, [regular('w', { priority: 1 })]);
    const checks = await submit(world, app, [regular('x'), sentinel(1)]);
    const w = world.workunitIds(decided)[0]!;
    const s = world.workunitIds(checks)[1]!;
    const [c1, c2, h1, h2] = [(await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost())];

    const [tc1] = await c1.request(1);
    const [tc2] = await c2.request(1);
    expect([world.workunitOf(tc1!), world.workunitOf(tc2!)]).toEqual([w, w]);
    await answer(c1, tc1!, forged());
    await answer(c2, tc2!, forged());
    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(tc1!) });
    expect(ledgerByTask(world)).toEqual({ [tc1!.taskId]: [CREDIT], [tc2!.taskId]: [CREDIT] });

    roll.value = SENTINEL;
    const [ts] = await c1.request(1);
    expect(world.workunitOf(ts!)).toBe(s);
    await answer(c1, ts!, forged());
    await world.core.recheckHosts();

    expect(hostRow(world, c1.id)).toMatchObject({ distrusted_at: world.now(), recheck_pending: 0, total_credit_micro: 0 });
    expect((await wu(world, w))).toMatchObject({ status: 'active', canonicalReplicaId: null, errorReason: null, finishedAt: null });
    expect((await replicas(world, w)).map((r) => [r.hostId, r.outcome, r.validateState])).toEqual([
      [c1.id, 'success', 'invalid'],
      [c2.id, 'success', 'pending'], // still holding its credit until judged again
      [null, null, null],
    ]);
    expect(ledgerByTask(world)).toEqual({ [tc1!.taskId]: [CREDIT, -CREDIT], [tc2!.taskId]: [CREDIT] });
    expect(creditOf(world, world.replicaIdOf(tc1!))).toBe(0);
    expect(hostRow(world, c2.id).total_credit_micro).toBe(CREDIT_MICRO);
    const c1Receipts = world.credits.filter((c) => c.hostId === c1.id).flatMap((c) => c.receipts);
    expect(c1Receipts.map((r) => [r.taskId, r.amount])).toEqual([
      [tc1!.taskId, CREDIT],
      [tc1!.taskId, -CREDIT],
    ]);
    await expectLedgerConsistent(world);

    roll.value = REGULAR;
    const [th1] = await h1.request(1);
    expect(world.workunitOf(th1!)).toBe(w);
    await answer(h1, th1!, right(th1!));
    expect((await wu(world, w)).status).toBe('active'); // one right, one forged: no quorum yet
    const [th2] = await h2.request(1);
    expect(world.workunitOf(th2!)).toBe(w);
    await answer(h2, th2!, right(th2!));

    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(th1!) });
    const states = Object.fromEntries((await replicas(world, w)).map((r) => [r.hostId, r.validateState]));
    expect(states).toEqual({ [c1.id]: 'invalid', [c2.id]: 'invalid', [h1.id]: 'valid', [h2.id]: 'valid' });
    expect(ledgerByTask(world)).toEqual({
      [tc1!.taskId]: [CREDIT, -CREDIT],
      [tc2!.taskId]: [CREDIT, -CREDIT],
      [th1!.taskId]: [CREDIT],
      [th2!.taskId]: [CREDIT],
    });
    expect([c1, c2, h1, h2].map((h) => hostRow(world, h.id).total_credit_micro)).toEqual([0, 0, CREDIT_MICRO, CREDIT_MICRO]);
    expect(hostRow(world, c2.id)).toMatchObject({ n_invalid: 1, consecutive_valid: 0, distrusted_at: null });
    expect(world.credits.filter((c) => c.hostId === c2.id).flatMap((c) => c.receipts).map((r) => r.amount)).toEqual([CREDIT, -CREDIT]);
    expect((await world.core.store.ledger.entriesAfter(0, 100)).filter((e) => e.amount < 0)).toHaveLength(2);
    await expectLedgerConsistent(world);
  });

  it('the re-check waits a random delay after the catch, so when the credit goes does not point at the report that gave the host away', async () => {
    const made = lotteryWorld({ recheckDelayMs: 600_000 });
    world = made.world;
    const { roll } = made;
    const app = await world.addApp();
    const decided = await submit(world, app, [regular('w', { priority: 1 })]);
    await submit(world, app, [regular('x'), regular('y'), sentinel(1)]);
    const w = world.workunitIds(decided)[0]!;
    const [c1, c2] = [(await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    const [tc1] = await c1.request(1);
    const [tc2] = await c2.request(1);
    await answer(c1, tc1!, forged());
    await answer(c2, tc2!, forged());
    roll.value = SENTINEL; // also the draw of the delay: 0.1 of 10 minutes
    const [ts] = await c1.request(1);
    await answer(c1, ts!, forged());
    const caughtAt = world.now();
    await world.core.recheckHosts();
    // Caught, but nothing it can see has moved yet.
    expect(hostRow(world, c1.id)).toMatchObject({ distrusted_at: caughtAt, recheck_pending: 1, total_credit_micro: CREDIT_MICRO });
    expect((await wu(world, w)).status).toBe('done');
    expect(world.credits.filter((x) => x.hostId === c1.id).flatMap((x) => x.receipts).map((r) => r.amount)).toEqual([CREDIT]);

    world.advance(60_000 - 1);
    await world.core.recheckHosts();
    expect(hostRow(world, c1.id).recheck_pending).toBe(1);
    world.advance(1);
    await world.core.recheckHosts();
    expect(hostRow(world, c1.id)).toMatchObject({ recheck_pending: 0, total_credit_micro: 0 });
    expect((await wu(world, w)).status).toBe('active');
    await expectLedgerConsistent(world);
  });

  it('a work unit whose quorum holds without the caught host stays done; only its replica is revoked', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const decided = await submit(world, app, [regular('w', { priority: 1 })]);
    await submit(world, app, [regular('x'), sentinel(1)]);
    const w = world.workunitIds(decided)[0]!;
    // a and b answer alike but count once (one user), so the quorum takes a third result and
    // the work unit ends with three valid ones: without a, b and c still make a quorum.
    const { accountKey } = await world.core.registry.createAccount({ name: 'alice' });
    const [a, b, c] = [(await world.addHost({ accountKey })), (await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    await world.core.registry.register({ protocol: 2, hostKey: b.publicKey, platform: { kind: 'node', engine: 'v8' }, capabilities: { wasm: true }, accountKey }, world.now());
    expect((await world.core.store.identities.hostById(b.id))!.userId).toBe(a.userId);
    await answer(a, ta!, right(ta!));
    await answer(b, tb!, right(tb!));
    expect((await wu(world, w)).status).toBe('active');
    const [tc] = await c.request(1);
    await answer(c, tc!, right(tc!));
    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(ta!) });
    expect((await replicas(world, w)).map((r) => r.validateState)).toEqual(['valid', 'valid', 'valid']);

    roll.value = SENTINEL;
    const [ts] = await a.request(1);
    await answer(a, ts!, forged());
    await world.core.recheckHosts();

    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(tb!) });
    expect((await replicas(world, w)).map((r) => [r.hostId, r.validateState])).toEqual([
      [a.id, 'invalid'],
      [b.id, 'valid'],
      [c.id, 'valid'],
    ]);
    expect(ledgerByTask(world)).toEqual({
      [ta!.taskId]: [CREDIT, -CREDIT],
      [tb!.taskId]: [CREDIT],
      [tc!.taskId]: [CREDIT],
    });
    expect([a, b, c].map((h) => hostRow(world, h.id).total_credit_micro)).toEqual([0, CREDIT_MICRO, CREDIT_MICRO]);
    expect((await world.core.store.identities.userById(a.userId))!.totalCreditMicro).toBe(CREDIT_MICRO);
    await expectLedgerConsistent(world);
  });

  it('in a cancelled batch a work unit whose quorum no longer holds fails instead of reopening', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const decided = await submit(world, app, [regular('w', { priority: 1 }), regular('w2')]);
    await submit(world, app, [regular('x'), sentinel(1)]);
    const [w, w2] = world.workunitIds(decided) as [number, number];
    const [c1, c2] = [(await world.addHost()), (await world.addHost())];
    const [tc1] = await c1.request(1);
    const [tc2] = await c2.request(1);
    await answer(c1, tc1!, forged());
    await answer(c2, tc2!, forged());
    expect((await wu(world, w)).status).toBe('done');
    expect(await world.core.cancelBatch(decided)).toBe(1);
    expect((await wu(world, w2)).status).toBe('cancelled');

    roll.value = SENTINEL;
    const [ts] = await c1.request(1);
    await answer(c1, ts!, forged());
    await world.core.recheckHosts();

    expect((await wu(world, w))).toMatchObject({
      status: 'failed',
      canonicalReplicaId: null,
      errorReason: expect.stringMatching(/canonical result was withdrawn .* after the batch was cancelled/),
    });
    expect((await replicas(world, w))).toHaveLength(2); // nothing reissued
    expect((await replicaOf(world, tc1!)).validateState).toBe('invalid');
    expect(ledgerByTask(world)).toEqual({ [tc1!.taskId]: [CREDIT, -CREDIT], [tc2!.taskId]: [CREDIT] });
    await expectLedgerConsistent(world);
  });

  it('a result forfeited by a host that later earned its trust back still counts for nothing when its work unit is re-checked', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    // y keeps the batch open, so its sentinels stay open throughout.
    const batch = await submit(world, app, [regular('w', { priority: 1 }), regular('y'), ...[1, 2, 3, 4, 5].map((n) => sentinel(n))]);
    const w = world.workunitIds(batch)[0]!;
    const [x, c, h] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];

    // x answers w (rightly, as it happens), then fails a sentinel: its w result is forfeited.
    const [tx] = await x.request(1);
    expect(world.workunitOf(tx!)).toBe(w);
    await answer(x, tx!, right(tx!));
    roll.value = SENTINEL;
    const [bad] = await x.request(1);
    await answer(x, bad!, forged());
    await world.core.recheckHosts();
    expect((await replicaOf(world, tx!)).validateState).toBe('invalid');

    // c and h decide w without it.
    roll.value = REGULAR;
    const [tc] = await c.request(1);
    const [th] = await h.request(1);
    await answer(c, tc!, right(tc!));
    await answer(h, th!, right(th!));
    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(tc!) });
    expect((await replicaOf(world, tx!)).validateState).toBe('invalid');

    // x earns its trust back on three sentinels, drawn at the check rate like anyone's.
    roll.value = SENTINEL;
    for (let i = 0; i < 3; i++) {
      const [t] = await x.request(1);
      await answer(x, t!, right(t!));
    }
    expect(hostRow(world, x.id).distrusted_at).toBeNull();

    // c is caught: without it, w has h's result only (x's was forfeited), so it must reopen.
    roll.value = SENTINEL;
    const [tcs] = await c.request(1);
    await answer(c, tcs!, forged());
    await world.core.recheckHosts();

    expect((await replicaOf(world, tx!)).validateState).toBe('invalid');
    expect(ledgerByTask(world)[tx!.taskId]).toBeUndefined();
    // No credit: what it did while distrusted counted for nothing. Its invalid results are its
    // rows: the sentinel it failed, its forfeited w, and the three right answers it gave while
    // distrusted (forfeited too).
    expect(hostRow(world, x.id)).toMatchObject({ n_valid: 0, n_invalid: 5, consecutive_valid: 3, total_credit_micro: 0 });
    expect((await wu(world, w))).toMatchObject({ status: 'active', canonicalReplicaId: null });
    expect((await replicaOf(world, th!)).validateState).toBe('pending');
    await expectLedgerConsistent(world);
  });

  it('a work unit adaptive replication gave a trusted host alone reopens at the quorum it was submitted with', async () => {
    const { roll } = lottery(); // trustThreshold 3, no spot checks
    const app = await world.addApp({ adaptiveReplication: true });
    // y keeps the batch open, so its sentinels stay open throughout.
    const batch = await submit(world, app, [regular('w', { priority: 1 }), regular('y'), ...[1, 2, 3, 4].map((n) => sentinel(n))]);
    const w = world.workunitIds(batch)[0]!;
    const [c, h1, h2] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];

    // c earns trust on three sentinels, then gets w alone and decides it with a forged answer.
    roll.value = SENTINEL;
    for (let i = 0; i < 3; i++) {
      const [t] = await c.request(1);
      await answer(c, t!, right(t!));
    }
    expect(hostRow(world, c.id).consecutive_valid).toBe(3);
    roll.value = REGULAR;
    const [tw] = await c.request(1);
    expect(world.workunitOf(tw!)).toBe(w);
    expect((await wu(world, w))).toMatchObject({ minQuorum: 1, targetNresults: 1, submittedQuorum: 2 });
    await answer(c, tw!, forged());
    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(tw!) });

    // Caught on the fourth sentinel: w is open again at quorum 2, where one answer decides nothing.
    roll.value = SENTINEL;
    const [ts] = await c.request(1);
    await answer(c, ts!, forged());
    await world.core.recheckHosts();
    expect((await wu(world, w))).toMatchObject({ status: 'active', canonicalReplicaId: null, minQuorum: 2, targetNresults: 2, submittedQuorum: 2 });
    expect(ledgerByTask(world)[tw!.taskId]).toEqual([CREDIT, -CREDIT]);

    roll.value = REGULAR;
    const [t1] = await h1.request(1);
    expect(world.workunitOf(t1!)).toBe(w);
    await answer(h1, t1!, right(t1!));
    expect((await wu(world, w)).status).toBe('active');
    const [t2] = await h2.request(1);
    expect(world.workunitOf(t2!)).toBe(w);
    await answer(h2, t2!, right(t2!));
    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(t1!) });
    expect((await replicas(world, w)).map((r) => [r.hostId, r.outcome, r.validateState])).toEqual([
      [c.id, 'success', 'invalid'],
      [null, 'not_needed', null],
      [h1.id, 'success', 'valid'],
      [h2.id, 'success', 'valid'],
    ]);
    await expectLedgerConsistent(world);
  });
});

describe('reinstatement', () => {
  it('a distrusted host that answers trustThreshold checks right is trusted again; meanwhile nothing it returns counts', async () => {
    const { roll } = lottery(); // trustThreshold 3
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('0'), regular('1'), ...[1, 2, 3, 4].map((n) => sentinel(n))]);
    const [r0, r1] = world.workunitIds(batch) as [number, number];
    const host = await world.addHost();
    roll.value = SENTINEL;
    const [bad] = await host.request(1);
    await answer(host, bad!, forged());
    await world.core.recheckHosts();
    const caughtAt = world.now();

    // Regular work as before; its result forfeited.
    roll.value = REGULAR;
    const [t0] = await host.request(1);
    expect(world.workunitOf(t0!)).toBe(r0);
    await answer(host, t0!, right(t0!));
    expect((await replicaOf(world, t0!))).toMatchObject({ validateState: 'invalid', forfeited: true });

    roll.value = SENTINEL;
    for (let passed = 1; passed <= 3; passed++) {
      world.advance(1000);
      const tasks = await host.request(1);
      expect(tasks).toHaveLength(1);
      await answer(host, tasks[0]!, right(tasks[0]!));
      expect(hostRow(world, host.id)).toMatchObject({
        sentinels_passed: passed,
        sentinels_failed: 1,
        consecutive_valid: passed,
        distrusted_at: passed < 3 ? caughtAt : null,
        total_credit_micro: 0,
      });
    }
    // Trusted again: its results count.
    roll.value = REGULAR;
    const [next] = await host.request(1);
    expect(world.workunitOf(next!)).toBe(r1);
    await answer(host, next!, right(next!));
    expect((await replicaOf(world, next!))).toMatchObject({ validateState: 'pending', forfeited: false });
    await expectLedgerConsistent(world);
  });
});

describe('finishing sentinels', () => {
  it('when the batch’s last regular work unit finishes: done with its right answers credited, or with none; never failed', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('w'), sentinel(1), sentinel(2), sentinel(3)]);
    const [w, s1, s2, s3] = world.workunitIds(batch) as [number, number, number, number];
    const [a, b, h1, h2] = [(await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost())];
    const byWorkunit = (tasks: Task[]) => Object.fromEntries(tasks.map((t) => [world.workunitOf(t), t])) as Record<number, Task>;

    roll.value = SENTINEL;
    const ta = byWorkunit((await a.request(2)));
    expect(Object.keys(ta).map(Number).sort()).toEqual([s1, s2]);
    await answer(a, ta[s1]!, right(ta[s1]!));
    const tb = byWorkunit((await b.request(1)));
    expect(Object.keys(tb).map(Number)).toEqual([s1]);
    await answer(b, tb[s1]!, forged());
    expect(world.aborts).toEqual([]);
    for (const id of [s1, s2, s3]) expect((await wu(world, id)).status).toBe('active');

    roll.value = REGULAR;
    const [t1] = await h1.request(1);
    const [t2] = await h2.request(1);
    expect([world.workunitOf(t1!), world.workunitOf(t2!)]).toEqual([w, w]);
    await answer(h1, t1!, right(t1!));
    expect((await wu(world, s1)).status).toBe('active');
    await answer(h2, t2!, right(t2!));
    expect((await wu(world, w)).status).toBe('done');

    // s1: a's right answer, short of a quorum, is credited now; s2 drawn by a, unanswered; s3 never drawn.
    expect((await wu(world, s1))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(ta[s1]!), errorReason: null });
    expect((await wu(world, s2))).toMatchObject({ status: 'done', canonicalReplicaId: null, errorReason: null });
    expect((await wu(world, s3))).toMatchObject({ status: 'done', canonicalReplicaId: null, errorReason: null });
    expect((await world.core.store.reports.workunitCounts(batch))).toEqual({ active: 0, done: 4, failed: 0, cancelled: 0 });
    expect((await replicas(world, s2)).map((r) => [r.hostId, r.outcome])).toEqual([
      [a.id, 'aborted'],
      [null, 'not_needed'],
    ]);
    expect((await replicas(world, s3)).map((r) => r.outcome)).toEqual(['not_needed', 'not_needed']);
    // The download has a line for each; a sentinel nobody answered right gives its known answer.
    let text = '';
    for await (const p of resultPieces(world.core.store, world.core.outputs, batch, true)) if ('text' in p) text += p.text;
    expect(text.trim().split('\n').map((l) => JSON.parse(l))).toEqual([
      { seq: 0, workunitId: w, status: 'done', output: { echo: { r: 'w' } } },
      { seq: 1, workunitId: s1, status: 'done', output: { echo: { s: 1 } } },
      { seq: 2, workunitId: s2, status: 'done', output: { echo: { s: 2 } } },
      { seq: 3, workunitId: s3, status: 'done', output: { echo: { s: 3 } } },
    ]);
    // The same words a straggler of a decided regular work unit gets.
    expect(world.aborts).toEqual([{ hostId: a.id, taskIds: [ta[s2]!.taskId], reason: 'work unit already has a canonical result' }]);
    expect(ledgerByTask(world)).toEqual({
      [ta[s1]!.taskId]: [CREDIT],
      [t1!.taskId]: [CREDIT],
      [t2!.taskId]: [CREDIT],
    });
    await expectLedgerConsistent(world);
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
