// On PostgreSQL a report's judging reads nothing once its work units are read, so that the writes
// it holds back (store/sql/write-behind.ts) go once a report: each kind as one statement, however
// many work units the report decides. A read in between sends what is held so far: a second
// statement of each kind, a round trip each. (The postgres project runs this; SQLite holds nothing.)
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { TEST_BACKEND } from '../helpers/postgres.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let coordinator: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await coordinator?.dispose();
  coordinator = undefined;
});

const ECHO_APP = 'export default async function run(input) { return { echo: input }; }';
const QUORUM_2 = { minQuorum: 2, targetNresults: 2, maxErrorResults: 2, maxTotalResults: 6, maxSuccessResults: 6 };
const UNITS = 8;

describe.skipIf(TEST_BACKEND !== 'postgres')('writes held back on PostgreSQL, over a real report', () => {
  it('are sent once a report: one statement of each kind for all the work units it decides', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'held' });
    const app = await c.apps.createApp(projectId, { name: 'echo' });
    await c.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: Buffer.from(ECHO_APP) }] });
    await c.submission.submitBatch({ appId: app.id, name: 'b', replication: QUORUM_2, workunits: Array.from({ length: UNITS }, (_, n) => ({ input: { n } })) });
    const [a, b] = [await TestVolunteer.connect(c.url), await TestVolunteer.connect(c.url)];
    volunteers.push(a, b);
    const [ofA, ofB] = [await a.requestTasks(UNITS), await b.requestTasks(UNITS)];
    expect([ofA.length, ofB.length]).toEqual([UNITS, UNITS]);
    const first = await a.report(await Promise.all(ofA.map((t) => a.compute(t))));
    expect(first.every((x) => x.status === 'accepted')).toBe(true);

    // b's report completes every work unit's quorum.
    const query = vi.spyOn(PostgresDatabase.prototype, 'query');
    let statements: string[];
    try {
      const acks = await b.report(await Promise.all(ofB.map((t) => b.compute(t))));
      expect(acks.every((x) => x.status === 'accepted')).toBe(true);
    } finally {
      statements = query.mock.calls.map(([, sql]) => sql);
      query.mockRestore();
    }
    const count = (pattern: RegExp) => statements.filter((s) => pattern.test(s)).length;
    expect((await c.store.reports.workunitCounts((await c.store.sql.get<{ id: number }>('SELECT id FROM batches'))!.id)).done).toBe(UNITS);
    expect({
      validStates: count(/^\s*UPDATE replicas SET validate_state/),
      credits: count(/^\s*UPDATE replicas SET credit_micro/),
      ledger: count(/^\s*INSERT INTO credit_ledger/),
      ends: count(/^\s*UPDATE workunits SET status = j\.status/),
    }).toEqual({ validStates: 1, credits: 1, ledger: 1, ends: 1 });
  });
});
