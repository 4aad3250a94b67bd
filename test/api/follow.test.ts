// Following a batch over the API while volunteers work on it: status counts, throughput and
// series, work-unit pages and detail, errors, the validation view of a contested work unit,
// results as NDJSON, cancelling (volunteers are told to abort), hosts and leaderboards.
// The volunteers are test volunteers speaking the real protocol over Socket.IO; they report
// outputs and errors the test chooses, so every number below is known in advance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { jsonHash } from '../../protocol/hash.js';
import { signBody } from '../../protocol/signing.js';
import type { Task } from '../../protocol/messages.js';
import { buildResult, type Outcome } from '../../protocol/results.js';
import { sentEarlier } from '../helpers/held-tasks.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import {
  ApiClient,
  dbState,
  expectError,
  newApp,
  newResearcher,
  PASSWORD,
  type App,
  type BatchErrors,
  type BatchStatus,
  type Host,
  type Leaderboard,
  type Submitted,
  type ValidationView,
  type WorkunitDetail,
  type WorkunitSummary,
} from '../helpers/api-client.js';

const ed = nodeEd25519();
/** More CPU time than FPOPS takes on the reference core (864 s), so that the estimate is what a result earns. */
const TIMING = { cpuTimeMs: 900_000, elapsedMs: 960_000 };
/** fpopsEst such that each valid result earns exactly 20 cobblestones (200 per 86,400 GFLOP). */
const FPOPS = 8.64e12;
const CREDIT = 20;
const BAD_IDS = ['abc', '-1', '0', '1.5', '99999999999999999999'];

/** The work unit of each task `answer` was sent (a task names none), for `seqOf`, which is synchronous. */
const workunitOfTaskId = new Map<number, number>();

/**
 * Requests tasks and reports the chosen outcome for those whose seq is listed, as if after the
 * time TIMING says they took; the rest stay held.
 */
async function answer(c: TestCoordinator, v: TestVolunteer, seqOf: (t: Task) => number, outcomes: Record<number, Outcome>, want = 8): Promise<Task[]> {
  const tasks = await v.requestTasks(want);
  for (const t of tasks) workunitOfTaskId.set(t.taskId, await workunitOfTask(c, t));
  const answered = tasks.filter((t) => outcomes[seqOf(t)] !== undefined);
  await sentEarlier(c.store.sql, answered, TIMING.elapsedMs);
  const results = answered.map((t) => buildResult(ed, v.seed, t, outcomes[seqOf(t)]!, TIMING));
  if (results.length > 0) {
    const acks = await v.report(results);
    expect(acks.map((a) => a.status)).toEqual(results.map(() => 'accepted'));
  }
  return tasks;
}

describe('a batch with agreeing, disagreeing, failing and open work units', () => {
  let c: TestCoordinator;
  let admin: ApiClient;
  let ada: ApiClient;
  let bob: ApiClient;
  let app: App;
  let batchId: number;
  let wuIds: number[];
  let alice: TestVolunteer;
  let bert: TestVolunteer;
  let cara: TestVolunteer;
  const users: Record<string, number> = {};
  const held: Record<string, Task[]> = {};
  const state = () => dbState(c.store.db);
  const seqOf = (t: Task) => wuIds.indexOf(workunitOfTaskId.get(t.taskId)!);

  beforeAll(async () => {
    c = await startTestCoordinator();
    admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    ada = await newResearcher(admin, 'ada');
    bob = await newResearcher(admin, 'bob');
    ({ app } = await newApp(ada, 'follow'));
    const submitted = await ada.post<Submitted>(`/apps/${app.id}/batches`, {
      name: 'contested',
      replication: { fpopsEst: FPOPS },
      workunits: [{ input: { n: 0 } }, { input: { n: 1 } }, { input: { n: 2 }, replication: { maxErrorResults: 1 } }, { input: { n: 3 } }],
    });
    expect(submitted.status).toBe(201);
    batchId = submitted.body.batchId;
    await c.replicasReady();
    wuIds = (await ada.get<{ workunits: WorkunitSummary[] }>(`/batches/${batchId}/workunits`)).body.workunits.map((w) => w.id);

    // Volunteers with accounts (and teams), as the volunteer API makes them.
    const account = async (name: string, team?: string) => {
      const r = await fetch(`${c.url}/api/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, team }) });
      const body = (await r.json()) as { userId: number; accountKey: string };
      users[name] = body.userId;
      return body.accountKey;
    };
    alice = await TestVolunteer.connect(c.url, { name: 'alice-host', accountKey: await account('alice', 'red') });
    bert = await TestVolunteer.connect(c.url, { name: 'bert-host', accountKey: await account('bert', 'blue') });
    cara = await TestVolunteer.connect(c.url, { name: 'cara-host', accountKey: await account('cara') });

    // seq 0: alice and bert disagree, cara sides with alice. seq 1: alice and bert agree.
    // seq 2: two client errors (more than maxErrorResults 1): failed. seq 3: held by alice and bert.
    held.alice = await answer(c, alice, seqOf, { 0: { output: { v: 1 } }, 1: { output: { n: 1, a: [2, 1] } }, 2: { error: { code: 'app_exception', message: 'boom at n=2' } } });
    expect(held.alice.map(seqOf).sort()).toEqual([0, 1, 2, 3]);
    held.bert = await answer(c, bert, seqOf, { 0: { output: { v: 2 } }, 1: { output: { a: [2, 1], n: 1 } }, 2: { error: { code: 'cpu_limit', message: 'used more than 60 s of CPU' } } });
    expect(held.bert.map(seqOf).sort()).toEqual([0, 1, 2, 3]);
    held.cara = await answer(c, cara, seqOf, { 0: { output: { v: 1 } } });
    expect(held.cara.map(seqOf)).toEqual([0]);
  });
  afterAll(async () => {
    for (const v of [alice, bert, cara]) v?.close();
    await c?.dispose();
  });

  describe('GET /batches/:id', () => {
    it('counts work units and replicas, and measures throughput, ETA and the finished series', async () => {
      const r = await ada.get<BatchStatus>(`/batches/${batchId}`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({
        id: batchId,
        projectId: app.projectId,
        projectName: 'follow',
        appId: app.id,
        appName: 'app',
        name: 'contested',
        clientKey: null,
        status: 'active',
        appVersion: null,
        archived: false,
        createdAt: expect.any(Number),
        finishedAt: null,
        workunits: { total: 4, active: 1, done: 2, failed: 1, cancelled: 0 },
        // seq 0: 3 successes; seq 1: 2; seq 2: 2 errors plus the extra replica made after the
        // first error, not needed once it failed; seq 3: 2 out.
        replicas: { unsent: 0, inProgress: 2, success: 5, clientError: 2, noReply: 0, aborted: 0, abandoned: 0, notNeeded: 1 },
        throughput: { workunitsPerSecond: expect.any(Number), windowMs: expect.any(Number) },
        etaMs: expect.any(Number),
        series: { bucketMs: 1000, points: expect.any(Array) },
        blocked: [],
      });
      const b = r.body;
      expect(b.throughput.workunitsPerSecond).toBeGreaterThan(0);
      expect(b.throughput.windowMs).toBeLessThanOrEqual(60_000);
      expect(b.etaMs).toBeGreaterThan(0);
      // One bucket per second since creation, in order, with the 3 finished work units in them.
      expect(b.series.points.length).toBeGreaterThanOrEqual(1);
      expect(b.series.points.length).toBeLessThanOrEqual(120);
      b.series.points.forEach((p, i) => expect(p.t).toBe(b.createdAt + i * b.series.bucketMs));
      expect(b.series.points.reduce((s, p) => s + p.done, 0)).toBe(2);
      expect(b.series.points.reduce((s, p) => s + p.failed, 0)).toBe(1);
      // The project counts the same work units.
      const p = await ada.get<{ workunits: unknown }>(`/projects/${app.projectId}`);
      expect(p.body.workunits).toEqual({ active: 1, done: 2, failed: 1, cancelled: 0 });
    });
  });

  describe('GET /batches/:id/workunits', () => {
    it('pages through the work units by seq, with next to pass as after', async () => {
      const all = await ada.get<{ workunits: WorkunitSummary[]; next: number | null }>(`/batches/${batchId}/workunits`);
      expect(all.status).toBe(200);
      expect(all.body.next).toBeNull();
      expect(all.body.workunits).toEqual([
        { id: wuIds[0], seq: 0, status: 'done', errorReason: null, finishedAt: expect.any(Number) },
        { id: wuIds[1], seq: 1, status: 'done', errorReason: null, finishedAt: expect.any(Number) },
        { id: wuIds[2], seq: 2, status: 'failed', errorReason: 'too many errors: 2 client errors (max_error_results 1)', finishedAt: expect.any(Number) },
        { id: wuIds[3], seq: 3, status: 'active', errorReason: null, finishedAt: null },
      ]);
      const page1 = await ada.get<{ workunits: WorkunitSummary[]; next: number | null }>(`/batches/${batchId}/workunits`, { limit: 2 });
      expect(page1.body.workunits.map((w) => w.seq)).toEqual([0, 1]);
      expect(page1.body.next).toBe(1);
      const page2 = await ada.get<{ workunits: WorkunitSummary[]; next: number | null }>(`/batches/${batchId}/workunits`, { limit: 2, after: page1.body.next! });
      expect(page2.body.workunits.map((w) => w.seq)).toEqual([2, 3]);
      const page3 = await ada.get<{ workunits: WorkunitSummary[]; next: number | null }>(`/batches/${batchId}/workunits`, { limit: 2, after: page2.body.next! });
      expect(page3.body).toEqual({ workunits: [], next: null });
      const done = await ada.get<{ workunits: WorkunitSummary[] }>(`/batches/${batchId}/workunits`, { status: 'done' });
      expect(done.body.workunits.map((w) => w.seq)).toEqual([0, 1]);
      const failed = await ada.get<{ workunits: WorkunitSummary[] }>(`/batches/${batchId}/workunits`, { status: 'failed' });
      expect(failed.body.workunits.map((w) => w.seq)).toEqual([2]);
    });

    it.each([
      ['an unknown status', { status: 'finished' }, /status/],
      ['a limit of 0', { limit: 0 }, /limit/],
      ['a limit over 1000', { limit: 1001 }, /limit/],
      ['a non-numeric after', { after: 'abc' }, /after/],
      ['an after below -1', { after: -2 }, /after/],
      ['an unknown parameter', { offset: 5 }, /offset/],
    ])('refuses %s with 400', async (_what, query, message) => {
      expectError(await ada.get(`/batches/${batchId}/workunits`, query), 400, 'bad_request', message);
    });
  });

  describe('GET /workunits/:id', () => {
    it("shows the work unit, its parameters and every replica with host, user, state, output and credit", async () => {
      const r = await ada.get<WorkunitDetail>(`/workunits/${wuIds[0]}`);
      expect(r.status).toBe(200);
      const { replicas, ...wu } = r.body;
      expect(wu).toEqual({
        id: wuIds[0],
        batchId,
        appId: app.id,
        seq: 0,
        status: 'done',
        input: { n: 0 },
        inputHash: jsonHash({ n: 0 }),
        minQuorum: 2,
        targetNresults: 2,
        maxErrorResults: 3,
        maxTotalResults: 8,
        maxSuccessResults: 6,
        delayBoundMs: 86_400_000,
        fpopsEst: FPOPS,
        priority: 0,
        canonicalReplicaId: expect.any(Number),
        errorReason: null,
        createdAt: expect.any(Number),
        finishedAt: expect.any(Number),
      });
      const replica = (host: TestVolunteer, user: string, output: unknown, validateState: string, credit: number | null) => ({
        id: expect.any(Number),
        kind: 'regular',
        appVersion: 1,
        hostId: host.hostId,
        hostName: `${user}-host`,
        userName: user,
        status: 'over',
        outcome: 'success',
        validateState,
        sentAt: expect.any(Number),
        deadline: expect.any(Number),
        receivedAt: expect.any(Number),
        cpuTimeMs: TIMING.cpuTimeMs,
        elapsedMs: TIMING.elapsedMs,
        credit,
        outputHash: jsonHash(output),
        output,
        error: null,
        log: null, // these results carried no app log
      });
      expect(replicas).toEqual([
        replica(alice, 'alice', { v: 1 }, 'valid', CREDIT),
        replica(bert, 'bert', { v: 2 }, 'invalid', null),
        replica(cara, 'cara', { v: 1 }, 'valid', CREDIT),
      ]);
      for (const x of replicas) expect(x.deadline).toBe(x.sentAt! + 86_400_000);
      expect([replicas[0]!.id, replicas[2]!.id]).toContain(wu.canonicalReplicaId);
      expect(replicas.map((x) => x.id)).toEqual([...replicas.map((x) => x.id)].sort((a, b) => a - b));
    });

    it('shows client errors as {code, message}', async () => {
      const r = await ada.get<WorkunitDetail>(`/workunits/${wuIds[2]}`);
      expect(r.body).toMatchObject({ seq: 2, status: 'failed', maxErrorResults: 1, canonicalReplicaId: null, errorReason: 'too many errors: 2 client errors (max_error_results 1)' });
      const errors = r.body.replicas.filter((x) => x.outcome === 'client_error');
      expect(errors.map((x) => [x.hostName, x.error, x.output, x.outputHash, x.credit])).toEqual([
        ['alice-host', { code: 'app_exception', message: 'boom at n=2' }, null, null, null],
        ['bert-host', { code: 'cpu_limit', message: 'used more than 60 s of CPU' }, null, null, null],
      ]);
      expect(r.body.replicas.filter((x) => x.outcome === 'not_needed')).toEqual([expect.objectContaining({ status: 'over', hostId: null, hostName: null, sentAt: null })]);
    });

    it.each(BAD_IDS)('refuses the work unit id %s with 400', async (id) => {
      expectError(await ada.get(`/workunits/${id}`), 400, 'bad_request', /work unit id/);
    });

    it('answers 404 for a work unit that does not exist', async () => {
      expectError(await ada.get('/workunits/9999'), 404, 'not_found', 'no work unit 9999');
    });
  });

  describe('GET /batches/:id/errors', () => {
    it('counts client errors by code and lists them newest first', async () => {
      const r = await ada.get<BatchErrors>(`/batches/${batchId}/errors`);
      expect(r.status).toBe(200);
      const error = (host: TestVolunteer, code: string, message: string) => ({
        replicaId: expect.any(Number),
        workunitId: wuIds[2],
        seq: 2,
        hostId: host.hostId,
        hostName: host === alice ? 'alice-host' : 'bert-host',
        code,
        message,
        at: expect.any(Number),
      });
      expect(r.body).toEqual({
        byCode: { app_exception: 1, cpu_limit: 1 },
        errors: [error(bert, 'cpu_limit', 'used more than 60 s of CPU'), error(alice, 'app_exception', 'boom at n=2')],
      });
      expect(r.body.errors[0]!.at!).toBeGreaterThanOrEqual(r.body.errors[1]!.at!);
      const one = await ada.get<BatchErrors>(`/batches/${batchId}/errors`, { limit: 1 });
      expect(one.body.errors).toEqual([r.body.errors[0]]);
      expect(one.body.byCode).toEqual(r.body.byCode);
    });

    it.each([
      ['a limit of 0', { limit: 0 }],
      ['a limit over 1000', { limit: 5000 }],
      ['an unknown parameter', { code: 'cpu_limit' }],
    ])('refuses %s with 400', async (_what, query) => {
      expectError(await ada.get(`/batches/${batchId}/errors`, query), 400, 'bad_request');
    });
  });

  describe('GET /batches/:id/validation', () => {
    it('puts the disagreeing outputs of a contested work unit side by side, and rates the hosts', async () => {
      const r = await ada.get<ValidationView>(`/batches/${batchId}/validation`);
      expect(r.status).toBe(200);
      // Contested: seq 0 (outputs disagree) and seq 2 (failed); seq 1 agreed; seq 3 has no results.
      expect(r.body.workunits.map((w) => w.seq)).toEqual([0, 2]);
      const detail = (await ada.get<WorkunitDetail>(`/workunits/${wuIds[0]}`)).body;
      const [a, b, cc] = detail.replicas;
      const canonicalIsAlice = detail.canonicalReplicaId === a!.id;
      expect(r.body.workunits[0]).toEqual({
        id: wuIds[0],
        seq: 0,
        status: 'done',
        minQuorum: 2,
        errorReason: null,
        groups: [
          {
            outputHash: jsonHash({ v: 1 }),
            canonical: true,
            output: { v: 1 },
            replicas: [
              { replicaId: a!.id, hostId: alice.hostId, hostName: 'alice-host', validateState: 'valid' },
              { replicaId: cc!.id, hostId: cara.hostId, hostName: 'cara-host', validateState: 'valid' },
            ],
          },
          { outputHash: jsonHash({ v: 2 }), canonical: false, output: { v: 2 }, replicas: [{ replicaId: b!.id, hostId: bert.hostId, hostName: 'bert-host', validateState: 'invalid' }] },
        ],
        errors: [],
      });
      expect(canonicalIsAlice || detail.canonicalReplicaId === cc!.id).toBe(true);
      expect(r.body.workunits[1]).toEqual({
        id: wuIds[2],
        seq: 2,
        status: 'failed',
        minQuorum: 2,
        errorReason: 'too many errors: 2 client errors (max_error_results 1)',
        groups: [],
        errors: [
          { replicaId: expect.any(Number), hostId: alice.hostId, hostName: 'alice-host', code: 'app_exception', message: 'boom at n=2' },
          { replicaId: expect.any(Number), hostId: bert.hostId, hostName: 'bert-host', code: 'cpu_limit', message: 'used more than 60 s of CPU' },
        ],
      });
      expect(r.body.next).toBeNull();
      expect(r.body.hosts).toEqual([
        { hostId: alice.hostId, hostName: 'alice-host', results: 3, valid: 2, invalid: 0, errors: 1, invalidRate: 0, errorRate: 1 / 3 },
        { hostId: bert.hostId, hostName: 'bert-host', results: 3, valid: 1, invalid: 1, errors: 1, invalidRate: 0.5, errorRate: 1 / 3 },
        { hostId: cara.hostId, hostName: 'cara-host', results: 1, valid: 1, invalid: 0, errors: 0, invalidRate: 0, errorRate: 0 },
      ]);
    });

    it('lists every work unit with filter=all, and pages with limit', async () => {
      const all = await ada.get<ValidationView>(`/batches/${batchId}/validation`, { filter: 'all' });
      expect(all.body.workunits.map((w) => [w.seq, w.groups.length])).toEqual([
        [0, 2],
        [1, 1],
        [2, 0],
        [3, 0],
      ]);
      expect(all.body.workunits[1]!.groups[0]).toMatchObject({ canonical: true, output: { n: 1, a: [2, 1] }, replicas: [{ validateState: 'valid' }, { validateState: 'valid' }] });
      const page = await ada.get<ValidationView>(`/batches/${batchId}/validation`, { filter: 'all', limit: 3 });
      expect(page.body.workunits.map((w) => w.seq)).toEqual([0, 1, 2]);
      expect(page.body.next).toBe(2);
      const rest = await ada.get<ValidationView>(`/batches/${batchId}/validation`, { filter: 'all', limit: 3, after: page.body.next! });
      expect(rest.body.workunits.map((w) => w.seq)).toEqual([3]);
      expect(rest.body.next).toBeNull();
      expect(rest.body.hosts).toEqual(page.body.hosts);
    });

    it.each([
      ['an unknown filter', { filter: 'invalid' }, /filter/],
      ['a limit over 200', { limit: 201 }, /limit/],
      ['an unknown parameter', { host: 1 }, /host/],
    ])('refuses %s with 400', async (_what, query, message) => {
      expectError(await ada.get(`/batches/${batchId}/validation`, query), 400, 'bad_request', message);
    });
  });

  describe('GET /batches/:id/results', () => {
    it('streams the finished work units as NDJSON in seq order', async () => {
      const res = await fetch(`${c.url}/api/v1/batches/${batchId}/results`, { headers: { authorization: `Bearer ${ada.token}` } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      expect(res.headers.get('content-disposition')).toBe(`attachment; filename="batch-${batchId}-results.ndjson"`);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toBe(
        [
          `{"seq":0,"workunitId":${wuIds[0]},"status":"done","output":{"v":1}}`,
          // Canonical JSON: keys sorted, whatever order the volunteers used.
          `{"seq":1,"workunitId":${wuIds[1]},"status":"done","output":{"a":[2,1],"n":1}}`,
          `{"seq":2,"workunitId":${wuIds[2]},"status":"failed","error":"too many errors: 2 client errors (max_error_results 1)"}`,
          '',
        ].join('\n'),
      );
    });

    it('leaves out failed (and cancelled) work units with ?status=done', async () => {
      const r = await ada.get<string>(`/batches/${batchId}/results`, { status: 'done' });
      expect(r.status).toBe(200);
      expect(r.text.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([0, 1]);
    });

    it.each([
      ['an unknown status', { status: 'failed' }, /status/],
      ['an unknown parameter', { format: 'csv' }, /format/],
    ])('refuses %s with 400 (as JSON, before any NDJSON)', async (_what, query, message) => {
      expectError(await ada.get(`/batches/${batchId}/results`, query), 400, 'bad_request', message);
    });
  });

  describe('GET /hosts', () => {
    it('lists volunteer hosts with their stats and whether they are online, to any account', async () => {
      const r = await bob.get<{ online: number; hosts: Host[] }>('/hosts');
      expect(r.status).toBe(200);
      expect(r.body.online).toBe(3);
      const host = (v: TestVolunteer, user: string, team: string | null, nValid: number, nInvalid: number, nError: number, consecutiveValid: number) => ({
        id: v.hostId,
        name: `${user}-host`,
        userName: user,
        teamName: team,
        platform: { kind: 'node', engine: 'v8' },
        online: true,
        lastSeenAt: expect.any(Number),
        tasksDone: nValid + nInvalid + nError,
        nValid,
        nInvalid,
        nError,
        totalCredit: nValid * CREDIT,
        rac: expect.any(Number),
        consecutiveValid,
        sentinelsPassed: 0,
        sentinelsFailed: 0,
        distrustedAt: null,
        trusted: false,
      });
      expect([...r.body.hosts].sort((x, y) => x.id - y.id)).toEqual([
        host(alice, 'alice', 'red', 2, 0, 1, 2),
        host(bert, 'bert', 'blue', 1, 1, 1, 0),
        host(cara, 'cara', null, 1, 0, 0, 1),
      ]);
      const ordered = r.body.hosts.map((h) => h.lastSeenAt);
      expect(ordered).toEqual([...ordered].sort((x, y) => y - x));
    });

    it('marks a host that disconnected as offline, and ?online=true leaves it out', async () => {
      const dan = await TestVolunteer.connect(c.url, { name: 'dan-host' });
      const online = async () => (await ada.get<{ online: number; hosts: Host[] }>('/hosts')).body;
      expect((await online()).hosts.find((h) => h.id === dan.hostId)?.online).toBe(true);
      dan.close();
      let last = await online();
      for (const until = Date.now() + 5000; last.hosts.find((h) => h.id === dan.hostId)?.online !== false && Date.now() < until; last = await online()) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(last.hosts.find((h) => h.id === dan.hostId)).toMatchObject({ name: 'dan-host', online: false });
      expect(last.online).toBe(3);
      const only = await ada.get<{ online: number; hosts: Host[] }>('/hosts', { online: true });
      expect(only.body.hosts.map((h) => h.id).sort((x, y) => x - y)).toEqual([alice.hostId, bert.hostId, cara.hostId].sort((x, y) => x - y));
      expect((await ada.get<{ hosts: Host[] }>('/hosts', { limit: 1 })).body.hosts).toHaveLength(1);
    });

    it.each([
      ['online=maybe', { online: 'maybe' }],
      ['a limit of 0', { limit: 0 }],
      ['an unknown parameter', { team: 'red' }],
    ])('refuses %s with 400', async (_what, query) => {
      expectError(await ada.get('/hosts', query), 400, 'bad_request');
    });
  });

  describe('GET /leaderboards/:kind (public)', () => {
    it('ranks users, teams and hosts by total credit, without logging in', async () => {
      const anon = ApiClient.anonymous(c.url);
      const users_ = await anon.get<Leaderboard>('/leaderboards/users');
      expect(users_.status).toBe(200);
      expect(users_.headers.get('cache-control')).toBe('public, max-age=10');
      expect(users_.body).toEqual({
        kind: 'users',
        entries: [
          { rank: 1, id: users.alice, name: 'alice', team: 'red', totalCredit: 2 * CREDIT, rac: expect.any(Number) },
          { rank: 2, id: users.bert, name: 'bert', team: 'blue', totalCredit: CREDIT, rac: expect.any(Number) },
          { rank: 3, id: users.cara, name: 'cara', team: null, totalCredit: CREDIT, rac: expect.any(Number) },
          // dan (no account) has an anonymous user of his own, with no credit yet.
          { rank: 4, id: expect.any(Number), name: 'dan-host', team: null, totalCredit: 0, rac: 0 },
        ],
      });
      expect(users_.body.entries[0]!.rac).toBeGreaterThan(users_.body.entries[1]!.rac);

      const teams = await anon.get<Leaderboard>('/leaderboards/teams');
      expect(teams.body).toEqual({
        kind: 'teams',
        entries: [
          { rank: 1, id: expect.any(Number), name: 'red', team: null, totalCredit: 2 * CREDIT, rac: expect.any(Number) },
          { rank: 2, id: expect.any(Number), name: 'blue', team: null, totalCredit: CREDIT, rac: expect.any(Number) },
        ],
      });
      const hosts = await anon.get<Leaderboard>('/leaderboards/hosts', { limit: 2 });
      expect(hosts.body).toEqual({
        kind: 'hosts',
        entries: [
          { rank: 1, id: alice.hostId, name: 'alice-host', team: 'red', totalCredit: 2 * CREDIT, rac: expect.any(Number) },
          { rank: 2, id: bert.hostId, name: 'bert-host', team: 'blue', totalCredit: CREDIT, rac: expect.any(Number) },
        ],
      });
    });

    it.each([
      ['an unknown kind', '/leaderboards/planets', {}, /kind/],
      ['a limit of 0', '/leaderboards/users', { limit: 0 }, /limit/],
      ['a limit over 500', '/leaderboards/users', { limit: 501 }, /limit/],
      ['an unknown parameter', '/leaderboards/users', { sort: 'rac' }, /sort/],
    ])('refuses %s with 400', async (_what, path, query, message) => {
      expectError(await ApiClient.anonymous(c.url).get(path, query), 400, 'bad_request', message);
    });
  });

  describe("someone else's batch", () => {
    it('is a 404 on every batch route, and stays untouched', async () => {
      const before = state();
      const status = (await ada.get<BatchStatus>(`/batches/${batchId}`)).body;
      for (const [method, path] of [
        ['GET', `/batches/${batchId}`],
        ['GET', `/batches/${batchId}/workunits`],
        ['GET', `/batches/${batchId}/errors`],
        ['GET', `/batches/${batchId}/validation`],
        ['GET', `/batches/${batchId}/results`],
        ['POST', `/batches/${batchId}/cancel`],
      ] as const) {
        expectError(await bob.request(method, path), 404, 'not_found', `no batch ${batchId}`);
      }
      for (const id of wuIds) expectError(await bob.get(`/workunits/${id}`), 404, 'not_found', `no work unit ${id}`);
      expect((await bob.get<{ batches: BatchStatus[] }>('/batches')).body.batches).toEqual([]);
      expect(state()).toEqual(before);
      expect(alice.aborts).toEqual([]);
      expect((await ada.get<BatchStatus>(`/batches/${batchId}`)).body).toMatchObject({ status: 'active', workunits: status.workunits, replicas: status.replicas });
    });

    it('is visible to an admin', async () => {
      expect((await admin.get<BatchStatus>(`/batches/${batchId}`)).body.name).toBe('contested');
      expect((await admin.get<WorkunitDetail>(`/workunits/${wuIds[0]}`)).body.replicas).toHaveLength(3);
      expect((await admin.get<BatchErrors>(`/batches/${batchId}/errors`)).body.errors).toHaveLength(2);
      expect((await admin.get<ValidationView>(`/batches/${batchId}/validation`)).body.workunits).toHaveLength(2);
      expect((await admin.get<string>(`/batches/${batchId}/results`)).text.trim().split('\n')).toHaveLength(3);
    });

    it.each(BAD_IDS)('refuses the batch id %s with 400 on every batch route', async (id) => {
      const before = state();
      for (const path of [`/batches/${id}`, `/batches/${id}/workunits`, `/batches/${id}/errors`, `/batches/${id}/validation`, `/batches/${id}/results`]) {
        expectError(await ada.get(path), 400, 'bad_request', /batch id/);
      }
      expectError(await ada.post(`/batches/${id}/cancel`), 400, 'bad_request', /batch id/);
      expect(state()).toEqual(before);
    });

    it('answers 404 for a batch that does not exist', async () => {
      expectError(await ada.get('/batches/9999'), 404, 'not_found', 'no batch 9999');
      expectError(await ada.post('/batches/9999/cancel'), 404, 'not_found', 'no batch 9999');
    });
  });

  describe('POST /batches/:id/cancel', () => {
    it('refuses a cookie session without the CSRF token, and cancels nothing', async () => {
      const session = await ApiClient.login(c.url, 'ada', PASSWORD);
      const before = state();
      expectError(await session.withCsrf(null).post(`/batches/${batchId}/cancel`), 403, 'forbidden', /X-CSRF-Token/);
      expect(state()).toEqual(before);
      expect(alice.aborts).toEqual([]);
    });

    it('cancels the open work units and tells the volunteers holding them to abort', async () => {
      const r = await ada.post<{ cancelled: number }>(`/batches/${batchId}/cancel`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ cancelled: 1 });
      const taskOf = (tasks: Task[]) => tasks.find((t) => seqOf(t) === 3)!.taskId;
      await waitFor('the abort notices', () => alice.aborts.length > 0 && bert.aborts.length > 0, 5000);
      expect(alice.aborts.flatMap((a) => a.taskIds)).toEqual([taskOf(held.alice!)]);
      expect(bert.aborts.flatMap((a) => a.taskIds)).toEqual([taskOf(held.bert!)]);
      expect(cara.aborts).toEqual([]);

      const status = (await ada.get<BatchStatus>(`/batches/${batchId}`)).body;
      expect(status).toMatchObject({
        status: 'cancelled',
        finishedAt: expect.any(Number),
        etaMs: 0,
        workunits: { total: 4, active: 0, done: 2, failed: 1, cancelled: 1 },
        replicas: { unsent: 0, inProgress: 0, success: 5, clientError: 2, aborted: 2, notNeeded: 1 },
      });
      const wu = (await ada.get<WorkunitDetail>(`/workunits/${wuIds[3]}`)).body;
      expect(wu).toMatchObject({ status: 'cancelled', errorReason: 'cancelled by the researcher' });
      expect(wu.replicas.map((x) => x.outcome)).toEqual(['aborted', 'aborted']);

      // The cancelled work unit shows in the results, except with ?status=done.
      const all = (await ada.get<string>(`/batches/${batchId}/results`)).text.trim().split('\n');
      expect(all[3]).toBe(`{"seq":3,"workunitId":${wuIds[3]},"status":"cancelled","error":"cancelled by the researcher"}`);
      expect((await ada.get<string>(`/batches/${batchId}/results`, { status: 'done' })).text.trim().split('\n')).toHaveLength(2);

      // A late result for an aborted task earns nothing and changes nothing.
      const before = state();
      const late = buildResult(ed, alice.seed, held.alice!.find((t) => seqOf(t) === 3)!, { output: { late: true } }, TIMING);
      await alice.report([late]);
      expect(state().workunitStates).toBe(before.workunitStates);
      expect(state().credit_ledger).toBe(before.credit_ledger);
    });

    it('cancelling again cancels nothing more', async () => {
      const before = state();
      const r = await ada.post<{ cancelled: number }>(`/batches/${batchId}/cancel`);
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ cancelled: 0 });
      expect(state()).toEqual(before);
      expect((await ada.get<BatchStatus>(`/batches/${batchId}`)).body.status).toBe('cancelled');
    });

    it('a finished batch stays done: there is nothing to cancel', async () => {
      const b = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'quick', replication: { minQuorum: 1, targetNresults: 1 }, workunits: [{ input: 'q' }] });
      await c.replicasReady();
      const wu = (await ada.get<{ workunits: WorkunitSummary[] }>(`/batches/${b.body.batchId}/workunits`)).body.workunits[0]!;
      const tasks = await cara.requestTasks(4);
      const workunits = await Promise.all(tasks.map((t) => workunitOfTask(c, t)));
      const task = tasks[workunits.indexOf(wu.id)]!;
      await cara.report([buildResult(ed, cara.seed, task, { output: 'done' }, TIMING)]);
      expect((await ada.get<BatchStatus>(`/batches/${b.body.batchId}`)).body.status).toBe('done');
      const r = await ada.post<{ cancelled: number }>(`/batches/${b.body.batchId}/cancel`);
      expect(r.body).toEqual({ cancelled: 0 });
      const after = (await ada.get<BatchStatus>(`/batches/${b.body.batchId}`)).body;
      expect(after).toMatchObject({ status: 'done', etaMs: 0, finishedAt: expect.any(Number), workunits: { total: 1, done: 1, cancelled: 0 } });
    });

    it('an admin may cancel anyone\'s batch', async () => {
      const b = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'admin-cancels', workunits: [{ input: 1 }, { input: 2 }] });
      const r = await admin.post<{ cancelled: number }>(`/batches/${b.body.batchId}/cancel`);
      expect(r.body).toEqual({ cancelled: 2 });
      await c.replicasReady();
      const status = (await ada.get<BatchStatus>(`/batches/${b.body.batchId}`)).body;
      expect(status).toMatchObject({ status: 'cancelled', workunits: { total: 2, cancelled: 2 } });
      // Cancelled before its replicas were made (or right after): none is left to hand out.
      expect(status.replicas.unsent).toBe(0);
    });
  });
});

describe('results of a larger batch', () => {
  it('come out complete and in seq order across export pages, and work-unit pages follow next', { timeout: 60_000 }, async () => {
    const c = await startTestCoordinator();
    const v = await TestVolunteer.connect(c.url, { name: 'worker' });
    try {
      const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
      const { app } = await newApp(admin, 'larger');
      const n = 1234;
      const b = await admin.post<Submitted>(`/apps/${app.id}/batches`, {
        name: 'larger',
        replication: { minQuorum: 1, targetNresults: 1 },
        workunits: Array.from({ length: n }, (_, i) => ({ input: { i } })),
      });
      await c.replicasReady();
      for (;;) {
        // Straight to the protocol: the helper's own task checks (tweetnacl) would dominate the run time.
        const reply = await v.send<{ tasks: Task[] }>('tasks.request', { count: 64 });
        const tasks = reply.ok ? reply.tasks : [];
        if (tasks.length === 0) break;
        await v.report(tasks.map((t) => buildResult(ed, v.seed, t, { output: { twice: 2 * (t.input as { i: number }).i } }, TIMING)));
      }
      const status = (await admin.get<BatchStatus>(`/batches/${b.body.batchId}`)).body;
      expect(status).toMatchObject({ status: 'done', etaMs: 0, workunits: { total: n, done: n } });

      const res = await fetch(`${c.url}/api/v1/batches/${b.body.batchId}/results`, { headers: { authorization: `Bearer ${admin.token}` } });
      const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l) as { seq: number; status: string; output: { twice: number } });
      expect(lines).toHaveLength(n);
      lines.forEach((l, i) => expect(l).toMatchObject({ seq: i, status: 'done', output: { twice: 2 * i } }));

      const seqs: number[] = [];
      let after: number | null = -1;
      let pages = 0;
      while (after !== null) {
        const page: { workunits: WorkunitSummary[]; next: number | null } = (await admin.get<{ workunits: WorkunitSummary[]; next: number | null }>(`/batches/${b.body.batchId}/workunits`, { after, limit: 500 })).body;
        seqs.push(...page.workunits.map((w) => w.seq));
        after = page.next;
        pages++;
      }
      expect(pages).toBe(3);
      expect(seqs).toEqual(Array.from({ length: n }, (_, i) => i));
    } finally {
      v.close();
      await c.dispose();
    }
  });
});

describe('outputs and inputs too large to store inline', () => {
  it('are exported whole from the file store', { timeout: 30_000 }, async () => {
    const c = await startTestCoordinator();
    const v = await TestVolunteer.connect(c.url, { name: 'uploader' });
    try {
      const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
      const { app } = await newApp(admin, 'large');
      const bigInput = { text: 'i'.repeat(300_000) };
      const b = await admin.post<Submitted>(`/apps/${app.id}/batches`, { name: 'large', replication: { minQuorum: 1, targetNresults: 1 }, workunits: [{ input: bigInput }] });
      expect(b.status).toBe(201);
      await c.replicasReady();
      const [task] = await v.requestTasks(1);
      // The big output goes up as a file (signed by the host), then the result names it by hash.
      const output = { text: 'o'.repeat(300_000) };
      const bytes = utf8(canonicalJson(output));
      const put = await fetch(`${c.url}/files/${jsonHash(output)}`, {
        method: 'PUT',
        headers: {
          'x-vg-host-key': v.publicKey,
          'x-vg-task-id': String(task!.taskId),
          'x-vg-signature': signBody(ed, v.seed, 'upload', { hostKey: v.publicKey, sha256: jsonHash(output), taskId: task!.taskId }),
        },
        body: bytes,
      });
      expect(put.status).toBe(201);
      const acks = await v.report([buildResult(ed, v.seed, task!, { output, inline: false }, TIMING)]);
      expect(acks.map((a) => a.status)).toEqual(['accepted']);

      const results = await admin.get<string>(`/batches/${b.body.batchId}/results`);
      expect(results.text).toBe(`{"seq":0,"workunitId":${await workunitOfTask(c, task!)},"status":"done","output":${canonicalJson(output)}}\n`);
      const detail = await admin.get<WorkunitDetail>(`/workunits/${await workunitOfTask(c, task!)}`);
      expect(detail.body.inputHash).toBe(jsonHash(bigInput));
      expect(detail.body.replicas).toEqual([expect.objectContaining({ outcome: 'success', validateState: 'valid', outputHash: jsonHash(output), output: null })]);
      // docs/api.md promises `input` in the detail; a large input is stored as a file and shows as null.
      expect(detail.body.input === null || JSON.stringify(detail.body.input) === JSON.stringify(bigInput)).toBe(true);
    } finally {
      v.close();
      await c.dispose();
    }
  });
});
