// What a host is told of its results (coordinator/work/host-verdicts.ts) through the real store,
// with a hand-driven clock: a verdict once told never goes back when a caught partner's results
// are taken out and a work unit is judged again (that would tell the host its partner was caught),
// and what a host was never told (a check it failed) stays untold once it has earned its trust back.
import { afterEach, describe, expect, it } from 'vitest';
import type { ResultVerdict } from '../../protocol/messages.js';
import { verdictOf } from '../../coordinator/work/host-verdicts.js';
import { answer, forged, hostRow, lotteryWorld, REGULAR, regular, right, SENTINEL, sentinel, submit, wu } from '../helpers/judging.js';
import type { World, WorldHost } from '../helpers/world.js';

let world: World;
afterEach(async () => {
  await world?.close();
});

const QUORUM_2_OF_3 = { minQuorum: 2, targetNresults: 3, maxTotalResults: 8, maxSuccessResults: 8, priority: 1 };
const pushedTo = (w: World, host: WorldHost) => w.judged.filter((j) => j.hostId === host.id).flatMap((j) => j.verdicts);

describe('the verdict rule', () => {
  const facts = { outcome: 'success' as const, lostQuorum: false, granted: false, revoked: false };
  it.each<[string, Parameters<typeof verdictOf>[0], ResultVerdict]>([
    ['no task of the host', undefined, 'unknown'],
    ['no result stored', { ...facts, outcome: 'aborted' }, 'unknown'],
    ['in progress', { ...facts, outcome: null }, 'unknown'],
    ['an error result', { ...facts, outcome: 'client_error' }, 'error'],
    ['waiting, forfeited, or failed a check', facts, 'pending'],
    ['credited', { ...facts, granted: true }, 'valid'],
    ['credited, then judged again and still open', { ...facts, granted: true }, 'valid'],
    ['lost its quorum vote', { ...facts, lostQuorum: true }, 'invalid'],
    ['lost its vote, then valid after all', { ...facts, lostQuorum: true, granted: true }, 'valid'],
    ['credit revoked', { ...facts, granted: true, revoked: true }, 'invalid'],
  ])('%s: %s', (_what, f, verdict) => expect(verdictOf(f)).toBe(verdict));
});

describe('verdicts judged again', () => {
  it('a verdict told stands while a caught partner’s results are taken out; only a new judgement, with its receipt, changes it', async () => {
    const made = lotteryWorld();
    world = made.world;
    const { roll } = made;
    const app = await world.addApp();
    const lost = world.workunitIds(await submit(world, app, [regular('lost', QUORUM_2_OF_3)]))[0]!;
    const won = world.workunitIds(await submit(world, app, [regular('won', { priority: 1 })]))[0]!;
    await submit(world, app, [regular('x'), sentinel(1)]);
    const [c1, c2, h, h2, h3] = [await world.addHost(), await world.addHost(), await world.addHost(), await world.addHost(), await world.addHost()];
    roll.value = REGULAR;

    // Two colluders outvote an honest host: it is told, once.
    const [th] = await h.request(1);
    const [tc1] = await c1.request(1);
    const [tc2] = await c2.request(1);
    expect([th, tc1, tc2].map((t) => world.workunitOf(t!))).toEqual([lost, lost, lost]);
    await answer(h, th!, right(th!));
    await answer(c1, tc1!, forged());
    await answer(c2, tc2!, forged());
    expect(await h.verdicts(th!)).toEqual({ [th!.taskId]: 'invalid' });
    expect(pushedTo(world, h)).toEqual([{ taskId: th!.taskId, verdict: 'invalid' }]);
    expect([pushedTo(world, c1), pushedTo(world, c2)]).toEqual([[], []]);

    // A colluder agrees with an honest host elsewhere: both valid.
    const [tw] = await h2.request(1);
    const [tc1w] = await c1.request(1);
    expect([world.workunitOf(tw!), world.workunitOf(tc1w!)]).toEqual([won, won]);
    await answer(h2, tw!, right(tw!));
    await answer(c1, tc1w!, right(tc1w!));
    expect(await h2.verdicts(tw!)).toEqual({ [tw!.taskId]: 'valid' });

    // c1 is caught by a sentinel; the re-check takes its results out. Both work units reopen: a
    // forged and a right answer are no quorum, nor is one right answer alone.
    roll.value = SENTINEL;
    const [ts] = await c1.request(1);
    await answer(c1, ts!, forged());
    await world.core.recheckHosts();
    expect(hostRow(world, c1.id).distrusted_at).not.toBeNull();
    expect([(await wu(world, lost)).status, (await wu(world, won)).status]).toEqual(['active', 'active']);
    // Nothing the honest hosts are told moves: no word of a caught partner.
    expect(await h.verdicts(th!)).toEqual({ [th!.taskId]: 'invalid' });
    expect(await h2.verdicts(tw!)).toEqual({ [tw!.taskId]: 'valid' });
    expect(await c2.verdicts(tc2!)).toEqual({ [tc2!.taskId]: 'valid' }); // its grant stands until judged again
    // The caught host: its revoked credit is invalid, as its receipts say; the sentinel, pending.
    expect(await c1.verdicts(tc1!, tc1w!, ts!)).toEqual({ [tc1!.taskId]: 'invalid', [tc1w!.taskId]: 'invalid', [ts!.taskId]: 'pending' });
    expect(pushedTo(world, h)).toHaveLength(1);
    expect(pushedTo(world, c1)).toEqual([]);

    // Judged again by an honest host: the honest result is valid after all (its receipt comes),
    // the colluder's invalid (its revocation comes, and it is told).
    roll.value = REGULAR;
    const [th3] = await h3.request(1);
    expect(world.workunitOf(th3!)).toBe(lost);
    await answer(h3, th3!, right(th3!));
    expect((await wu(world, lost)).status).toBe('done');
    expect(await h.verdicts(th!)).toEqual({ [th!.taskId]: 'valid' });
    expect(world.credits.filter((c) => c.hostId === h.id).flatMap((c) => c.receipts).map((r) => r.taskId)).toEqual([th!.taskId]);
    expect(await c2.verdicts(tc2!)).toEqual({ [tc2!.taskId]: 'invalid' });
    expect(pushedTo(world, h)).toHaveLength(1);
  });

  it('a check the host failed stays untold once it has earned its trust back; what it loses after that is told', async () => {
    const made = lotteryWorld({ trustThreshold: 3 });
    world = made.world;
    const { roll } = made;
    const app = await world.addApp();
    await submit(world, app, [regular('x', QUORUM_2_OF_3), regular('y', QUORUM_2_OF_3), sentinel(1), sentinel(2), sentinel(3), sentinel(4)]);
    const [c, h1, h2] = [await world.addHost(), await world.addHost(), await world.addHost()];

    roll.value = SENTINEL;
    const [failed] = await c.request(1);
    await answer(c, failed!, forged());
    expect(hostRow(world, c.id).distrusted_at).not.toBeNull();
    for (let i = 0; i < 3; i++) {
      const [t] = await c.request(1);
      await answer(c, t!, right(t!));
    }
    expect(hostRow(world, c.id).distrusted_at).toBeNull();
    expect(await c.verdicts(failed!)).toEqual({ [failed!.taskId]: 'pending' });

    // Trusted again, it loses a quorum vote: told, as any host whose results count.
    roll.value = REGULAR;
    const [tc] = await c.request(1);
    const [t1] = await h1.request(1);
    const [t2] = await h2.request(1);
    expect(new Set([tc, t1, t2].map((t) => world.workunitOf(t!))).size).toBe(1);
    await answer(c, tc!, forged());
    await answer(h1, t1!, right(t1!));
    await answer(h2, t2!, right(t2!));
    expect(await c.verdicts(failed!, tc!)).toEqual({ [failed!.taskId]: 'pending', [tc!.taskId]: 'invalid' });
    expect(pushedTo(world, c)).toEqual([{ taskId: tc!.taskId, verdict: 'invalid' }]);
  });
});
