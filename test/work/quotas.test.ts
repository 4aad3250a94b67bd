// Per-host quotas and hoarding, through the real store with a hand-driven clock: a new key starts
// with a small allowance that grows with valid results and shrinks with failures; fresh keys
// together hold only a share of a batch; a task held without progress is taken back.
import { afterEach, describe, expect, it } from 'vitest';
import type { CoreOptions } from '../../coordinator/core.js';
import { dailyAllowance, dailyRoom, inFlightAllowance, inFlightRoom, levelBounds, newHostCap, quotaDay, type QuotaPolicy } from '../../coordinator/work/host-quota.js';
import { NEW_HOST_FLOOR } from '../../coordinator/work/scheduler.js';
import { answer, regular, right, submit } from '../helpers/judging.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';

const POLICY: QuotaPolicy = { newHostTasks: 4, newHostTasksPerDay: 100, maxInFlight: 256, maxTasksPerDay: 1_000_000 };
const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('quota levels', () => {
  it('start at the new host’s allowance, double per level up to the maximums, halve down to one task', () => {
    expect([inFlightAllowance(0, POLICY), dailyAllowance(0, POLICY)]).toEqual([4, 100]);
    expect([inFlightAllowance(3, POLICY), dailyAllowance(3, POLICY)]).toEqual([32, 800]);
    expect([inFlightAllowance(-1, POLICY), dailyAllowance(-1, POLICY)]).toEqual([2, 50]);
    expect([inFlightAllowance(-10, POLICY), dailyAllowance(-10, POLICY)]).toEqual([1, 1]);
    expect([inFlightAllowance(40, POLICY), dailyAllowance(40, POLICY)]).toEqual([256, 1_000_000]);
    // The top is where both reach their maximums (so failures are felt at once), the bottom one task.
    expect(levelBounds(POLICY)).toEqual({ min: -7, max: 14 });
  });

  it('room: what may still be held, and what may still be taken today (a new day starts afresh)', () => {
    const now = 10 * DAY + HOUR;
    expect(inFlightRoom(0, 1, POLICY)).toBe(3);
    expect(inFlightRoom(0, 9, POLICY)).toBe(0);
    expect(dailyRoom({ level: 0, day: quotaDay(now), used: 99 }, now, POLICY)).toBe(1);
    expect(dailyRoom({ level: 0, day: quotaDay(now) - 1, used: 100 }, now, POLICY)).toBe(100);
  });

  it('new hosts hold a share of a batch’s work units, and never fewer than the floor', () => {
    expect(newHostCap(300, 0.1, 16)).toBe(30);
    expect(newHostCap(40, 0.1, 16)).toBe(16);
    expect(newHostCap(1_000_000, 0.1, 16)).toBe(100_000);
  });
});

let world: World;
afterEach(() => world?.close());

/** A world with production-like quotas (trust threshold 3: three valid results and a host is no longer new). */
function quotaWorld(options: Partial<CoreOptions> = {}): World {
  world = createWorld({ newHostTasks: 4, newHostTasksPerDay: 100, maxTasksPerDayPerHost: 1_000_000, newHostShare: 0.1, holdTimeoutMs: HOUR, ...options });
  return world;
}

const level = async (w: World, host: WorldHost) => (await w.core.store.identities.hostById(host.id))!.quotaLevel;

/** Each host computes `n` work units of a batch of its own, rightly, and they are valid. */
async function establish(w: World, hosts: WorldHost[], n: number): Promise<void> {
  const app = await w.addApp();
  for (const h of hosts) {
    await submit(w, app, Array.from({ length: n }, (_, i) => regular(`warm-up ${h.id}.${i}`)), { minQuorum: 1, targetNresults: 1 });
    for (const t of (await h.request(n))) await answer(h, t, right(t));
  }
}

describe('a host’s allowance', () => {
  it('tasks in flight: start small, double with each valid result, halve with each invalid one', async () => {
    quotaWorld();
    const app = await world.addApp();
    const disputed = world.workunitIds((await submit(world, app, [regular('disputed')], { priority: 1 })))[0]!;
    await submit(world, app, Array.from({ length: 40 }, (_, i) => regular(String(i))), { minQuorum: 1, targetNresults: 1 });
    const host = await world.addHost();
    const first = await host.request(64);
    expect(first).toHaveLength(4);
    const mine = first.find((t) => world.workunitOf(t) === disputed)!;
    const plain = first.filter((t) => t !== mine);
    await answer(host, plain[0]!, right(plain[0]!));
    expect((await level(world, host))).toBe(1);
    // Now 8 may be held: 3 still out, so 5 more.
    expect((await host.request(64))).toHaveLength(5);

    // Outvoted: an invalid result halves it, back to 4 (it holds 7).
    await answer(host, mine, { output: 'wrong' });
    for (const other of [(await world.addHost()), (await world.addHost())]) {
      const [o] = await other.request(1);
      expect(world.workunitOf(o!)).toBe(disputed);
      await answer(other, o!, right(o!));
    }
    expect((await world.core.store.work.replicasOf(disputed)).find((r) => r.id === world.replicaIdOf(mine))!.validateState).toBe('invalid');
    expect((await level(world, host))).toBe(0);
    expect((await host.request(64))).toEqual([]);
  });

  it('in one transaction, a level at its top stays there, then follows a step down and back up (nothing remembered wrongly)', async () => {
    quotaWorld();
    const [host] = [await world.addHost()];
    const app = await world.addApp();
    const bounds = levelBounds(POLICY);
    const appLevel = async () => (await world.core.store.identities.appQuota(host!.id, app))?.level;
    await world.core.store.transaction(async (tx) => {
      for (let i = 0; i < bounds.max + 3; i++) await tx.identities.stepQuota(host!.id, 1, bounds);
      for (let i = 0; i < bounds.max + 3; i++) await tx.identities.stepAppQuota(host!.id, app, 1, bounds);
      await tx.identities.stepQuota(host!.id, -1, bounds);
      await tx.identities.stepAppQuota(host!.id, app, -1, bounds);
      await tx.identities.stepAppQuota(host!.id, app, -1, bounds);
      expect((await tx.identities.hostById(host!.id))!.quotaLevel).toBe(bounds.max - 1);
      expect((await tx.identities.appQuota(host!.id, app))!.level).toBe(bounds.max - 2);
      await tx.identities.stepQuota(host!.id, 1, bounds);
      await tx.identities.stepAppQuota(host!.id, app, 1, bounds);
    });
    expect(await level(world, host!)).toBe(bounds.max);
    expect(await appLevel()).toBe(bounds.max - 1);
  });

  it('tasks a day, per app: stop at the quota, start again the next day; one app’s errors leave the others alone', async () => {
    quotaWorld({ newHostTasks: 50, newHostTasksPerDay: 4, newHostShare: 1 });
    const [broken, good] = [(await world.addApp()), (await world.addApp())];
    await submit(world, broken, Array.from({ length: 40 }, (_, i) => regular(`b${i}`)));
    await submit(world, good, Array.from({ length: 40 }, (_, i) => regular(`g${i}`)));
    const host = await world.addHost();
    const appIds = new Map<number, number>();
    for (const id of world.workunitIds(1).concat(world.workunitIds(2))) appIds.set(id, (await world.core.store.work.workunit(id))!.appId);
    const appOf = (t: { taskId: number }) => appIds.get(world.workunitOf(t))!;
    const taken = await host.request(64);
    expect(taken.filter((t) => appOf(t) === broken)).toHaveLength(4);
    expect(taken.filter((t) => appOf(t) === good)).toHaveLength(4);
    expect((await host.request(64))).toEqual([]);
    // The broken app's tasks fail: that app's quota halves, twice.
    for (const t of taken.filter((x) => appOf(x) === broken).slice(0, 2)) {
      expect((await host.report(host.result(t, { error: { code: 'app_exception', message: 'boom' } })))[0]!.status).toBe('accepted');
    }
    world.advance(DAY);
    const next = await host.request(64);
    expect(next.filter((t) => appOf(t) === broken)).toHaveLength(1);
    expect(next.filter((t) => appOf(t) === good)).toHaveLength(4);
  });
});

describe('fresh keys', () => {
  it('a burst of them holds no more than the new-host share of a batch; established hosts take the rest', async () => {
    quotaWorld();
    const veterans = [(await world.addHost()), (await world.addHost())];
    await establish(world, veterans, 3);
    for (const v of veterans) expect((await world.core.store.identities.hostById(v.id))!.nValid).toBeGreaterThanOrEqual(3);

    const app = await world.addApp();
    const batch = await submit(world, app, Array.from({ length: 300 }, (_, i) => regular(String(i))));
    const sybils = await Promise.all(Array.from({ length: 20 }, async () => (await world.addHost())));
    let held = 0;
    for (const s of sybils) held += (await s.request(64)).length;
    // A tenth of 300 work units, whatever the number of keys.
    expect(held).toBe(30);
    let more = 0;
    for (const s of sybils) more += (await s.request(64)).length;
    expect(more).toBe(0);
    const load = world.core.store.db.prepare('SELECT r_new_host AS n FROM batch_counts WHERE batch_id = ?').get(batch) as { n: number };
    expect(load.n).toBe(30);
    // The established hosts are not held back by it.
    expect((await veterans[0]!.request(64)).length).toBeGreaterThan(4);
  });

  it('a small batch on a new platform runs: new hosts may always hold the floor', async () => {
    quotaWorld();
    const app = await world.addApp();
    await submit(world, app, Array.from({ length: 10 }, (_, i) => regular(String(i))));
    const hosts = await Promise.all(Array.from({ length: 6 }, async () => (await world.addHost())));
    let taken = 0;
    for (const h of hosts) taken += (await h.request(64)).length;
    expect(taken).toBe(NEW_HOST_FLOOR);
  });

  it('tasks held without progress are taken back well before their deadline and reissued; progress keeps them', async () => {
    quotaWorld();
    const app = await world.addApp();
    const batch = await submit(world, app, Array.from({ length: 8 }, (_, i) => regular(String(i))), { delayBoundMs: DAY });
    const [hoarder, worker] = [(await world.addHost()), (await world.addHost())];
    const hoarded = await hoarder.request(4);
    const working = await worker.request(4);
    expect(hoarded).toHaveLength(4);
    world.advance(HOUR / 2);
    expect((await world.core.store.transaction(async (tx) => (await world.core.service.progress(tx, worker.id, working.map((t) => ({ taskId: t.taskId, fraction: 0.5 }))))))).toBe(4);
    world.advance(HOUR / 2 + 1);
    await world.core.store.transaction(async (tx) => (await world.core.service.sweepDeadlines(tx)));

    const states = (tasks: { taskId: number; workunitId: number }[]) =>
      Promise.all(tasks.map(async (t) => (await world.core.store.work.replicasOf(world.workunitOf(t))).find((r) => r.id === world.replicaIdOf(t))!.outcome));
    expect(await states(hoarded)).toEqual(['no_reply', 'no_reply', 'no_reply', 'no_reply']);
    expect(await states(working)).toEqual([null, null, null, null]);
    // Halved once per task it sat on; the work units have new replicas for others.
    expect((await level(world, hoarder))).toBe(-4);
    for (const t of hoarded) expect((await world.core.store.work.replicasOf(world.workunitOf(t))).filter((r) => r.status === 'unsent').length).toBeGreaterThan(0);
    // A late result still counts while its work unit is open.
    await answer(hoarder, hoarded[0]!, right(hoarded[0]!));
    expect((await world.core.store.reports.workunitCounts(batch)).active).toBe(8);
  });
});

describe('what a reply says of the quota (tasks.request `limited`)', () => {
  it('tasks in flight, and each app’s tasks a day with when the day ends; nothing for no work or the new-host share', async () => {
    quotaWorld({ newHostTasks: 4, newHostTasksPerDay: 3, newHostShare: 1, holdTimeoutMs: 2 * DAY });
    const app = await world.addApp();
    await submit(world, app, Array.from({ length: 20 }, (_, i) => regular(String(i))), { minQuorum: 1, targetNresults: 1 });
    const host = await world.addHost();
    // Three tasks of the app today, of four it may hold.
    const dayEnds = (Math.floor(world.now() / DAY) + 1) * DAY;
    const first = await host.requestWithLimit(64);
    expect(first.tasks).toHaveLength(3);
    expect(first.limited).toEqual({ by: 'daily', apps: [{ project: 'project 1', app: 'primes', allowed: 3, used: 3 }], resetsAt: dayEnds });
    expect((await host.requestWithLimit(64))).toEqual({ tasks: [], limited: first.limited });
    // The next day the four it may hold are the limit.
    world.advance(dayEnds - world.now());
    const next = await host.requestWithLimit(64);
    expect(next.tasks).toHaveLength(1);
    expect(next.limited).toEqual({ by: 'in_flight', held: 4, allowed: 4 });
    expect((await host.requestWithLimit(64))).toEqual({ tasks: [], limited: next.limited });
    // Asking for no more than the quotas allow leaves nothing to say.
    expect((await (await world.addHost()).requestWithLimit(3)).limited).toBeUndefined();
  });

  it('says nothing when there is no work for the host, nor when new hosts hold their share of a batch', async () => {
    quotaWorld({ newHostTasks: 50, newHostShare: 0.1 });
    const idle = await (await world.addHost()).requestWithLimit(8);
    expect(idle).toEqual({ tasks: [] });
    const app = await world.addApp();
    await submit(world, app, Array.from({ length: 100 }, (_, i) => regular(String(i))));
    // The floor (16) of a 100-unit batch, then nothing: "no work now" for this host.
    const some = await (await world.addHost()).requestWithLimit(40);
    expect([some.tasks.length, some.limited]).toEqual([NEW_HOST_FLOOR, undefined]);
    expect((await (await world.addHost()).requestWithLimit(40))).toEqual({ tasks: [] });
  });
});

describe('lastSeenAt', () => {
  it('follows the host’s messages, written at most once a minute, for all the hosts heard from at once', async () => {
    quotaWorld();
    const [host, other] = [await world.addHost(), await world.addHost()];
    const seen = (h: { id: number }) => (world.core.store.db.prepare('SELECT last_seen_at AS t FROM hosts WHERE id = ?').get(h.id) as { t: number }).t;
    const heard = async (...hosts: { id: number }[]) => {
      for (const h of hosts) world.core.service.heard(h.id);
      await world.core.store.transaction(async (tx) => world.core.service.writeHeard(tx));
    };
    const start = seen(host);
    world.advance(30_000);
    await heard(host, other);
    expect([seen(host), seen(other)]).toEqual([start, start]);
    world.advance(31_000);
    await heard(host, other, host);
    expect([seen(host), seen(other)]).toEqual([world.now(), world.now()]);
    // Written once: heard from no one since, nothing is written.
    world.advance(61_000);
    await world.core.store.transaction(async (tx) => world.core.service.writeHeard(tx));
    expect(seen(host)).toBe(world.now() - 61_000);
  });
});
