// A volunteer's project preferences in tasks.request (docs/protocol.md, `preferences`): which
// projects may send it new work, and resource shares between them, honoured by the scheduler.
// Against the real coordinator, with real socket.io-client volunteers and work submitted
// through the API.
import { afterEach, describe, expect, it } from 'vitest';
import type { Submitted } from '../../protocol/api.js';
import type { Task } from '../../protocol/messages.js';
import { ApiClient, newApp, newResearcher } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let c: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await c?.dispose();
  c = undefined;
});

interface Setup {
  ada: ApiClient;
  /** App id per project name. */
  apps: Record<string, number>;
}

/** Projects, each with one app and a batch of `units` single-replica work units. */
async function projects(names: string[], units: number, overrides: Parameters<typeof startTestCoordinator>[0] = {}): Promise<Setup> {
  c = await startTestCoordinator(overrides);
  const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  const ada = await newResearcher(admin, 'ada');
  const apps: Record<string, number> = {};
  for (const name of names) {
    const { app } = await newApp(ada, name);
    apps[name] = app.id;
    if (units > 0) await submit(ada, app.id, units);
  }
  return { ada, apps };
}

async function submit(ada: ApiClient, appId: number, units: number, sentinels = 0): Promise<void> {
  const workunits = [
    ...Array.from({ length: units }, (_, i) => ({ input: i })),
    ...Array.from({ length: sentinels }, (_, i) => ({ input: 1000 + i, expectedOutput: { echo: 1000 + i } })),
  ];
  const r = await ada.post<Submitted>(`/apps/${appId}/batches`, { name: `b${appId}`, workunits, replication: { minQuorum: 1, targetNresults: 1 } });
  if (r.status !== 201) throw new Error(`batch: HTTP ${r.status} ${r.text}`);
}

async function volunteer(seed?: string): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(c!.url, seed ? { seed } : {});
  volunteers.push(v);
  return v;
}

async function ask(v: TestVolunteer, count: number, preferences?: unknown): Promise<Task[]> {
  const reply = await v.send<{ tasks: Task[] }>('tasks.request', preferences === undefined ? { count } : { count, preferences });
  if (!reply.ok) throw new Error(`tasks.request: ${reply.error.message}`);
  return reply.tasks;
}

const tally = (tasks: Task[]) => {
  const n: Record<string, number> = {};
  for (const t of tasks) n[t.project] = (n[t.project] ?? 0) + 1;
  return n;
};

const sentCount = () => (c!.store.db.prepare("SELECT COUNT(*) AS n FROM replicas WHERE status <> 'unsent'").get() as { n: number }).n;

describe('project preferences in tasks.request', () => {
  it('without preferences a request is served as before: the queue in its order, every project', async () => {
    await projects(['alpha', 'beta'], 4);
    const tasks = await ask(await volunteer(), 8);
    expect(tally(tasks)).toEqual({ alpha: 4, beta: 4 });
  });

  it('never sends new work of a project marked noNewTasks, nor of an unlisted one with onlyListed; unknown names are ignored', async () => {
    await projects(['alpha', 'beta', 'gamma'], 4);
    const v = await volunteer();
    const noAlpha = await ask(v, 6, { projects: [{ project: 'alpha', noNewTasks: true }, { project: 'no-such-project', share: 500 }] });
    expect(noAlpha).toHaveLength(6);
    expect(noAlpha.map((t) => t.project)).not.toContain('alpha');

    const w = await volunteer();
    const onlyGamma = await ask(w, 8, { onlyListed: true, projects: [{ project: 'gamma' }, { project: 'no-such-project' }] });
    // Gamma's four, of which the first volunteer may have taken some: never more than gamma has left, never another project.
    expect(new Set(onlyGamma.map((t) => t.project))).toEqual(new Set(['gamma']));
    const gammaLeft = await ask(w, 8, { onlyListed: true, projects: [{ project: 'gamma' }] });
    expect(gammaLeft).toEqual([]);

    // Listing nothing that exists, with onlyListed: no work at all, though alpha and beta have some.
    const x = await volunteer();
    expect(await ask(x, 4, { onlyListed: true, projects: [{ project: 'no-such-project' }] })).toEqual([]);
    // The same host without preferences gets work again: nothing was kept.
    expect((await ask(x, 2)).length).toBe(2);
  });

  it('a noNewTasks project keeps the tasks the host holds: a lost one is still sent again', async () => {
    await projects(['alpha'], 2);
    const v = await volunteer();
    const [held] = await ask(v, 1);
    const reply = await v.send<{ tasks: Task[] }>('tasks.request', { count: 2, holding: [], preferences: { projects: [{ project: 'alpha', noNewTasks: true }] } });
    expect(reply.ok && reply.tasks.map((t) => t.taskId)).toEqual([held!.taskId]);
  });

  it('divides work between projects by resource share, across requests and reconnects', async () => {
    await projects(['alpha', 'beta'], 40);
    const prefs = { projects: [{ project: 'alpha', share: 300 }, { project: 'beta', share: 100 }] };
    const seed = 'ab'.repeat(32);
    let v = await volunteer(seed);
    // One task at a time, as a one-core host asks: each request picks the project furthest
    // below its share of what this host was sent, counted by the coordinator between requests.
    const tasks: Task[] = [];
    for (let i = 0; i < 8; i++) {
      if (i === 4) {
        v.close();
        v = await volunteer(seed); // the same host, a new connection
      }
      tasks.push(...(await ask(v, 1, prefs)));
    }
    expect(tally(tasks)).toEqual({ alpha: 6, beta: 2 });
    // And within one request.
    const w = await volunteer();
    expect(tally(await ask(w, 12, { projects: [{ project: 'alpha', share: 100 }, { project: 'beta', share: 200 }] }))).toEqual({ alpha: 4, beta: 8 });
  });

  it('gives a project of share 0 work only when no other project has any for the host; priority orders work within a project', async () => {
    const { ada, apps } = await projects(['alpha', 'beta'], 0);
    await submit(ada, apps.alpha!, 3);
    await submit(ada, apps.beta!, 3);
    const r = await ada.post<Submitted>(`/apps/${apps.alpha}/batches`, { name: 'urgent', workunits: [{ input: 'urgent' }], replication: { minQuorum: 1, targetNresults: 1, priority: 5 } });
    expect(r.status).toBe(201);
    const v = await volunteer();
    const prefs = { projects: [{ project: 'alpha', share: 0 }] }; // beta: the default 100
    const first = await ask(v, 3, prefs);
    expect(first.map((t) => t.project)).toEqual(['beta', 'beta', 'beta']);
    const then = await ask(v, 1, prefs);
    expect(then.map((t) => [t.project, t.input])).toEqual([['alpha', 'urgent']]);
  });

  it('sends a project’s sentinels and checks under the same preferences as its regular work', async () => {
    // Every slot a check: a host gets a project's sentinel only where that project's regular work could have gone.
    const { ada, apps } = await projects(['alpha', 'beta'], 0, { checkRate: 1 });
    await submit(ada, apps.alpha!, 4, 4);
    await submit(ada, apps.beta!, 4, 0);
    const v = await volunteer();
    const noAlpha = await ask(v, 6, { projects: [{ project: 'alpha', noNewTasks: true }] });
    expect(tally(noAlpha)).toEqual({ beta: 4 });
    const sentinelsSent = () =>
      (c!.store.db.prepare("SELECT COUNT(*) AS n FROM replicas WHERE kind = 'sentinel' AND status <> 'unsent'").get() as { n: number }).n;
    expect(sentinelsSent()).toBe(0);

    const w = await volunteer();
    const onlyAlpha = await ask(w, 2, { onlyListed: true, projects: [{ project: 'alpha' }] });
    expect(tally(onlyAlpha)).toEqual({ alpha: 2 });
    expect(sentinelsSent()).toBe(2);
  });

  it('refuses malformed preferences with a clear error and assigns nothing', async () => {
    await projects(['alpha'], 4);
    const v = await volunteer();
    const bad: [unknown, RegExp][] = [
      [{ projects: [{ project: 'alpha', share: 1001 }] }, /share/],
      [{ projects: [{ project: 'alpha', share: 1.5 }] }, /share/],
      [{ projects: [{ project: 'alpha', share: -1 }] }, /share/],
      [{ projects: [{ project: '' }] }, /project/],
      [{ projects: Array.from({ length: 65 }, (_, i) => ({ project: `p${i}` })) }, /projects/],
      [{ projects: [{ project: 'alpha', suspend: true }] }, /suspend/],
      [{ onlyListed: 'yes' }, /onlyListed/],
      ['alpha', /preferences/],
    ];
    for (const [preferences, message] of bad) {
      const reply = await v.send('tasks.request', { count: 2, preferences });
      expect(reply.ok).toBe(false);
      if (!reply.ok) {
        expect(reply.error.code).toBe('bad_request');
        expect(reply.error.message).toMatch(message);
      }
    }
    expect(sentCount()).toBe(0);
    expect(await ask(v, 2, { projects: [{ project: 'alpha', share: 1000 }], onlyListed: true })).toHaveLength(2);
  });
});
