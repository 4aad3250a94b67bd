// What docs/protocol.md promises about results.report, against the real coordinator over
// real Socket.IO connections: which results the schema refuses, and which rejection wins.
import { afterEach, describe, expect, it } from 'vitest';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import type { Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { signBody } from '../../protocol/signing.js';
import { addPrimesApp } from '../helpers/batches.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { replicaOfTask, workunitOfTask } from '../helpers/task-ids.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ed = tweetnaclEd25519();
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

/** A batch of primes work units at quorum 1; returns its id. */
async function submit(c: TestCoordinator, ranges: [number, number][], replication: Record<string, number> = {}): Promise<number> {
  return (await c.submission.submitBatch({
    appId: (await addPrimesApp(c)),
    name: 'results',
    replication: { minQuorum: 1, targetNresults: 1, ...replication },
    workunits: ranges.map(([from, to]) => ({ input: { from, to } })),
  })).batchId;
}

/** A result signed over exactly these fields, whatever they are. */
const signed = (v: TestVolunteer, body: object, extra: object = {}) => ({ ...body, ...extra, signature: signBody(ed, v.seed, 'result', body) });
/** A correctly signed success whose inline output does not match its outputHash: bad_output at step 7. */
const wrongOutput = (v: TestVolunteer, task: Task) => ({ ...buildResult(ed, v.seed, task, { output: { x: 1 } }), output: { x: 2 } });
const received = () => coordinator!.store.db.prepare('SELECT COUNT(*) AS n FROM replicas WHERE received_at IS NOT NULL').get() as { n: number };

describe('results the schema refuses', () => {
  it('refuses a success that carries an error, and an error that carries an output, for the whole report; nothing is stored', async () => {
    coordinator = await startTestCoordinator();
    const batchId = await submit(coordinator, [[1, 100], [100, 200]]);
    const v = await join();
    const [t1, t2] = await v.requestTasks(2);
    const good = await v.compute(t1!);
    const other = await v.compute(t2!);
    const base = { taskId: t2!.taskId, workunitId: t2!.workunitId, hostKey: v.publicKey, cpuTimeMs: 1, elapsedMs: 1 };
    const error = { code: 'app_exception', message: 'boom' };
    const output = other.output;
    const cases: [string, object, string][] = [
      ['a success with an error', signed(v, { ...base, outcome: 'success', outputHash: jsonHash(output), error }, { output }), 'error'],
      ['an error with an outputHash', signed(v, { ...base, outcome: 'error', error, outputHash: jsonHash(output) }), 'outputHash'],
      ['an error with an output', signed(v, { ...base, outcome: 'error', error }, { output }), 'output'],
    ];
    for (const [what, bad, field] of cases) {
      expect(await v.send('results.report', { results: [bad] }), what).toMatchObject({
        ok: false,
        error: { code: 'bad_request', message: expect.stringContaining(`results[0].${field}`) },
      });
      // Beside a good result: the whole report is refused, the good one with it.
      expect(await v.send('results.report', { results: [good, bad] }), what).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    expect(received()).toEqual({ n: 0 });
    expect((await coordinator.store.identities.hostById(v.hostId))).toMatchObject({ nError: 0 });
    expect((await coordinator.store.reports.workunitCounts(batchId))).toMatchObject({ active: 2, done: 0 });
    // The tasks are untouched: their proper results are accepted.
    expect((await v.report([good, other])).map((a) => a.status)).toEqual(['accepted', 'accepted']);
  });
});

/** Asks until the coordinator has a task for this host (a reissue waits for the transitioner). */
async function nextTask(v: TestVolunteer): Promise<Task> {
  const until = Date.now() + 10_000;
  for (;;) {
    const [task] = await v.requestTasks(1);
    if (task) return task;
    if (Date.now() > until) throw new Error('no task came');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('which rejection wins (docs/protocol.md, results.report)', () => {
  it('answers the first check a result fails, in the documented order', async () => {
    coordinator = await startTestCoordinator();
    await submit(coordinator, [[1, 100], [100, 200]]);
    const [a, b] = [await join(), await join()];
    const [ta1, ta2] = await a.requestTasks(2);
    expect(await a.send('tasks.giveBack', { taskIds: [ta1!.taskId], reason: 'test' })).toMatchObject({ ok: true, tasks: [{ status: 'given_back' }] });
    const tb1 = await nextTask(b); // the given-back work unit, reissued
    expect(await workunitOfTask(coordinator, tb1)).toBe(await workunitOfTask(coordinator, ta1!));
    const gb1 = await b.compute(tb1);
    expect((await b.report([gb1]))[0]!.status).toBe('accepted'); // quorum 1: its work unit is done
    expect((await coordinator.store.work.workunit(await workunitOfTask(coordinator, tb1)))!.status).toBe('done');

    const garbage = 'ab'.repeat(64);
    const body = (task: Task, hostKey: string) => ({ taskId: task.taskId, workunitId: task.workunitId, hostKey, outcome: 'success', outputHash: jsonHash({ x: 1 }), cpuTimeMs: 1, elapsedMs: 1 });
    const fromA: [string, object, string][] = [
      ['1 before 2: another host’s key and a bad signature', { ...body(ta2!, b.publicKey), signature: garbage }, 'not_assigned'],
      ['2 before 3: a bad signature on another host’s task', { ...body(tb1, a.publicKey), signature: garbage }, 'bad_signature'],
      ['3 before 4: another host’s task, which has a result', buildResult(ed, a.seed, { ...tb1, hostKey: a.publicKey }, { output: { x: 1 } }), 'not_assigned'],
      ['5 before 6 and 7: given back, work unit done, wrong output', wrongOutput(a, ta1!), 'aborted'],
    ];
    const acks = await a.report(fromA.map(([, r]) => r as never));
    expect(acks.map((ack, i) => [fromA[i]![0], ack.error?.code])).toEqual(fromA.map(([what, , code]) => [what, code]));

    // 4 before 6 and 7: a different result with a wrong output for a finished work unit is a
    // conflict; the same result again is a duplicate.
    expect((await b.report([wrongOutput(b, tb1), gb1])).map((ack) => ack.error?.code ?? ack.status)).toEqual(['conflict', 'duplicate']);
    expect(received()).toEqual({ n: 1 });
  });

  it('6 before 7: a late result with a wrong output, for a work unit finished meanwhile, is workunit_finished', async () => {
    coordinator = await startTestCoordinator({ transitionIntervalMs: 50 });
    await submit(coordinator, [[1, 100]], { delayBoundMs: 1000 });
    const [slow, fast] = [await join(), await join()];
    const [late] = await slow.requestTasks(1);
    const [lateWorkunit, lateReplica] = [await workunitOfTask(coordinator, late!), await replicaOfTask(coordinator, late!)];
    const replica = async () => (await coordinator!.store.work.replicasOf(lateWorkunit)).find((r) => r.id === lateReplica);
    await waitFor('the deadline to pass', async () => (await replica())?.outcome === 'no_reply', 10_000);
    const t = await nextTask(fast);
    expect((await fast.report([await fast.compute(t)]))[0]!.status).toBe('accepted');
    expect((await coordinator.store.work.workunit(lateWorkunit))!.status).toBe('done');
    expect((await slow.report([wrongOutput(slow, late!)]))[0]).toMatchObject({ status: 'rejected', error: { code: 'workunit_finished' } });
  });
});

describe('cpuTimeMs and elapsedMs', () => {
  it('accepts any number of milliseconds from 0 to 10^12, fractions included, and stores it as sent; refuses others', async () => {
    coordinator = await startTestCoordinator();
    await submit(coordinator, [[1, 100]]);
    const v = await join();
    const [t] = await v.requestTasks(1);
    const { output } = await v.compute(t!);
    const base = { taskId: t!.taskId, workunitId: t!.workunitId, hostKey: v.publicKey, outcome: 'success', outputHash: jsonHash(output) };
    for (const bad of [-1, 1e12 + 1, '5', null]) {
      for (const field of ['cpuTimeMs', 'elapsedMs']) {
        const result = signed(v, { ...base, cpuTimeMs: 1, elapsedMs: 1, [field]: bad }, { output });
        expect(await v.send('results.report', { results: [result] }), `${field}: ${bad}`).toMatchObject({
          ok: false,
          error: { code: 'bad_request', message: expect.stringContaining(`results[0].${field}`) },
        });
      }
    }
    expect(received()).toEqual({ n: 0 });
    const result = buildResult(ed, v.seed, t!, { output }, { cpuTimeMs: 12.5, elapsedMs: 1e12 });
    expect((await v.report([result]))[0]!.status).toBe('accepted');
    expect(coordinator.store.db.prepare('SELECT cpu_time_ms AS cpu, elapsed_ms AS elapsed FROM replicas WHERE id = ?').get(await replicaOfTask(coordinator, t!))).toEqual({ cpu: 12.5, elapsed: 1e12 });
  });
});
