// How fast the coordinator's own checks catch colluders when the researcher supplied no
// sentinels: a simulation through the real core (store, scheduler, transitioner), seeded (task ids
// too), so the same figures come out every run. docs/security.md states the detection probability
// this checks, against colluders who pool everything they can see to avoid the checks.
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
  /** Checks (done work units sent again) colluders were sent; of those, the ones they answered right, and the ones whose input one of them had been sent before. */
  checksSeen: number;
  checksDodged: number;
  checksKnown: number;
}

interface Scenario {
  hosts: number;
  colluders: number;
  checkRate: number;
  /** Share of tasks colluders answer wrongly (all the same tasks, all the same wrong answer). */
  cheatShare: number;
  tasks: number;
  seed: number;
  /**
   * `naive`: colluders cheat on the inputs they agreed on, whatever the task. `pooled`: they pool
   * every task id, input and ledger entry any of them sees, and answer right wherever that
   * suggests a check (see Pool).
   */
  strategy: 'naive' | 'pooled';
}

/**
 * What a colluding group knows, pooled: every task its members were sent (id, input, what they
 * answered) and the public ledger (GET /api/v1/ledger: every grant names its task and work unit).
 * It answers right where that suggests a check, and otherwise cheats as agreed:
 * - an input one of them was sent before: another replica of a work unit still open (when it was
 *   lately: the replicas of a work unit go out one after another), else a check of a work unit
 *   they computed, or an arbiter. They give the answer they gave then, to win the quorum, or when
 *   the ledger credited it (so that a check of a work unit they won agrees with it); else the
 *   right one.
 * - a task naming a work unit the ledger has credited: a done work unit sent again. (A task used
 *   to carry its work unit's real id.)
 * - a task id out of line with the ids they were sent lately (beyond the range of the last 40 by
 *   as much again): a replica made when sent (a check used to get the highest id so far), or one
 *   from the sentinels' own queue.
 */
/** The group's last so many tasks are "lately": about two rounds of its twenty members. */
const LATELY = 40;

class Pool {
  /** By input: what the group answered, to which tasks, and when (its count of tasks seen then). */
  private readonly answers = new Map<string, { forged: boolean; taskIds: number[]; at: number }>();
  private seen = 0;
  private readonly recent: number[] = [];
  private readonly creditedWorkunits = new Set<number>();
  private readonly creditedTasks = new Set<number>();
  private after = 0;

  constructor(private readonly w: World) {}

  /** Whether to cheat on a task the group agreed to cheat on. */
  async cheat(t: Task): Promise<boolean> {
    await this.readLedger();
    const before = this.answers.get(t.inputHash);
    if (before) return before.forged && (this.seen - before.at <= LATELY || before.taskIds.some((id) => this.creditedTasks.has(id)));
    if (this.creditedWorkunits.has(t.workunitId)) return false;
    return !this.outOfLine(t.taskId);
  }

  /** Whether one of them was sent this input before. */
  knows(t: Task): boolean {
    return this.answers.has(t.inputHash);
  }

  /** What a member was sent and answered. */
  saw(t: Task, forged: boolean): void {
    const a = this.answers.get(t.inputHash);
    if (a) a.taskIds.push(t.taskId);
    else this.answers.set(t.inputHash, { forged, taskIds: [t.taskId], at: this.seen });
    this.seen++;
    this.recent.push(t.taskId);
    if (this.recent.length > LATELY) this.recent.shift();
  }

  private outOfLine(id: number): boolean {
    if (this.recent.length < 10) return false;
    const lo = Math.min(...this.recent);
    const hi = Math.max(...this.recent);
    return id > hi + (hi - lo) || id < lo - (hi - lo);
  }

  private async readLedger(): Promise<void> {
    for (;;) {
      const page = await this.w.core.store.ledger.entriesAfter(this.after, 1000);
      for (const e of page) {
        if (e.amount > 0) this.creditedTasks.add(e.taskId);
        this.creditedWorkunits.add(e.workunitId);
      }
      if (page.length > 0) this.after = page.at(-1)!.entryId;
      if (page.length < 1000) return;
    }
  }
}

/**
 * Volunteers of which some collude, at quorum 2, until each has done `tasks` tasks. Hosts ask for
 * one task at a time, in a shuffled order each round, and answer it at once.
 */
async function simulate(o: Scenario): Promise<Run> {
  const rnd = seeded('collusion', o.seed);
  // Task ids from the seed too, so that colluders who look at them decide the same every run.
  const ids = seeded('collusion task ids', o.seed);
  world = createWorld({ checkRate: o.checkRate, trustThreshold: 10 }, () => rnd.next(), () => 1 + Math.floor(ids.next() * (2 ** 53 - 1)));
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
  const kindOf = w.core.store.db.prepare('SELECT kind FROM replicas WHERE task_id = ?');
  const pool = new Pool(w);
  let checksSeen = 0;
  let checksDodged = 0;
  let checksKnown = 0;
  for (let round = 0; round < o.tasks; round++) {
    for (const h of rnd.shuffle([...hosts])) {
      const [t] = (await h.host.request(1)) as [Task | undefined];
      if (!t) continue;
      let cheat = h.colluder && cheatOn(t);
      const check = h.colluder && (kindOf.get(t.taskId) as { kind: string }).kind === 'check';
      if (check && pool.knows(t)) checksKnown++;
      if (h.colluder) {
        if (cheat && o.strategy === 'pooled') cheat = await pool.cheat(t);
        pool.saw(t, cheat);
      }
      if (check) {
        checksSeen++;
        if (!cheat) checksDodged++;
      }
      await answer(h.host, t, cheat ? forged() : right(t));
      h.done++;
      if (h.colluder && h.caughtAfter === undefined && (distrusted.get(h.host.id) as { d: number }).d === 1) h.caughtAfter = h.done;
    }
  }
  // What the caught colluders decided is taken back by the re-check.
  await w.core.recheckHosts();
  const honestCaught = hosts.filter((h) => !h.colluder && (distrusted.get(h.host.id) as { d: number }).d === 1).length;
  const wrongCanonical = (w.core.store.db.prepare(`SELECT COUNT(*) AS n FROM workunits w JOIN replicas r ON r.id = w.canonical_replica_id
    WHERE w.batch_id = ? AND r.output_json = '{"echo":"forged"}'`).get(batch) as { n: number }).n;
  return { caughtAfter: hosts.filter((h) => h.colluder).map((h) => h.caughtAfter), honestCaught, wrongCanonical, checksSeen, checksDodged, checksKnown };
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
    `[collusion] ${o.hosts} hosts, ${o.colluders} ${o.strategy} colluders wrong on ${o.cheatShare * 100}% of tasks, quorum 2, check rate ${o.checkRate}, ` +
      `${o.tasks} tasks each: ${caught.length}/${o.colluders} caught (median after ${caught[Math.floor(caught.length / 2)]} tasks, ` +
      `slowest ${caught.at(-1)}; bound ${(bound(o) * 100).toFixed(1)}%); ${run.honestCaught} honest hosts caught; ` +
      `${run.wrongCanonical} wrong canonical results left; colluders answered ${run.checksDodged} of the ${run.checksSeen} checks they were sent right ` +
      `(${run.checksKnown} of them of an input one of them had been sent before); ${Date.now() - started} ms`,
  );
  expect(caught.length / o.colluders).toBeGreaterThanOrEqual(bound(o));
  expect(run.honestCaught).toBe(0);
  expect(run.wrongCanonical).toBe(0);
}

describe('colluders without sentinels', () => {
  it('wrong on every task: at check rate 0.05 and 10% colluders, caught within 100 tasks at least as often as documented', async () => {
    await expectCaughtAsDocumented({ hosts: 200, colluders: 20, checkRate: 0.05, cheatShare: 1, tasks: 100, seed: 14, strategy: 'naive' });
  }, 300_000);

  it('wrong on a fifth of its tasks: caught within 300 tasks at least as often as documented', async () => {
    await expectCaughtAsDocumented({ hosts: 100, colluders: 10, checkRate: 0.05, cheatShare: 0.2, tasks: 300, seed: 15, strategy: 'naive' });
  }, 300_000);
});

describe('colluders who pool what they see (task ids, inputs, the public ledger) to avoid checks', () => {
  it('wrong wherever nothing suggests a check: caught within 100 tasks at least as often as documented', async () => {
    await expectCaughtAsDocumented({ hosts: 200, colluders: 20, checkRate: 0.05, cheatShare: 1, tasks: 100, seed: 14, strategy: 'pooled' });
  }, 300_000);

  it('wrong on a fifth of the tasks where nothing suggests a check: caught within 300 tasks at least as often as documented', async () => {
    await expectCaughtAsDocumented({ hosts: 100, colluders: 10, checkRate: 0.05, cheatShare: 0.2, tasks: 300, seed: 15, strategy: 'pooled' });
  }, 300_000);
});
