// The work lifecycle through the real store and services, with a hand-driven clock.
import { afterEach, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { verifyLedgerChain } from '../../protocol/ledger.js';
import { taskBody, verifyBody } from '../../protocol/signing.js';
import { creditForFpops } from '../../coordinator/work/credit.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';

let world: World;
afterEach(() => world?.close());

const HOUR = 3600_000;
const replicas = async (w: World, wuId: number) => (await w.core.store.work.replicasOf(wuId));
const wu = async (w: World, id: number) => (await w.core.store.work.workunit(id))!;
const inputs = (n: number) => Array.from({ length: n }, (_, i) => ({ from: i * 10, to: i * 10 + 10 }));

describe('creating work', () => {
  it('creates target_nresults unsent replicas per work unit, all or nothing', async () => {
    world = createWorld();
    const app = await world.addApp();
    const batch = await world.submit(app, inputs(3), { minQuorum: 2, targetNresults: 3 });
    for (const id of world.workunitIds(batch)) {
      expect((await replicas(world, id)).map((r) => r.status)).toEqual(['unsent', 'unsent', 'unsent']);
    }
    await expect(world.submit(app, [{ ok: 1 }, { bad: Number.NaN }])).rejects.toThrow(/workunits\[1\]: input/);
    expect(world.core.store.db.prepare('SELECT COUNT(*) AS n FROM workunits').get()).toEqual({ n: 3 });
  });

  it('a batch submitted twice with one client key is created once', async () => {
    world = createWorld();
    const appId = await world.addApp();
    const spec = { appId, name: 'b', clientKey: 'k-1', workunits: inputs(4).map((input) => ({ input })) };
    const first = await world.core.submission.submitBatch(spec);
    const again = await world.core.submission.submitBatch(spec);
    expect(again).toEqual({ batchId: first.batchId, created: false, workunits: 4 });
    expect(world.core.store.db.prepare('SELECT COUNT(*) AS n FROM workunits').get()).toEqual({ n: 4 });
  });

  it('refuses inconsistent replication parameters with a clear error', async () => {
    world = createWorld();
    const app = await world.addApp();
    await expect(world.submit(app, inputs(1), { minQuorum: 3, targetNresults: 2 })).rejects.toThrow(/targetNresults must be at least minQuorum/);
  });
});

describe('scheduler', () => {
  it('sends signed tasks that verify with tweetnacl against the coordinator key', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(2));
    const tasks = (await (await world.addHost()).request(5));
    expect(tasks).toHaveLength(2);
    for (const t of tasks) {
      expect(verifyBody(tweetnaclEd25519(), world.core.key.publicKey, 'task', taskBody(t), t.signature)).toBe(true);
      expect(t.deadline).toBe(world.now() + 24 * HOUR);
      expect(t.input).toBeDefined();
    }
  });

  it('gives a host at most one replica of any work unit', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(3), { minQuorum: 2, targetNresults: 3 });
    const tasks = (await (await world.addHost()).request(10));
    expect(new Set(tasks.map((t) => world.workunitOf(t))).size).toBe(3);
    expect(tasks).toHaveLength(3);
  });

  it('never gives two replicas of one work unit to hosts of the same user', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(2));
    const { accountKey } = await world.core.registry.createAccount({ name: 'alice' });
    const laptop = await world.addHost({ accountKey });
    const desktop = await world.addHost({ accountKey });
    expect(laptop.userId).toBe(desktop.userId);
    expect((await laptop.request(10))).toHaveLength(2);
    expect((await desktop.request(10))).toHaveLength(0);
    expect((await (await world.addHost()).request(10))).toHaveLength(2);
  });

  it('matches the app version to the host platform and capabilities', async () => {
    world = createWorld();
    await world.submit((await world.addApp({ platform: 'node', requirements: { wasm: true, minMemoryMb: 512 } })), inputs(1));
    expect((await (await world.addHost({ platform: { kind: 'browser', engine: 'chromium' }, capabilities: { wasm: true, memoryMb: 4096 } })).request(5))).toHaveLength(0);
    expect((await (await world.addHost({ capabilities: { wasm: false, memoryMb: 4096 } })).request(5))).toHaveLength(0);
    expect((await (await world.addHost({ capabilities: { wasm: true, memoryMb: 256 } })).request(5))).toHaveLength(0);
    expect((await (await world.addHost({ capabilities: { wasm: true, memoryMb: 4096 } })).request(5))).toHaveLength(1);
  });

  it('homogeneous redundancy sends all replicas of a work unit to one platform class', async () => {
    world = createWorld();
    await world.submit((await world.addApp({ homogeneousRedundancy: true })), inputs(1));
    const chromium = { kind: 'browser', engine: 'chromium' } as const;
    expect((await (await world.addHost({ platform: chromium })).request(1))).toHaveLength(1);
    expect((await (await world.addHost({ platform: { kind: 'node' } })).request(1))).toHaveLength(0);
    expect((await (await world.addHost({ platform: { kind: 'browser', engine: 'firefox' } })).request(1))).toHaveLength(0);
    expect((await (await world.addHost({ platform: chromium })).request(1))).toHaveLength(1);
  });

  it('sends lost tasks again, identically signed, when the host lists what it holds', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(3));
    const host = await world.addHost();
    const [kept, lost] = await host.request(2);
    expect((await host.request(1))).toHaveLength(1); // without a list, nothing is resent
    const { tasks: again } = await host.requestWithLimit(5, [kept!.taskId]);
    expect(again.map((t) => t.taskId)).toContain(lost!.taskId);
    expect(again.find((t) => t.taskId === lost!.taskId)).toEqual(lost);
    world.advance(25 * HOUR);
    expect((await host.requestWithLimit(5, [])).tasks).toEqual([]);
  });

  it('bounds the tasks one host holds at once', async () => {
    world = createWorld({ maxInFlightPerHost: 3 });
    await world.submit((await world.addApp()), inputs(10));
    const host = await world.addHost();
    expect((await host.request(10))).toHaveLength(3);
    expect((await host.request(10))).toHaveLength(0);
  });
});

describe('validation and credit', () => {
  it('quorum reached: canonical result, valid replicas credited once in a verifiable ledger', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1), { fpopsEst: 86_400e9 });
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    // A day at 1 GFLOPS is 2.4 hours of the 10-GFLOPS reference core: as much CPU time as the estimate.
    const measured = { cpuTimeMs: 2.4 * 3_600_000 };
    expect((await a.report(a.result(ta!, { output: { count: 4 } }, measured)))).toEqual([{ taskId: ta!.taskId, status: 'accepted' }]);
    expect((await wu(world, world.workunitOf(ta!))).status).toBe('active');
    await b.report(b.result(tb!, { output: { count: 4 } }, measured));

    const done = await wu(world, world.workunitOf(ta!));
    expect(done.status).toBe('done');
    expect(done.canonicalReplicaId).toBe(world.replicaIdOf(ta!));
    expect((await replicas(world, done.id)).map((r) => r.validateState)).toEqual(['valid', 'valid']);
    expect(creditForFpops(86_400e9)).toBe(200);
    for (const h of [a, b]) {
      const host = (await world.core.store.identities.hostById(h.id))!;
      expect(host.totalCreditMicro).toBe(200_000_000);
      expect((await world.core.store.identities.userById(h.userId))!.totalCreditMicro).toBe(200_000_000);
    }
    const entries = await world.core.store.ledger.entriesAfter(0, 10);
    expect(entries).toHaveLength(2);
    expect(verifyLedgerChain(nodeEd25519(), world.core.key.publicKey, entries)).toBeUndefined();
    expect(world.credits.map((c) => c.hostId).sort()).toEqual([a.id, b.id].sort());

    // A retried report changes nothing and grants nothing again.
    expect((await b.report(b.result(tb!, { output: { count: 4 } }, measured)))).toEqual([{ taskId: tb!.taskId, status: 'duplicate' }]);
    expect((await world.core.store.ledger.entriesAfter(0, 10))).toHaveLength(2);
  });

  it('disagreement creates an extra replica; the odd one out is invalid and earns nothing', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1));
    const [honest1, cheat, honest2] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    const [t1] = await honest1.request(1);
    const [tc] = await cheat.request(1);
    await honest1.report(honest1.result(t1!, { output: 42 }));
    await cheat.report(cheat.result(tc!, { output: 41 }));
    const wuId = world.workunitOf(t1!);
    expect((await wu(world, wuId)).status).toBe('active');
    expect((await replicas(world, wuId)).filter((r) => r.status === 'unsent')).toHaveLength(1);

    const [t2] = await honest2.request(1);
    await honest2.report(honest2.result(t2!, { output: 42 }));
    expect((await wu(world, wuId))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(t1!) });
    const states = Object.fromEntries((await replicas(world, wuId)).map((r) => [r.hostId, r.validateState]));
    expect(states).toEqual({ [honest1.id]: 'valid', [cheat.id]: 'invalid', [honest2.id]: 'valid' });
    expect((await world.core.store.identities.hostById(cheat.id))).toMatchObject({ totalCreditMicro: 0, nInvalid: 1, consecutiveValid: 0 });
    expect((await world.core.store.identities.hostById(honest2.id))!.totalCreditMicro).toBeGreaterThan(0);
  });

  it('tolerance mode accepts numbers within epsilon', async () => {
    world = createWorld();
    await world.submit((await world.addApp({ validation: { mode: 'tolerance', absEpsilon: 0, relEpsilon: 1e-9 } })), inputs(1));
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    await a.report(a.result(ta!, { output: { x: 1.0, label: 'pi' } }));
    await b.report(b.result(tb!, { output: { x: 1.0 + 1e-12, label: 'pi' } }));
    expect((await wu(world, world.workunitOf(ta!))).status).toBe('done');
  });

  it('no consensus after max_success_results fails the work unit with that reason', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1), { minQuorum: 2, targetNresults: 2, maxSuccessResults: 3 });
    for (let i = 0; i < 3; i++) {
      const h = await world.addHost();
      const [t] = await h.request(1);
      await h.report(h.result(t!, { output: i }));
    }
    const [id] = world.workunitIds(1);
    expect((await wu(world, id!))).toMatchObject({ status: 'failed', errorReason: expect.stringMatching(/^no consensus/) });
    expect((await (await world.addHost()).request(1))).toHaveLength(0);
  });
});

describe('deadlines, errors and aborts', () => {
  it('a missed deadline marks "no reply" and reissues; the late result still counts while the work unit is open', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1), { delayBoundMs: HOUR });
    const [slow, b, c] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    const [ts] = await slow.request(1);
    const [tb] = await b.request(1);
    world.advance(HOUR + 1);
    expect((await world.core.store.transaction((tx) => world.core.service.sweepDeadlines(tx)))).toBe(1);
    const wuId = world.workunitOf(ts!);
    expect((await replicas(world, wuId)).map((r) => r.outcome)).toEqual(['no_reply', 'no_reply', null, null]);
    const [tc] = await c.request(1);
    expect(world.workunitOf(tc!)).toBe(wuId);

    expect((await slow.report(slow.result(ts!, { output: 7 })))[0]!.status).toBe('accepted');
    await c.report(c.result(tc!, { output: 7 }));
    expect((await wu(world, wuId)).status).toBe('done');
    // b never answered; the other unsent replica is no longer needed.
    expect((await replicas(world, wuId)).map((r) => r.outcome)).toEqual(['success', 'no_reply', 'success', 'not_needed']);
    expect((await b.report(b.result(tb!, { output: 7 })))[0]).toMatchObject({ status: 'rejected', error: { code: 'workunit_finished' } });
  });

  it('client errors reissue until max_error_results, then the work unit fails and outstanding replicas are aborted', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1), { maxErrorResults: 1, targetNresults: 2 });
    const bystander = await world.addHost();
    const [tb] = await bystander.request(1);
    const err = { error: { code: 'crash', message: 'boom' } };
    const h1 = await world.addHost();
    await h1.report(h1.result((await h1.request(1))[0]!, err));
    const wuId = world.workunitOf(tb!);
    expect((await wu(world, wuId)).status).toBe('active');
    const h2 = await world.addHost();
    await h2.report(h2.result((await h2.request(1))[0]!, err));
    expect((await wu(world, wuId))).toMatchObject({ status: 'failed', errorReason: expect.stringMatching(/too many errors: 2 client errors/) });
    expect(world.aborts).toEqual([{ hostId: bystander.id, taskIds: [tb!.taskId], reason: expect.stringMatching(/failed/) }]);
    expect((await bystander.report(bystander.result(tb!, { output: 1 })))[0]).toMatchObject({ status: 'rejected', error: { code: 'aborted' } });
    expect((await world.core.store.identities.hostById(h1.id))!.nError).toBe(1);
  });

  it('cancelling a batch aborts replicas out on hosts', async () => {
    world = createWorld();
    const batch = await world.submit((await world.addApp()), inputs(2));
    const host = await world.addHost();
    const tasks = await host.request(2);
    expect(await world.core.cancelBatch(batch)).toBe(2);
    expect(world.aborts).toHaveLength(1);
    expect(world.aborts[0]!.taskIds.sort()).toEqual(tasks.map((t) => t.taskId).sort());
    expect(await Promise.all(world.workunitIds(batch).map(async (id) => (await wu(world, id)).status))).toEqual(['cancelled', 'cancelled']);
    expect((await (await world.addHost()).request(5))).toHaveLength(0);
  });

  it('a task given back is reissued at once and does not use up the budget', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1), { maxTotalResults: 2 });
    const leaving = await world.addHost();
    const [t] = await leaving.request(1);
    expect((await world.core.store.transaction((tx) => world.core.service.giveBack(tx, leaving.id, [t!.taskId, 999])))).toEqual([
      { taskId: t!.taskId, status: 'given_back' },
      { taskId: 999, status: 'not_in_progress' },
    ]);
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    await a.report(a.result(ta!, { output: 1 }));
    await b.report(b.result(tb!, { output: 1 }));
    expect((await wu(world, world.workunitOf(t!))).status).toBe('done');
  });
});

describe('result checks', () => {
  it('rejects results signed by another key, for another host’s task, or with a wrong output hash', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1));
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    await b.request(1);

    const forged = { ...a.result(ta!, { output: 1 }), signature: b.result(ta!, { output: 1 }).signature };
    expect((await a.report(forged))[0]).toMatchObject({ status: 'rejected', error: { code: 'bad_signature' } });

    const stolen = b.result({ ...ta!, hostKey: b.publicKey }, { output: 1 });
    expect((await b.report(stolen))[0]).toMatchObject({ status: 'rejected', error: { code: 'not_assigned' } });

    const wrongOutput = { ...a.result(ta!, { output: 1 }), output: 2 };
    expect((await a.report(wrongOutput))[0]).toMatchObject({ status: 'rejected', error: { code: 'bad_output' } });

    expect((await a.report(a.result({ ...ta!, taskId: 9999 }, { output: 1 })))[0]).toMatchObject({ error: { code: 'not_assigned' } });
    expect((await replicas(world, world.workunitOf(ta!))).every((r) => r.receivedAt === null)).toBe(true);
  });

  it('a different result for an already reported task is a conflict and changes nothing', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1), { minQuorum: 2, targetNresults: 2 });
    const a = await world.addHost();
    const [t] = await a.request(1);
    await a.report(a.result(t!, { output: 1 }));
    expect((await a.report(a.result(t!, { output: 2 })))[0]).toMatchObject({ status: 'rejected', error: { code: 'conflict' } });
    expect((await replicas(world, world.workunitOf(t!)))[0]!.outputHash).toBe(a.result(t!, { output: 1 }).outputHash);
  });
});

describe('adaptive replication', () => {
  async function earnTrust(w: World, host: WorldHost, times: number): Promise<void> {
    for (let i = 0; i < times; i++) {
      const partner = await w.addHost();
      const [t] = await host.request(1);
      const [p] = await partner.request(1);
      await host.report(host.result(t!, { output: i }));
      await partner.report(partner.result(p!, { output: i }));
    }
  }

  it('a trusted host gets work at quorum 1 unless a spot check comes up; an invalid result resets its trust', async () => {
    let roll = 0.5;
    world = createWorld({ trustThreshold: 3, spotCheckRate: 0.25 }, () => roll);
    const app = await world.addApp({ adaptiveReplication: true });
    await world.submit(app, inputs(3));
    const trusted = await world.addHost();
    await earnTrust(world, trusted, 3);
    expect((await world.core.store.identities.hostById(trusted.id))!.consecutiveValid).toBe(3);

    const batch = await world.submit(app, inputs(2));
    const [solo] = await trusted.request(1);
    expect((await wu(world, world.workunitOf(solo!)))).toMatchObject({ minQuorum: 1, targetNresults: 1 });
    expect((await replicas(world, world.workunitOf(solo!))).map((r) => r.outcome)).toEqual([null, 'not_needed']);
    await trusted.report(trusted.result(solo!, { output: 'x' }));
    expect((await wu(world, world.workunitOf(solo!))).status).toBe('done');
    // An unchecked result earns credit but no trust.
    expect((await world.core.store.identities.hostById(trusted.id))).toMatchObject({ consecutiveValid: 3, nValid: 4 });

    roll = 0.1; // below the spot-check rate: replicated as usual
    const [checked] = await trusted.request(1);
    expect(world.workunitOf(checked!)).toBe(world.workunitIds(batch)[1]);
    expect((await wu(world, world.workunitOf(checked!))).minQuorum).toBe(2);
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    await a.report(a.result((await a.request(1))[0]!, { output: 'right' }));
    await trusted.report(trusted.result(checked!, { output: 'wrong' }));
    await b.report(b.result((await b.request(1))[0]!, { output: 'right' }));
    expect((await world.core.store.identities.hostById(trusted.id))).toMatchObject({ consecutiveValid: 0, nInvalid: 1 });

    roll = 0.9;
    await world.submit(app, inputs(1));
    const [after] = await trusted.request(1);
    expect((await wu(world, world.workunitOf(after!))).minQuorum).toBe(2);
  });

  it('is off for apps that do not ask for it', async () => {
    world = createWorld({ trustThreshold: 1 });
    const app = await world.addApp();
    await world.submit(app, inputs(2));
    const host = await world.addHost();
    await earnTrust(world, host, 1);
    await world.submit(app, inputs(1));
    const [t] = await host.request(1);
    expect((await wu(world, world.workunitOf(t!))).minQuorum).toBe(2);
  });
});

describe('the ledger', () => {
  it('is append-only in the database itself', async () => {
    world = createWorld();
    await world.submit((await world.addApp()), inputs(1));
    const [a, b] = [(await world.addHost()), (await world.addHost())];
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    await a.report(a.result(ta!, { output: 1 }));
    await b.report(b.result(tb!, { output: 1 }));
    expect(() => world.core.store.db.prepare('UPDATE credit_ledger SET amount = 1e9').run()).toThrow(/append-only/);
    expect(() => world.core.store.db.prepare('DELETE FROM credit_ledger').run()).toThrow(/append-only/);
  });
});
