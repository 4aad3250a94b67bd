// The public, read-only routes (docs/api.md, "Public data"): the project list and the credit
// stats export, read without an account from any site, on the real coordinator with real
// volunteers earning the credit.
import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Leaderboard, PublicProjectList, StatsHost, StatsIndex, StatsTeam, StatsUser } from '../../protocol/api.js';
import { buildResult } from '../../protocol/results.js';
import { ApiClient, newApp, newResearcher, type Submitted } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ed = nodeEd25519();
const TIMING = { cpuTimeMs: 2_000, elapsedMs: 2_500 };

let c: TestCoordinator;
let admin: ApiClient;
let ada: ApiClient;
const volunteers: TestVolunteer[] = [];
const ids: Record<string, number> = {};

/** GET without any credentials, as another site's page or a stats site would. */
async function publicGet(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${c.url}/api/v1${path}`, { headers: { origin: 'https://stats.example', ...headers } });
}

/** The raw bytes and headers, without fetch's own decompression. */
function rawGet(path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${c.url}/api/v1${path}`, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  c = await startTestCoordinator();
  admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
  ada = await newResearcher(admin, 'ada');
  // primes: two apps, one for any platform and one for browsers only; a batch computed by two volunteers.
  const primes = await newApp(ada, 'primes');
  ids.primes = primes.project.id;
  ids.primesApp = primes.app.id;
  const webApp = await ada.post<{ id: number }>(`/projects/${primes.project.id}/apps`, { name: 'web-only' });
  expect((await ada.upload(`/apps/${webApp.body.id}/versions`, [{ name: 'main.js', content: 'export default async () => 1;\n' }], { platform: 'browser' })).status).toBe(201);
  await ada.request('PATCH', `/projects/${primes.project.id}`, { json: { description: 'Counting primes, one range at a time' } });
  const done = await ada.post<Submitted>(`/apps/${primes.app.id}/batches`, { name: 'done', workunits: [{ input: 1 }, { input: 2 }, { input: 3 }] });
  expect(done.status).toBe(201);
  // A cancelled batch counts in no progress.
  const cancelled = await ada.post<Submitted>(`/apps/${primes.app.id}/batches`, { name: 'cancelled', workunits: [{ input: 9 }] });
  expect((await ada.post(`/batches/${cancelled.body.batchId}/cancel`, {})).status).toBe(200);
  // sentinels: all regular work sent, only a sentinel's replica waits: no work to show.
  const sentinels = await newApp(ada, 'sentinels');
  ids.sentinels = sentinels.project.id;
  const s = await ada.post<Submitted>(`/apps/${sentinels.app.id}/batches`, {
    name: 'one regular, one sentinel',
    replication: { minQuorum: 1, targetNresults: 1 },
    workunits: [{ input: 1 }, { input: 2, expectedOutput: { echo: 2 } }],
  });
  expect(s.status).toBe(201);
  // paused: waiting work, but paused.
  const paused = await newApp(ada, 'paused');
  ids.paused = paused.project.id;
  await ada.post<Submitted>(`/apps/${paused.app.id}/batches`, { name: 'waits', workunits: [{ input: 1 }] });
  expect((await ada.request('PATCH', `/projects/${paused.project.id}`, { json: { status: 'paused' } })).status).toBe(200);
  await c.replicasReady();

  // Two volunteers of accounts (one in a team), computing primes' batch: credit for both.
  const accounts = [];
  for (const body of [{ name: 'grace', team: 'Analytical Engines' }, { name: 'alan' }]) {
    const r = await fetch(`${c.url}/api/v1/accounts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(r.status).toBe(201);
    accounts.push((await r.json()) as { userId: number; accountKey: string });
  }
  for (const a of accounts) volunteers.push(await TestVolunteer.connect(c.url, { accountKey: a.accountKey, name: 'my-laptop.example.org', capabilities: { cores: 8, wasm: true } }));
  for (const v of volunteers) {
    const tasks = await v.requestTasks(3); // the queue's first: primes' batch
    expect(tasks.map((t) => t.project)).toEqual(['primes', 'primes', 'primes']);
    await v.report(tasks.map((t) => buildResult(ed, v.seed, t, { output: { echo: t.input } }, TIMING)));
  }
  await waitFor('the receipts', () => volunteers.every((v) => v.receipts.length === 3));
  // The sentinels project's regular work unit goes out (to a third host, still computing it), its sentinel stays.
  const third = await TestVolunteer.connect(c.url);
  volunteers.push(third);
  const sentinelTasks = await third.requestTasks(8);
  expect(sentinelTasks.map((t) => t.project)).toEqual(['sentinels']);
}, 60_000);
afterAll(async () => {
  volunteers.forEach((v) => v.close());
  await c?.dispose();
});

describe('GET /api/v1/public/projects', () => {
  it('lists projects with public fields only, without a login, open to any site', async () => {
    const r = await publicGet('/public/projects');
    expect(r.status).toBe(200);
    expect(r.headers.get('access-control-allow-origin')).toBe('*');
    expect(r.headers.get('access-control-allow-credentials')).toBeNull();
    const body = (await r.json()) as PublicProjectList;
    expect(body.next).toBeNull();
    const byName = Object.fromEntries(body.projects.map((p) => [p.name, p]));
    expect(byName.primes).toEqual({
      id: ids.primes,
      name: 'primes',
      description: 'Counting primes, one range at a time',
      owner: 'ada',
      apps: [
        { name: 'app', platforms: ['browser', 'node'] },
        { name: 'web-only', platforms: ['browser'] },
      ],
      progress: { batches: 1, done: 3, failed: 0, total: 3 },
      hasWork: false,
    });
    // Only its sentinel waits: that must not show as work.
    expect(byName.sentinels!.hasWork).toBe(false);
    expect(byName.sentinels!.progress).toEqual({ batches: 1, done: 0, failed: 0, total: 2 });
    expect(byName.paused!.hasWork).toBe(false);
    for (const p of body.projects) expect(Object.keys(p).sort()).toEqual(['apps', 'description', 'hasWork', 'id', 'name', 'owner', 'progress']);
  });

  it('says when a project has work now', async () => {
    const r = await ada.post<Submitted>(`/apps/${ids.primesApp}/batches`, { name: 'more', workunits: [{ input: 40 }] });
    expect(r.status).toBe(201);
    await c.replicasReady();
    const body = (await (await publicGet('/public/projects')).json()) as PublicProjectList;
    const primes = body.projects.find((p) => p.name === 'primes')!;
    expect([primes.hasWork, primes.progress]).toEqual([true, { batches: 2, done: 3, failed: 0, total: 4 }]);
  });

  it('pages by id, and refuses a bad query with a clear error', async () => {
    const first = (await (await publicGet('/public/projects?limit=2')).json()) as PublicProjectList;
    expect(first.projects.map((p) => p.name)).toEqual(['primes', 'sentinels']);
    expect(first.next).toBe(ids.sentinels);
    const second = (await (await publicGet(`/public/projects?limit=2&after=${first.next}`)).json()) as PublicProjectList;
    expect([second.projects.map((p) => p.name), second.next]).toEqual([['paused'], null]);
    for (const q of ['limit=0', 'limit=201', 'after=-1', 'secret=1']) {
      const r = await publicGet(`/public/projects?${q}`);
      expect(r.status).toBe(400);
      expect(((await r.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    }
  });

  it('answers a CORS preflight, and an unknown public path is a 404, not a login', async () => {
    const pre = await fetch(`${c.url}/api/v1/public/projects`, { method: 'OPTIONS', headers: { origin: 'https://x.example', 'access-control-request-method': 'GET' } });
    expect([pre.status, pre.headers.get('access-control-allow-origin'), pre.headers.get('access-control-allow-methods')]).toEqual([204, '*', 'GET, HEAD']);
    expect((await publicGet('/public/nothing')).status).toBe(404);
  });
});

describe('the stats export', () => {
  it('has an index of what it holds and where', async () => {
    const r = await publicGet('/public/stats');
    expect(r.status).toBe(200);
    const index = (await r.json()) as StatsIndex;
    expect(index.counts).toEqual({ users: 3, teams: 1, hosts: 3 });
    expect(index.files['users.json']).toBe('/api/v1/public/stats/users');
    expect(index.files['hosts.xml']).toBe('/api/v1/public/stats/hosts?format=xml');
  });

  it('exports users, teams and hosts with total and recent average credit, as the leaderboards count it, and nothing secret', async () => {
    const board = async (kind: string) => (await ApiClient.anonymous(c.url).get<Leaderboard>(`/leaderboards/${kind}`)).body.entries;
    const users = (await (await publicGet('/public/stats/users')).json()) as { kind: string; entries: StatsUser[] };
    expect(users.kind).toBe('users');
    const grace = users.entries.find((u) => u.name === 'grace')!;
    const graceBoard = (await board('users')).find((e) => e.name === 'grace')!;
    expect([grace.totalCredit, grace.rac]).toEqual([graceBoard.totalCredit, graceBoard.rac]);
    expect(grace.totalCredit).toBeGreaterThan(0);
    expect(grace.racTime).toBeGreaterThan(0);
    for (const u of users.entries) expect(Object.keys(u).sort()).toEqual(['createdAt', 'id', 'name', 'rac', 'racTime', 'teamId', 'totalCredit']);

    const teams = (await (await publicGet('/public/stats/teams')).json()) as { entries: StatsTeam[] };
    expect(teams.entries.map((t) => [t.name, t.totalCredit])).toEqual([['Analytical Engines', grace.totalCredit]]);
    expect(grace.teamId).toBe(teams.entries[0]!.id);

    const hosts = (await (await publicGet('/public/stats/hosts')).json()) as { entries: StatsHost[] };
    expect(hosts.entries).toHaveLength(3);
    const hostBoard = await board('hosts');
    for (const h of hosts.entries) {
      expect(Object.keys(h).sort()).toEqual(['cores', 'createdAt', 'id', 'lastSeenAt', 'platform', 'rac', 'racTime', 'totalCredit', 'userId']);
      expect(h.totalCredit).toBe(hostBoard.find((e) => e.id === h.id)?.totalCredit ?? 0);
    }
    expect(hosts.entries[0]).toMatchObject({ platform: { kind: 'node', engine: 'v8' }, cores: 8, userId: grace.id });
    // No key, name or address of a host, no account key, in any export.
    const all = (await Promise.all(['users', 'teams', 'hosts'].map(async (k) => (await publicGet(`/public/stats/${k}`)).text()))).join('\n');
    for (const v of volunteers) expect(all).not.toContain(v.publicKey);
    expect(all).not.toContain('my-laptop');
    expect(all).not.toContain('127.0.0.1');
    expect(all).not.toMatch(/accountKey|distrust|sentinel|publicKey/i);
  });

  it('shows a distrusted host exactly as any other', async () => {
    const before = (await (await publicGet('/public/stats/hosts')).json()) as { entries: StatsHost[] };
    // Catching a host is tested where it happens (test/work/sentinels.test.ts); here only its mark matters.
    c.store.db.prepare('UPDATE hosts SET distrusted_at = ? WHERE id = ?').run(Date.now(), volunteers[0]!.hostId);
    const after = (await (await publicGet('/public/stats/hosts')).json()) as { entries: StatsHost[] };
    expect(after.entries).toEqual(before.entries);
    c.store.db.prepare('UPDATE hosts SET distrusted_at = NULL WHERE id = ?').run(volunteers[0]!.hostId);
  });

  it('streams every row of a large export once, as JSON and as BOINC-style XML, gzipped when asked', async () => {
    // Enough users to span several pages of the export.
    await c.store.transaction(async (tx) => {
      for (let i = 0; i < 2_500; i++) await tx.identities.insertUser({ name: `u${i} <&> "x"\u0001`, accountKeyHash: null, teamId: null, now: 1_700_000_000_000 });
    });
    const json = await rawGet('/public/stats/users', { 'accept-encoding': 'gzip' });
    expect([json.status, json.headers['content-encoding'], json.headers['content-type']]).toEqual([200, 'gzip', 'application/json; charset=utf-8']);
    const parsed = JSON.parse(gunzipSync(json.body).toString('utf8')) as { entries: StatsUser[]; racHalfLifeMs: number };
    expect(parsed.entries).toHaveLength(2_503);
    expect(new Set(parsed.entries.map((u) => u.id)).size).toBe(2_503);
    expect(parsed.racHalfLifeMs).toBe(7 * 86_400_000);

    const plain = await rawGet('/public/stats/users?format=xml', {});
    expect([plain.status, plain.headers['content-encoding'], plain.headers['content-type']]).toEqual([200, undefined, 'application/xml; charset=utf-8']);
    const xml = plain.body.toString('utf8');
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n<users generated_at="')).toBe(true);
    expect(xml.trimEnd().endsWith('</users>')).toBe(true);
    expect(xml.match(/<user>/g)).toHaveLength(2_503);
    expect(xml).toContain('<name>u7 &lt;&amp;&gt; &quot;x&quot;\uFFFD</name>');
    expect(xml).toMatch(/<user><id>\d+<\/id><name>grace<\/name><teamid>\d+<\/teamid><create_time>\d+<\/create_time><total_credit>[\d.]+<\/total_credit><expavg_credit>[\d.]+<\/expavg_credit><expavg_time>[\d.]+<\/expavg_time><\/user>/);
  });

  it('refuses an unknown kind or format', async () => {
    expect((await publicGet('/public/stats/researchers')).status).toBe(400);
    expect((await publicGet('/public/stats/users?format=csv')).status).toBe(400);
  });
});


describe('public routes are rate-limited per address', () => {
  it('answers 429 with Retry-After past the address’s burst, as every route does', async () => {
    const limited = await startTestCoordinator({ httpRatePerIp: 1 });
    try {
      // Twenty at once: a burst of five, then a token a second.
      const replies = await Promise.all(
        Array.from({ length: 20 }, async (_, i) => {
          const r = await fetch(`${limited.url}/api/v1/public/${i % 2 ? 'projects' : 'stats/users'}`);
          await r.arrayBuffer();
          return r;
        }),
      );
      const statuses = replies.map((r) => r.status);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(5);
      expect(statuses).toContain(429);
      expect(Number(replies.find((r) => r.status === 429)!.headers.get('retry-after'))).toBeGreaterThan(0);
    } finally {
      await limited.dispose();
    }
  });
});
