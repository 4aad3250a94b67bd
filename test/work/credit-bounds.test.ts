// Credit that cannot be minted, through the real store with a hand-driven clock: a grant follows
// the CPU time the work unit's valid results measured (not the researcher's fpopsEst alone), each
// no more than its task was out (a world host reports when its elapsedMs has passed), and its
// project's cap, an admin who lowers the cap takes back what was granted above it, amounts
// are exact micro-credits, and a host's counters are a recount of its replicas whatever was
// taken back later.
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../protocol/messages.js';
import { createCore } from '../../coordinator/core.js';
import { hostCounterProblems } from '../helpers/batch-counters.js';
import { createWorld, WORLD_OPTIONS, type World, type WorldHost } from '../helpers/world.js';
import { creditProblems } from '../reliability/db-checks.js';
import {
  answer as answerRight, CREDIT, expectLedgerConsistent, forged, ledgerByReplica, lotteryWorld, REGULAR, regular, replicaOf, replicas, right,
  sentinel, SENTINEL, submit, wu,
} from '../helpers/judging.js';

let world: World;
afterEach(() => world?.close());

/**
 * Reports an output with the CPU time the host claims it took, after the wall time it really
 * held the task (`elapsedMs`: as long as the CPU time it claims, unless it lies).
 */
async function answer(host: WorldHost, task: Task, output: unknown, cpuTimeMs: number, elapsedMs = cpuTimeMs): Promise<void> {
  expect((await host.report(host.result(task, { output }, { cpuTimeMs, elapsedMs })))).toEqual([{ taskId: task.taskId, status: 'accepted' }]);
}
/** A lie: 31 years of CPU time. */
const YEARS = 1e12;
const DAY_MS = 86_400_000;

const ledgerAmounts = async () => (await world.core.store.ledger.entriesAfter(0, 1000)).map((e) => e.amount);
const hostCredit = async (hostId: number) => (await world.core.store.reports.hosts([hostId], 1))[0]!.totalCredit;

describe('what a grant is bounded by', () => {
  it('a researcher’s fpopsEst of 1e21 earns no more than the CPU time the quorum measured', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), [{ n: 1 }], { fpopsEst: 1e21 });
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    await answer(a, ta!, 1, 2_000);
    await answer(b, tb!, 1, 3_000);
    // 2 s (the lower of the two) on the reference core of 10 GFLOPS: 2 × 200 × 10 / 86,400 credits.
    expect((await ledgerAmounts())).toEqual([0.046296, 0.046296]);
    expect((await world.core.store.reports.leaderboard('hosts', 10)).map((e) => e.totalCredit)).toEqual([0.046296, 0.046296]);
    await expectLedgerConsistent(world);
  });

  it('a host claiming more CPU time than its task was out earns no more than that time, alone or with colluders', async () => {
    world = createWorld();
    const app = await world.addApp();
    // Alone (a quorum of one): 31 years claimed for a task answered 3 s after it was sent.
    await world.submit(app, [{ n: 1 }], { fpopsEst: 1e21, minQuorum: 1, targetNresults: 1 });
    const solo = await world.addHost();
    await answer(solo, (await solo.request(1))[0]!, 1, YEARS, 3_000);
    expect((await ledgerAmounts())).toEqual([0.069444]); // 3 s of the reference core, not the cap of 1,000
    // Two colluders agreeing on the lie: each within the time it held its task, the grant the lower of the two.
    await world.submit(app, [{ n: 2 }], { fpopsEst: 1e21 });
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    world.advance(2_000);
    const [tb] = await b.request(1);
    await answer(a, ta!, 2, YEARS, 4_000); // out 4 s
    await answer(b, tb!, 2, YEARS, 2_000); // out 2 s
    expect((await ledgerAmounts()).slice(1)).toEqual([0.046296, 0.046296]);
    await expectLedgerConsistent(world);
  });

  it('one host claiming more CPU time than its partner gains nothing', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), [{ n: 1 }], { fpopsEst: 1e21 });
    const [honest, inflated] = [(await world.addHost()), (await world.addHost())];
    const [th] = await honest.request(1);
    const [ti] = await inflated.request(1);
    await answer(inflated, ti!, 1, YEARS, 5_000);
    await answer(honest, th!, 1, 2_000);
    expect(await Promise.all([honest, inflated].map(async (h) => (await hostCredit(h.id))))).toEqual([0.046296, 0.046296]);
  });

  it('nor does a host earn more than the CPU time it claims, when its partners claim more', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), [{ n: 1 }], { fpopsEst: 1e21, minQuorum: 3, targetNresults: 3 });
    const hosts = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    const times = [1_000, 2_000, YEARS];
    for (const [i, h] of hosts.entries()) await answer(h, (await h.request(1))[0]!, 1, times[i]!, Math.min(times[i]!, 3_000));
    // The lower median is 2 s; the host that measured 1 s gets 1 s.
    expect(await Promise.all(hosts.map(async (h) => (await hostCredit(h.id))))).toEqual([0.023148, 0.046296, 0.046296]);
  });

  it('the researcher’s estimate binds when the hosts measured more', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), [{ n: 1 }]);
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    await answer(a, (await a.request(1))[0]!, 1, 3_600_000);
    await answer(b, (await b.request(1))[0]!, 1, 3_600_000);
    expect((await ledgerAmounts())).toEqual([CREDIT, CREDIT]); // 1e10 operations: a second of the reference core
  });

  it('a result accepted alone (adaptive replication) is bounded by its own CPU time', async () => {
    world = createWorld();
    const app = await world.addApp({ adaptiveReplication: true });
    await world.submit(app, [0, 1, 2]);
    const trusted = await world.addHost();
    for (let i = 0; i < 3; i++) {
      const partner = await world.addHost();
      await answer(trusted, (await trusted.request(1))[0]!, i, 1_000);
      await answer(partner, (await partner.request(1))[0]!, i, 1_000);
    }
    await world.submit(app, [{ alone: true }], { fpopsEst: 1e21 });
    const [solo] = await trusted.request(1);
    expect((await wu(world, world.workunitOf(solo!)))).toMatchObject({ minQuorum: 1 });
    await answer(trusted, solo!, 'x', 5_000);
    expect((await wu(world, world.workunitOf(solo!))).status).toBe('done');
    expect((await ledgerAmounts()).at(-1)).toBe(0.115741); // 5 s of the reference core
  });

  it('a check that agrees earns no more than its own CPU time, nor than the quorum it agrees with measured', async () => {
    const { world: w, roll } = lotteryWorld();
    world = w;
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('w', { fpopsEst: 1e21 }), regular('v', { fpopsEst: 1e21 }), regular('x'), regular('y')]);
    const [wId, vId] = world.workunitIds(batch) as [number, number];
    const [a, b, c, d] = [(await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    for (const h of [a, b]) for (const t of (await h.request(2))) await answer(h, t, right(t).output, 2_000);
    expect([(await wu(world, wId)).status, (await wu(world, vId)).status]).toEqual(['done', 'done']);
    roll.value = SENTINEL; // a check: no sentinel waits, so a done work unit is sent again (each once)
    const [tc] = await c.request(1);
    expect((await replicaOf(world, tc!))).toMatchObject({ kind: 'check', workunitId: wId });
    await answer(c, tc!, right(tc!).output, YEARS, 5_000);
    const [td] = await d.request(1);
    expect((await replicaOf(world, td!))).toMatchObject({ kind: 'check', workunitId: vId });
    await answer(d, td!, right(td!).output, 1_000);
    expect(await Promise.all([a, b, c, d].map(async (h) => (await hostCredit(h.id))))).toEqual([0.092592, 0.092592, 0.046296, 0.023148]);
    await expectLedgerConsistent(world);
  });
});

describe('a project’s credit cap', () => {
  it('holds every grant to it, whatever the hosts measured', async () => {
    world = createWorld();
    const app = await world.addApp();
    const projectId = (await world.core.store.catalog.appById(app))!.projectId;
    expect((await world.core.creditCaps.setCap(projectId, 10_000))).toMatchObject({ maxCreditMicro: 10_000, creditCorrectionMicro: null });
    await world.submit(app, [{ n: 1 }], { fpopsEst: 1e21 });
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    await answer(a, (await a.request(1))[0]!, 1, YEARS, 60_000);
    await answer(b, (await b.request(1))[0]!, 1, YEARS, 60_000);
    expect((await ledgerAmounts())).toEqual([0.01, 0.01]);
  });

  it('colluding hosts that both inflate their CPU time are held by the coordinator’s default cap, for tasks they held long', async () => {
    world = createWorld({ maxCreditPerResult: 50 });
    await world.submit((await world.addApp()), [{ n: 1 }], { fpopsEst: 1e21 });
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    // A day out is worth 2,000 credits of the reference core: the cap binds.
    await answer(a, (await a.request(1))[0]!, 1, YEARS, DAY_MS);
    await answer(b, (await b.request(1))[0]!, 1, YEARS, DAY_MS);
    expect((await ledgerAmounts())).toEqual([50, 50]);
  });
});

describe('lowering a project’s cap', () => {
  /** One host credited for every work unit of a batch at quorum 1, each result claiming `cpuTimeMs`. */
  async function creditBatch(app: number, n: number, cpuTimeMs: number): Promise<number> {
    const batch = await world.submit(app, Array.from({ length: n }, (_, i) => i), { fpopsEst: 1e21, minQuorum: 1, targetNresults: 1 });
    const host = await world.addHost();
    for (let left = n; left > 0; ) {
      const tasks = await host.request(100);
      expect(tasks.length).toBeGreaterThan(0);
      const acks = await host.report(...tasks.map((t) => host.result(t, { output: t.input }, { cpuTimeMs })));
      expect(acks.every((a) => a.status === 'accepted')).toBe(true);
      left -= tasks.length;
    }
    return host.id;
  }

  it('takes back what was granted above it with signed corrections, a chunk per transaction, and only in that project', async () => {
    world = createWorld({ maxInFlightPerHost: 1000 });
    const app = await world.addApp();
    const other = await world.addApp();
    const projectId = (await world.core.store.catalog.appById(app))!.projectId;
    const big = await creditBatch(app, 1_100, 10_000); // 10 s each: 0.231481 credits
    const small = await creditBatch(app, 3, 1_000); // 1 s each: 0.023148, under the cap to come
    const elsewhere = await creditBatch(other, 2, 10_000);
    expect(await Promise.all([big, small, elsewhere].map(hostCredit))).toEqual([254.629100, 0.069444, 0.462962]);
    const granted = (await world.core.store.ledger.entriesAfter(0, 10_000)).length;
    world.credits.length = 0;

    await world.core.creditCaps.setCap(projectId, 100_000); // 0.1 credits
    // The job runs in the background, a chunk of work units per turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve));
    const partway = world.core.store.db
      .prepare('SELECT credit_correction_micro AS cap, credit_correction_through AS through FROM projects WHERE id = ?')
      .get(projectId) as { cap: number | null; through: number };
    expect(partway.cap).toBe(100_000);
    expect(partway.through).toBeGreaterThan(0);
    expect((await world.core.store.ledger.entriesAfter(granted, 10_000)).length).toBeLessThan(1_100);

    await world.core.correctCredit();
    const corrections = await world.core.store.ledger.entriesAfter(granted, 10_000);
    expect(corrections).toHaveLength(1_100);
    expect(new Set(corrections.map((e) => e.amount))).toEqual(new Set([-0.131481]));
    expect(await Promise.all([big, small, elsewhere].map(hostCredit))).toEqual([110, 0.069444, 0.462962]);
    expect((await world.core.store.catalog.projectById(projectId))).toMatchObject({ maxCreditMicro: 100_000, creditCorrectionMicro: null });
    // Each host is told, with the receipts it can check and add up.
    expect(world.credits.flatMap((c) => c.receipts)).toHaveLength(1_100);
    await expectLedgerConsistent(world);
    expect(await creditProblems(world.core.store.sql)).toEqual([]);

    // Again: nothing more to take back.
    await world.core.creditCaps.setCap(projectId, 100_000);
    await world.core.correctCredit();
    expect((await world.core.store.ledger.entriesAfter(granted, 10_000))).toHaveLength(1_100);
  });

  it('resumes where it stopped when the coordinator starts again', async () => {
    world = createWorld({ maxInFlightPerHost: 1000 });
    const app = await world.addApp();
    const projectId = (await world.core.store.catalog.appById(app))!.projectId;
    const host = await creditBatch(app, 1_100, 10_000);
    const granted = (await world.core.store.ledger.entriesAfter(0, 10_000)).length;
    await world.core.creditCaps.setCap(projectId, 100_000); // its first chunk runs at once
    await world.core.close(); // the coordinator stops (or crashes) with the rest to do

    const again = createCore(
      { ...WORLD_OPTIONS, dataDir: world.dataDir, maxInFlightPerHost: 100, maxCreditPerResult: 1000 },
      { abort: () => {}, credit: () => {} },
    );
    try {
      expect((await again.store.ledger.entriesAfter(granted, 10_000))).toHaveLength(500);
      await again.correctCredit(); // as a starting coordinator calls it
      expect((await again.store.ledger.entriesAfter(granted, 10_000))).toHaveLength(1_100);
      expect((await again.store.reports.hosts([host], 1))[0]!.totalCredit).toBe(110);
      expect((await again.store.catalog.projectById(projectId))!.creditCorrectionMicro).toBeNull();
      expect(await creditProblems(again.store.sql)).toEqual([]);
      expect(hostCounterProblems(again.store.db)).toEqual([]);
    } finally {
      await again.close();
    }
  });

  it('a result revoked after its correction loses only what it still held: exactly nothing is left', async () => {
    const { world: w, roll } = lotteryWorld();
    world = w;
    const app = await world.addApp();
    const projectId = (await world.core.store.catalog.appById(app))!.projectId;
    const decided = await submit(world, app, [regular('w', { priority: 1, fpopsEst: 1e21 })]);
    await submit(world, app, [regular('x'), sentinel(1)]);
    const [wId] = world.workunitIds(decided) as [number];
    const [cheat, honest] = [(await world.addHost()), (await world.addHost())];
    for (const h of [cheat, honest]) await answer(h, (await h.request(1))[0]!, { echo: { r: 'w' } }, 10_000);
    expect((await wu(world, wId)).status).toBe('done');

    await world.core.creditCaps.setCap(projectId, 100_000);
    await world.core.correctCredit();
    expect(await Promise.all([cheat, honest].map(async (h) => (await hostCredit(h.id))))).toEqual([0.1, 0.1]);

    roll.value = SENTINEL;
    const [ts] = await cheat.request(1);
    await answerRight(cheat, ts!, forged());
    await world.core.recheckHosts();
    const cheatReplica = (await replicas(world, wId)).find((r) => r.hostId === cheat.id)!;
    expect(ledgerByReplica(world)[cheatReplica.id]).toEqual([0.231481, -0.131481, -0.1]);
    expect((await hostCredit(cheat.id))).toBe(0);
    expect((await hostCredit(honest.id))).toBe(0.1);
    await expectLedgerConsistent(world);
  });

  it('is for an existing project only; raising it takes nothing back', async () => {
    world = createWorld();
    const app = await world.addApp();
    const projectId = (await world.core.store.catalog.appById(app))!.projectId;
    expect((await world.core.creditCaps.setCap(9_999, 1))).toBeUndefined();
    await world.submit(app, [{ n: 1 }], { fpopsEst: 1e21 });
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    await answer(a, (await a.request(1))[0]!, 1, 10_000);
    await answer(b, (await b.request(1))[0]!, 1, 10_000);
    await world.core.creditCaps.setCap(projectId, 500_000_000);
    await world.core.correctCredit();
    await world.core.creditCaps.setCap(projectId, null); // back to the coordinator's default
    await world.core.correctCredit();
    expect((await ledgerAmounts())).toEqual([0.231481, 0.231481]);
  });
});

/**
 * A cheat and an honest host decide three work units together and are credited for them; then
 * the cheat fails a sentinel and its re-check takes back all three (each work unit reopens).
 */
async function caughtAfterThreeGrants() {
  const { world: w, roll } = lotteryWorld();
  world = w;
  const app = await world.addApp();
  const decided = await submit(world, app, ['1', '2', '3'].map((t) => regular(t, { priority: 1 })));
  await submit(world, app, [regular('x'), sentinel(1)]);
  const [cheat, honest] = [(await world.addHost()), (await world.addHost())];
  for (const h of [cheat, honest]) for (const t of (await h.request(3))) await answerRight(h, t, right(t));
  expect(await Promise.all(world.workunitIds(decided).map(async (id) => (await wu(world, id)).status))).toEqual(['done', 'done', 'done']);
  roll.value = SENTINEL;
  const [ts] = await cheat.request(1);
  await answerRight(cheat, ts!, forged());
  await world.core.recheckHosts();
  return { decided, cheat, honest };
}

describe('exact amounts', () => {
  it('a host whose three grants are all taken back has exactly nothing', async () => {
    const { cheat } = await caughtAfterThreeGrants();
    expect((await hostCredit(cheat.id))).toBe(0);
    expect((await world.core.store.reports.leaderboard('users', 10)).find((e) => e.id === cheat.userId)!.totalCredit).toBe(0);
  });
});

describe('a report’s grants', () => {
  it('credit a host and its user for many results at once exactly as one by one: totals the ledger’s sums, averages its entries in order', async () => {
    world = createWorld();
    const appId = await world.addApp();
    const { accountKey } = await world.core.registry.createAccount({ name: 'two-hosts' });
    const laptop = await world.addHost({ accountKey });
    const desktop = await world.addHost({ accountKey });
    const [c, d] = [await world.addHost(), await world.addHost()];
    await submit(world, appId, Array.from({ length: 8 }, (_, i) => regular(`g${i}`)));
    const mine = [...(await laptop.request(4)), ...(await desktop.request(4))];
    // The other replica of each: to two more users, reported first and waiting for a partner.
    const theirs = [...(await c.request(4)), ...(await d.request(4))];
    expect(new Set([...mine, ...theirs].map((t) => world.workunitOf(t))).size).toBe(8);
    for (const [host, tasks] of [[c, theirs.slice(0, 4)], [d, theirs.slice(4)]] as const) await host.report(...tasks.map((t) => host.result(t, right(t))));
    // Each report decides four work units: its host, its user and four partners credited in one transaction.
    world.advance(3 * 3_600_000);
    expect((await laptop.report(...mine.slice(0, 4).map((t) => laptop.result(t, right(t))))).every((r) => r.status === 'accepted')).toBe(true);
    world.advance(5 * 3_600_000);
    expect((await desktop.report(...mine.slice(4).map((t) => desktop.result(t, right(t))))).every((r) => r.status === 'accepted')).toBe(true);
    expect(world.core.store.db.prepare("SELECT COUNT(*) AS n FROM credit_ledger WHERE kind = 'grant'").get()).toEqual({ n: 16 });
    expect((await hostCredit(laptop.id))).toBe(4 * CREDIT);
    await expectLedgerConsistent(world);
  });
});

describe('host counters', () => {
  it('follow the rows when valid results are taken back, and agree with the validation view', async () => {
    const { decided, cheat, honest } = await caughtAfterThreeGrants();
    // The cheat's three results are invalid now, as is its sentinel; the honest host's wait for
    // a new partner: pending, neither valid nor invalid.
    expect((await world.core.store.reports.hosts([cheat.id], 1))[0]).toMatchObject({ nValid: 0, nInvalid: 4, nError: 0 });
    expect(await Promise.all(world.workunitIds(decided).map(async (id) => (await replicas(world, id)).find((r) => r.hostId === honest.id)!.validateState))).toEqual(['pending', 'pending', 'pending']);
    expect((await world.core.store.reports.hosts([honest.id], 1))[0]).toMatchObject({ nValid: 0, nInvalid: 0, nError: 0 });
    expect((await world.core.store.reports.hostStats(decided))).toEqual([
      { hostId: cheat.id, hostName: null, results: 3, valid: 0, invalid: 3, errors: 0 },
      { hostId: honest.id, hostName: null, results: 3, valid: 0, invalid: 0, errors: 0 },
    ]);
  });
});
