// What came of a reported result (docs/protocol.md, results.verdicts and results.judged), over
// real Socket.IO connections to a real coordinator: a result that lost its quorum vote is told
// invalid, pushed when it is judged and answered when asked; only a task's own host may ask;
// and checks stay secret — a caught host is never told invalid after its catch, and a sentinel
// is answered as a regular task in its place would be.
import { afterEach, describe, expect, it } from 'vitest';
import type { Reply, Task, TaskVerdict } from '../../protocol/messages.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { mostAllowed } from '../helpers/token-bucket.js';

let coordinator: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await coordinator?.dispose();
  coordinator = undefined;
});

async function join(): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(coordinator!.url);
  volunteers.push(v);
  return v;
}

/** Every task's right answer echoes its input (so a sentinel's known answer is that echo). */
const ECHO_APP = 'export default async function run(input) { return { echo: input }; }';
const QUORUM_2_OF_3 = { minQuorum: 2, targetNresults: 3, maxErrorResults: 2, maxTotalResults: 6, maxSuccessResults: 6 };
const QUORUM_2_OF_2 = { minQuorum: 2, targetNresults: 2, maxErrorResults: 2, maxTotalResults: 6, maxSuccessResults: 6 };

async function echoApp(c: TestCoordinator): Promise<number> {
  const projectId = await c.apps.createProject({ name: 'verdicts' });
  const app = await c.apps.createApp(projectId, { name: 'echo' });
  await c.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: Buffer.from(ECHO_APP) }] });
  return app.id;
}

/** One task, of the only work there is for this host. */
async function oneTask(v: TestVolunteer): Promise<Task> {
  const tasks = await v.requestTasks(1);
  expect(tasks).toHaveLength(1);
  return tasks[0]!;
}

async function reportAccepted(v: TestVolunteer, result: Parameters<TestVolunteer['report']>[0][number]): Promise<void> {
  expect(await v.report([result])).toEqual([{ taskId: result.taskId, status: 'accepted' }]);
}

/** The kind of replica a task is (the test's view of the rows; hosts never see it). */
async function kindOf(c: TestCoordinator, task: Task): Promise<string> {
  return (await c.store.sql.get<{ kind: string }>('SELECT kind FROM replicas WHERE task_id = ?', [task.taskId]))!.kind;
}

/** Lets pushes already sent arrive: a round trip on the same connection comes after them. */
const settle = async (...vs: TestVolunteer[]) => {
  for (const v of vs) await v.send('heartbeat', {});
};

describe('results.verdicts and results.judged', () => {
  it('tells a host whose result lost its quorum vote: pushed once when judged, and answered when asked; only to that host', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const appId = await echoApp(c);
    await c.submission.submitBatch({ appId, name: 'one', replication: QUORUM_2_OF_3, workunits: [{ input: { n: 1 } }] });
    const [odd, a, b] = [await join(), await join(), await join()];
    const [to, ta, tb] = [await oneTask(odd), await oneTask(a), await oneTask(b)];

    // The odd one out reports first: pending while no quorum is in.
    await reportAccepted(odd, odd.resultWith(to, { echo: 'something else' }));
    expect(await odd.verdicts([to.taskId])).toEqual({ [to.taskId]: 'pending' });
    await reportAccepted(a, await a.compute(ta));
    expect(await a.verdicts([ta.taskId])).toEqual({ [ta.taskId]: 'pending' });
    await reportAccepted(b, await b.compute(tb));

    // a and b agree: valid, with their receipts; the odd result is invalid, and its host is told at once.
    await waitFor('the push', () => odd.judged.length > 0, 10_000);
    expect(odd.judged).toEqual([{ taskId: to.taskId, verdict: 'invalid' }]);
    expect(await odd.verdicts([to.taskId])).toEqual({ [to.taskId]: 'invalid' });
    expect(await a.verdicts([ta.taskId])).toEqual({ [ta.taskId]: 'valid' });
    expect(await b.verdicts([tb.taskId])).toEqual({ [tb.taskId]: 'valid' });
    expect(odd.receipts).toEqual([]);

    // One verdict per id, in the order asked; another host's task, and an id no task has, are
    // both unknown: ids cannot be probed.
    const asked = [ta.taskId, to.taskId, 1, tb.taskId, to.taskId];
    const reply = (await odd.send<{ verdicts: TaskVerdict[] }>('results.verdicts', { taskIds: asked })) as Reply<{ verdicts: TaskVerdict[] }>;
    expect(reply).toEqual({
      ok: true,
      verdicts: [
        { taskId: ta.taskId, verdict: 'unknown' },
        { taskId: to.taskId, verdict: 'invalid' },
        { taskId: 1, verdict: 'unknown' },
        { taskId: tb.taskId, verdict: 'unknown' },
        { taskId: to.taskId, verdict: 'invalid' },
      ],
    });

    // Asking again changes nothing, and the push is not sent again.
    expect(await odd.verdicts([to.taskId])).toEqual({ [to.taskId]: 'invalid' });
    await settle(odd, a, b);
    expect(odd.judged).toHaveLength(1);
    expect([a.judged, b.judged]).toEqual([[], []]);

    // Checked at the edge like every message: 1 to 64 safe integers, nothing else.
    for (const bad of [{ taskIds: [] }, { taskIds: Array.from({ length: 65 }, (_, i) => i + 1) }, { taskIds: [1.5] }, { taskIds: [0] }, { taskIds: [1], more: 1 }, {}]) {
      const r = (await odd.send('results.verdicts', bad)) as Reply<object>;
      expect(r.ok, JSON.stringify(bad)).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('bad_request');
    }
  });

  it('tells a caught host nothing it was not told before its catch, and answers a sentinel as a regular task in its place', async () => {
    // Every slot a check where one can go (sentinels first): so the test knows who gets what.
    coordinator = await startTestCoordinator({ checkRate: 1 });
    const c = coordinator;
    const appId = await echoApp(c);
    const [cheat, a, b] = [await join(), await join(), await join()];

    // Before any catch: the cheater's result loses a quorum vote, and it is told so.
    await c.submission.submitBatch({ appId, name: 'before', replication: QUORUM_2_OF_3, workunits: [{ input: { n: 0 } }] });
    const [t0c, t0a, t0b] = [await oneTask(cheat), await oneTask(a), await oneTask(b)];
    await reportAccepted(cheat, cheat.resultWith(t0c, { echo: 'forged' }));
    await reportAccepted(a, await a.compute(t0a));
    await reportAccepted(b, await b.compute(t0b));
    await waitFor('the push', () => cheat.judged.length === 1, 10_000);
    expect(await cheat.verdicts([t0c.taskId])).toEqual({ [t0c.taskId]: 'invalid' });

    // A batch with a sentinel: the cheater draws it first and answers it wrong. It is caught, and
    // its answer is pending, as a regular task's first answer would be.
    await c.submission.submitBatch({
      appId,
      name: 'with a sentinel',
      replication: QUORUM_2_OF_3,
      workunits: [{ input: { n: 1 } }, { input: { n: 2 }, expectedOutput: { echo: { n: 2 } }, replication: QUORUM_2_OF_2 }],
    });
    const s = await oneTask(cheat);
    expect(await kindOf(c, s)).toBe('sentinel');
    await reportAccepted(cheat, cheat.resultWith(s, { echo: 'forged' }));
    expect((await c.store.sql.get<{ caught: number }>('SELECT distrusted_at IS NOT NULL AS caught FROM hosts WHERE id = ?', [cheat.hostId]))!.caught).toBeTruthy();
    expect(await cheat.verdicts([s.taskId])).toEqual({ [s.taskId]: 'pending' });

    // Honest hosts answer it right. The first right answer is judged on arrival, yet it is
    // pending until a quorum of right answers is in, as a regular task's would be; then valid,
    // with its receipt.
    const [sa, sb] = [await oneTask(a), await oneTask(b)];
    expect([await kindOf(c, sa), await kindOf(c, sb)]).toEqual(['sentinel', 'sentinel']);
    await reportAccepted(a, await a.compute(sa));
    expect(await a.verdicts([sa.taskId])).toEqual({ [sa.taskId]: 'pending' });
    await reportAccepted(b, await b.compute(sb));
    await waitFor('the sentinel credited', () => a.receipts.some((r) => r.taskId === sa.taskId) && b.receipts.some((r) => r.taskId === sb.taskId), 10_000);
    expect(await a.verdicts([sa.taskId])).toEqual({ [sa.taskId]: 'valid' });

    // After its catch, the cheater loses a quorum vote again: never told, neither pushed nor answered.
    const [t1c, t1a, t1b] = [await oneTask(cheat), await oneTask(a), await oneTask(b)];
    expect(await Promise.all([t1c, t1a, t1b].map((t) => kindOf(c, t)))).toEqual(['regular', 'regular', 'regular']);
    await reportAccepted(cheat, cheat.resultWith(t1c, { echo: 'forged again' }));
    await reportAccepted(a, await a.compute(t1a));
    await reportAccepted(b, await b.compute(t1b));
    await waitFor('the work unit done', async () => (await c.store.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM workunits WHERE status = 'done'"))!.n >= 3, 10_000);
    expect(await a.verdicts([t1a.taskId])).toEqual({ [t1a.taskId]: 'valid' });
    await settle(cheat, a, b);
    expect(cheat.judged).toEqual([{ taskId: t0c.taskId, verdict: 'invalid' }]);
    // What it was told before its catch stands; nothing after it is judged.
    expect(await cheat.verdicts([t0c.taskId, s.taskId, t1c.taskId])).toEqual({ [t0c.taskId]: 'invalid', [s.taskId]: 'pending', [t1c.taskId]: 'pending' });
    expect(cheat.receipts).toEqual([]);
  });

  it('counts against the host’s message budget like every message', async () => {
    // Two messages a second, bursts of 10.
    coordinator = await startTestCoordinator({ messageRatePerHost: 2 });
    const since = Date.now();
    const v = await join();
    const replies = (await Promise.all(Array.from({ length: 20 }, () => v.send('results.verdicts', { taskIds: [1] })))) as Reply<object>[];
    expect(replies.filter((r) => r.ok).length).toBeGreaterThanOrEqual(10);
    expect(replies.filter((r) => !r.ok).length).toBeGreaterThan(0);
    expect(replies.filter((r) => r.ok).length).toBeLessThanOrEqual(mostAllowed(10, 2, since));
    for (const r of replies.filter((x) => !x.ok)) expect(r).toEqual({ ok: false, error: { code: 'rate_limited', message: 'too many messages from this host over all its connections; slow down' } });
  });
});
