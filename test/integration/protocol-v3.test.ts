// Protocol 3 on the real coordinator, over real Socket.IO connections: one coordinator signature
// per tasks.request answer, one host signature per results.report; what is stored lets an
// auditor check later that the host signed each result; a protocol-2 client on the same
// coordinator is answered as before.
import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../../protocol/bytes.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import type { Reply, ResultAck } from '../../protocol/messages.js';
import { signResultList } from '../../protocol/signed-lists.js';
import { verifyBody } from '../../protocol/signing.js';
import { taskProblem } from '../../protocol/verify.js';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { DatabaseReader } from '../helpers/database-reader.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer, unsigned } from '../helpers/test-volunteer.js';

const ed = tweetnaclEd25519();
let coordinator: TestCoordinator | undefined;
const closing: { close(): void }[] = [];
afterEach(async () => {
  closing.splice(0).forEach((c) => c.close());
  await coordinator?.dispose();
  coordinator = undefined;
});

async function start(workunits: number): Promise<{ c: TestCoordinator; db: DatabaseReader }> {
  coordinator = await startTestCoordinator();
  const inputs = Array.from({ length: workunits }, (_, i) => ({ from: 1 + i * 100, to: 101 + i * 100 }));
  const appId = await addPrimesApp(coordinator);
  if (workunits > 0) await submitInputs(coordinator, appId, inputs, { minQuorum: 1, targetNresults: 1 });
  const db = await DatabaseReader.open(coordinator.dataDir);
  closing.push({ close: () => void db.close() });
  return { c: coordinator, db };
}

async function join_(c: TestCoordinator, opts: Parameters<typeof TestVolunteer.connect>[1] = {}): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(c.url, opts);
  closing.push(v);
  return v;
}

interface StoredResult {
  taskId: number;
  resultHash: string | null;
  resultSignature: string | null;
  taskSignature: string | null;
  listId: number | null;
}
const storedOf = (db: DatabaseReader, hostId: number) =>
  db.read((sql) =>
    sql.all<StoredResult>(
      `SELECT task_id AS "taskId", result_hash AS "resultHash", result_signature AS "resultSignature", task_signature AS "taskSignature",
        result_list_id AS "listId" FROM replicas WHERE host_id = ? ORDER BY task_id`,
      [hostId],
    ),
  );
const listCount = (db: DatabaseReader) => db.read(async (sql) => Number((await sql.get<{ n: number | string }>('SELECT COUNT(*) AS n FROM result_lists'))!.n));

describe('protocol 3', () => {
  it('signs a reply’s tasks once and takes a report under one host signature, which an auditor can check again from the store', async () => {
    const { c, db } = await start(6);
    const hello = (await (await join_(c)).socket.timeout(5000).emitWithAck('hello', { protocol: 3, hostKey: 'ab'.repeat(32), platform: { kind: 'node' } })) as Reply<{ protocol: number }>;
    expect(hello).toMatchObject({ ok: true, protocol: 3 });

    const v = await join_(c, { protocol: 3 });
    const { tasks, taskList } = await v.requestListedTasks(4);
    expect(tasks).toHaveLength(4);
    for (const t of tasks) expect(t).not.toHaveProperty('signature');
    expect(taskList).toMatchObject({ hostKey: v.publicKey, taskHashes: expect.any(Array) });
    expect(taskList!.taskHashes).toHaveLength(4);

    const results = await Promise.all(tasks.map((t) => v.compute(t)));
    const acks = await v.reportListed(results);
    expect(acks.map((a) => a.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);

    // Nothing signed on its own is stored for these tasks or results: one list row for the report.
    const stored = await storedOf(db, v.hostId);
    expect(stored).toHaveLength(4);
    expect(stored.every((r) => r.taskSignature === null && r.resultSignature === null)).toBe(true);
    expect(new Set(stored.map((r) => r.listId)).size).toBe(1);
    expect(await listCount(db)).toBe(1);
    // The auditor's check: the list row's signature verifies with the host's key over its hashes,
    // and each stored result's hash (that of its signed fields) is among them.
    const list = await db.read((sql) =>
      sql.get<{ hostKey: string; signature: string; hashes: string }>(
        'SELECT h.public_key AS "hostKey", l.signature, l.result_hashes AS hashes FROM result_lists l JOIN hosts h ON h.id = l.host_id WHERE l.id = ?',
        [stored[0]!.listId],
      ),
    );
    const resultHashes = JSON.parse(list!.hashes) as string[];
    expect(list!.hostKey).toBe(v.publicKey);
    expect(verifyBody(ed, list!.hostKey, 'resultList', { hostKey: list!.hostKey, resultHashes }, list!.signature)).toBe(true);
    for (const r of stored) expect(resultHashes).toContain(r.resultHash);

    // A report of duplicates only records no list.
    expect((await v.reportListed(results)).map((a) => a.status)).toEqual(Array(4).fill('duplicate'));
    expect(await listCount(db)).toBe(1);
  });

  it('answers an empty reply without a list', async () => {
    const { c } = await start(0);
    const v = await join_(c, { protocol: 3 });
    const reply = await v.requestListedTasks(4);
    expect(reply).toEqual({ tasks: [] });
  });

  it('rejects every result of a report whose signature is forged or altered, and records nothing; a result changed after signing is refused on its own', async () => {
    const { c, db } = await start(3);
    const v = await join_(c, { protocol: 3 });
    const { tasks } = await v.requestListedTasks(3);
    const results = (await Promise.all(tasks.map((t) => v.compute(t)))).map(unsigned);
    const badSignature = (acks: ResultAck[]) => acks.map((a) => a.status === 'rejected' && a.error?.code);

    const forged = signResultList(ed, toHex(ed.randomSeed()), v.publicKey, results);
    expect(badSignature(await v.reportListed(results, forged))).toEqual(Array(3).fill('bad_signature'));
    const honest = signResultList(ed, v.seed, v.publicKey, results);
    const flipped = { ...honest, signature: (honest.signature[0] === '0' ? '1' : '0') + honest.signature.slice(1) };
    expect(badSignature(await v.reportListed(results, flipped))).toEqual(Array(3).fill('bad_signature'));
    // Signed for other results (as many), or for the same in another order: nothing it names is covered.
    expect(badSignature(await v.reportListed(results, { ...honest, resultHashes: [...honest.resultHashes].reverse() }))).toEqual(Array(3).fill('bad_signature'));
    expect(badSignature(await v.reportListed([results[1]!, results[2]!, results[0]!], honest))).toEqual(Array(3).fill('bad_signature'));
    expect((await storedOf(db, v.hostId)).every((r) => r.resultHash === null && r.listId === null)).toBe(true);
    expect(await listCount(db)).toBe(0);

    // A result changed after the host signed the list: that one refused, the others it covers taken.
    const changed = [results[0]!, { ...results[1]!, cpuTimeMs: results[1]!.cpuTimeMs + 1000 }, results[2]!];
    expect((await v.reportListed(changed, honest)).map((a) => a.error?.code ?? a.status)).toEqual(['accepted', 'bad_signature', 'accepted']);
    expect((await storedOf(db, v.hostId)).filter((r) => r.resultHash !== null)).toHaveLength(2);
  });

  it('answers a protocol-2 client on the same coordinator as before: tasks and results signed one by one', async () => {
    const { c, db } = await start(4);
    const v3 = await join_(c, { protocol: 3 });
    const v2 = await join_(c, { protocol: 2 });
    const hello = (await v2.socket.timeout(5000).emitWithAck('hello', { protocol: 2, hostKey: 'ab'.repeat(32), platform: { kind: 'node' } })) as Reply<{ protocol: number }>;
    expect(hello).toMatchObject({ ok: true, protocol: 2 });
    const old = await join_(c, { protocol: 2 });

    const tasks = await old.requestTasks(2); // each checked with its own signature
    expect(tasks).toHaveLength(2);
    expect((await old.report(await Promise.all(tasks.map((t) => old.compute(t))))).map((a) => a.status)).toEqual(['accepted', 'accepted']);
    const stored = await storedOf(db, old.hostId);
    expect(stored.every((r) => r.taskSignature !== null && r.resultSignature !== null && r.listId === null)).toBe(true);

    // A protocol-2 report on a protocol-3 connection (and the other way round) is malformed.
    const { tasks: listed } = await v3.requestListedTasks(2);
    const signed = await Promise.all(listed.map((t) => v3.compute(t)));
    expect(await v3.send('results.report', { results: signed })).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(await old.send('results.report', { results: signed.map(unsigned), resultList: signResultList(ed, old.seed, old.publicKey, signed) })).toMatchObject({
      ok: false,
      error: { code: 'bad_request' },
    });
    expect((await v3.reportListed(signed)).map((a) => a.status)).toEqual(['accepted', 'accepted']);
  });

  it('sends a lost task again in the signed list, and signs it on its own for the same host back on protocol 2', async () => {
    const { c } = await start(3);
    const seed = toHex(ed.randomSeed());
    const first = await join_(c, { protocol: 3, seed });
    const { tasks } = await first.requestListedTasks(2);
    // The reply is lost: the host asks again holding nothing, and gets both again, listed.
    const again = await first.requestListedTasks(2, []);
    expect(again.tasks.map((t) => t.taskId).sort()).toEqual(tasks.map((t) => t.taskId).sort());
    expect(again.taskList!.taskHashes).toHaveLength(2);
    first.close();

    // Back as a protocol-2 client: the tasks were sent without a signature of their own, so they
    // are signed now (deterministic, as any other protocol-2 send would be).
    const back = await join_(c, { protocol: 2, seed });
    const resent = await back.requestTasks(2, []);
    expect(resent.map((t) => t.taskId).sort()).toEqual(tasks.map((t) => t.taskId).sort());
    for (const t of resent) expect(taskProblem(ed, back.coordinatorKey, back.publicKey, t)).toBeUndefined();
  });
});
