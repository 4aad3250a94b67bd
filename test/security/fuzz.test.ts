// Hostile input (issue 6): a seeded fuzzer sends more than 10,000 random, malformed and
// oversized Socket.IO messages and HTTP requests to a real coordinator (in this process, real
// SQLite in a temp dir, loopback only). The coordinator must stay up, answer every one of them
// with a clear error (never a 500, never silence), and change its database only through the
// legitimate work the test does alongside. Replay a failure with the printed seed:
//   FUZZ_SEED=<seed> npx vitest run test/security/fuzz.test.ts
// What it found is kept at the end as focused regression tests.
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ERROR_CODES } from '../../protocol/api.js';
import { fromHex, toHex } from '../../protocol/bytes.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { jsonHash, sha256Hex } from '../../protocol/hash.js';
import { ERROR_CODES, RESULT_REJECTIONS, type Reply, type ResultAck, type SignedResultList, type SignedTaskList, type Task, type UnsignedResult, type UnsignedTask } from '../../protocol/messages.js';
import type { ProtocolVersion } from '../../protocol/limits.js';
import { buildResult, buildUnsignedResult } from '../../protocol/results.js';
import { resultBody, signBody, type SigningDomain } from '../../protocol/signing.js';
import { listedTaskProblems } from '../../protocol/verify.js';
import { spawnCoordinator } from '../helpers/coordinator-process.js';
import { ApiClient, newApp, newResearcher, type App, type Project } from '../helpers/api-client.js';
import { workunitOfTask } from '../helpers/task-ids.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer, unsigned } from '../helpers/test-volunteer.js';
import { mostAllowed } from '../helpers/token-bucket.js';
import { bigArray, closeHttpAgent, deep, HOSTILE_KEYS, httpRaw, junk, obj, q, RawSocket, Rng, seg, str, wrongType, type AckOutcome, type HttpReply } from './fuzz-kit.js';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_f022) >>> 0;
/** Socket.IO messages in the main loop, and HTTP requests in the HTTP loop. */
const SOCKET_MESSAGES = 8000;
const HTTP_REQUESTS = 3000;
/** Outputs nested this deep are legal (canonical JSON allows 64) or refused by depth: the fuzz stays in the interesting range. */
const SAFE_OUTPUT_DEPTH = 300;
const NEAR_LIMIT = 1_000_000; // characters: under maxHttpBufferSize (1 MiB) with the packet framing
const ed = nodeEd25519(); // fast signing: the fuzzer signs thousands of proofs and results
/**
 * The versions fuzzed sessions speak: A and B protocol 2 (each result signed on its own), C and D
 * protocol 3 (one signature a report, over its list of results). The coordinator takes both.
 */
const PROTOCOL_VERSION: ProtocolVersion = 2;
const LISTED: ProtocolVersion = 3;

console.log(`fuzz seed ${SEED}: replay with FUZZ_SEED=${SEED} npx vitest run test/security/fuzz.test.ts`);

// ---- the world: one coordinator, a researcher's batch, two hosts holding tasks ----

let c: TestCoordinator;
let owner: ApiClient;
let mallory: ApiClient;
let admin: ApiClient;
let project: Project;
let app: App;
let batchId: number;
let malloryTokenId: number;
let A: TestVolunteer;
let B: TestVolunteer;
let C: TestVolunteer;
let D: TestVolunteer;
let tasksA: Task[];
let tasksB: Task[];
let tasksC: UnsignedTask[];
let tasksD: UnsignedTask[];
let coordinatorSecret: string;
let before: Snapshot;
let protoBefore: string[];

/** What legitimate work changed: the DB may differ from the snapshot by exactly this. */
const legit = {
  hostIds: new Set<number>(),
  acceptedTaskIds: new Set<number>(),
  /** Tasks sent to a fuzzed host by a legitimate tasks.request: assigned, maybe never reported. */
  assignedTaskIds: new Set<number>(),
  /** Fuzzed hosts whose own results were accepted: their records (counts, credit) change. */
  creditedHostIds: new Set<number>(),
  /** Signatures of protocol-3 reports that had a result accepted: each may leave one result_lists row. */
  resultLists: new Set<string>(),
  accountsCreated: 0,
  teamNames: new Set<string>(),
};
/** Every failed expectation, with enough to replay it. */
const violations: string[] = [];
const counts: Record<string, number> = {};
const count = (category: string, n = 1) => (counts[category] = (counts[category] ?? 0) + n);
/** Protocol-3 reports generated, by the way their list goes wrong (a breakdown of counts, not more inputs). */
const listKinds: Record<string, number> = {};
const started = Date.now();

function violation(what: string, sent: string, got: unknown): void {
  if (violations.length < 200) violations.push(`${what}\n  sent: ${sent.slice(0, 300)}\n  got:  ${JSON.stringify(got)?.slice(0, 300)}`);
}

beforeAll(async () => {
  protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
  c = await startTestCoordinator();
  coordinatorSecret = (JSON.parse(readFileSync(join(c.dataDir, 'coordinator-key.json'), 'utf8')) as { seed: string }).seed;
  admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  owner = await newResearcher(admin, 'fuzz-owner');
  mallory = await newResearcher(admin, 'fuzz-mallory');
  malloryTokenId = ((await mallory.get<{ tokens: { id: number }[] }>('/tokens')).body.tokens[0]!).id;
  ({ project, app } = await newApp(owner, 'fuzz-project'));
  const batch = await owner.post<{ batchId: number }>(`/apps/${app.id}/batches`, {
    name: 'legit',
    replication: { minQuorum: 1, targetNresults: 1 },
    // Enough for the hosts' tasks, the checkpoints and the legitimate protocol-3 rounds.
    workunits: Array.from({ length: 80 }, (_, i) => ({ input: { n: i } })),
  });
  expect(batch.status, batch.text).toBe(201);
  batchId = batch.body.batchId;
  await c.replicasReady();
  A = await TestVolunteer.connect(c.url, { name: 'fuzz-a' });
  B = await TestVolunteer.connect(c.url, { name: 'fuzz-b' });
  C = await TestVolunteer.connect(c.url, { name: 'fuzz-c', protocol: LISTED });
  D = await TestVolunteer.connect(c.url, { name: 'fuzz-d', protocol: LISTED });
  tasksA = await A.requestTasks(3);
  tasksB = await B.requestTasks(3);
  tasksC = (await C.requestListedTasks(3)).tasks;
  tasksD = (await D.requestListedTasks(3)).tasks;
  for (const tasks of [tasksA, tasksB, tasksC, tasksD]) expect(tasks).toHaveLength(3);
  before = await snapshot();
}, 60_000);

afterAll(async () => {
  for (const v of [A, B, C, D]) v?.close();
  closeHttpAgent();
  await c?.dispose();
  console.log(`fuzz seed ${SEED}; ${Object.values(counts).reduce((a, b) => a + b, 0)} hostile inputs in ${((Date.now() - started) / 1000).toFixed(1)} s:`, counts, 'protocol-3 lists:', listKinds);
});

// ---- the database, before and after ----

interface Snapshot {
  tables: Record<string, number>;
  digests: Record<string, string>;
  hostKeys: Set<string>;
  hosts: Map<number, string>;
  files: Set<string>;
  replicas: Map<number, string>;
  workunits: Map<number, string>;
  ledgerTaskIds: Set<number>;
  teams: Set<string>;
  /** Protocol 3's report signatures, by id. */
  resultLists: Map<number, { hostId: number; signature: string; hashes: string[] }>;
}

interface ReplicaRow {
  id: number;
  task_id: number | null;
  host_id: number | null;
  status: string;
  result_hash: string | null;
  result_signature: string | null;
  result_list_id: number | null;
}

async function snapshot(): Promise<Snapshot> {
  const sql = c.store.sql;
  const all = <T extends object>(query: string) => sql.all<T>(query);
  const tables: Record<string, number> = {};
  const names =
    sql.dialect === 'postgres'
      ? `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
      : `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`;
  for (const { name } of await all<{ name: string }>(names)) {
    tables[name] = Number((await sql.get<{ n: number }>(`SELECT COUNT(*) AS n FROM "${name}"`))!.n);
  }
  const digest = async (query: string, leaveOut: string[] = []) =>
    jsonHash((await all<Record<string, unknown>>(query)).map((row) => Object.fromEntries(Object.entries(row).filter(([k]) => !leaveOut.includes(k)))));
  return {
    tables,
    // Rows no fuzz message may touch at all (times of use excluded: reading with a token is fine).
    digests: {
      researchers: await digest('SELECT id, name, role, disabled, password_hash FROM researchers ORDER BY id'),
      sessions: await digest('SELECT token_hash, researcher_id, csrf_token, expires_at FROM sessions ORDER BY token_hash'),
      apiTokens: await digest('SELECT id, token_hash, researcher_id, name FROM api_tokens ORDER BY id'),
      projects: await digest('SELECT * FROM projects ORDER BY id'),
      apps: await digest('SELECT * FROM apps ORDER BY id'),
      // A version's first result marks it as working (legitimate work does that); nothing may break it.
      appVersions: await digest('SELECT * FROM app_versions ORDER BY id', ['succeeded']),
      batches: await digest('SELECT id, project_id, app_id, name, client_key, status, staged, workunit_count FROM batches ORDER BY id'),
      schema: await digest('SELECT * FROM schema_migrations ORDER BY version'),
    },
    hostKeys: new Set((await all<{ k: string }>('SELECT public_key AS k FROM hosts')).map((r) => r.k)),
    // A host's identity and record, without last_seen_at (every legitimate auth updates it).
    hosts: new Map(
      (await all<Record<string, unknown>>('SELECT * FROM hosts')).map(({ last_seen_at: _seen, ...h }) => [h.id as number, JSON.stringify(h)]),
    ),
    files: new Set((await all<{ h: string }>('SELECT sha256 AS h FROM files')).map((r) => r.h)),
    // progress is display only (a host may report progress on its own tasks).
    replicas: new Map((await all<Record<string, unknown>>('SELECT * FROM replicas')).map(({ progress: _p, ...r }) => [r.id as number, JSON.stringify(r)])),
    workunits: new Map((await all<Record<string, unknown>>('SELECT * FROM workunits')).map((w) => [w.id as number, JSON.stringify(w)])),
    ledgerTaskIds: new Set((await all<{ t: number }>('SELECT COALESCE(task_id, replica_id) AS t FROM credit_ledger')).map((r) => r.t)),
    teams: new Set((await all<{ n: string }>('SELECT name AS n FROM teams')).map((r) => r.n)),
    resultLists: new Map(
      (await all<{ id: number; host_id: number; signature: string; result_hashes: string }>('SELECT id, host_id, signature, result_hashes FROM result_lists')).map((l) => [
        Number(l.id),
        { hostId: Number(l.host_id), signature: l.signature, hashes: JSON.parse(l.result_hashes) as string[] },
      ]),
    ),
  };
}

/** The database file is whole and its references hold (SQLite; PostgreSQL enforces its constraints as it writes). */
async function expectIntact(): Promise<void> {
  if (c.store.sql.dialect !== 'sqlite') return;
  expect((await c.store.sql.get<{ integrity_check: string }>('PRAGMA integrity_check'))!.integrity_check).toBe('ok');
  expect(await c.store.sql.all('PRAGMA foreign_key_check')).toEqual([]);
}

/** Every difference between the snapshot and now must be legitimate work. */
function unexplainedChanges(now: Snapshot): string[] {
  const problems: string[] = [];
  for (const [k, v] of Object.entries(before.digests)) if (now.digests[k] !== v) problems.push(`${k} rows changed`);
  const newHosts = [...now.hosts.keys()].filter((id) => !before.hosts.has(id));
  for (const id of newHosts) if (!legit.hostIds.has(id)) problems.push(`host ${id} was created by no legitimate auth`);
  for (const [id, row] of before.hosts) if (now.hosts.get(id) !== row && !legit.hostIds.has(id) && !legit.creditedHostIds.has(id)) problems.push(`host ${id} changed: ${now.hosts.get(id)}`);
  const expectUsers = before.tables.users! + newHosts.length + legit.accountsCreated;
  if (now.tables.users !== expectUsers) problems.push(`users: ${now.tables.users}, expected ${expectUsers}`);
  for (const t of now.teams) if (!before.teams.has(t) && !legit.teamNames.has(t)) problems.push(`team ${JSON.stringify(t)} from no created account`);
  for (const f of now.files) if (!before.files.has(f)) problems.push(`file ${f} from no legitimate upload`);
  if (now.files.size !== before.files.size) problems.push(`files: ${now.files.size} rows, expected ${before.files.size}`);
  const legitHosts = new Set([...legit.hostIds]);
  for (const [id, row] of now.replicas) {
    if (before.replicas.get(id) === row) continue;
    const r = JSON.parse(row) as ReplicaRow;
    const explained =
      (r.task_id !== null && legit.acceptedTaskIds.has(r.task_id)) ||
      (r.task_id !== null && legit.assignedTaskIds.has(r.task_id) && r.result_hash === null) ||
      (r.host_id !== null && legitHosts.has(r.host_id) && r.result_hash === null) ||
      (!before.replicas.has(id) && r.status === 'unsent');
    if (!explained) problems.push(`replica ${id} changed without legitimate work: ${before.replicas.get(id) ?? '(new)'} → ${row}`);
  }
  const legitWorkunits = new Set([...now.replicas.values()].map((r) => JSON.parse(r) as { task_id: number | null; workunit_id: number }).filter((r) => r.task_id !== null && legit.acceptedTaskIds.has(r.task_id)).map((r) => r.workunit_id));
  for (const [id, row] of now.workunits) if (before.workunits.get(id) !== row && !legitWorkunits.has(id)) problems.push(`work unit ${id} changed: ${row}`);
  for (const t of now.ledgerTaskIds) if (!before.ledgerTaskIds.has(t) && !legit.acceptedTaskIds.has(t)) problems.push(`credit for task ${t}, which no legitimate result earned`);
  // Protocol 3: a result_lists row comes only from a report that had a result accepted (one row
  // each), never changes, and covers what is kept under it.
  for (const [id, l] of before.resultLists) if (JSON.stringify(now.resultLists.get(id)) !== JSON.stringify(l)) problems.push(`result list ${id} changed`);
  const newLists = [...now.resultLists].filter(([id]) => !before.resultLists.has(id));
  for (const [id, l] of newLists) if (!legit.resultLists.has(l.signature)) problems.push(`result list ${id} from no accepted protocol-3 report`);
  if (newLists.length !== legit.resultLists.size) problems.push(`result_lists: ${newLists.length} new rows, expected ${legit.resultLists.size} (one a report with a result accepted)`);
  const kept = new Set<number>();
  for (const row of now.replicas.values()) {
    const r = JSON.parse(row) as ReplicaRow;
    if (r.result_list_id === null) continue;
    kept.add(Number(r.result_list_id));
    const l = now.resultLists.get(Number(r.result_list_id));
    if (!l || l.hostId !== Number(r.host_id) || r.result_signature !== null || r.result_hash === null || !l.hashes.includes(r.result_hash)) {
      problems.push(`replica ${r.id} is kept under result list ${r.result_list_id}, which does not name it: ${row}`);
    }
  }
  for (const [id] of newLists) if (!kept.has(id)) problems.push(`result list ${id} covers no result kept`);
  for (const t of ['researchers', 'sessions', 'api_tokens', 'projects', 'apps', 'app_versions', 'batches', 'workunits', 'schema_migrations']) {
    if (now.tables[t] !== before.tables[t]) problems.push(`${t}: ${now.tables[t]} rows, expected ${before.tables[t]}`);
  }
  return problems;
}

let checkpoints = 0;
/** The coordinator answers, and a fresh volunteer does a unit of work that is accepted (protocol 2 and 3 in turn). */
async function checkpoint(): Promise<void> {
  const health = await httpRaw(c.url, 'GET', '/healthz');
  expect(health.status).toBe(200);
  const protocol = checkpoints++ % 2 === 0 ? PROTOCOL_VERSION : LISTED;
  const v = await TestVolunteer.connect(c.url, { name: 'checkpoint', protocol });
  try {
    legit.hostIds.add(v.hostId);
    if (protocol === LISTED) {
      const [task] = (await v.requestListedTasks(1)).tasks;
      expect(task, 'a fresh volunteer gets a task').toBeDefined();
      const results = [unsigned(await v.compute(task!))];
      const list = signList(v, v.publicKey, results.map(hashOf));
      // Counted before it is sent: a snapshot taken meanwhile must not find its row unexplained.
      legit.resultLists.add(list.signature);
      legit.acceptedTaskIds.add(task!.taskId);
      expect((await v.reportListed(results, list))[0]!.status).toBe('accepted');
      return;
    }
    const [task] = await v.requestTasks(1);
    expect(task, 'a fresh volunteer gets a task').toBeDefined();
    const acks = await v.report([await v.compute(task!)]);
    expect(acks[0]!.status).toBe('accepted');
    legit.acceptedTaskIds.add(task!.taskId);
  } finally {
    v.close();
  }
}

// ---- checking replies ----

const isErrorReply = (r: unknown): r is { ok: false; error: { code: string; message: string } } =>
  typeof r === 'object' &&
  r !== null &&
  (r as { ok?: unknown }).ok === false &&
  typeof (r as { error?: { code?: unknown } }).error?.code === 'string' &&
  (ERROR_CODES as readonly string[]).includes((r as { error: { code: string } }).error.code) &&
  typeof (r as { error: { message?: unknown } }).error.message === 'string' &&
  (r as { error: { message: string } }).error.message.length > 5;

function checkHttp(what: string, sent: string, r: HttpReply | { status: 'timeout' | 'error'; message: string }, allowed: (s: number) => boolean, codes: readonly string[] = API_ERROR_CODES): void {
  if (typeof r.status !== 'number') return violation(`${what}: no answer (${r.status})`, sent, r);
  const reply = r as HttpReply;
  if (reply.text.includes(coordinatorSecret)) violation(`${what}: the answer leaks the coordinator's key file`, sent, reply.status);
  if (reply.status >= 500 || !allowed(reply.status)) return violation(`${what}: HTTP ${reply.status}`, sent, reply.text);
  if (reply.status >= 400) {
    let body: { error?: { code?: unknown; message?: unknown } } | undefined;
    try {
      body = JSON.parse(reply.text) as typeof body;
    } catch {
      return violation(`${what}: HTTP ${reply.status} with a body that is not JSON (${reply.contentType})`, sent, reply.text);
    }
    const e = body?.error;
    if (!e || typeof e.code !== 'string' || !codes.includes(e.code) || typeof e.message !== 'string' || e.message.length < 5) {
      violation(`${what}: HTTP ${reply.status} without a clear {error:{code,message}}`, sent, reply.text);
    }
  }
}

// ---- Socket.IO message generators ----

interface Hosts {
  /** The session's protocol: the other host speaks the same. */
  protocol: ProtocolVersion;
  own: TestVolunteer;
  other: TestVolunteer;
  ownTasks: UnsignedTask[];
  otherTasks: UnsignedTask[];
}

/** A message built to fail, as text, for an event that needs auth. */
type Gen = (rng: Rng, h: Hosts) => { args: string[]; expect: 'error' | ((reply: unknown) => string | undefined) };

const ID_TEXTS = ['0', '-1', '1.5', '"1"', 'null', '1e309', '9007199254740993', '[]', '{}'];
const badId = (rng: Rng) => rng.pick(ID_TEXTS);
const unknownId = (rng: Rng) => String(rng.int(1_000_000, 2 ** 40));
const huge = (rng: Rng) => q('x'.repeat(rng.int(300_000, 900_000)));
const extraKey = (rng: Rng) => (rng.chance(0.6) ? rng.pick(HOSTILE_KEYS) : str(rng, 10) || 'extra');

/** Applies one mutation that makes a valid message invalid. */
function breakIt(rng: Rng, valid: Record<string, string>, types: Record<string, 'number' | 'string' | 'object' | 'array' | 'boolean'>, required: string[]): string {
  const m = { ...valid };
  const fields = Object.keys(types);
  switch (rng.int(0, 7)) {
    case 0: {
      if (required.length === 0) return obj({ ...m, [extraKey(rng)]: junk(rng) });
      delete m[rng.pick(required)];
      return obj(m);
    }
    case 1: {
      const f = rng.pick(fields);
      m[f] = wrongType(rng, types[f]!);
      return obj(m);
    }
    case 2:
      return obj({ ...m, [extraKey(rng)]: junk(rng) });
    case 3: {
      const f = rng.pick(fields);
      m[f] = types[f] === 'array' ? bigArray(100_000, rng.pick(['0', '-1', '"x"', 'null'])) : types[f] === 'string' ? huge(rng) : deep(rng, rng.int(100, 50_000));
      return obj(m);
    }
    case 4:
      return rng.pick(['null', '[]', '"hello"', '42', 'true', '[{}]', bigArray(100_000, '1')]);
    case 5: {
      // A prototype-pollution member with the real fields.
      return `{"__proto__":{"ok":true,"hostId":1,"count":1,"polluted":1},${obj(m).slice(1)}`;
    }
    case 6:
      return `{"constructor":{"prototype":{"polluted":1}},${obj(m).slice(1)}`;
    default: {
      const f = rng.pick(fields);
      m[f] = rng.pick(['1e309', '-1e309', '"NaN"', '"Infinity"', '-1', '1e-400', '1.5', '""']);
      // Each of these may be valid for some field: add an unknown member too, so the whole is invalid.
      return obj({ ...m, [`x${rng.int(0, 9)}`]: '1' });
    }
  }
}

const gens: Record<string, Gen> = {
  'tasks.request': (rng) => ({
    args: [
      breakIt(
        rng,
        { count: String(rng.int(1, 64)), holding: `[${unknownId(rng)}]`, preferences: `{"projects":[{"project":"p${rng.int(0, 9)}","share":${rng.int(0, 1000)}}],"onlyListed":${rng.chance(0.5)}}` },
        { count: 'number', holding: 'array', preferences: 'object' },
        ['count'],
      ),
    ],
    expect: 'error',
  }),

  'tasks.progress': (rng, h) => {
    if (rng.chance(0.4)) {
      // Valid, but naming tasks that are not this host's: nothing may change.
      const ids = Array.from({ length: rng.int(1, 64) }, () => (rng.chance(0.5) ? String(rng.pick(h.otherTasks).taskId) : unknownId(rng)));
      return {
        args: [obj({ updates: `[${ids.map((id) => obj({ taskId: id, fraction: String(rng.next()) })).join(',')}]` })],
        expect: (r) => ((r as { ok?: boolean; updated?: number }).ok === true && (r as { updated: number }).updated === 0 ? undefined : 'progress on tasks of another host counted'),
      };
    }
    const update = breakIt(rng, { taskId: String(h.ownTasks[0]!.taskId), fraction: '0.5' }, { taskId: 'number', fraction: 'number' }, ['taskId', 'fraction']);
    return { args: [rng.chance(0.5) ? obj({ updates: `[${update}]` }) : breakIt(rng, { updates: `[${obj({ taskId: '1', fraction: '0.1' })}]` }, { updates: 'array' }, ['updates'])], expect: 'error' };
  },

  'tasks.giveBack': (rng, h) => {
    if (rng.chance(0.4)) {
      const ids = Array.from({ length: rng.int(1, 64) }, () => (rng.chance(0.5) ? String(rng.pick(h.otherTasks).taskId) : unknownId(rng)));
      return {
        args: [obj({ taskIds: `[${ids.join(',')}]`, reason: q('fuzz') })],
        expect: (r) => {
          const tasks = (r as { ok?: boolean; tasks?: { status: string }[] }).tasks;
          return (r as { ok?: boolean }).ok === true && tasks?.length === ids.length && tasks.every((t) => t.status === 'not_in_progress') ? undefined : 'gave back a task of another host';
        },
      };
    }
    return { args: [breakIt(rng, { taskIds: `[${unknownId(rng)}]`, reason: q('x'.repeat(rng.chance(0.5) ? 201 : 5)) }, { taskIds: 'array', reason: 'string' }, ['taskIds', 'reason'])], expect: 'error' };
  },

  'results.verdicts': (rng, h) => {
    if (rng.chance(0.4)) {
      // Valid, but naming tasks that are not this host's: each is unknown, as an id no task has.
      const ids = Array.from({ length: rng.int(1, 64) }, () => (rng.chance(0.5) ? String(rng.pick(h.otherTasks).taskId) : unknownId(rng)));
      return {
        args: [obj({ taskIds: `[${ids.join(',')}]` })],
        expect: (r) => {
          const verdicts = (r as { ok?: boolean; verdicts?: { verdict: string }[] }).verdicts;
          return (r as { ok?: boolean }).ok === true && verdicts?.length === ids.length && verdicts.every((v) => v.verdict === 'unknown') ? undefined : 'told a verdict of another host’s task';
        },
      };
    }
    return { args: [breakIt(rng, { taskIds: `[${unknownId(rng)}]` }, { taskIds: 'array' }, ['taskIds'])], expect: 'error' };
  },

  'credit.receipts': (rng) => {
    if (rng.chance(0.3)) return { args: [obj({ afterEntryId: String(rng.int(0, 1e9)), limit: String(rng.int(1, 500)) })], expect: (r) => ((r as { ok?: boolean }).ok === true ? undefined : 'a valid receipts request failed') };
    return { args: [breakIt(rng, { afterEntryId: '0', limit: rng.pick(['0', '501', '100']) }, { afterEntryId: 'number', limit: 'number' }, [])], expect: 'error' };
  },

  heartbeat: (rng) => ({
    args: [rng.pick([obj({ [extraKey(rng)]: junk(rng) }), '[]', '"x"', '0', 'true', deep(rng, rng.int(10, 50_000)), huge(rng), `{"__proto__":{}}`])],
    expect: 'error',
  }),

  'results.report': (rng, h) => {
    if (h.protocol === LISTED) return rng.chance(0.55) ? semanticallyBadListedReport(rng, h) : { args: [hostileListedReport(rng, h)], expect: 'error' };
    // Protocol 3's shape on a protocol-2 session is malformed, however well signed (and its outputs right).
    if (rng.chance(0.05)) return { args: [JSON.stringify(listedReport(h, h.ownTasks.slice(0, rng.int(1, 3))))], expect: 'error' };
    if (rng.chance(0.55)) return semanticallyBadReport(rng, h);
    const valid = resultFields(rng, h, rng.pick([...h.ownTasks, ...h.otherTasks]), h.own);
    // Not `output`: any JSON is a valid output.
    const types = { taskId: 'number', workunitId: 'number', hostKey: 'string', outcome: 'string', outputHash: 'string', cpuTimeMs: 'number', elapsedMs: 'number', signature: 'string' } as const;
    let result: string;
    switch (rng.int(0, 5)) {
      case 0:
        result = obj({ ...valid, outcome: q('error') }); // an error without error, with an output
        break;
      case 1:
        result = obj({ ...valid, error: obj({ code: q('x'.repeat(65)), message: q('m') }) });
        break;
      case 2:
        result = obj({ ...valid, cpuTimeMs: rng.pick(['-1', '1e13', '1e309', '"5"']) });
        break;
      case 3:
      {
        const { outputHash: _h, output: _o, ...rest } = valid;
        result = obj({ ...rest, outcome: q('error'), error: obj({ code: q('e'), message: q('m'.repeat(2001)) }) });
      }
        break;
      default:
        result = breakIt(rng, valid, types, ['taskId', 'workunitId', 'hostKey', 'outcome', 'cpuTimeMs', 'elapsedMs', 'signature']);
    }
    const n = result.length > 10_000 ? 1 : rng.chance(0.1) ? 65 : rng.int(1, 3);
    const results = rng.chance(0.05) ? bigArray(100_000, '{}') : `[${Array.from({ length: n }, () => result).join(',')}]`;
    return { args: [rng.chance(0.8) ? obj({ results }) : breakIt(rng, { results }, { results: 'array' }, ['results'])], expect: 'error' };
  },
};

function resultFields(rng: Rng, h: Hosts, task: UnsignedTask, signer: TestVolunteer): Record<string, string> {
  const output = rng.chance(0.1) ? deep(rng, rng.int(1, SAFE_OUTPUT_DEPTH)) : junk(rng, 3);
  const body = { taskId: task.taskId, workunitId: task.workunitId, hostKey: h.own.publicKey, outcome: 'success' as const, outputHash: rng.hex(64), cpuTimeMs: 1, elapsedMs: 1 };
  return {
    taskId: String(body.taskId),
    workunitId: String(body.workunitId),
    hostKey: q(body.hostKey),
    outcome: q('success'),
    outputHash: q(body.outputHash),
    cpuTimeMs: '1',
    elapsedMs: '1',
    output,
    signature: q(signBody(ed, signer.seed, 'result', body)),
  };
}

/**
 * Results that pass the schema and must each be rejected, with the code predicted here: wrong
 * signatures, someone else's task or key, unknown ids, outputs that do not match their hash.
 * None can be accepted: a correctly signed result for one of our own tasks always has an output
 * that does not match its hash (random hash), or none at all.
 */
function semanticallyBadReport(rng: Rng, h: Hosts): { args: string[]; expect: (reply: unknown) => string | undefined } {
  const n = rng.chance(0.05) ? 64 : rng.int(1, 4);
  const expected: string[] = [];
  const texts: string[] = [];
  for (let i = 0; i < n; i++) {
    const kind = rng.int(0, 3);
    const task = kind === 0 ? rng.pick(h.ownTasks) : kind === 1 ? rng.pick(h.otherTasks) : undefined;
    const taskId = task?.taskId ?? rng.int(1, 2 ** 40);
    const wuMismatch = task !== undefined && rng.chance(0.2);
    const workunitId = task && !wuMismatch ? task.workunitId : rng.int(1, 2 ** 40);
    const keyKind = rng.int(0, 5); // 0: the other host's key, 1: a random key, else our own
    const hostKey = keyKind === 0 ? h.other.publicKey : keyKind === 1 ? rng.hex(64) : h.own.publicKey;
    const error = rng.chance(0.3) ? { code: str(rng, 20).slice(0, 64) || 'e', message: str(rng, 100) } : undefined;
    const outputHash = error ? undefined : rng.hex(64);
    const body = { taskId, workunitId, hostKey, outcome: error ? ('error' as const) : ('success' as const), outputHash, error, cpuTimeMs: rng.int(0, 1e6), elapsedMs: rng.next() * 1e6 };
    const sigKind = rng.int(0, 4); // 0: random bytes, 1: the other host's key, 2: a result signature in another domain, else our own
    const domains: SigningDomain[] = ['task', 'auth', 'upload', 'creditReceipt', 'appVersion'];
    const signature =
      sigKind === 0 ? rng.hex(128) : sigKind === 1 ? signBody(ed, h.other.seed, 'result', body) : sigKind === 2 ? signBody(ed, h.own.seed, rng.pick(domains), body) : signBody(ed, h.own.seed, 'result', body);
    const validSig = sigKind >= 3;
    const ownTask = task !== undefined && h.ownTasks.includes(task) && !wuMismatch;
    let code: string;
    if (hostKey !== h.own.publicKey) code = 'not_assigned';
    else if (!validSig) code = 'bad_signature';
    else if (!ownTask) code = 'not_assigned';
    else if (error) {
      // A correctly signed error for our own task would be accepted: sign it wrong instead.
      code = 'bad_signature';
      texts.push(obj({ ...fieldsOf(body), signature: q(rng.hex(128)) }));
      expected.push(code);
      continue;
    } else code = 'bad_output';
    // Any JSON but Infinity (1e309), which is no JSON value: the schema would refuse it first.
    const withOutput = !error && rng.chance(0.7);
    const outputText = withOutput ? (rng.chance(0.1) ? q('y'.repeat(300_000)) : junk(rng, 3).replace(/-?1e309/g, '7')) : undefined;
    texts.push(obj({ ...fieldsOf(body), ...(outputText !== undefined ? { output: outputText } : {}), signature: q(signature) }));
    expected.push(code);
  }
  let text = `[${texts.join(',')}]`;
  if (text.length > NEAR_LIMIT) {
    text = `[${texts[0]!}]`;
    expected.splice(1);
  }
  return { args: [obj({ results: text })], expect: expectAcks(expected) };
}

/** One ack per result, each as predicted: `accepted`, `duplicate`, or the code of its rejection. */
function expectAcks(expected: readonly string[]): (reply: unknown) => string | undefined {
  return (reply) => {
    const acks = (reply as { ok?: boolean; results?: ResultAck[] }).results;
    if ((reply as { ok?: boolean }).ok !== true || !acks || acks.length !== expected.length) return 'a schema-valid report was not answered with one ack per result';
    for (let i = 0; i < acks.length; i++) {
      const a = acks[i]!;
      const want = expected[i]!;
      if (want === 'accepted' || want === 'duplicate') {
        if (a.status !== want) return `result ${i} was ${a.status}${a.error ? ` (${a.error.code})` : ''}, expected ${want}`;
        continue;
      }
      if (a.status !== 'rejected') return `result ${i} was ${a.status}, expected rejected as ${want}`;
      if (!a.error || !(RESULT_REJECTIONS as readonly string[]).includes(a.error.code) || typeof a.error.message !== 'string') return `result ${i}: unclear rejection`;
      if (a.error.code !== want) return `result ${i}: rejected as ${a.error.code}, expected ${want}`;
    }
    return undefined;
  };
}

function fieldsOf(body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) if (v !== undefined) out[k] = JSON.stringify(v);
  return out;
}

// ---- protocol 3: a report's results signed as one list ----

const hashOf = (r: UnsignedResult): string => jsonHash(resultBody(r));

/** A result list naming `hostKey`, as `signer` signs it (domain "resultList" unless told). */
function signList(signer: { seed: string }, hostKey: string, resultHashes: string[], domain: SigningDomain = 'resultList'): SignedResultList {
  return { hostKey, resultHashes, signature: signBody(ed, signer.seed, domain, { hostKey, resultHashes }) };
}

/** A protocol-3 report of these tasks that the coordinator would accept on a protocol-3 session: right outputs, honest list. */
function listedReport(h: Hosts, tasks: readonly UnsignedTask[]): { results: UnsignedResult[]; resultList: SignedResultList } {
  const results = tasks.map((t, i) => buildUnsignedResult({ ...t, hostKey: h.own.publicKey }, { output: { listed: i } }, { cpuTimeMs: 1, elapsedMs: 1 }));
  return { results, resultList: signList(h.own, h.own.publicKey, results.map(hashOf)) };
}

/** Malformed protocol-3 reports: each must be a bad_request. */
function hostileListedReport(rng: Rng, h: Hosts): string {
  const { results, resultList } = listedReport(h, Array.from({ length: rng.int(1, 3) }, () => rng.pick([...h.ownTasks, ...h.otherTasks])));
  const listFields = { hostKey: q(resultList.hostKey), resultHashes: JSON.stringify(resultList.resultHashes), signature: q(resultList.signature) };
  const resultsText = JSON.stringify(results);
  const hash = resultList.resultHashes[0]!;
  switch (rng.int(0, 6)) {
    case 0:
      return obj({ results: resultsText, resultList: breakIt(rng, listFields, { hostKey: 'string', resultHashes: 'array', signature: 'string' }, ['hostKey', 'resultHashes', 'signature']) });
    case 1:
      return breakIt(rng, { results: resultsText, resultList: obj(listFields) }, { results: 'array', resultList: 'object' }, ['results', 'resultList']);
    case 2: {
      // Protocol 2's shape on a protocol-3 session: results signed on their own, with the list or without.
      const signed = results.map((r) => ({ ...r, signature: signBody(ed, h.own.seed, 'result', resultBody(r)) }));
      return obj({ results: JSON.stringify(signed), ...(rng.chance(0.5) ? { resultList: obj(listFields) } : {}) });
    }
    case 3: {
      // More hashes than a report may hold (64), signed: as many results as hashes, or not.
      const n = rng.pick([65, 1000, 10_000]);
      const hashes = bigArray(n, q(hash));
      const many = n === 65 && rng.chance(0.5) ? `[${Array.from({ length: 65 }, () => JSON.stringify(results[0])).join(',')}]` : resultsText;
      return obj({ results: many, resultList: obj({ ...listFields, resultHashes: hashes, signature: q(signBody(ed, h.own.seed, 'resultList', { hostKey: h.own.publicKey, resultHashes: Array(Math.min(n, 1000)).fill(hash) })) }) });
    }
    case 4: {
      // A hash, key or signature that is not lowercase hex of its length, signed as sent.
      const bad = rng.pick([hash.toUpperCase(), hash.slice(1), `${hash}0`, 'g'.repeat(64), '', 1, null]);
      const hashes: unknown[] = [...resultList.resultHashes];
      hashes[rng.int(0, hashes.length - 1)] = bad;
      const which = rng.int(0, 2);
      const hostKey = which === 1 ? rng.pick([h.own.publicKey.toUpperCase(), h.own.publicKey.slice(2), '']) : h.own.publicKey;
      const body = { hostKey, resultHashes: which === 0 ? hashes : resultList.resultHashes };
      const signature = which === 2 ? rng.pick([resultList.signature.slice(1), resultList.signature.toUpperCase(), `${resultList.signature}00`]) : signBody(ed, h.own.seed, 'resultList', body);
      return JSON.stringify({ results, resultList: { ...body, signature } });
    }
    case 5: {
      // A malformed result under a good list.
      const types = { taskId: 'number', workunitId: 'number', hostKey: 'string', outcome: 'string', outputHash: 'string', cpuTimeMs: 'number', elapsedMs: 'number' } as const;
      const broken = breakIt(rng, fieldsOf(results[0]! as unknown as Record<string, unknown>), types, ['taskId', 'workunitId', 'hostKey', 'outcome', 'cpuTimeMs', 'elapsedMs']);
      return obj({ results: `[${broken}]`, resultList: obj(listFields) });
    }
    default:
      // No results, or a list that is not an object.
      return rng.chance(0.5) ? obj({ results: '[]', resultList: obj(listFields) }) : obj({ results: resultsText, resultList: rng.pick(['null', '[]', q(resultList.signature), JSON.stringify(resultList.resultHashes)]) });
  }
}

/** How a well-formed protocol-3 report's list goes wrong (or, for `honest` and `altered`, does not). */
const LIST_KINDS = ['honest', 'altered', 'otherSigner', 'otherHost', 'otherHostOwnSig', 'reordered', 'signedOverOther', 'longer', 'shorter', 'otherDomain', 'randomSig', 'flipped'] as const;
type ListKind = (typeof LIST_KINDS)[number];
/** Lists whose signature verifies over what is sent (the others cover no result). */
const VERIFYING: readonly ListKind[] = ['honest', 'altered', 'otherHost', 'reordered', 'longer', 'shorter'];

/**
 * Protocol-3 reports that pass the schema and whose every result must be rejected, with the code
 * predicted here from docs/protocol.md §4: a list that does not verify, counts other results or
 * names another host covers none of them (bad_signature); a verified list covers each result that
 * hashes to its entry at its place. Under a list that covers them our own tasks' results fail on
 * their output; under one that covers none they are right in every other way, so a list trusted
 * wrongly shows as an accepted result, and as a change no legitimate work explains.
 */
function semanticallyBadListedReport(rng: Rng, h: Hosts): { args: string[]; expect: (reply: unknown) => string | undefined } {
  const kind = rng.pick(LIST_KINDS);
  listKinds[kind] = (listKinds[kind] ?? 0) + 1;
  // 'shorter' and 'reordered' need two results; 'longer' a hash to spare under the limit (64).
  const n = rng.chance(0.05) ? (kind === 'longer' ? 63 : 64) : rng.int(kind === 'shorter' || kind === 'reordered' ? 2 : 1, 4);
  const covering = kind === 'honest' || kind === 'altered';
  const altered = kind === 'altered' ? rng.int(0, n - 1) : -1;
  const results: UnsignedResult[] = [];
  const ours: boolean[] = []; // our task, under its own work unit
  const right: boolean[] = [];
  for (let i = 0; i < n; i++) {
    // An exact copy (a task named twice), only where it cannot land on its own hash's place.
    if (i > 0 && kind !== 'reordered' && kind !== 'altered' && rng.chance(0.15)) {
      const j = rng.int(0, i - 1);
      results.push(results[j]!);
      ours.push(ours[j]!);
      right.push(right[j]!);
      continue;
    }
    const k = rng.int(0, 5); // 0-2: our task, 3: the other host's, 4: an unknown id, 5: our task named with another work unit
    const task = k <= 2 || k === 5 ? rng.pick(h.ownTasks) : k === 3 ? rng.pick(h.otherTasks) : undefined;
    const taskId = task?.taskId ?? rng.int(1, 2 ** 40);
    const workunitId = task && k !== 5 ? task.workunitId : rng.int(1, 2 ** 40);
    const keyKind = rng.int(0, 9); // 0: the other host's key, 1: a random key, else our own
    const hostKey = keyKind === 0 ? h.other.publicKey : keyKind === 1 ? rng.hex(64) : h.own.publicKey;
    // cpuTimeMs differs from result to result: no two hash alike unless copied.
    const timing = { cpuTimeMs: i + rng.next(), elapsedMs: rng.int(0, 1e6) };
    const isRight = !covering || i === altered;
    let r: UnsignedResult;
    if (isRight) {
      r = buildUnsignedResult({ taskId, workunitId, hostKey }, rng.chance(0.3) ? { error: { code: 'app_error', message: `fuzz ${rng.hex(8)}` } } : { output: { fuzz: rng.int(0, 1e6) } }, timing);
    } else {
      // An output that is not the one its hash names, or none (never uploaded).
      const { output: _o, ...withoutOutput } = buildUnsignedResult({ taskId, workunitId, hostKey }, { output: { fuzz: rng.int(0, 1e6) } }, timing);
      r = rng.chance(0.5) ? { ...withoutOutput, output: { fuzz: -1 } } : withoutOutput;
    }
    results.push(r);
    ours.push(task !== undefined && k !== 3 && k !== 5);
    right.push(isRight);
  }
  const hashes = results.map(hashOf);
  const { own, other } = h;
  let list: SignedResultList;
  switch (kind) {
    case 'honest':
    case 'altered':
      list = signList(own, own.publicKey, hashes);
      break;
    case 'otherSigner':
      list = signList(other, own.publicKey, hashes);
      break;
    case 'otherHost':
      list = signList(other, other.publicKey, hashes); // verifies, but names another host
      break;
    case 'otherHostOwnSig':
      list = signList(own, other.publicKey, hashes);
      break;
    case 'reordered':
      list = signList(own, own.publicKey, [...hashes.slice(1), hashes[0]!]);
      break;
    case 'signedOverOther':
      list = { ...signList(own, own.publicKey, hashes.map((x, i) => (i === n - 1 ? rng.hex(64) : x))), resultHashes: hashes };
      break;
    case 'longer':
      list = signList(own, own.publicKey, [...hashes, rng.chance(0.5) ? rng.hex(64) : hashes[0]!]);
      break;
    case 'shorter':
      list = signList(own, own.publicKey, rng.chance(0.5) ? hashes.slice(0, -1) : hashes.slice(1));
      break;
    case 'otherDomain':
      list = signList(own, own.publicKey, hashes, rng.pick(['result', 'taskList', 'task', 'auth'] as const));
      break;
    case 'randomSig':
      list = { ...signList(own, own.publicKey, hashes), signature: rng.hex(128) };
      break;
    case 'flipped': {
      const l = signList(own, own.publicKey, hashes);
      list = { ...l, signature: (l.signature[0] === '0' ? '1' : '0') + l.signature.slice(1) };
      break;
    }
  }
  // Changed after the host signed: that result alone is not covered.
  if (altered >= 0) results[altered] = { ...results[altered]!, cpuTimeMs: results[altered]!.cpuTimeMs + 1 };
  const whole = VERIFYING.includes(kind) && list.resultHashes.length === n;
  const expected = results.map((r, i) => {
    if (r.hostKey !== own.publicKey) return 'not_assigned';
    const covered = whole && r.hostKey === list.hostKey && hashOf(r) === list.resultHashes[i];
    if (!covered) return 'bad_signature';
    if (!ours[i]) return 'not_assigned';
    if (right[i]) throw new Error(`fuzzer bug: a ${kind} list covers a right result ${i} of our own task`);
    return 'bad_output';
  });
  return { args: [JSON.stringify({ results, resultList: list })], expect: expectAcks(expected) };
}

/**
 * Legitimate protocol-3 work on a fuzzed session: new tasks, reported under the host's list; now
 * and then with a result changed after signing (refused alone), a task reported twice (the copy a
 * duplicate, another result a conflict) or another host's task (not_assigned). What is accepted,
 * and its list, counts as legitimate before it is sent.
 */
async function legitListedRound(rng: Rng, s: RawSocket, h: Hosts, check: (event: string, sent: string, o: AckOutcome, expectation: (r: unknown) => string | undefined) => void): Promise<void> {
  const ask = obj({ count: String(rng.int(1, 3)) });
  const o = await s.send('tasks.request', [ask]);
  count('socket: legitimate protocol-3 work');
  const reply = o.kind === 'reply' ? (o.reply as { ok?: boolean; tasks?: UnsignedTask[]; taskList?: SignedTaskList }) : undefined;
  if (reply?.ok !== true || !reply.tasks) return violation('tasks.request: a valid protocol-3 request failed', ask, o);
  const tasks = reply.tasks;
  for (const t of tasks) legit.assignedTaskIds.add(t.taskId);
  const problem = listedTaskProblems(ed, h.own.coordinatorKey, h.own.publicKey, tasks, reply.taskList).find((p) => p !== undefined);
  if (problem) return violation(`tasks.request: a protocol-3 answer does not check: ${problem}`, ask, reply);
  if (tasks.length === 0) return; // none left, or the host holds its most
  const results = tasks.map((t) => buildUnsignedResult(t, { output: { legit: t.taskId } }, { cpuTimeMs: 1, elapsedMs: 1 }));
  if (rng.chance(0.3)) results.push(results[0]!);
  if (rng.chance(0.2)) results.push(buildUnsignedResult(tasks[0]!, { output: { again: true } }, { cpuTimeMs: 2, elapsedMs: 2 }));
  if (rng.chance(0.2)) results.push(buildUnsignedResult({ ...rng.pick(h.otherTasks), hostKey: h.own.publicKey }, { output: 1 }, { cpuTimeMs: 1, elapsedMs: 1 }));
  const list = signList(h.own, h.own.publicKey, results.map(hashOf));
  const altered = rng.chance(0.3) ? rng.int(0, results.length - 1) : -1;
  if (altered >= 0) results[altered] = { ...results[altered]!, cpuTimeMs: results[altered]!.cpuTimeMs + 1 };
  const recorded = new Map<number, string>();
  const expected = results.map((r, i) => {
    if (i === altered) return 'bad_signature';
    if (!tasks.some((t) => t.taskId === r.taskId)) return 'not_assigned';
    const earlier = recorded.get(r.taskId);
    if (earlier !== undefined) return earlier === hashOf(r) ? 'duplicate' : 'conflict';
    recorded.set(r.taskId, hashOf(r));
    return 'accepted';
  });
  results.forEach((r, i) => expected[i] === 'accepted' && legit.acceptedTaskIds.add(r.taskId));
  if (expected.includes('accepted')) {
    legit.resultLists.add(list.signature);
    legit.creditedHostIds.add(h.own.hostId);
  }
  const text = JSON.stringify({ results, resultList: list });
  check('results.report', text, await s.send('results.report', [text]), expectAcks(expected));
}

/** hello, as an unauthenticated client would send it; may be valid (then it only issues a challenge). */
function helloText(rng: Rng, hostKey = rng.hex(64), extra: Record<string, string> = {}): string {
  const valid = { protocol: String(PROTOCOL_VERSION), hostKey: q(hostKey), platform: obj({ kind: q(rng.pick(['node', 'browser'])), engine: q('v8') }), capabilities: obj({ cores: '2' }), name: q('fuzz'), ...extra };
  if (rng.chance(0.3)) return obj(valid);
  const v = { ...valid };
  switch (rng.int(0, 9)) {
    case 0:
      return obj({ ...v, protocol: rng.pick(['0', '1', '4', `"${PROTOCOL_VERSION}"`, 'null', '1.5', '1e309', '[]']) });
    case 1:
      return obj({ ...v, hostKey: q(rng.pick([hostKey.toUpperCase(), hostKey.slice(1), `${hostKey}0`, 'z'.repeat(64), '']) ) });
    case 2:
      return obj({ ...v, platform: obj({ kind: q(rng.pick(['deno', 'NODE', '', 'browser'])), engine: q('e'.repeat(33)) }) });
    case 3:
      return obj({ ...v, capabilities: obj({ cores: rng.pick(['0', '4097', '1.5', '-1', '1e309']), features: bigArray(rng.pick([33, 100_000]), '"f"') }) });
    case 4:
      return obj({ ...v, name: rng.chance(0.5) ? q('n'.repeat(65)) : huge(rng) });
    case 5:
      return obj({ ...v, accountKey: q(rng.pick(['short', 'x'.repeat(129), '../../../etc/passwd', 'a b c d e f g h i j'])) });
    case 6:
      return `{"__proto__":{"protocol":1},${obj(v).slice(1)}`;
    case 7:
      return obj({ ...v, platform: deep(rng, rng.int(100, 50_000)) });
    case 8:
      return rng.pick(['null', '[]', '"hello"', '1', bigArray(100_000, '1')]);
    default:
      return obj({ ...v, [extraKey(rng)]: junk(rng) });
  }
}

function newKey(rng: Rng): { seed: string; publicKey: string } {
  const seed = rng.hex(64);
  return { seed, publicKey: toHex(ed.publicKeyFromSeed(fromHex(seed))) };
}

/** One unauthenticated exchange: hello, then an auth that must fail; or any other event before auth. */
async function anonymousRound(rng: Rng, s: RawSocket, check: (event: string, sent: string, o: AckOutcome, expect: 'error' | 'hello' | 'unauth') => void): Promise<void> {
  const what = rng.int(0, 9);
  if (what <= 2) {
    const text = helloText(rng);
    const o = await s.send('hello', [text]);
    count('socket: hello (random and malformed)');
    return check('hello', text, o, 'hello');
  }
  if (what <= 6) {
    // hello with a key we hold, then an auth that cannot succeed.
    const key = rng.chance(0.2) ? { seed: A.seed, publicKey: A.publicKey } : newKey(rng);
    const accountKey: Record<string, string> = rng.chance(0.15) ? { accountKey: q(rng.hex(32)) } : {};
    const hello = obj({ protocol: String(PROTOCOL_VERSION), hostKey: q(key.publicKey), platform: obj({ kind: q('node') }), ...accountKey });
    const h = await s.send('hello', [hello]);
    count('socket: hello (valid, before a bad auth)');
    if (h.kind !== 'reply' || (h.reply as { ok?: boolean }).ok !== true) return violation('a valid hello failed', hello, h);
    const { challenge, coordinatorKey } = h.reply as { challenge: string; coordinatorKey: string };
    const proof = { nonce: challenge, hostKey: key.publicKey, coordinatorKey };
    let auth: string;
    const k = accountKey.accountKey ? 9 : rng.int(0, 8);
    switch (k) {
      case 0:
        auth = obj({ signature: q(rng.hex(128)) });
        break;
      case 1:
        auth = obj({ signature: q(signBody(ed, key.seed, 'auth', { ...proof, nonce: rng.hex(64) })) });
        break;
      case 2:
        auth = obj({ signature: q(signBody(ed, key.seed, 'auth', { ...proof, coordinatorKey: rng.hex(64) })) });
        break;
      case 3:
        auth = obj({ signature: q(signBody(ed, key.seed, rng.pick(['upload', 'result', 'task'] as const), proof)) });
        break;
      case 4:
        auth = obj({ signature: q(signBody(ed, newKey(rng).seed, 'auth', proof)) }); // someone else's key
        break;
      case 5:
        auth = obj({ signature: q(signBody(ed, key.seed, 'auth', proof)), [extraKey(rng)]: junk(rng) });
        break;
      case 6:
        auth = rng.pick(['{}', 'null', obj({ signature: q(rng.hex(127)) }), obj({ signature: q(rng.hex(128).toUpperCase()) }), obj({ signature: huge(rng) })]);
        break;
      case 7: {
        // A correct signature, but over the previous challenge after a new hello replaced it.
        const again = await s.send('hello', [hello]);
        count('socket: hello (valid, before a bad auth)');
        if (again.kind !== 'reply' || (again.reply as { ok?: boolean }).ok !== true) return violation('a valid hello failed', hello, again);
        auth = obj({ signature: q(signBody(ed, key.seed, 'auth', proof)) });
        break;
      }
      case 8: {
        // Replaying an auth: the first attempt uses the challenge up (it fails: wrong nonce), the replay with the right one must fail too.
        const first = await s.send('auth', [obj({ signature: q(rng.hex(128)) })]);
        count('socket: auth (bad signatures, replays, unknown account keys)');
        check('auth', 'first attempt', first, 'unauth');
        auth = obj({ signature: q(signBody(ed, key.seed, 'auth', proof)) });
        break;
      }
      default:
        auth = obj({ signature: q(signBody(ed, key.seed, 'auth', proof)) }); // valid, but the account key is unknown
    }
    const a = await s.send('auth', [auth]);
    count('socket: auth (bad signatures, replays, unknown account keys)');
    return check('auth', auth, a, k === 6 || k === 5 ? 'error' : 'unauth');
  }
  // Any other event before auth.
  const event = rng.pick(Object.keys(gens));
  const text = rng.chance(0.5) ? junk(rng, 3) : gens[event]!(rng, { protocol: PROTOCOL_VERSION, own: A, other: B, ownTasks: tasksA, otherTasks: tasksB }).args[0]!;
  const o = await s.send(event, [text]);
  count('socket: events before auth');
  check(event, text, o, 'unauth');
}

// ---- the tests ----

describe('hostile input', () => {
  it(`volunteer messages: ${SOCKET_MESSAGES} random, malformed and oversized messages, before and after auth`, async () => {
    const sockets: RawSocket[] = [];
    const noAck = new Map<RawSocket, number>();
    const reconnect = async (i: number, authAs?: TestVolunteer): Promise<RawSocket> => {
      const s = await RawSocket.connect(c.url);
      if (authAs) {
        // A legitimate login of a known host on a second connection.
        const protocol = authAs === C || authAs === D ? LISTED : PROTOCOL_VERSION;
        const name = authAs === A ? 'fuzz-a' : authAs === B ? 'fuzz-b' : authAs === C ? 'fuzz-c' : 'fuzz-d';
        const h = (await s.send('hello', [obj({ protocol: String(protocol), hostKey: q(authAs.publicKey), platform: obj({ kind: q('node'), engine: q('v8') }), capabilities: obj({ wasm: 'true', cores: '1' }), name: q(name) })])) as { kind: 'reply'; reply: { challenge: string; coordinatorKey: string } };
        const sig = signBody(ed, authAs.seed, 'auth', { nonce: h.reply.challenge, hostKey: authAs.publicKey, coordinatorKey: h.reply.coordinatorKey });
        const a = await s.send('auth', [obj({ signature: q(sig) })]);
        expect((a as { reply: { ok: boolean } }).reply.ok).toBe(true);
      }
      sockets[i] = s;
      noAck.set(s, 0);
      return s;
    };

    const check = (event: string, sent: string, o: AckOutcome, expectation: 'error' | 'hello' | 'unauth' | ((r: unknown) => string | undefined)) => {
      if (o.kind !== 'reply') return violation(`${event}: ${o.kind === 'timeout' ? 'no answer within 10 s' : 'the connection dropped'} for a message under 1 MiB`, sent, o);
      const r = o.reply;
      if (typeof expectation === 'function') {
        if (isErrorReply(r)) return violation(`${event}: a schema-valid message failed`, sent, r);
        const problem = expectation(r);
        if (problem) violation(`${event}: ${problem}`, sent, r);
        return;
      }
      if (expectation === 'hello' && (r as { ok?: boolean }).ok === true) return;
      if (!isErrorReply(r)) return violation(`${event}: not a clear error (ok:false, error:{code,message} with a known code)`, sent, r);
      if (expectation === 'unauth' && r.error.code !== 'unauthenticated') violation(`${event}: expected unauthenticated`, sent, r);
    };

    // Three anonymous connections, and one for each of the four hosts holding tasks (A and B on protocol 2, C and D on 3).
    for (let i = 0; i < 3; i++) await reconnect(i);
    const sessions: (Hosts | undefined)[] = [
      undefined,
      undefined,
      undefined,
      { protocol: PROTOCOL_VERSION, own: A, other: B, ownTasks: tasksA, otherTasks: tasksB },
      { protocol: PROTOCOL_VERSION, own: B, other: A, ownTasks: tasksB, otherTasks: tasksA },
      { protocol: LISTED, own: C, other: D, ownTasks: tasksC, otherTasks: tasksD },
      { protocol: LISTED, own: D, other: C, ownTasks: tasksD, otherTasks: tasksC },
    ];
    for (let i = 3; i < sessions.length; i++) await reconnect(i, sessions[i]!.own);
    const perWorker = Math.ceil(SOCKET_MESSAGES / sessions.length);
    const checkpoints: Promise<void>[] = [];
    let sent = 0;

    const worker = async (i: number) => {
      const rng = new Rng(SEED + i * 7919);
      const hosts = sessions[i];
      const authedAs = hosts?.own;
      for (let n = 0; n < perWorker; n++) {
        let s = sockets[i]!;
        if (s.disconnected) s = await reconnect(i, authedAs);
        if (++sent % 2000 === 0) checkpoints.push(checkpoint());
        if (rng.chance(0.03)) {
          // No ack: the coordinator can only answer with a protocol.error event.
          const event = rng.pick(['hello', 'auth', ...Object.keys(gens)]);
          s.sendNoAck(event, [junk(rng, 2)]);
          noAck.set(s, noAck.get(s)! + 1);
          count('socket: without an ack callback');
          continue;
        }
        if (!hosts) {
          await anonymousRound(rng, s, check);
          continue;
        }
        if (hosts.protocol === LISTED && rng.chance(0.006)) {
          await legitListedRound(rng, s, hosts, check);
          continue;
        }
        const event = rng.pick(Object.keys(gens));
        const { args, expect: expectation } = gens[event]!(rng, hosts);
        if (args.join(',').length > NEAR_LIMIT) continue; // oversized frames have their own test
        count(`socket: ${event} after auth`);
        check(event, args.join(','), await s.send(event, args), expectation);
      }
    };
    await Promise.all(sessions.map((_, i) => worker(i)));
    await Promise.all(checkpoints);

    // Every message without an ack got its protocol.error (those on dropped connections aside).
    await new Promise((r) => setTimeout(r, 300));
    for (const [s, n] of noAck) {
      if (s.disconnected) continue;
      if (s.protocolErrors.length !== n) violation(`a connection sent ${n} messages without ack and got ${s.protocolErrors.length} protocol.error events`, '', s.protocolErrors.slice(0, 3));
      for (const e of s.protocolErrors) if (!(e as { code?: string }).code || !(e as { message?: string }).message) violation('an unclear protocol.error', '', e);
    }
    for (const s of sockets) s.close();
    expect(violations, violations.slice(0, 10).join('\n')).toEqual([]);
    await checkpoint();
  }, 120_000);

  it('results: bad signatures, replays, another host’s task, mismatched keys, unknown ids, huge or mismatched outputs', async () => {
    const v = await TestVolunteer.connect(c.url, { name: 'replayer' });
    const w = await TestVolunteer.connect(c.url, { name: 'other' });
    legit.hostIds.add(v.hostId);
    legit.hostIds.add(w.hostId);
    try {
      const [t1, t2] = await v.requestTasks(2);
      const [u1] = await w.requestTasks(1);
      const good = await v.compute(t1!);
      const reject = async (label: string, result: object, code: string) => {
        count('socket: targeted result attacks');
        const acks = await v.report([result as never]);
        expect(acks, label).toEqual([{ taskId: (result as { taskId: number }).taskId, status: 'rejected', error: { code, message: expect.any(String) } }]);
      };
      const body = { taskId: t1!.taskId, workunitId: t1!.workunitId, hostKey: v.publicKey, outcome: 'success' as const, outputHash: good.outputHash!, cpuTimeMs: good.cpuTimeMs, elapsedMs: good.elapsedMs };
      await reject('random signature', { ...good, signature: 'ab'.repeat(64) }, 'bad_signature');
      await reject('signed by another host', { ...good, signature: signBody(ed, w.seed, 'result', body) }, 'bad_signature');
      await reject('signed in the task domain', { ...good, signature: signBody(ed, v.seed, 'task', body) }, 'bad_signature');
      await reject('a signature for other fields', { ...good, cpuTimeMs: good.cpuTimeMs + 1 }, 'bad_signature');
      await reject('another host’s task', buildResult(ed, v.seed, { ...u1!, hostKey: v.publicKey }, { output: 1 }), 'not_assigned');
      await reject('another host’s key', buildResult(ed, w.seed, u1!, { output: 1 }), 'not_assigned');
      await reject('mismatched work unit', buildResult(ed, v.seed, { ...t1!, workunitId: t2!.workunitId }, { output: 1 }), 'not_assigned');
      await reject('unknown task id', buildResult(ed, v.seed, { ...t1!, taskId: 2 ** 40 }, { output: 1 }), 'not_assigned');
      await reject('output not matching its hash', { ...buildResult(ed, v.seed, t1!, { output: { echo: 'x' } }), output: { echo: 'y' } }, 'bad_output');
      await reject('output neither inline nor uploaded', buildResult(ed, v.seed, t1!, { output: { n: 1 }, inline: false }), 'bad_output');
      await reject('inline output over 256 KiB', buildResult(ed, v.seed, t1!, { output: 'z'.repeat(300_000) }), 'bad_output');
      const deepBody = { ...body, outputHash: 'cd'.repeat(32) };
      await reject('output nested deeper than 64', { ...deepBody, output: JSON.parse(deep(new Rng(1), 100)) as unknown, signature: signBody(ed, v.seed, 'result', deepBody) }, 'bad_output');
      // None of that touched the task: the real result is accepted, then replays are duplicates.
      expect((await v.report([good]))[0]!.status).toBe('accepted');
      legit.acceptedTaskIds.add(t1!.taskId);
      expect((await v.report([good]))[0]!.status).toBe('duplicate');
      expect((await c.store.work.workunit(await workunitOfTask(c, t1!)))!.status).toBe('done'); // quorum 1
      expect((await v.report([good, good]))!.map((a) => a.status)).toEqual(['duplicate', 'duplicate']);
      await reject('a different result after the work unit finished', buildResult(ed, v.seed, t1!, { output: { other: true } }), 'conflict');
      // The other task: finished by the legitimate result, the host's replay is a duplicate.
      const g2 = await v.compute(t2!);
      expect((await v.report([g2]))[0]!.status).toBe('accepted');
      legit.acceptedTaskIds.add(t2!.taskId);
      // The other host's result, replayed by this host: not this host's.
      const gu = await w.compute(u1!);
      expect((await w.report([gu]))[0]!.status).toBe('accepted');
      legit.acceptedTaskIds.add(u1!.taskId);
      await reject('another host’s accepted result, replayed', gu, 'not_assigned');
      const ledger = await c.store.sql.get<{ n: number }>('SELECT COUNT(*) AS n FROM credit_ledger WHERE task_id = ?', [t1!.taskId]);
      expect(Number(ledger!.n), 'credit granted once').toBe(1);
    } finally {
      v.close();
      await w.close();
    }
  });

  it('oversized frames and malformed packets drop the connection; the coordinator stays up', async () => {
    const rng = new Rng(SEED ^ 0xf8a3e);
    const cases: { label: string; transports?: ('websocket' | 'polling')[]; send(s: RawSocket): void }[] = [];
    for (const event of ['hello', 'auth', 'tasks.request', 'results.report', 'tasks.progress', 'tasks.giveBack', 'results.verdicts', 'credit.receipts', 'heartbeat']) {
      cases.push({ label: `${event} over 1 MiB`, send: (s) => void s.send(event, [obj({ pad: q('p'.repeat(1_100_000)) })], 5000) });
    }
    cases.push({ label: '4 MiB', send: (s) => void s.send('heartbeat', [q('p'.repeat(4 * 1024 * 1024))], 5000) });
    cases.push({ label: 'over 1 MiB by HTTP long-polling', transports: ['polling'], send: (s) => void s.send('heartbeat', [q('p'.repeat(1_100_000))], 5000) });
    for (let i = 0; i < 40; i++) {
      const bad = rng.pick(['2/volunteer,1["heartbeat",NaN]', '2/volunteer,1["heartbeat",Infinity]', '2/volunteer,1["heartbeat",{]', '2/volunteer,1["heartbeat",{"a":1,}]', '2/volunteer,1[', '9/volunteer,1[]', '2/volunteer,x["heartbeat"]', '2/volunteer,1{"a":1}', '2/volunteer,1[1e309]', '2/volunteer,1[null]', '2/volunteer,1["disconnect"]', '5/volunteer,1-["x",{"_placeholder":true,"num":0}]', '2/nope,1["hello",{}]', '\u0000\u0001\u0002', '']);
      cases.push({ label: `malformed packet ${JSON.stringify(bad)}`, send: (s) => s.write(bad) });
    }
    for (const k of cases) {
      const s = await RawSocket.connect(c.url, k.transports);
      k.send(s);
      count('socket: oversized frames and malformed packets');
      const dropped = await s.waitDisconnect(1500);
      // A malformed packet may also just be ignored (an unknown namespace); it must never stop the coordinator.
      if (k.label.includes('MiB')) expect(dropped, k.label).toBe(true);
      s.close();
      const health = await httpRaw(c.url, 'GET', '/healthz');
      expect(health.status, k.label).toBe(200);
    }
    await checkpoint();
  }, 60_000);

  it(`HTTP: ${HTTP_REQUESTS} random requests to files, app versions, accounts, the ledger and the researcher API`, async () => {
    const knownFile = (await c.store.sql.get<{ sha256: string }>('SELECT sha256 FROM files LIMIT 1'))!.sha256;
    const knownVersion = (await c.store.sql.get<{ bundle_hash: string }>('SELECT bundle_hash FROM app_versions LIMIT 1'))!.bundle_hash;
    const stranger = newKey(new Rng(SEED ^ 77));
    const TRAVERSAL = [
      '..%2F..%2Fcoordinator-key.json',
      '..%2f..%2fcoordinator.sqlite',
      '%2e%2e%2f%2e%2e%2fcoordinator-key.json',
      '..%5C..%5Ccoordinator-key.json',
      '....%2F%2Fcoordinator-key.json',
      '%252e%252e%252fcoordinator-key.json',
      '..',
      '.',
      '%00',
      `${knownFile}%00.json`,
      `${knownFile}%2F..%2F..%2Fcoordinator-key.json`,
      `${knownFile.slice(0, 2)}%2F${knownFile}`,
      knownFile.toUpperCase(),
      knownFile.slice(1),
      `${knownFile}0`,
      'coordinator-key.json',
    ];
    const hashSeg = (rng: Rng): string => {
      const k = rng.int(0, 5);
      if (k === 0) return rng.pick(TRAVERSAL);
      if (k === 1) return rng.hex(64);
      if (k === 2) return seg(str(rng, 100)) || '%20';
      if (k === 3) return `${rng.hex(64)}?${seg(str(rng, 20))}=1`;
      if (k === 4) return 'a'.repeat(rng.int(65, 10_000));
      return rng.pick([knownFile, knownVersion]);
    };
    const idSeg = (rng: Rng): string =>
      rng.pick(['0', '-1', '1.5', '1e3', 'abc', '9007199254740993', '99999999999999999999', '..%2F..', '%00', 'current', `${project.id}`, `${app.id}`, `${batchId}`, '1', '2', '3', seg(str(rng, 30)), '0x1', '%201', '1%20', '%20']);
    const query = (rng: Rng): string => {
      if (rng.chance(0.3)) return '';
      const keys = ['after', 'limit', 'status', 'online', 'projectId', 'appId', 'filter', 'name', 'clientKey', 'minQuorum', '__proto__', 'constructor', str(rng, 8)];
      const vals = ['', '-1', '0', '1', '1e309', 'NaN', 'Infinity', '1.5', 'true', 'x', '99999999999999999999', '%00', '1&after=2', 'all', 'done'];
      const n = rng.int(1, 4);
      return `?${Array.from({ length: n }, () => `${seg(rng.pick(keys))}${rng.chance(0.2) ? '[]' : ''}=${seg(rng.pick(vals))}`).join('&')}`;
    };
    const body = (rng: Rng): { headers: Record<string, string>; body?: string } => {
      const types = ['application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'application/x-ndjson', 'multipart/form-data', 'multipart/form-data; boundary=x', 'application/octet-stream', 'application/json; charset=utf-7', ''];
      const type = rng.pick(types);
      const k = rng.int(0, 6);
      const text =
        k === 0 ? junk(rng, 4)
        : k === 1 ? `{"name":${junk(rng, 1)},${q(extraKey(rng))}:${junk(rng, 2)}}`
        : k === 2 ? '{"a":'
        : k === 3 ? deep(rng, rng.int(10, 20_000))
        : k === 4 ? `--x\r\nContent-Disposition: form-data; name="files"; filename="../../x.js"\r\n\r\nexport default 1\r\n--x--\r\n`
        : k === 5 ? `{"__proto__":{"role":"admin","polluted":1},"constructor":{"prototype":{"polluted":1}}}`
        : str(rng, 200);
      return { headers: type ? { 'content-type': type } : {}, body: rng.chance(0.9) ? text : undefined };
    };
    const auths = (rng: Rng, mayWrite: boolean): { label: string; headers: Record<string, string> } => {
      const k = rng.int(0, mayWrite ? 5 : 6);
      if (k === 0) return { label: 'none', headers: {} };
      if (k === 1) return { label: 'garbage token', headers: { authorization: rng.pick([`Bearer vgt_${rng.hex(40)}`, 'Bearer', 'Basic YWRtaW46YWRtaW4=', `Bearer ${str(rng, 50).replace(/[^\x20-\x7e]/g, '')}`, 'bearer  ']) } };
      if (k === 2) return { label: 'garbage cookie', headers: { cookie: `vg_session=${rng.hex(64)}`, 'x-csrf-token': rng.hex(32) } };
      if (k <= 5) return { label: 'another researcher', headers: { authorization: `Bearer ${mallory.token!}` } };
      return { label: 'admin', headers: { authorization: `Bearer ${admin.token!}` } };
    };

    type Req = { what: string; method: string; path: string; headers: Record<string, string>; body?: string | Uint8Array; allowed: (s: number) => boolean; codes?: readonly string[]; onReply?: (r: HttpReply) => void };
    const ERRORS_ONLY = (s: number) => s >= 400 && s < 500;
    const make = (rng: Rng): Req => {
      const k = rng.int(0, 99);
      if (k < 12) {
        const h = hashSeg(rng);
        return { what: 'GET /files/:hash', method: 'GET', path: `/files/${h}`, headers: {}, allowed: (s) => s < 500, codes: ERROR_CODES };
      }
      if (k < 24) {
        const h = rng.chance(0.5) ? rng.hex(64) : hashSeg(rng);
        const bytes = rng.chance(0.05) ? new Uint8Array(1024 * 1024 + rng.int(0, 100)) : new TextEncoder().encode(str(rng, 500));
        const signer = rng.pick([A, B, stranger, undefined]);
        const taskId = rng.pick(['1', '2', '3', '0', '-1', '1.5', 'abc', '', '99999999999999999999', String(rng.int(1, 50))]);
        const sig = signer ? signBody(ed, signer.seed, rng.pick(['upload', 'upload', 'result'] as const), { hostKey: signer.publicKey, sha256: rng.chance(0.5) ? h : sha256Hex(bytes), taskId: Number(taskId) || 0 }) : rng.hex(128);
        const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
        if (rng.chance(0.9)) headers['x-vg-task-id'] = taskId;
        if (rng.chance(0.9)) headers['x-vg-host-key'] = rng.pick([signer?.publicKey ?? rng.hex(64), rng.hex(64), 'zz', '', A.publicKey]);
        if (rng.chance(0.9)) headers['x-vg-signature'] = rng.pick([sig, sig, rng.hex(128), 'x']);
        // Never a correct upload: either the body does not hash to the name, or the proof is bad.
        return { what: 'PUT /files/:hash', method: 'PUT', path: `/files/${h}`, headers, body: bytes, allowed: ERRORS_ONLY, codes: ERROR_CODES };
      }
      if (k < 32) return { what: 'GET /app-versions/:hash', method: 'GET', path: `/app-versions/${hashSeg(rng)}`, headers: {}, allowed: (s) => s < 500, codes: ERROR_CODES };
      if (k < 42) {
        const b = body(rng);
        const valid = rng.chance(0.1);
        const team = rng.chance(0.5) ? `fuzz-team-${rng.int(0, 3)}` : undefined;
        const text = valid ? JSON.stringify({ name: `fuzz-${rng.int(0, 999)}`, team }) : (b.body ?? '');
        return {
          what: 'POST /api/v1/accounts',
          method: 'POST',
          path: '/api/v1/accounts',
          headers: valid ? { 'content-type': 'application/json' } : b.headers,
          body: text,
          allowed: (s) => s === 201 || (s >= 400 && s < 500),
          codes: ERROR_CODES,
          onReply: (r) => {
            if (r.status !== 201) return;
            legit.accountsCreated++;
            if (valid && team) legit.teamNames.add(team);
            if (!valid) violation('POST /api/v1/accounts accepted a malformed body', text, r.text);
          },
        };
      }
      if (k < 50) return { what: 'GET /api/v1/ledger', method: 'GET', path: `/api/v1/ledger${query(rng)}`, headers: {}, allowed: (s) => s === 200 || (s >= 400 && s < 500), codes: ERROR_CODES };
      // The researcher API.
      const routes: [string, string][] = [
        ['GET', '/session'],
        ['POST', '/session'],
        ['DELETE', '/session'],
        ['POST', '/session/password'],
        ['GET', '/tokens'],
        ['POST', '/tokens'],
        ['DELETE', '/tokens/:id'],
        ['GET', '/researchers'],
        ['POST', '/researchers'],
        ['PATCH', '/researchers/:id'],
        ['GET', '/projects'],
        ['POST', '/projects'],
        ['GET', '/projects/:id'],
        ['PATCH', '/projects/:id'],
        ['POST', '/projects/:id/apps'],
        ['GET', '/apps/:id'],
        ['POST', '/apps/:id/versions'],
        ['POST', '/apps/:id/batches'],
        ['GET', '/batches'],
        ['GET', '/batches/:id'],
        ['GET', '/batches/:id/workunits'],
        ['GET', '/batches/:id/errors'],
        ['GET', '/batches/:id/validation'],
        ['GET', '/batches/:id/results'],
        ['POST', '/batches/:id/cancel'],
        ['GET', '/workunits/:id'],
        ['GET', '/hosts'],
        ['GET', '/leaderboards/:id'],
        ['PUT', '/projects/:id'],
        ['GET', '/nope/:id'],
      ];
      const [method, template] = rng.pick(routes);
      const write = method !== 'GET';
      const auth = auths(rng, write);
      let id = idSeg(rng);
      // Mallory's own token must survive: she never names it (nor "current") when revoking.
      if (template === '/tokens/:id' && (id === 'current' || id === String(malloryTokenId))) id = '999999';
      const path = `/api/v1${template.replace(':id', id)}${query(rng)}`;
      const b = write || rng.chance(0.1) ? body(rng) : { headers: {} };
      return {
        what: `${method} ${template} (${auth.label})`,
        method,
        path,
        headers: { ...b.headers, ...auth.headers },
        body: b.body,
        // Reads may succeed; writes never do (a bearer token's DELETE /session is a no-op 204).
        allowed: (s) => (s >= 400 && s < 500) || (!write && s === 200) || (method === 'DELETE' && template === '/session' && s === 204),
      };
    };

    let next = 0;
    const worker = async (w: number) => {
      const rng = new Rng(SEED + 1_000_003 * (w + 1));
      while (next < HTTP_REQUESTS) {
        next++;
        const r = make(rng);
        const reply = await httpRaw(c.url, r.method, r.path, r.headers, r.body);
        count(`http: ${r.what.replace(/ \(.*\)$/, '')}`);
        const sent = `${r.method} ${r.path} ${JSON.stringify(r.headers)} ${typeof r.body === 'string' ? r.body.slice(0, 200) : `${r.body?.length ?? 0} bytes`}`;
        checkHttp(r.what, sent, reply, r.allowed, r.codes);
        if (typeof reply.status === 'number') r.onReply?.(reply as HttpReply);
      }
    };
    await Promise.all(Array.from({ length: 8 }, async (_, w) => (await worker(w))));
    expect(violations, violations.slice(0, 10).join('\n')).toEqual([]);
    expect(existsSync(join(c.dataDir, '..', 'x.js'))).toBe(false);
    await checkpoint();
  }, 120_000);

  it('app versions: multipart uploads with traversal and other bad file names are refused, and store nothing', async () => {
    const names = ['../../x.js', '../x.js', '/etc/passwd', '..\\..\\x.js', 'a/b.js', '.hidden', '', '..', 'x'.repeat(129), 'ma\u0000in.js', 'main.js/..', '%2e%2e%2fx.js', 'C:\\x.js', ' main.js'];
    for (const name of names) {
      count('http: multipart with bad file names (owner)');
      const r = await owner.upload(`/apps/${app.id}/versions`, [{ name, content: 'export default async () => 1;' }], { entry: name || 'main.js' });
      expect(r.status, `${JSON.stringify(name)}: ${r.text}`).toBe(400);
      expect((r.body as unknown as { error: { code: string } }).error.code).toBe('bad_request');
    }
    // The same with a good entry file next to the bad one.
    for (const name of names.slice(0, 6)) {
      count('http: multipart with bad file names (owner)');
      const r = await owner.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: 'export default async () => 1;' }, { name, content: 'x' }]);
      expect(r.status, `${JSON.stringify(name)}: ${r.text}`).toBe(400);
    }
    for (const f of ['x.js', '../x.js']) expect(existsSync(join(c.dataDir, f))).toBe(false);
    expect(existsSync(join(c.dataDir, '..', 'x.js'))).toBe(false);
  });

  it('afterwards: the coordinator answers, legitimate work is accepted, and the database changed only by legitimate work', async () => {
    await checkpoint();
    const now = await snapshot();
    const problems = unexplainedChanges(now);
    expect(problems, problems.join('\n')).toEqual([]);
    await expectIntact();
    // The hosts' tasks went through the whole fuzz untouched: their real results are accepted now.
    for (const [v, tasks] of [[A, tasksA], [B, tasksB], [C, tasksC], [D, tasksD]] as const) {
      for (const t of tasks) expect(await c.store.sql.get('SELECT status, result_hash FROM replicas WHERE task_id = ?', [t.taskId])).toEqual({ status: 'in_progress', result_hash: null });
      const results = [];
      for (const t of tasks) results.push(await v.compute(t)); // one at a time: compute() caches the app unsafely
      for (const t of tasks) legit.acceptedTaskIds.add(t.taskId);
      legit.creditedHostIds.add(v.hostId);
      let acks: ResultAck[];
      if (v === C || v === D) {
        const list = signList(v, v.publicKey, results.map((r) => hashOf(unsigned(r))));
        legit.resultLists.add(list.signature);
        acks = await v.reportListed(results, list);
      } else acks = await v.report(results);
      expect(acks.map((a) => a.status)).toEqual(['accepted', 'accepted', 'accepted']);
    }
    // The protocol-3 hosts' reports left one list each, which covers their results.
    const after = unexplainedChanges(await snapshot());
    expect(after, after.join('\n')).toEqual([]);
    // No prototype pollution in this process (the coordinator runs in it).
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    await expectIntact();
  });
});

describe('with rate limits on', () => {
  it('a flood of messages gets rate_limited, and the coordinator stays up', async () => {
    // 20 messages a second, bursts of 100.
    const limited = await startTestCoordinator({ messageRatePerSocket: 20 });
    try {
      const since = Date.now();
      const v = await TestVolunteer.connect(limited.url);
      const rng = new Rng(SEED ^ 0x1f100d);
      const payloads = Array.from({ length: 600 }, () => (rng.chance(0.5) ? {} : JSON.parse(junk(rng, 2)) as unknown));
      const replies = (await Promise.all(payloads.map((p) => v.socket.timeout(10_000).emitWithAck(rng.pick(['heartbeat', 'tasks.request', 'credit.receipts']), p)))) as Reply<object>[];
      count('socket: flood with rate limits on', replies.length);
      const codes = replies.map((r) => (r.ok ? 'ok' : r.error.code));
      // At most the burst and what refilled went through, however long this machine took.
      expect(codes.filter((x) => x === 'rate_limited').length).toBeGreaterThanOrEqual(600 - mostAllowed(100, 20, since));
      expect(codes.filter((x) => x === 'rate_limited').length).toBeGreaterThan(0);
      expect(codes.every((x) => x === 'ok' || (ERROR_CODES as readonly string[]).includes(x))).toBe(true);
      v.close();
      expect((await httpRaw(limited.url, 'GET', '/healthz')).status).toBe(200);
      const fresh = await TestVolunteer.connect(limited.url);
      expect((await fresh.send('heartbeat', {})).ok).toBe(true);
      fresh.close();
    } finally {
      await limited.dispose();
    }
  });
});

// ---- regressions: what the fuzzer found, each stating what must happen ----

describe('found by the fuzzer', () => {
  // Schemas recurse once per nesting level (z.json()), so an authenticated host's results.report
  // whose output nests ~2,000 deep (4 KB) used to overflow the stack in the Socket.IO listener
  // and kill the coordinator; anyone can authenticate. Now the depth is checked without
  // recursion first: bad_request, and the coordinator stays up. Run against a child process,
  // since a crash would kill the process it runs in.
  it('a results.report whose output nests 5,000 deep is a bad_request, not a crash', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'vg-fuzz-crash-'));
    const child = await spawnCoordinator(dataDir, ['--demo-workunits', '0']);
    try {
      const v = await TestVolunteer.connect(child.url);
      const s = await RawSocket.connect(child.url);
      const h = (await s.send('hello', [obj({ protocol: String(PROTOCOL_VERSION), hostKey: q(v.publicKey), platform: obj({ kind: q('node') }) })])) as { reply: { challenge: string; coordinatorKey: string } };
      await s.send('auth', [obj({ signature: q(signBody(ed, v.seed, 'auth', { nonce: h.reply.challenge, hostKey: v.publicKey, coordinatorKey: h.reply.coordinatorKey })) })]);
      v.close();
      const result = obj({ taskId: '1', workunitId: '1', hostKey: q(v.publicKey), outcome: q('success'), outputHash: q('0'.repeat(64)), cpuTimeMs: '0', elapsedMs: '0', signature: q('0'.repeat(128)), output: deep(new Rng(2), 5000) });
      const o = await s.send('results.report', [obj({ results: `[${result}]` })], 5000);
      s.close();
      const proc = child.child;
      const died = proc.exitCode !== null || proc.signalCode !== null || (await Promise.race([once(proc, 'exit').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 1500))]));
      expect(died, `the coordinator process died:\n${child.output.join('').slice(-600)}`).toBe(false);
      expect(o).toMatchObject({ kind: 'reply', reply: { ok: false, error: { code: 'bad_request' } } });
      expect((await httpRaw(child.url, 'GET', '/healthz', {}, undefined, 3000)).status).toBe(200);
    } finally {
      await child.kill9().catch(() => {});
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  // The same recursion over HTTP (WorkunitSpecSchema's `input: z.json()`): an input nested 5,000
  // deep must be a 400 naming the work unit, as JSON and as an NDJSON line, not a 500.
  it('a batch whose input nests 5,000 deep is a 400, not a 500', async () => {
    const input = deep(new Rng(3), 5000);
    const r = await httpRaw(c.url, 'POST', `/api/v1/apps/${app.id}/batches`, { 'content-type': 'application/json', authorization: `Bearer ${owner.token!}` }, `{"name":"deep","workunits":[{"input":${input}}]}`);
    expect(r.status).toBe(400);
  });

  // socket.io puts the ack last: a message sent with an ack but without a payload
  // (`emit("heartbeat", cb)`) or with an extra argument (`emit("heartbeat", {}, {}, cb)`) must be
  // answered through that ack (bad_request, or ok for heartbeat), never left hanging.
  it('a message with an ack but no payload, or an extra argument, is answered through its ack', async () => {
    const s = await RawSocket.connect(c.url);
    try {
      const none = await s.send('heartbeat', [], 2000);
      const extra = await s.send('hello', ['{}', '{}'], 2000);
      expect(none.kind).toBe('reply');
      expect(extra.kind).toBe('reply');
    } finally {
      s.close();
    }
  });

  // Any other event name (a typo, a newer client, "tasks.requests") must be answered, as
  // docs/protocol.md §3 says of every message: {ok:false, error:{code:"bad_request", …}}.
  it('an unknown event is answered with bad_request, not silence', async () => {
    const s = await RawSocket.connect(c.url);
    try {
      const o = await s.send('tasks.requests', ['{"count":1}'], 2000);
      expect(o).toMatchObject({ kind: 'reply', reply: { ok: false, error: { code: 'bad_request' } } });
    } finally {
      s.close();
    }
  });
});
