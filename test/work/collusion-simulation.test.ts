// How fast the coordinator's own checks catch colluders when the researcher supplied no
// sentinels: a simulation through the real core (store, scheduler, transitioner), seeded, so the
// same figures come out every run. docs/security.md states the detection probability this checks.
import { afterEach, describe, expect, it } from 'vitest';
import type { Task } from '../../protocol/messages.js';
import { seeded } from '../reliability/seeded-random.js';
import { answer, forged, regular, right, submit } from '../helpers/judging.js';
import { createWorld, type World, type WorldHost } from '../helpers/world.js';

let world: World | undefined;
afterEach(() => world?.close());

interface Run {
  /** Tasks each colluder had done when caught (undefined: not caught within the run). */
  caughtAfter: (number | undefined)[];
  honestCaught: number;
  wrongCanonical: number;
}

interface Scenario {
  hosts: number;
  colluders: number;
  checkRate: number;
  /** Share of tasks colluders answer wrongly (all the same tasks, all the same wrong answer). */
  cheatShare: number;
  tasks: number;
  seed: number;
}

/**
 * Volunteers of which some collude, at quorum 2, until each has done `tasks` tasks. Hosts ask for
 * one task at a time, in a shuffled order each round, and answer it at once.
 */
async function simulate(o: Scenario): Promise<Run> {
  const rnd = seeded('collusion', o.seed);
  world = createWorld({ checkRate: o.checkRate, trustThreshold: 10 }, () => rnd.next());
  // A simulation: durability is beside the point, and fsyncs would make it take minutes.
  world.core.store.db.pragma('synchronous = OFF');
  const w = world;
  const app = await w.addApp();
  const batch = await submit(w, app, Array.from({ length: (o.hosts * o.tasks) / 2 + 200 }, (_, i) => regular(String(i))));
  // The colluders agree beforehand on which inputs to cheat on: hash-like, the same for all of them.
  const cheatOn = (t: Task) => ((Number((t.input as { r: string }).r) * 2654435761) % 1000) / 1000 < o.cheatShare;
  const hosts: { host: WorldHost; colluder: boolean; done: number; caughtAfter?: number }[] = [];
  for (let i = 0; i < o.hosts; i++) hosts.push({ host: await w.addHost(), colluder: i < o.colluders, done: 0 });
  const distrusted = w.core.store.db.prepare('SELECT distrusted_at IS NOT NULL AS d FROM hosts WHERE id = ?');
  for (let round = 0; round < o.tasks; round++) {
    for (const h of rnd.shuffle([...hosts])) {
      const [t] = (await h.host.request(1)) as [Task | undefined];
      if (!t) continue;
      await answer(h.host, t, h.colluder && cheatOn(t) ? forged() : right(t));
      h.done++;
      if (h.colluder && h.caughtAfter === undefined && (distrusted.get(h.host.id) as { d: number }).d === 1) h.caughtAfter = h.done;
    }
  }
  // What the caught colluders decided is taken back by the re-check.
  await w.core.recheckHosts();
  const honestCaught = hosts.filter((h) => !h.colluder && (distrusted.get(h.host.id) as { d: number }).d === 1).length;
  const wrongCanonical = (w.core.store.db.prepare(`SELECT COUNT(*) AS n FROM workunits w JOIN replicas r ON r.id = w.canonical_replica_id
    WHERE w.batch_id = ? AND r.output_json = '{"echo":"forged"}'`).get(batch) as { n: number }).n;
  return { caughtAfter: hosts.filter((h) => h.colluder).map((h) => h.caughtAfter), honestCaught, wrongCanonical };
}

/** docs/security.md: P(caught within N tasks) ≥ 1 − (1 − s·g·(1 − c)^4)^N. */
const bound = (o: Scenario) => 1 - (1 - o.checkRate * o.cheatShare * (1 - o.colluders / o.hosts) ** 4) ** o.tasks;

/**
 * Runs a scenario and checks it: at least the documented share of colluders caught, no honest
 * host caught, and no wrong canonical result left once the caught hosts' re-checks have run.
 */
async function expectCaughtAsDocumented(o: Scenario): Promise<void> {
  const started = Date.now();
  const run = await simulate(o);
  const caught = run.caughtAfter.filter((n) => n !== undefined).sort((a, b) => a - b);
  console.log(
    `[collusion] ${o.hosts} hosts, ${o.colluders} colluders wrong on ${o.cheatShare * 100}% of tasks, quorum 2, check rate ${o.checkRate}, ` +
      `${o.tasks} tasks each: ${caught.length}/${o.colluders} caught (median after ${caught[Math.floor(caught.length / 2)]} tasks, ` +
      `slowest ${caught.at(-1)}; bound ${(bound(o) * 100).toFixed(1)}%); ${run.honestCaught} honest hosts caught; ` +
      `${run.wrongCanonical} wrong canonical results left; ${Date.now() - started} ms`,
  );
  expect(caught.length / o.colluders).toBeGreaterThanOrEqual(bound(o));
  expect(run.honestCaught).toBe(0);
  expect(run.wrongCanonical).toBe(0);
}

describe('colluders without sentinels', () => {
  it('wrong on every task: at check rate 0.05 and 10% colluders, caught within 100 tasks at least as often as documented', async () => {
    await expectCaughtAsDocumented({ hosts: 200, colluders: 20, checkRate: 0.05, cheatShare: 1, tasks: 100, seed: 14 });
  }, 300_000);

  it('wrong on a fifth of its tasks: caught within 300 tasks at least as often as documented', async () => {
    await expectCaughtAsDocumented({ hosts: 100, colluders: 10, checkRate: 0.05, cheatShare: 0.2, tasks: 300, seed: 15 });
  }, 300_000);
});
