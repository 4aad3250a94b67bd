// Submitting batches over the API: JSON and streamed NDJSON, replication parameters, idempotent
// client keys, all-or-nothing (a bad line anywhere means no batch), and large batches that are
// ingested in chunks without stalling the coordinator (it runs in this process, so a stall of
// its event loop is a stall of ours, and we measure it).
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import {
  API,
  ApiClient,
  dbState,
  expectError,
  ndjsonStream,
  newApp,
  newResearcher,
  type App,
  type BatchStatus,
  type Project,
  type Reply,
  type Submitted,
} from '../helpers/api-client.js';

let c: TestCoordinator;
let admin: ApiClient;
let ada: ApiClient;
let bob: ApiClient;
let app: App;
let project: Project;

beforeAll(async () => {
  c = await startTestCoordinator();
  admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  ada = await newResearcher(admin, 'ada');
  bob = await newResearcher(admin, 'bob');
  ({ app, project } = await newApp(ada, 'batches'));
});
afterAll(async () => {
  await c?.dispose();
});

const state = () => dbState(c.store.db);
const count = (sql: string, ...params: unknown[]) => (c.store.db.prepare(sql).get(...params) as { n: number }).n;
const batchesPath = () => `/apps/${app.id}/batches`;
const BAD_IDS = ['abc', '-1', '0', '1.5', '99999999999999999999'];

async function refused<T>(request: () => Promise<T>): Promise<T> {
  const before = state();
  const r = await request();
  expect(state()).toEqual(before);
  expect(count('SELECT COUNT(*) AS n FROM batches WHERE staged = 1')).toBe(0);
  return r;
}

function ndjson(lines: string[], query: Record<string, string | number>): Promise<Reply<Submitted>> {
  const text = lines.map((l) => `${l}\n`).join('');
  return ada.stream<Submitted>(batchesPath(), 'application/x-ndjson', new Blob([text]).stream(), query);
}

interface WorkunitRow {
  seq: number;
  input_json: string;
  min_quorum: number;
  target_nresults: number;
  max_error_results: number;
  max_total_results: number;
  max_success_results: number;
  delay_bound_ms: number;
  fpops_est: number;
  priority: number;
  status: string;
}
const workunitRows = (batchId: number) => c.store.db.prepare('SELECT * FROM workunits WHERE batch_id = ? ORDER BY seq').all(batchId) as WorkunitRow[];

/**
 * Measures the longest stall of this process's event loop while `run` goes on, and how often a
 * 10 ms probe got to run. Tests assert on the count, not on milliseconds: work done in one
 * blocking step lets the probe run about never, work that yields between chunks lets it run at
 * least once per chunk on a slow machine as on a fast one. The stall is logged for people.
 */
async function measureStalls<T>(run: () => Promise<T>): Promise<{ result: T; maxStallMs: number; histogramMaxMs: number; ms: number; turns: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let maxStallMs = 0;
  let last = performance.now();
  let turns = 0;
  const probe = setInterval(() => {
    turns++;
    const now = performance.now();
    maxStallMs = Math.max(maxStallMs, now - last - 10);
    last = now;
  }, 10);
  const started = performance.now();
  try {
    const result = await run();
    return { result, maxStallMs: Math.round(maxStallMs), histogramMaxMs: Math.round(histogram.max / 1e6), ms: Math.round(performance.now() - started), turns };
  } finally {
    clearInterval(probe);
    histogram.disable();
  }
}

/** Raw HTTP/1.1 over a socket: for what fetch cannot do (lie about Content-Length, reuse a connection on purpose). */
function rawSocket(url: string) {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('error', () => {});
  return {
    socket,
    write: (s: string) => socket.write(s),
    received: () => received,
    /** Waits until the received text matches, or gives up after timeoutMs (answers whether it did). */
    async waitFor(pattern: RegExp, timeoutMs: number): Promise<boolean> {
      const until = Date.now() + timeoutMs;
      while (!pattern.test(received)) {
        if (Date.now() > until || socket.destroyed) return pattern.test(received);
        await new Promise((r) => setTimeout(r, 20));
      }
      return true;
    },
  };
}

const chunked = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

describe('POST /apps/:id/batches with application/json', () => {
  it('creates the batch (201) with seq in input order and the replication asked for', async () => {
    const r = await ada.post<Submitted>(batchesPath(), {
      name: '  run 1  ',
      clientKey: 'run-1',
      replication: { minQuorum: 1, targetNresults: 1, fpopsEst: 5e9, delayBoundMs: 60_000 },
      workunits: [{ input: { a: 1, b: [true, null] } }, { input: [3, 2, 1] }, { input: 'text', replication: { priority: 5, targetNresults: 3, minQuorum: 2 } }],
    });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ batchId: expect.any(Number), created: true, workunits: 3 });
    const rows = workunitRows(r.body.batchId);
    expect(rows.map((w) => [w.seq, JSON.parse(w.input_json)])).toEqual([
      [0, { a: 1, b: [true, null] }],
      [1, [3, 2, 1]],
      [2, 'text'],
    ]);
    const params = (w: WorkunitRow) => [w.min_quorum, w.target_nresults, w.max_error_results, w.max_total_results, w.max_success_results, w.delay_bound_ms, w.fpops_est, w.priority];
    expect(params(rows[0]!)).toEqual([1, 1, 3, 8, 6, 60_000, 5e9, 0]);
    expect(params(rows[2]!)).toEqual([2, 3, 3, 8, 6, 60_000, 5e9, 5]);
    await c.replicasReady();
    expect(count('SELECT COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?', r.body.batchId)).toBe(1 + 1 + 3);

    const status = await ada.get<BatchStatus>(`/batches/${r.body.batchId}`);
    expect(status.status).toBe(200);
    expect(status.body).toEqual({
      id: r.body.batchId,
      projectId: project.id,
      projectName: 'batches',
      appId: app.id,
      appName: 'app',
      name: 'run 1',
      clientKey: 'run-1',
      status: 'active',
      appVersion: null,
      archived: false,
      createdAt: expect.any(Number),
      finishedAt: null,
      workunits: { total: 3, active: 3, done: 0, failed: 0, cancelled: 0 },
      replicas: { unsent: 5, inProgress: 0, success: 0, clientError: 0, noReply: 0, aborted: 0, abandoned: 0, notNeeded: 0 },
      throughput: { workunitsPerSecond: 0, windowMs: expect.any(Number) },
      etaMs: null,
      series: { bucketMs: 1000, points: expect.any(Array) },
      // Nobody here runs volunteers: it says so.
      blocked: [{ code: 'no_hosts', message: 'no volunteer is connected: the work waits for one' }],
    });
  });

  it('uses the documented defaults (quorum 2, 2 replicas, …)', async () => {
    const r = await ada.post<Submitted>(batchesPath(), { name: 'defaults', workunits: [{ input: 0 }] });
    expect(r.status).toBe(201);
    const [w] = workunitRows(r.body.batchId);
    expect(w).toMatchObject({ min_quorum: 2, target_nresults: 2, max_error_results: 3, max_total_results: 8, max_success_results: 6, delay_bound_ms: 86_400_000, fpops_est: 1e10, priority: 0 });
    const status = await ada.get<BatchStatus>(`/batches/${r.body.batchId}`);
    expect(status.body.clientKey).toBeNull();
  });

  it('is idempotent with clientKey: the same key again answers 200 with the first batch and creates nothing', async () => {
    const first = await ada.post<Submitted>(batchesPath(), { name: 'once', clientKey: 'once-only', workunits: [{ input: 1 }, { input: 2 }] });
    expect(first.status).toBe(201);
    await c.replicasReady();
    const again = await refused(() => ada.post<Submitted>(batchesPath(), { name: 'once', clientKey: 'once-only', workunits: [{ input: 1 }, { input: 2 }] }));
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ batchId: first.body.batchId, created: false, workunits: 2 });
    // Whatever the body says: the key names the submission.
    const different = await refused(() => ada.post<Submitted>(batchesPath(), { name: 'other', clientKey: 'once-only', workunits: [{ input: 9 }] }));
    expect(different.body).toEqual({ batchId: first.body.batchId, created: false, workunits: 2 });
    // The same key as NDJSON.
    const nd = await refused(() => ndjson(['1', '2', '3'], { name: 'once', clientKey: 'once-only' }));
    expect(nd.status).toBe(200);
    expect(nd.body).toEqual({ batchId: first.body.batchId, created: false, workunits: 2 });
    // Keys are per project: Bob's project may use the same one.
    const bobs = await newApp(bob, 'bobs-batches');
    const other = await bob.post<Submitted>(`/apps/${bobs.app.id}/batches`, { name: 'once', clientKey: 'once-only', workunits: [{ input: 1 }] });
    expect(other.status).toBe(201);
    expect(other.body.batchId).not.toBe(first.body.batchId);
  });

  it('answers 409 for a client key whose batch is still being submitted, then 200 once it is in', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const enc = new TextEncoder();
    let step = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        step++;
        if (step === 1) return ctl.enqueue(enc.encode(Array.from({ length: 1000 }, (_, i) => `${i}\n`).join('')));
        await gate;
        if (step === 2) return ctl.enqueue(enc.encode(Array.from({ length: 1000 }, (_, i) => `${1000 + i}\n`).join('')));
        ctl.close();
      },
    });
    const slow = ada.stream<Submitted>(batchesPath(), 'application/x-ndjson', body, { name: 'slow', clientKey: 'slow-1' });
    await waitFor('the slow batch to be staged', () => count('SELECT COUNT(*) AS n FROM batches WHERE staged = 1') === 1);
    // Staged batches are invisible.
    const listed = await ada.get<{ batches: BatchStatus[] }>('/batches');
    expect(listed.body.batches.map((b) => b.name)).not.toContain('slow');
    const conflict = await ada.post(batchesPath(), { name: 'slow', clientKey: 'slow-1', workunits: [{ input: 1 }] });
    expectError(conflict, 409, 'conflict', 'a batch with client key "slow-1" is still being submitted; retry when it is done');
    release();
    const done = await slow;
    expect(done.status).toBe(201);
    expect(done.body).toEqual({ batchId: expect.any(Number), created: true, workunits: 2000 });
    const retry = await ada.post<Submitted>(batchesPath(), { name: 'slow', clientKey: 'slow-1', workunits: [{ input: 1 }] });
    expect(retry.status).toBe(200);
    expect(retry.body).toEqual({ ...done.body, created: false });
  });

  it.each([
    ['no name', { workunits: [{ input: 1 }] }, /^batch: name/],
    ['an empty name', { name: ' ', workunits: [{ input: 1 }] }, /name/],
    ['a name of 201 characters', { name: 'n'.repeat(201), workunits: [{ input: 1 }] }, /name/],
    ['no work units', { name: 'x' }, /workunits/],
    ['an empty list of work units', { name: 'x', workunits: [] }, /workunits/],
    ['work units that are not a list', { name: 'x', workunits: { input: 1 } }, /workunits/],
    ['an unknown field', { name: 'x', workunits: [{ input: 1 }], owner: 'me' }, /owner/],
    ['an empty client key', { name: 'x', clientKey: '', workunits: [{ input: 1 }] }, /clientKey/],
    ['a numeric client key', { name: 'x', clientKey: 7, workunits: [{ input: 1 }] }, /clientKey/],
    ['an unknown replication field', { name: 'x', replication: { quorum: 2 }, workunits: [{ input: 1 }] }, /quorum/],
    ['minQuorum 0', { name: 'x', replication: { minQuorum: 0 }, workunits: [{ input: 1 }] }, /minQuorum/],
    ['minQuorum 2.5', { name: 'x', replication: { minQuorum: 2.5 }, workunits: [{ input: 1 }] }, /minQuorum/],
    ['a string for priority', { name: 'x', replication: { priority: 'high' }, workunits: [{ input: 1 }] }, /priority/],
    ['fewer replicas than the quorum', { name: 'x', replication: { minQuorum: 3, targetNresults: 2 }, workunits: [{ input: 1 }] }, 'replication: targetNresults must be at least minQuorum'],
    ['a work unit without input', { name: 'x', workunits: [{ input: 1 }, { replication: {} }] }, /^workunits\[1\]: input/],
    ['a bare value for a work unit', { name: 'x', workunits: [{ input: 1 }, 2] }, /^workunits\[1\]/],
    ['an unknown field in a work unit', { name: 'x', workunits: [{ input: 1 }, { input: 2, seq: 5 }] }, /^workunits\[1\]: .*seq/],
    ['a bad override in a work unit', { name: 'x', workunits: [{ input: 1 }, { input: 2, replication: { maxTotalResults: 1 } }] }, 'workunits[1]: maxTotalResults must be at least targetNresults'],
  ])('refuses %s with 400, and creates nothing', async (_what, body, message) => {
    expectError(await refused(() => ada.post(batchesPath(), body)), 400, 'bad_request', message);
  });

  // Canonical JSON refuses nesting deeper than 64 levels (protocol/canonical.ts): a clear 400.
  it('refuses an input nested deeper than canonical JSON allows with 400 naming it, not 500', async () => {
    const deep = '['.repeat(70) + ']'.repeat(70);
    const json = await refused(() => ada.request('POST', batchesPath(), { body: `{"name":"deep","workunits":[{"input":1},{"input":${deep}}]}`, contentType: 'application/json' }));
    const nd = await refused(() => ndjson(['1', deep], { name: 'deep' }));
    expectError(json, 400, 'bad_request', /^workunits\[1\]: .*nest/);
    expectError(nd, 400, 'bad_request', /^line 2: .*nest/);
  });

  it('refuses a bad work unit deep in a large batch, naming it, and creates nothing', async () => {
    const workunits: unknown[] = Array.from({ length: 10_000 }, (_, i) => ({ input: i }));
    workunits[9_876] = { input: 1, replication: { priority: 5000 } };
    expectError(await refused(() => ada.post(batchesPath(), { name: 'deep', workunits })), 400, 'bad_request', /^workunits\[9876\]: .*priority/);
  });

  it('refuses malformed JSON with 400 and another content type with 415', async () => {
    expectError(await refused(() => ada.request('POST', batchesPath(), { body: '{"name":"x","workunits":[', contentType: 'application/json' })), 400, 'bad_request', /not valid JSON/);
    expectError(await refused(() => ada.request('POST', batchesPath(), { body: '1\n2\n', contentType: 'text/plain' })), 415, 'unsupported_media_type', /application\/json or application\/x-ndjson/);
    expectError(await refused(() => ada.request('POST', batchesPath(), { body: '1\n2\n' })), 415, 'unsupported_media_type');
  });

  // Parsed whole on the event loop, so kept small: larger batches stream as NDJSON.
  it('refuses a JSON body over 4 MiB with 413, pointing at NDJSON, and creates nothing', { timeout: 30_000 }, async () => {
    const enc = new TextEncoder();
    const filler = enc.encode('{"input":0},'.repeat(87_382)); // 1 MiB
    let chunks = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (chunks === 0) ctl.enqueue(enc.encode('{"name":"huge","workunits":['));
        if (chunks++ < 5) ctl.enqueue(filler);
        else {
          ctl.enqueue(enc.encode('{"input":0}]}'));
          ctl.close();
        }
      },
    });
    const r = await refused(() => ada.stream(batchesPath(), 'application/json', body));
    expectError(r, 413, 'too_large', /^a JSON batch is at most 4194304 bytes \(4 MiB\); send a larger one as NDJSON/);
  });

  it('refuses a batch for an app without a version with 400', async () => {
    const bare = await ada.post<App>(`/projects/${project.id}/apps`, { name: 'no-version' });
    expectError(await refused(() => ada.post(`/apps/${bare.body.id}/batches`, { name: 'x', workunits: [{ input: 1 }] })), 400, 'bad_request', 'app no-version has no app version yet; upload one first');
  });

  it.each(BAD_IDS)('refuses the app id %s with 400', async (id) => {
    expectError(await refused(() => ada.post(`/apps/${id}/batches`, { name: 'x', workunits: [{ input: 1 }] })), 400, 'bad_request', /app id/);
  });

  it("answers 404 for a missing app and for someone else's, and creates nothing", async () => {
    expectError(await refused(() => ada.post('/apps/9999/batches', { name: 'x', workunits: [{ input: 1 }] })), 404, 'not_found', 'no app 9999');
    expectError(await refused(() => bob.post(batchesPath(), { name: 'x', workunits: [{ input: 1 }] })), 404, 'not_found', `no app ${app.id}`);
    expectError(await refused(() => bob.stream(batchesPath(), 'application/x-ndjson', new Blob(['1\n']).stream(), { name: 'x' })), 404, 'not_found');
  });

  it('takes 100,000 work units in one JSON array', { timeout: 60_000 }, async () => {
    // Encoded before measuring: only the coordinator's share of the work should count.
    const body = JSON.stringify({ name: 'json-100k', replication: { minQuorum: 1, targetNresults: 1 }, workunits: Array.from({ length: 100_000 }, (_, i) => ({ input: { i } })) });
    const m = await measureStalls(() => ada.request<Submitted>('POST', batchesPath(), { body, contentType: 'application/json' }));
    console.log(`100,000 work units as a JSON array: ${m.ms} ms, longest event-loop stall ${m.maxStallMs} ms (histogram max ${m.histogramMaxMs} ms), ${m.turns} probe turns`);
    expect(m.result.status).toBe(201);
    expect(m.result.body).toEqual({ batchId: expect.any(Number), created: true, workunits: 100_000 });
    // 50 chunks of 2,000 rows, each followed by a turn of the event loop.
    expect(m.turns).toBeGreaterThanOrEqual(25);
    const id = m.result.body.batchId;
    expect(count('SELECT COUNT(DISTINCT seq) AS n FROM workunits WHERE batch_id = ? AND seq BETWEEN 0 AND 99999', id)).toBe(100_000);
    expect(count("SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ? AND json_extract(input_json, '$.i') <> seq", id)).toBe(0);
    await c.replicasReady();
    expect(count('SELECT COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?', id)).toBe(100_000);
  });
});

describe('POST /apps/:id/batches with application/x-ndjson', () => {
  it('takes one input per line, skips blank lines, accepts CRLF, and reads replication from the query', async () => {
    const r = await ndjson(['{"from":1,"to":2}', '', '"two"\r', '  ', '[3]', 'null'], {
      name: 'nd',
      clientKey: 'nd-1',
      minQuorum: 1,
      targetNresults: 2,
      maxErrorResults: 1,
      maxTotalResults: 4,
      maxSuccessResults: 3,
      delayBoundMs: 5000,
      fpopsEst: 1e9,
      priority: -3,
    });
    expect(r.status).toBe(201);
    expect(r.body).toEqual({ batchId: expect.any(Number), created: true, workunits: 4 });
    const rows = workunitRows(r.body.batchId);
    expect(rows.map((w) => [w.seq, JSON.parse(w.input_json)])).toEqual([
      [0, { from: 1, to: 2 }],
      [1, 'two'],
      [2, [3]],
      [3, null],
    ]);
    expect(rows[0]).toMatchObject({ min_quorum: 1, target_nresults: 2, max_error_results: 1, max_total_results: 4, max_success_results: 3, delay_bound_ms: 5000, fpops_est: 1e9, priority: -3 });
    const status = await ada.get<BatchStatus>(`/batches/${r.body.batchId}`);
    expect(status.body).toMatchObject({ name: 'nd', clientKey: 'nd-1', workunits: { total: 4, active: 4 } });
  });

  it('takes the last line without a newline, and application/jsonl too', async () => {
    const r = await ada.stream<Submitted>(batchesPath(), 'application/jsonl', new Blob(['1\n2']).stream(), { name: 'jsonl' });
    expect(r.status).toBe(201);
    expect(r.body.workunits).toBe(2);
  });

  it.each([
    ['no name', {}, /name/],
    ['an unknown parameter', { name: 'x', quorum: 2 }, /quorum/],
    ['a minQuorum that is not a number', { name: 'x', minQuorum: 'two' }, /minQuorum/],
    ['a negative delay bound', { name: 'x', delayBoundMs: -5 }, /delayBoundMs/],
    ['fewer replicas than the quorum', { name: 'x', minQuorum: 3, targetNresults: 2 }, 'replication: targetNresults must be at least minQuorum'],
  ])('refuses %s in the query with 400 and creates nothing', async (_what, query, message) => {
    expectError(await refused(() => ndjson(['1', '2'], query as Record<string, string | number>)), 400, 'bad_request', message);
  });

  it('takes whole work units per line with lines=workunits, sentinels included', async () => {
    const r = await ndjson(['{"input":1}', '{"input":2,"expectedOutput":{"echo":2}}', '{"input":3,"replication":{"priority":5}}'], { name: 'specs', lines: 'workunits' });
    expect(r.status).toBe(201);
    const rows = c.store.db
      .prepare('SELECT seq, input_json AS input, expected_output_json AS expected, priority FROM workunits WHERE batch_id = ? ORDER BY seq')
      .all(r.body.batchId);
    expect(rows).toEqual([
      { seq: 0, input: '1', expected: null, priority: 0 },
      { seq: 1, input: '2', expected: '{"echo":2}', priority: 0 },
      { seq: 2, input: '3', expected: null, priority: 5 },
    ]);
    expectError(await refused(() => ndjson(['{"input":1,"expected":2}'], { name: 'typo', lines: 'workunits' })), 400, 'bad_request', /line 1: .*expected/);
    expectError(await refused(() => ndjson(['1'], { name: 'bare', lines: 'workunits' })), 400, 'bad_request', /line 1/);
  });

  it('refuses a batch made only of sentinels, and an expected output over 256 KiB, with 400 and creates nothing', async () => {
    expectError(
      await refused(() => ada.post(batchesPath(), { name: 'all-sentinels', workunits: [{ input: 1, expectedOutput: 1 }] })),
      400,
      'bad_request',
      /at least one work unit without expectedOutput/,
    );
    const big = 'x'.repeat(300 * 1024);
    expectError(
      await refused(() => ada.post(batchesPath(), { name: 'big-answer', workunits: [{ input: 1 }, { input: 2, expectedOutput: big }] })),
      400,
      'bad_request',
      /workunits\[1\]: expectedOutput is larger than 262144 bytes/,
    );
  });

  it('refuses a body without any line with 400', async () => {
    expectError(await refused(() => ndjson(['', '  '], { name: 'blank' })), 400, 'bad_request', 'a batch needs at least one work unit');
  });

  it('is all or nothing: a bad line 50,001 of 60,000 means no batch, no work unit, no replica', { timeout: 60_000 }, async () => {
    await c.replicasReady();
    const before = state();
    const r = await ada.stream(batchesPath(), 'application/x-ndjson', ndjsonStream(60_000, (i) => (i === 50_000 ? '{"from": 1,' : JSON.stringify({ i }))), { name: 'bad-line' });
    expectError(r, 400, 'bad_request', /^line 50001: not valid JSON/);
    expect(state()).toEqual(before);
    expect(count('SELECT COUNT(*) AS n FROM batches WHERE staged = 1')).toBe(0);
    await c.replicasReady();
    expect(state()).toEqual(before);
  });

  it('creates nothing when the client goes away half-way through the body', async () => {
    const before = state();
    const abort = new AbortController();
    const enc = new TextEncoder();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        if (sent >= 5) {
          abort.abort();
          return new Promise(() => {}); // never sends the rest
        }
        sent++;
        ctl.enqueue(enc.encode(Array.from({ length: 1000 }, (_, i) => `${sent * 1000 + i}\n`).join('')));
        await new Promise((r) => setTimeout(r, 20));
      },
    });
    const res = fetch(`${c.url}${API}${batchesPath()}?name=abandoned`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ada.token}`, 'content-type': 'application/x-ndjson', connection: 'close' },
      body,
      duplex: 'half',
      signal: abort.signal,
    } as RequestInit);
    await expect(res).rejects.toThrow();
    await waitFor('the abandoned batch to be discarded', () => count('SELECT COUNT(*) AS n FROM batches') === before.batches && count('SELECT COUNT(*) AS n FROM workunits') === before.workunits, 10_000);
    expect(state()).toEqual(before);
  });

  // After refusing a body half-way (the bad line), the coordinator must either read the rest of
  // the body or say "Connection: close": never leave a keep-alive connection that answers nothing.
  it('keeps the connection usable (or closes it) after refusing a body half-way', async () => {
    const raw = rawSocket(c.url);
    let closes = false;
    let answered = false;
    try {
      await new Promise((r) => raw.socket.once('connect', r));
      raw.write(`POST ${API}${batchesPath()}?name=x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ada.token}\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n`);
      raw.write(chunked('1\n2\n{bad\n'));
      expect(await raw.waitFor(/^HTTP\/1\.1 400 [^]*\}\}$/, 5000)).toBe(true);
      closes = /\r\nconnection: close\r\n/i.test(raw.received());
      raw.write(chunked('3\n'.repeat(1000)));
      raw.write('0\r\n\r\n');
      raw.write(`GET ${API}/session HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${ada.token}\r\n\r\n`);
      answered = await raw.waitFor(/HTTP\/1\.1 200 /, 10_000);
    } finally {
      raw.socket.destroy();
    }
    expect(closes || answered).toBe(true);
  });

  it('takes 100,000 work units in one streamed request without stalling the coordinator', { timeout: 60_000 }, async () => {
    await c.replicasReady();
    const ingest = await measureStalls(() =>
      ada.stream<Submitted>(batchesPath(), 'application/x-ndjson', ndjsonStream(100_000, (i) => JSON.stringify({ i, from: i * 10, to: i * 10 + 10 })), { name: 'nd-100k', clientKey: 'nd-100k' }),
    );
    console.log(`100,000 work units as NDJSON: ${ingest.ms} ms, longest event-loop stall ${ingest.maxStallMs} ms (histogram max ${ingest.histogramMaxMs} ms), ${ingest.turns} probe turns`);
    expect(ingest.result.status).toBe(201);
    expect(ingest.result.body).toEqual({ batchId: expect.any(Number), created: true, workunits: 100_000 });
    expect(ingest.turns).toBeGreaterThanOrEqual(25);
    const id = ingest.result.body.batchId;

    const seqs = c.store.db.prepare('SELECT COUNT(*) AS n, MIN(seq) AS lo, MAX(seq) AS hi, COUNT(DISTINCT seq) AS distinctSeqs FROM workunits WHERE batch_id = ?').get(id);
    expect(seqs).toEqual({ n: 100_000, lo: 0, hi: 99_999, distinctSeqs: 100_000 });
    expect(count("SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ? AND json_extract(input_json, '$.i') <> seq", id)).toBe(0);

    const replicas = await measureStalls(() => c.replicasReady());
    console.log(`replicas for 100,000 work units: ${replicas.ms} ms, longest event-loop stall ${replicas.maxStallMs} ms, ${replicas.turns} probe turns`);
    expect(replicas.turns).toBeGreaterThanOrEqual(10);
    expect(count('SELECT COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?', id)).toBe(200_000);
    const status = await measureStalls(() => ada.get<BatchStatus>(`/batches/${id}`));
    console.log(`status of a batch of 100,000 work units: ${status.ms} ms, longest event-loop stall ${status.maxStallMs} ms`);
    expect(status.result.body.workunits).toEqual({ total: 100_000, active: 100_000, done: 0, failed: 0, cancelled: 0 });
    expect(status.result.body.replicas.unsent).toBe(200_000);
    const list = await measureStalls(() => ada.get<{ batches: BatchStatus[] }>('/batches', { limit: 1000 }));
    console.log(`list of batches (${list.result.body.batches.length}, two of 100,000 work units): ${list.ms} ms, longest event-loop stall ${list.maxStallMs} ms`);
  });
});

describe('GET /batches', () => {
  it("lists your batches newest first, as statuses; filters by project and app; never someone else's", async () => {
    const mine = await ada.get<{ batches: BatchStatus[] }>('/batches', { limit: 1000 });
    expect(mine.status).toBe(200);
    const ids = mine.body.batches.map((b) => b.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(new Set(mine.body.batches.map((b) => b.projectName))).toEqual(new Set(['batches']));
    const one = mine.body.batches.find((b) => b.name === 'run 1')!;
    expect((await ada.get<BatchStatus>(`/batches/${one.id}`)).body).toEqual({ ...one, throughput: expect.any(Object), series: expect.any(Object) });

    const byApp = await ada.get<{ batches: BatchStatus[] }>('/batches', { appId: app.id, limit: 2 });
    expect(byApp.body.batches).toHaveLength(2);
    expect(byApp.body.batches.every((b) => b.appId === app.id)).toBe(true);
    expect((await ada.get<{ batches: BatchStatus[] }>('/batches', { projectId: project.id })).body.batches.length).toBe(ids.length);

    // Bob sees his own only, even when he asks for Ada's project.
    const bobs = await bob.get<{ batches: BatchStatus[] }>('/batches');
    expect(bobs.body.batches.map((b) => b.projectName)).toEqual(['bobs-batches']);
    expect((await bob.get<{ batches: BatchStatus[] }>('/batches', { projectId: project.id })).body.batches).toEqual([]);
    // The admin sees everything.
    const all = await admin.get<{ batches: BatchStatus[] }>('/batches', { limit: 1000 });
    expect(all.body.batches.length).toBe(ids.length + 1);
  });

  it.each([
    ['an unknown parameter', { owner: 1 }, /owner/],
    ['a bad project id', { projectId: 'abc' }, /projectId/],
    ['a negative app id', { appId: -1 }, /appId/],
    ['a limit of 0', { limit: 0 }, /limit/],
    ['a limit over 1000', { limit: 1001 }, /limit/],
  ])('refuses %s with 400', async (_what, query, message) => {
    expectError(await ada.get('/batches', query), 400, 'bad_request', message);
  });
});
