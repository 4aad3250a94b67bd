// The real coordinator on a random port; volunteers over real Socket.IO connections.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, relative } from 'node:path';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { jsonHash } from '../../protocol/hash.js';
import { creditUnits, GENESIS_HASH, verifyLedgerChain } from '../../protocol/ledger.js';
import type { CreditReceipt, Reply, ResultAck } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { signBody } from '../../protocol/signing.js';
import { primesInputs } from '../../examples/primes/inputs.js';
import { addPrimesApp } from '../helpers/batches.js';
import { replicaOfTask, workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let coordinator: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await coordinator?.dispose();
  coordinator = undefined;
});

async function join_(opts: Parameters<typeof TestVolunteer.connect>[1] = {}): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(coordinator!.url, opts);
  volunteers.push(v);
  return v;
}

const primesApp = async (c: TestCoordinator): Promise<number> => (await addPrimesApp(c));

/** Independent of the app: a sieve, and the same checksum definition. */
function expectedPrimes(from: number, to: number) {
  const sieve = new Uint8Array(to).fill(1);
  sieve[0] = 0;
  if (to > 1) sieve[1] = 0;
  for (let i = 2; i * i < to; i++) if (sieve[i]) for (let j = i * i; j < to; j += i) sieve[j] = 0;
  let count = 0;
  let checksum = 0;
  for (let n = from; n < to; n++) if (sieve[n]) (count++, (checksum = (Math.imul(checksum, 31) + n) >>> 0));
  return { from, to, count, checksum };
}

const counts = async (c: TestCoordinator, batchId: number) => (await c.store.reports.workunitCounts(batchId));

describe('a batch end to end', () => {
  it('three volunteers complete a batch with correct canonical results and verifiable credit', async () => {
    coordinator = await startTestCoordinator();
    const appId = await primesApp(coordinator);
    const inputs = primesInputs(12, 2000, 100_000);
    const { batchId } = await coordinator.submission.submitBatch({
      appId,
      name: 'e2e',
      replication: { minQuorum: 2, targetNresults: 2, fpopsEst: 1e12 },
      workunits: inputs.map((input) => ({ input: { ...input } })),
    });
    const vs = await Promise.all([join_({ name: 'a' }), join_({ name: 'b' }), join_({ name: 'c' })]);
    const done = async () => (await counts(coordinator!, batchId)).done === inputs.length;
    await Promise.all(vs.map((v) => v.work(done, 3)));
    expect((await counts(coordinator, batchId))).toEqual({ active: 0, done: 12, failed: 0, cancelled: 0 });

    const rows = coordinator.store.db
      .prepare(`SELECT w.input_json AS input, r.output_json AS output FROM workunits w JOIN replicas r ON r.id = w.canonical_replica_id WHERE w.batch_id = ?`)
      .all(batchId) as { input: string; output: string }[];
    expect(rows).toHaveLength(12);
    for (const row of rows) {
      const { from, to } = JSON.parse(row.input) as { from: number; to: number };
      expect(JSON.parse(row.output)).toEqual(expectedPrimes(from, to));
    }

    // Credit: 2 valid replicas per work unit; a host's total is exactly what its receipts add up to.
    const ledger = (await (await fetch(`${coordinator.url}/api/v1/ledger?after=0&limit=1000`)).json()) as { entries: CreditReceipt[]; coordinatorKey: string };
    expect(ledger.entries).toHaveLength(24);
    expect(verifyLedgerChain(tweetnaclEd25519(), ledger.coordinatorKey, ledger.entries, GENESIS_HASH)).toBeUndefined();
    await waitFor('credit notices', () => vs.reduce((n, v) => n + v.receipts.length, 0) === 24);
    for (const v of vs) {
      const host = (await coordinator.store.identities.hostById(v.hostId))!;
      const mine = ledger.entries.filter((e) => e.hostKey === v.publicKey);
      expect(mine.length).toBeGreaterThan(0);
      expect(host.totalCreditMicro).toBe(mine.reduce((sum, e) => sum + creditUnits(e.amount), 0));
      expect(v.receipts.map((r) => r.entryId).sort()).toEqual(mine.map((e) => e.entryId).sort());
      // Credit follows the CPU time measured: these tasks take a fraction of a millisecond.
      expect(host.rac > 0).toBe(host.totalCreditMicro > 0);
    }
    expect((await Promise.all(vs.map(async (v) => (await coordinator!.store.identities.hostById(v.hostId))!.totalCreditMicro))).some((credit) => credit > 0)).toBe(true);
  });
});

describe('the handshake and message validation', () => {
  it('refuses unknown protocol versions, bad proofs and unauthenticated requests with clear errors', async () => {
    coordinator = await startTestCoordinator();
    const v = await join_();
    const raw = v.socket;
    const send = <T extends object>(event: string, payload: unknown) => raw.timeout(5000).emitWithAck(event, payload) as Promise<Reply<T>>;

    expect(await send('hello', { protocol: 99 })).toMatchObject({ ok: false, error: { code: 'unsupported_protocol' } });
    // A volunteer from before protocol 2 is told to update, not left retrying.
    expect(await send('hello', { protocol: 1, hostKey: v.publicKey, platform: { kind: 'node' } })).toMatchObject({
      ok: false,
      error: { code: 'unsupported_protocol', message: expect.stringMatching(/speaks protocol 2 or 3, not 1: update this volunteer/) },
    });
    expect(await send('hello', { protocol: 2, hostKey: 'nope' })).toMatchObject({ ok: false, error: { code: 'bad_request', message: expect.stringMatching(/hostKey/) } });
    // A new hello drops the session: nothing is allowed until auth succeeds again.
    expect(await send('hello', { protocol: 2, hostKey: v.publicKey, platform: { kind: 'node' } })).toMatchObject({ ok: true });
    expect(await send('tasks.request', { count: 1 })).toMatchObject({ ok: false, error: { code: 'unauthenticated' } });
    expect(await send('auth', { signature: '00'.repeat(64) })).toMatchObject({ ok: false, error: { code: 'unauthenticated', message: expect.stringMatching(/does not verify/) } });
    // One attempt per challenge.
    expect(await send('auth', { signature: '00'.repeat(64) })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/hello first/) } });
  });

  it('answers malformed messages with bad_request and changes nothing', async () => {
    coordinator = await startTestCoordinator();
    await primesApp(coordinator);
    const v = await join_();
    for (const payload of [{ count: 'x' }, { count: 0 }, { count: 1000 }, { count: 1, extra: true }, null, 'str', [1]]) {
      expect(await v.send('tasks.request', payload)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    }
    expect(await v.send('results.report', { results: [] })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await v.send('results.report', { results: [{ taskId: 1, outcome: 'success' }] })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    const protocolErrors: unknown[] = [];
    v.socket.on('protocol.error', (e) => protocolErrors.push(e));
    v.socket.emit('heartbeat', {});
    await waitFor('protocol.error', () => protocolErrors.length === 1);
    expect(protocolErrors[0]).toMatchObject({ code: 'bad_request', message: expect.stringMatching(/acknowledgement/) });
    expect(coordinator.store.db.prepare("SELECT COUNT(*) AS n FROM replicas WHERE status <> 'unsent'").get()).toEqual({ n: 0 });
    expect(await v.send('heartbeat', {})).toMatchObject({ ok: true, serverTime: expect.any(Number) });
  });

  it('rejects forged, misdirected and replayed results over the wire', async () => {
    coordinator = await startTestCoordinator();
    await coordinator.submission.submitBatch({ appId: await primesApp(coordinator), name: 'b', workunits: [{ input: { from: 1, to: 100 } }] });
    const [alice, mallory] = [await join_(), await join_()];
    const [task] = await alice.requestTasks(1);
    await mallory.requestTasks(1);
    const result = await alice.compute(task!);

    const forged = { ...result, signature: signBody(tweetnaclEd25519(), mallory.seed, 'result', { ...result, signature: undefined, output: undefined }) };
    expect((await alice.report([forged]))[0]).toMatchObject({ status: 'rejected', error: { code: 'bad_signature' } });
    const misdirected = buildResult(tweetnaclEd25519(), mallory.seed, { ...task!, hostKey: mallory.publicKey }, { output: result.output });
    expect((await mallory.report([misdirected]))[0]).toMatchObject({ status: 'rejected', error: { code: 'not_assigned' } });
    expect((await mallory.report([result]))[0]).toMatchObject({ status: 'rejected', error: { code: 'not_assigned' } });

    expect((await alice.report([result]))[0]!.status).toBe('accepted');
    const replay = await alice.report([result]);
    expect(replay[0]).toEqual({ taskId: task!.taskId, status: 'duplicate' } satisfies ResultAck);
    expect(coordinator.store.db.prepare('SELECT COUNT(*) AS n FROM replicas WHERE received_at IS NOT NULL').get()).toEqual({ n: 1 });
  });
});

describe('pushes and side channels', () => {
  it('tells hosts to abort the tasks of a cancelled batch', async () => {
    coordinator = await startTestCoordinator();
    const { batchId } = await coordinator.submission.submitBatch({
      appId: await primesApp(coordinator),
      name: 'to cancel',
      workunits: primesInputs(3, 100).map((input) => ({ input: { ...input } })),
    });
    const v = await join_();
    const tasks = await v.requestTasks(3);
    expect(await coordinator.cancelBatch(batchId)).toBe(3);
    await waitFor('tasks.abort', () => v.aborts.length === 1);
    expect(v.aborts[0]!.taskIds.sort()).toEqual(tasks.map((t) => t.taskId).sort());
    expect(v.aborts[0]!.reason).toMatch(/cancelled/);

    // A host that missed the push learns it when it next lists what it holds.
    const reply = await v.send<{ tasks: unknown[]; abort?: { taskIds: number[] } }>('tasks.request', { count: 1, holding: tasks.map((t) => t.taskId) });
    expect(reply).toMatchObject({ ok: true, tasks: [], retryAfterMs: expect.any(Number) });
    expect(reply.ok && reply.abort?.taskIds.sort()).toEqual(tasks.map((t) => t.taskId).sort());
  });

  /** A volunteer holding the result of a one-task batch, and a way to send messages noting the order they are answered in. */
  async function oneResultToReport(name: string) {
    const c = (coordinator = await startTestCoordinator());
    await c.submission.submitBatch({
      appId: await primesApp(c),
      name,
      replication: { minQuorum: 1, targetNresults: 1 },
      workunits: [{ input: { from: 1, to: 1000 } }],
    });
    const v = await join_();
    const [t] = await v.requestTasks(1);
    const result = await v.compute(t!);
    const answered: string[] = [];
    const sent = <T extends object>(event: string, payload: object) => v.send<T>(event, payload).finally(() => answered.push(event));
    return { c, v, t: t!, result, answered, sent };
  }

  it('answers a connection’s messages in the order they were sent: receipts asked right after a report include its credit', async () => {
    const { t, result, answered, sent } = await oneResultToReport('order');
    // Sent back to back, without waiting: the report is a write, the receipts a read. (The report
    // waits for its signatures to be checked on other threads before it joins a group; the
    // messages after it wait for it, and are answered after it.)
    const [, report, receipts] = await Promise.all([
      sent<object>('heartbeat', {}),
      sent<{ results: ResultAck[] }>('results.report', { results: [result] }),
      sent<{ receipts: CreditReceipt[] }>('credit.receipts', { afterEntryId: 0 }),
      sent<object>('heartbeat', {}),
    ]);
    expect(report.ok && report.results.map((a) => a.status)).toEqual(['accepted']);
    expect(receipts.ok && receipts.receipts.map((r) => r.taskId)).toEqual([t.taskId]);
    expect(answered).toEqual(['heartbeat', 'results.report', 'credit.receipts', 'heartbeat']);
  });

  it('answers a report whose signatures could not be checked as a failure, in its turn, and changes nothing', async () => {
    const { c, v, result, answered, sent } = await oneResultToReport('check-failed');
    vi.spyOn(c.service, 'verifyResults').mockRejectedValueOnce(new Error('the thread pool is gone'));
    const [failed, receipts] = await Promise.all([
      sent<{ results: ResultAck[] }>('results.report', { results: [result] }),
      sent<{ receipts: CreditReceipt[] }>('credit.receipts', { afterEntryId: 0 }),
    ]);
    expect(failed).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(receipts).toEqual({ ok: true, receipts: [] });
    expect(answered).toEqual(['results.report', 'credit.receipts']);
    // Sent again, it is checked and taken as if for the first time.
    expect((await v.report([result]))[0]!.status).toBe('accepted');
  });

  it('reissues a task whose deadline passed, and still accepts the late result while the work unit is open', async () => {
    coordinator = await startTestCoordinator({ transitionIntervalMs: 50 });
    await coordinator.submission.submitBatch({
      appId: await primesApp(coordinator),
      name: 'deadline',
      replication: { delayBoundMs: 2000 },
      workunits: [{ input: { from: 1, to: 1000 } }],
    });
    const [slow, fast] = [await join_(), await join_()];
    const [late] = await slow.requestTasks(1);
    const [t] = await fast.requestTasks(1);
    await fast.report([await fast.compute(t!)]);
    const wuId = await workunitOfTask(coordinator, t!);
    const lateReplica = await replicaOfTask(coordinator, late!);
    const replicas = async () => (await coordinator!.store.work.replicasOf(wuId));
    await waitFor('deadline reissue', async () => (await replicas()).find((r) => r.id === lateReplica)?.outcome === 'no_reply', 10_000);
    // Reissued. (On a machine slow enough to take the fast host past its deadline too, its
    // replica was reissued as well: hence "at least".)
    expect((await replicas()).filter((r) => r.status === 'unsent').length).toBeGreaterThanOrEqual(1);
    expect((await slow.report([await slow.compute(late!)]))[0]!.status).toBe('accepted');
    expect((await coordinator.store.work.workunit(wuId))!.status).toBe('done');
  });

  it('accepts a large output uploaded by hash with a signed PUT', async () => {
    coordinator = await startTestCoordinator();
    await coordinator.submission.submitBatch({ appId: await primesApp(coordinator), name: 'big', workunits: [{ input: { from: 1, to: 10 } }], replication: { minQuorum: 1, targetNresults: 1 } });
    const v = await join_();
    const [task] = await v.requestTasks(1);
    const output = { blob: 'x'.repeat(300_000) };
    const result = buildResult(tweetnaclEd25519(), v.seed, task!, { output, inline: false });
    const bytes = new TextEncoder().encode(JSON.stringify(output));
    const hash = jsonHash(output);

    expect((await v.report([result]))[0]).toMatchObject({ status: 'rejected', error: { code: 'bad_output', message: expect.stringMatching(/PUT \/files/) } });
    const put = (headers: Record<string, string>, body: Uint8Array = bytes) => fetch(`${coordinator!.url}/files/${hash}`, { method: 'PUT', headers, body });
    expect((await put({})).status).toBe(401);
    const signature = signBody(tweetnaclEd25519(), v.seed, 'upload', { hostKey: v.publicKey, sha256: hash, taskId: task!.taskId });
    const headers = { 'x-vg-host-key': v.publicKey, 'x-vg-task-id': String(task!.taskId), 'x-vg-signature': signature };
    const wrong = await put(headers, new TextEncoder().encode('{}'));
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { error: { message: string } }).error.message).toMatch(/hashes to/);
    expect((await put(headers)).status).toBe(201);
    expect((await v.report([result]))[0]!.status).toBe('accepted');
    expect((await coordinator.store.work.workunit(await workunitOfTask(coordinator, task!)))!.status).toBe('done');
    // An output is not served to anyone who asks: researchers get it through the API.
    expect((await fetch(`${coordinator.url}/files/${hash}`)).status).toBe(404);
  });

  it('serves files from a data dir given as a relative path (as --data-dir ./data is)', async () => {
    const dir = relative(process.cwd(), mkdtempSync(join(tmpdir(), 'vg-relative-')));
    expect(isAbsolute(dir)).toBe(false);
    coordinator = await startTestCoordinator({ dataDir: dir });
    const appId = await primesApp(coordinator);
    const file = (await coordinator.store.catalog.versionsOfApp(appId))[0]!.manifest.files[0]!;
    const r = await fetch(`${coordinator.url}/files/${file.sha256}`);
    expect(r.status).toBe(200);
    expect((await r.arrayBuffer()).byteLength).toBe(file.size);
  });

  it('serves files from a data dir under a folder whose name starts with a dot (~/.local/share/…)', async () => {
    const root = mkdtempSync(join(tmpdir(), 'vg-dot-'));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    coordinator = await startTestCoordinator({ dataDir: join(root, '.local', 'share', 'volunteer-grid') });
    const appId = await primesApp(coordinator);
    const file = (await coordinator.store.catalog.versionsOfApp(appId))[0]!.manifest.files[0]!;
    const r = await fetch(`${coordinator.url}/files/${file.sha256}`);
    expect(r.status).toBe(200);
    expect((await r.arrayBuffer()).byteLength).toBe(file.size);
  });

  it('sends inputs too large for a message as files by hash', async () => {
    coordinator = await startTestCoordinator();
    const projectId = await coordinator.apps.createProject({ name: 'echo' });
    const app = await coordinator.apps.createApp(projectId, { name: 'length' });
    const code = 'export default async function run(input) { return { length: input.text.length }; }';
    await coordinator.apps.addVersion(app.id, { files: [{ name: 'main.js', bytes: new TextEncoder().encode(code) }] });
    const input = { text: 'y'.repeat(400_000) };
    await coordinator.submission.submitBatch({ appId: app.id, name: 'large', workunits: [{ input }], replication: { minQuorum: 1, targetNresults: 1 } });
    const v = await join_();
    const [task] = await v.requestTasks(1);
    expect(task!.input).toBeUndefined();
    expect(task!.inputHash).toBe(jsonHash(input));
    const result = await v.compute(task!); // fetches /files/{inputHash} and checks the hash
    expect(result.output).toEqual({ length: 400_000 });
    expect((await v.report([result]))[0]!.status).toBe('accepted');
    expect((await fetch(`${coordinator.url}/files/${'0'.repeat(64)}`)).status).toBe(404);
    expect((await fetch(`${coordinator.url}/files/..%2f..%2fetc%2fpasswd`)).status).toBe(400);
  });

  it('links hosts to an account created over HTTP so their credit adds up', async () => {
    coordinator = await startTestCoordinator();
    const bad = await fetch(`${coordinator.url}/api/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name": 5}' });
    expect(bad.status).toBe(400);
    const res = await fetch(`${coordinator.url}/api/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'alice', team: 'lab' }) });
    expect(res.status).toBe(201);
    const { userId, accountKey } = (await res.json()) as { userId: number; accountKey: string };
    const [a, b] = [await join_({ accountKey }), await join_({ accountKey })];
    expect([a.userId, b.userId]).toEqual([userId, userId]);
    await expect(join_({ accountKey: 'x'.repeat(32) })).rejects.toThrow(/unauthenticated: no account has this account key/);
    const wellKnown = (await (await fetch(`${coordinator.url}/.well-known/volunteer-grid.json`)).json()) as { coordinatorKey: string };
    expect(wellKnown.coordinatorKey).toBe(coordinator.key.publicKey);
  });
});

describe('a host’s lastSeenAt', () => {
  it('follows its messages over a real connection, not only its handshake', async () => {
    coordinator = await startTestCoordinator();
    const db = coordinator.store.db;
    const v = await join_({ name: 'seen' });
    const seen = () => (db.prepare('SELECT last_seen_at AS t FROM hosts WHERE id = ?').get(v.hostId) as { t: number }).t;
    // As if its last message were two minutes ago: it is written at most once a minute.
    const awayFor = (ms: number) => db.prepare('UPDATE hosts SET last_seen_at = ? WHERE id = ?').run(Date.now() - ms, v.hostId);

    awayFor(120_000);
    let before = Date.now();
    expect(await v.requestTasks(1)).toEqual([]);
    expect(seen()).toBeGreaterThanOrEqual(before);

    awayFor(120_000);
    before = Date.now();
    expect((await v.send('heartbeat', {})).ok).toBe(true);
    expect(seen()).toBeGreaterThanOrEqual(before);
  });
});
