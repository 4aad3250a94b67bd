// What docs/protocol.md promises about results.report, against the real coordinator over
// real Socket.IO connections: which results the schema refuses, and which rejection wins.
import { afterEach, describe, expect, it } from 'vitest';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import { signBody } from '../../protocol/signing.js';
import { addPrimesApp } from '../helpers/batches.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
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
function submit(c: TestCoordinator, ranges: [number, number][], replication: Record<string, number> = {}): number {
  return c.submission.submitBatch({
    appId: addPrimesApp(c),
    name: 'results',
    replication: { minQuorum: 1, targetNresults: 1, ...replication },
    workunits: ranges.map(([from, to]) => ({ input: { from, to } })),
  }).batchId;
}

/** A result signed over exactly these fields, whatever they are. */
const signed = (v: TestVolunteer, body: object, extra: object = {}) => ({ ...body, ...extra, signature: signBody(ed, v.seed, 'result', body) });
const received = () => coordinator!.store.db.prepare('SELECT COUNT(*) AS n FROM replicas WHERE received_at IS NOT NULL').get() as { n: number };

describe('results the schema refuses', () => {
  it('refuses a success that carries an error, and an error that carries an output, for the whole report; nothing is stored', async () => {
    coordinator = await startTestCoordinator();
    const batchId = submit(coordinator, [[1, 100], [100, 200]]);
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
    expect(coordinator.store.identities.hostById(v.hostId)).toMatchObject({ nError: 0 });
    expect(coordinator.store.reports.workunitCounts(batchId)).toMatchObject({ active: 2, done: 0 });
    // The tasks are untouched: their proper results are accepted.
    expect((await v.report([good, other])).map((a) => a.status)).toEqual(['accepted', 'accepted']);
  });
});
