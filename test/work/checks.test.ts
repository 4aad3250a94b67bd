// Checks the coordinator makes on its own, with no sentinel anywhere: a done work unit sent again,
// as an ordinary task, to compare a host's answer with the one other hosts agreed on. Disputes are
// settled by arbiters at a larger quorum, and the losing side is caught — a lying host, or the
// colluders whose wrong answer had been accepted (the researcher's result is then put right).
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../protocol/messages.js';
import { resultPieces } from '../../coordinator/research/results-export.js';
import type { World, WorldHost } from '../helpers/world.js';
import {
  answer, CREDIT, CREDIT_MICRO, expectLedgerConsistent, forged, hostRow, ledgerByReplica, lotteryWorld, REGULAR, regular, replicaOf, replicas, right,
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
function decide(hosts: WorldHost[], outcome: (t: Task) => { output: unknown }): Task[] {
  return hosts.map((h) => {
    const [t] = h.request(1);
    answer(h, t!, outcome(t!));
    return t!;
  });
}

describe('checks of done work units', () => {
  it('a host gets one as an ordinary task: a new replica of a work unit it had no part in; agreeing, it passes and is credited', () => {
    const { roll } = lottery();
    const app = world.addApp();
    const batch = submit(world, app, [regular('w'), regular('x'), regular('y')]);
    const [w] = world.workunitIds(batch) as [number];
    const [a, b, c] = [world.addHost(), world.addHost(), world.addHost()];
    roll.value = REGULAR;
    decide([a, b], right);
    expect(wu(world, w).status).toBe('done');

    roll.value = CHECK;
    const [t] = c.request(1);
    expect(t!.workunitId).toBe(w);
    expect(replicaOf(world, t!)).toMatchObject({ kind: 'check', hostId: c.id, status: 'in_progress' });
    answer(c, t!, right(t!));
    expect(replicaOf(world, t!)).toMatchObject({ validateState: 'valid' });
    expect(wu(world, w).status).toBe('done');
    expect(hostRow(world, c.id)).toMatchObject({ sentinels_passed: 1, consecutive_valid: 1, total_credit_micro: CREDIT_MICRO });
    expect(world.credits.filter((x) => x.hostId === c.id).flatMap((x) => x.receipts).map((r) => r.taskId)).toEqual([t!.taskId]);
    expectLedgerConsistent(world);
  });

  it('no check comes when there is no other work for the host: a lone task would give itself away', () => {
    const { roll } = lottery();
    const app = world.addApp();
    const batch = submit(world, app, [regular('w')]);
    const [a, b, c] = [world.addHost(), world.addHost(), world.addHost()];
    roll.value = REGULAR;
    decide([a, b], right);
    expect(world.core.store.reports.workunitCounts(batch).done).toBe(1);
    roll.value = CHECK;
    expect(c.request(4)).toEqual([]);
    expect(replicas(world, world.workunitIds(batch)[0]!)).toHaveLength(2);
  });

  it('a wrong answer opens a dispute; arbiters uphold the canonical result and the liar is caught, told nothing', async () => {
    const { roll } = lottery();
    const app = world.addApp();
    const batch = submit(world, app, [regular('w'), regular('x'), regular('y'), regular('z')]);
    const [w] = world.workunitIds(batch) as [number];
    const [a, b, liar, h1, h2] = [world.addHost(), world.addHost(), world.addHost(), world.addHost(), world.addHost()];
    roll.value = REGULAR;
    const [ta] = decide([a, b], right);

    roll.value = CHECK;
    const [t] = liar.request(1);
    expect(t!.workunitId).toBe(w);
    answer(liar, t!, forged());
    // Nobody judged yet: two arbiters go out, ahead of other work.
    expect(replicaOf(world, t!).validateState).toBe('pending');
    expect(hostRow(world, liar.id).distrusted_at).toBeNull();
    expect(replicas(world, w).map((r) => [r.kind, r.status])).toEqual([
      ['regular', 'over'],
      ['regular', 'over'],
      ['check', 'over'],
      ['check', 'unsent'],
      ['check', 'unsent'],
    ]);

    roll.value = REGULAR;
    const arbiters = decide([h1, h2], right);
    expect(arbiters.map((x) => x.workunitId)).toEqual([w, w]);
    await world.core.recheckHosts();

    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: ta!.taskId });
    expect(replicaOf(world, t!).validateState).toBe('invalid');
    expect(hostRow(world, liar.id)).toMatchObject({ sentinels_failed: 1, distrusted_at: world.now(), total_credit_micro: 0 });
    for (const x of arbiters) expect(replicaOf(world, x)).toMatchObject({ validateState: 'valid' });
    expect(ledgerByReplica(world)[t!.taskId]).toBeUndefined();
    expect([h1, h2].map((h) => hostRow(world, h.id).total_credit_micro)).toEqual([CREDIT_MICRO, CREDIT_MICRO]);
    expect(world.aborts).toEqual([]);
    expectLedgerConsistent(world);
  });

  it('colluders who decided a work unit are outvoted in the dispute an honest check opens: caught, revoked, the result put right', async () => {
    const { roll } = lottery();
    const app = world.addApp();
    const batch = submit(world, app, [regular('w'), regular('x'), regular('y'), regular('z')]);
    const [w] = world.workunitIds(batch) as [number];
    const [c1, c2, h, h1, h2, h3] = [world.addHost(), world.addHost(), world.addHost(), world.addHost(), world.addHost(), world.addHost()];
    roll.value = REGULAR;
    const [tc1, tc2] = decide([c1, c2], forged);
    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: tc1!.taskId });

    roll.value = CHECK;
    const [t] = h.request(1);
    expect(t!.workunitId).toBe(w);
    answer(h, t!, right(t!));
    roll.value = REGULAR;
    // Two arbiters make three against two: not yet four; a third one settles it.
    const arbiters = decide([h1, h2], right);
    expect(wu(world, w).canonicalReplicaId).toBe(tc1!.taskId);
    arbiters.push(...decide([h3], right));
    expect(arbiters.map((x) => x.workunitId)).toEqual([w, w, w]);
    await world.core.recheckHosts();

    expect(wu(world, w)).toMatchObject({ status: 'done', canonicalReplicaId: t!.taskId });
    expect(replicas(world, w).map((r) => [r.hostId, r.validateState])).toEqual([
      [c1.id, 'invalid'],
      [c2.id, 'invalid'],
      [h.id, 'valid'],
      [h1.id, 'valid'],
      [h2.id, 'valid'],
      [h3.id, 'valid'],
    ]);
    for (const c of [c1, c2]) expect(hostRow(world, c.id)).toMatchObject({ distrusted_at: world.now(), total_credit_micro: 0 });
    expect(ledgerByReplica(world)[tc1!.taskId]).toEqual([CREDIT, -CREDIT]);
    expect(ledgerByReplica(world)[tc2!.taskId]).toEqual([CREDIT, -CREDIT]);
    expect([h, h1, h2, h3].map((x) => hostRow(world, x.id).total_credit_micro)).toEqual([CREDIT_MICRO, CREDIT_MICRO, CREDIT_MICRO, CREDIT_MICRO]);

    // The researcher's download has the right answer.
    const text = [...resultPieces(world.core.store.reports, world.core.outputs, batch, true)].map((p) => ('text' in p ? p.text : '')).join('');
    const line = text.split('\n').map((l) => (l ? JSON.parse(l) : null)).find((l) => l?.workunitId === w);
    expect(line).toEqual({ seq: 0, workunitId: w, status: 'done', output: { echo: { r: 'w' } } });
    expectLedgerConsistent(world);
  });
});
