// Checks the coordinator makes on its own, with no sentinel anywhere: a done work unit sent again,
// as an ordinary task, to compare a host's answer with the one other hosts agreed on. Disputes are
// settled by arbiters at a larger quorum, and the losing side is caught — a lying host, or the
// colluders whose wrong answer had been accepted (the researcher's result is then put right).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WorkStore } from '../../coordinator/store/work-store.js';
import type { Task } from '../../protocol/messages.js';
import { resultPieces } from '../../coordinator/research/results-export.js';
import type { World, WorldHost } from '../helpers/world.js';
import {
  answer, CREDIT, CREDIT_MICRO, expectLedgerConsistent, forged, hostRow, ledgerByTask, lotteryWorld, REGULAR, regular, replicaOf, replicas, right,
  SENTINEL as CHECK, submit, wu,
} from '../helpers/judging.js';

let world: World;
afterEach(() => world?.close());

function lottery(): { roll: { value: number } } {
  const made = lotteryWorld();
  world = made.world;
  return made;
}

/** Each host takes one task (a regular draw) and answers it with `outcome`. */
async function decide(hosts: WorldHost[], outcome: (t: Task) => { output: unknown }): Promise<Task[]> {
  const tasks: Task[] = [];
  for (const h of hosts) {
    const [t] = await h.request(1);
    await answer(h, t!, outcome(t!));
    tasks.push(t!);
  }
  return tasks;
}

describe('checks of done work units', () => {
  it('a host gets one as an ordinary task: a new replica of a work unit it had no part in; agreeing, it passes and is credited', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('w'), regular('x'), regular('y')]);
    const [w] = world.workunitIds(batch) as [number];
    const [a, b, c] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    await decide([a, b], right);
    expect((await wu(world, w)).status).toBe('done');

    roll.value = CHECK;
    const [t] = await c.request(1);
    expect(world.workunitOf(t!)).toBe(w);
    expect((await replicaOf(world, t!))).toMatchObject({ kind: 'check', hostId: c.id, status: 'in_progress' });
    await answer(c, t!, right(t!));
    expect((await replicaOf(world, t!))).toMatchObject({ validateState: 'valid' });
    expect((await wu(world, w)).status).toBe('done');
    expect(hostRow(world, c.id)).toMatchObject({ sentinels_passed: 1, consecutive_valid: 1, total_credit_micro: CREDIT_MICRO });
    expect(world.credits.filter((x) => x.hostId === c.id).flatMap((x) => x.receipts).map((r) => r.taskId)).toEqual([t!.taskId]);
    await expectLedgerConsistent(world);
  });

  it('several checks in one request are sent together: made in its transaction, none is claimed, and their sources are read at once', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, ['w1', 'w2', 'w3', 'x'].map((tag) => regular(tag)));
    const done = world.workunitIds(batch).slice(0, 3);
    const [a, b, c] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    for (let i = 0; i < 3; i++) await decide([a, b], right);
    for (const w of done) expect((await wu(world, w)).status).toBe('done');

    roll.value = CHECK;
    const claims = vi.spyOn(WorkStore.prototype, 'claimUnsent');
    const sources = vi.spyOn(WorkStore.prototype, 'taskSources');
    try {
      const tasks = await c.request(3);
      expect(tasks.map((t) => world.workunitOf(t)).sort()).toEqual([...done].sort());
      const made: number[] = [];
      for (const t of tasks) {
        const r = await replicaOf(world, t);
        expect(r).toMatchObject({ kind: 'check', hostId: c.id, status: 'in_progress' });
        made.push(r.id);
      }
      expect(claims.mock.calls.flatMap(([ids]) => [...ids]).filter((id) => made.includes(id))).toEqual([]);
      expect(sources.mock.calls.map(([ids]) => ids.length)).toEqual([3]);
      for (const t of tasks) await answer(c, t, right(t));
    } finally {
      claims.mockRestore();
      sources.mockRestore();
    }
    expect(hostRow(world, c.id)).toMatchObject({ sentinels_passed: 3, total_credit_micro: 3 * CREDIT_MICRO });
    await expectLedgerConsistent(world);
  });

  it('no check comes when there is no other work for the host: a lone task would give itself away', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('w')]);
    const [a, b, c] = [(await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    await decide([a, b], right);
    expect((await world.core.store.reports.workunitCounts(batch)).done).toBe(1);
    roll.value = CHECK;
    expect((await c.request(4))).toEqual([]);
    expect((await replicas(world, world.workunitIds(batch)[0]!))).toHaveLength(2);
  });

  it('a wrong answer opens a dispute; arbiters uphold the canonical result and the liar is caught, told nothing', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('w'), regular('x'), regular('y'), regular('z')]);
    const [w] = world.workunitIds(batch) as [number];
    const [a, b, liar, h1, h2] = [(await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    const [ta] = await decide([a, b], right);

    roll.value = CHECK;
    const [t] = await liar.request(1);
    expect(world.workunitOf(t!)).toBe(w);
    await answer(liar, t!, forged());
    // Nobody judged yet: two arbiters go out, ahead of other work.
    expect((await replicaOf(world, t!)).validateState).toBe('pending');
    expect(hostRow(world, liar.id).distrusted_at).toBeNull();
    expect((await replicas(world, w)).map((r) => [r.kind, r.status])).toEqual([
      ['regular', 'over'],
      ['regular', 'over'],
      ['check', 'over'],
      ['check', 'unsent'],
      ['check', 'unsent'],
    ]);

    roll.value = REGULAR;
    const arbiters = await decide([h1, h2], right);
    expect(arbiters.map((x) => world.workunitOf(x))).toEqual([w, w]);
    await world.core.recheckHosts();

    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(ta!) });
    expect((await replicaOf(world, t!)).validateState).toBe('invalid');
    expect(hostRow(world, liar.id)).toMatchObject({ sentinels_failed: 1, distrusted_at: world.now(), total_credit_micro: 0 });
    for (const x of arbiters) expect((await replicaOf(world, x))).toMatchObject({ validateState: 'valid' });
    expect(ledgerByTask(world)[t!.taskId]).toBeUndefined();
    expect([h1, h2].map((h) => hostRow(world, h.id).total_credit_micro)).toEqual([CREDIT_MICRO, CREDIT_MICRO]);
    expect(world.aborts).toEqual([]);
    await expectLedgerConsistent(world);
  });

  it('colluders who decided a work unit are outvoted in the dispute an honest check opens: caught, revoked, the result put right', async () => {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, [regular('w'), regular('x'), regular('y'), regular('z')]);
    const [w] = world.workunitIds(batch) as [number];
    const [c1, c2, h, h1, h2, h3] = [(await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    const [tc1, tc2] = await decide([c1, c2], forged);
    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(tc1!) });

    roll.value = CHECK;
    const [t] = await h.request(1);
    expect(world.workunitOf(t!)).toBe(w);
    await answer(h, t!, right(t!));
    roll.value = REGULAR;
    // Two arbiters make three against two: not yet four; a third one settles it.
    const arbiters = await decide([h1, h2], right);
    expect((await wu(world, w)).canonicalReplicaId).toBe(world.replicaIdOf(tc1!));
    arbiters.push(...(await decide([h3], right)));
    expect(arbiters.map((x) => world.workunitOf(x))).toEqual([w, w, w]);
    await world.core.recheckHosts();

    expect((await wu(world, w))).toMatchObject({ status: 'done', canonicalReplicaId: world.replicaIdOf(t!) });
    expect((await replicas(world, w)).map((r) => [r.hostId, r.validateState])).toEqual([
      [c1.id, 'invalid'],
      [c2.id, 'invalid'],
      [h.id, 'valid'],
      [h1.id, 'valid'],
      [h2.id, 'valid'],
      [h3.id, 'valid'],
    ]);
    for (const c of [c1, c2]) expect(hostRow(world, c.id)).toMatchObject({ distrusted_at: world.now(), total_credit_micro: 0 });
    expect(ledgerByTask(world)[tc1!.taskId]).toEqual([CREDIT, -CREDIT]);
    expect(ledgerByTask(world)[tc2!.taskId]).toEqual([CREDIT, -CREDIT]);
    expect([h, h1, h2, h3].map((x) => hostRow(world, x.id).total_credit_micro)).toEqual([CREDIT_MICRO, CREDIT_MICRO, CREDIT_MICRO, CREDIT_MICRO]);

    // The researcher's download has the right answer.
    let text = '';
    for await (const p of resultPieces(world.core.store, world.core.outputs, batch, true)) if ('text' in p) text += p.text;
    const line = text.split('\n').map((l) => (l ? JSON.parse(l) : null)).find((l) => l?.workunitId === w);
    expect(line).toEqual({ seq: 0, workunitId: w, status: 'done', output: { echo: { r: 'w' } } });
    await expectLedgerConsistent(world);
  });
});

describe('a report with a check among its results', () => {
  /** Work units w (done) and x1..x4 (open), c holding a check of w and one replica of each x, d the other. */
  async function reportWithCheck(): Promise<{ w: number; xs: number[]; c: WorldHost; check: Task; ofC: Task[] }> {
    const { roll } = lottery();
    const app = await world.addApp();
    const batch = await submit(world, app, ['w', 'x1', 'x2', 'x3', 'x4'].map((tag) => regular(tag)));
    const [w, ...xs] = world.workunitIds(batch) as [number, ...number[]];
    const [a, b, c, d] = [(await world.addHost()), (await world.addHost()), (await world.addHost()), (await world.addHost())];
    roll.value = REGULAR;
    await decide([a, b], right);
    expect((await wu(world, w)).status).toBe('done');
    roll.value = CHECK;
    const [check] = await c.request(1);
    expect(world.workunitOf(check!)).toBe(w);
    roll.value = REGULAR;
    const ofC = await c.request(4);
    const ofD = await d.request(4);
    expect(ofC.map((t) => world.workunitOf(t)).sort()).toEqual([...xs].sort());
    for (const t of ofD) await answer(d, t, right(t));
    return { w, xs, c, check: check!, ofC };
  }

  it('reads the checked work unit with the open ones, once: a check a trusted host passes changes nothing they read', async () => {
    const { w, xs, c, check, ofC } = await reportWithCheck();
    const lockOne = vi.spyOn(WorkStore.prototype, 'lockWorkunit');
    const lockMany = vi.spyOn(WorkStore.prototype, 'lockWorkunitsWithReplicas');
    try {
      const acks = await c.report(c.result(check, right(check)), ...ofC.map((t) => c.result(t, right(t))));
      expect(acks.map((x) => x.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
      expect(lockOne).not.toHaveBeenCalled();
      expect(lockMany.mock.calls.map(([ids]) => [...ids].sort())).toEqual([[w, ...xs].sort()]);
    } finally {
      lockOne.mockRestore();
      lockMany.mockRestore();
    }
    for (const x of xs) expect((await wu(world, x)).status).toBe('done');
    expect((await replicaOf(world, check))).toMatchObject({ validateState: 'valid' });
    expect(hostRow(world, c.id)).toMatchObject({ sentinels_passed: 1, consecutive_valid: 5, total_credit_micro: 5 * CREDIT_MICRO });
    await expectLedgerConsistent(world);
  });

  it('after a check that opened a dispute, reads the open work units still to come again together, not each on its own', async () => {
    const { w, xs, c, check, ofC } = await reportWithCheck();
    const lockOne = vi.spyOn(WorkStore.prototype, 'lockWorkunit');
    const lockMany = vi.spyOn(WorkStore.prototype, 'lockWorkunitsWithReplicas');
    try {
      const acks = await c.report(c.result(check, forged()), ...ofC.map((t) => c.result(t, right(t))));
      expect(acks.map((x) => x.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
      // Arbiters made for the check's work unit: the rest is read again, together.
      expect(lockOne).not.toHaveBeenCalled();
      expect(lockMany.mock.calls.map(([ids]) => [...ids].sort())).toEqual([[w, ...xs].sort(), [...xs].sort()]);
    } finally {
      lockOne.mockRestore();
      lockMany.mockRestore();
    }
    expect((await replicas(world, w)).filter((r) => r.kind === 'check' && r.status === 'unsent').length).toBeGreaterThan(0);
    for (const x of xs) expect((await wu(world, x)).status).toBe('done');
    await expectLedgerConsistent(world);
  });
});
