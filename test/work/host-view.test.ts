// What a host can see of its tasks says nothing of which were checks (issue 14): task ids are
// random, neither in the order tasks were made nor clustered by kind; a task names no work unit
// the public ledger could link it to; and a caught host is told nothing that an honest host in its
// place would not be. Through the real store and scheduler.
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../protocol/messages.js';
import { seeded } from '../reliability/seeded-random.js';
import { answer, lotteryWorld, REGULAR, regular, right, sentinel, SENTINEL as CHECK, submit } from '../helpers/judging.js';
import { createWorld, type World } from '../helpers/world.js';

let world: World | undefined;
afterEach(() => world?.close());

/**
 * How well ids tell two kinds apart (the Mann–Whitney AUC): the chance that a task of `a` has a
 * higher id than one of `b`. 0.5: not at all; 0 or 1: perfectly.
 */
function separation(a: number[], b: number[]): number {
  let above = 0;
  for (const x of a) for (const y of b) above += x > y ? 1 : x === y ? 0.5 : 0;
  return above / (a.length * b.length);
}

describe('task ids', () => {
  it('are in no order, and sentinels and checks are not told from regular work by them', async () => {
    const rnd = seeded('host view', 14);
    world = createWorld({ checkRate: 0.12, trustThreshold: 10 }, () => rnd.next());
    world.core.store.db.pragma('synchronous = OFF');
    const w = world;
    const app = await w.addApp();
    // Sentinels mixed in as a researcher might; a check slot takes one while any waits, then a
    // done work unit is sent again.
    await submit(w, app, Array.from({ length: 600 }, (_, i) => (i % 30 === 5 ? sentinel(i) : regular(String(i)))));
    const hosts = await Promise.all(Array.from({ length: 30 }, () => w.addHost()));
    const kindOf = w.core.store.db.prepare('SELECT kind FROM replicas WHERE task_id = ?');
    const issued: { id: number; kind: string }[] = [];
    for (let round = 0; round < 30; round++) {
      for (const h of rnd.shuffle(hosts)) {
        const [t] = await h.request(1);
        if (!t) continue;
        issued.push({ id: t.taskId, kind: (kindOf.get(t.taskId) as { kind: string }).kind });
        // A task names no work unit: its reference is its own id.
        expect(t.workunitId).toBe(t.taskId);
        await answer(h, t, right(t));
      }
    }
    const ids = (kind: string) => issued.filter((t) => t.kind === kind).map((t) => t.id);
    const [regularIds, sentinelIds, checkIds] = [ids('regular'), ids('sentinel'), ids('check')];
    expect(sentinelIds.length).toBeGreaterThan(25);
    expect(checkIds.length).toBeGreaterThan(30);
    // Sequential ids put every check above all regular work (it is made when sent) and the
    // sentinels, drawn from their own queue, far from it: separations near 1 or 0.
    const seen = { checks: separation(checkIds, regularIds), sentinels: separation(sentinelIds, regularIds) };
    // More than four standard deviations either side of 0.5 at these sample sizes.
    expect(seen.checks).toBeGreaterThan(0.3);
    expect(seen.checks).toBeLessThan(0.7);
    expect(seen.sentinels).toBeGreaterThan(0.3);
    expect(seen.sentinels).toBeLessThan(0.7);
    // In the order they were sent, ids go up about half the time (sequential ids: nearly always).
    let up = 0;
    for (let i = 1; i < issued.length; i++) if (issued[i]!.id > issued[i - 1]!.id) up++;
    expect(up / (issued.length - 1)).toBeGreaterThan(0.4);
    expect(up / (issued.length - 1)).toBeLessThan(0.6);
    // A check is not the highest id so far (as a replica made when sent was, every time).
    let max = 0;
    let checksAtMax = 0;
    for (const t of issued) {
      if (t.id > max && t.kind === 'check') checksAtMax++;
      max = Math.max(max, t.id);
    }
    expect(checksAtMax).toBeLessThan(3);
    console.log(`[host view] ${issued.length} tasks (${checkIds.length} checks, ${sentinelIds.length} sentinel replicas): separation from regular work by id ` +
      `${seen.checks.toFixed(2)} (checks), ${seen.sentinels.toFixed(2)} (sentinels); ids up ${((100 * up) / (issued.length - 1)).toFixed(0)}% of the time; ${checksAtMax} checks at the highest id so far`);
  }, 120_000);

  it('link no task to the work units the public ledger names: a check names nothing any grant does', async () => {
    const made = lotteryWorld();
    world = made.world;
    const w = world;
    const app = await w.addApp();
    await submit(w, app, [regular('0'), regular('1')]);
    const [a, b, c] = [await w.addHost(), await w.addHost(), await w.addHost()];
    made.roll.value = REGULAR;
    const [ta] = await a.request(1);
    const [tb] = await b.request(1);
    // Two tasks of one work unit: neither names it, nor do they name one another.
    expect(w.workunitOf(ta!)).toBe(w.workunitOf(tb!));
    expect(new Set([ta!.workunitId, tb!.workunitId, w.workunitOf(ta!)]).size).toBe(3);
    await answer(a, ta!, right(ta!));
    await answer(b, tb!, right(tb!));
    made.roll.value = CHECK;
    const [check] = await c.request(1);
    expect(w.workunitOf(check!)).toBe(w.workunitOf(ta!));
    const ledger = await w.core.store.ledger.entriesAfter(0, 100);
    expect(ledger.map((e) => e.workunitId)).toEqual([w.workunitOf(ta!), w.workunitOf(ta!)]);
    // What the check carries appears nowhere in the ledger, nor does any id of the work unit's.
    const named = new Set(ledger.flatMap((e) => [e.taskId, e.workunitId]));
    expect(named.has(check!.taskId) || named.has(check!.workunitId)).toBe(false);
    expect(ledger.map((e) => e.taskId).sort()).toEqual([ta!.taskId, tb!.taskId].sort());
  });
});

describe('a caught host', () => {
  /** C holds a task of each of ten work units and is slow; two others answer theirs. What is C told? */
  async function abortsToSlowHost(caught: boolean): Promise<{ aborts: number; replicasMade: number }> {
    world = createWorld({ checkRate: 0 });
    const w = world;
    const app = await w.addApp();
    await w.submit(app, Array.from({ length: 10 }, (_, i) => ({ r: String(i) })));
    const [c, b, a] = [await w.addHost(), await w.addHost(), await w.addHost()];
    if (caught) w.core.store.db.prepare('UPDATE hosts SET distrusted_at = ? WHERE id = ?').run(w.now(), c.id);
    const held: Task[] = await c.request(10);
    expect(held).toHaveLength(10);
    for (const t of await b.request(10)) await answer(b, t, right(t));
    for (const t of await a.request(10)) await answer(a, t, right(t));
    const aborts = w.aborts.filter((x) => x.hostId === c.id).flatMap((x) => x.taskIds).length;
    const replicasMade = (w.core.store.db.prepare('SELECT COUNT(*) AS n FROM replicas').get() as { n: number }).n;
    await w.close();
    world = undefined;
    return { aborts, replicasMade };
  }

  it('is told no more than an honest host in its place: its tasks out are waited for, not replaced beside it', async () => {
    // A replacement made beside each of its tasks finished first, and the aborts that followed
    // ("work unit already has a canonical result") told it it was caught.
    const honest = await abortsToSlowHost(false);
    const caught = await abortsToSlowHost(true);
    expect(caught).toEqual(honest);
    expect(caught.aborts).toBe(0);
  });
});
