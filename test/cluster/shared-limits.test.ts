// Limits that must hold for the cluster as a whole, not per instance: a client that spreads its
// requests, logins, messages or connections over two instances gets one allowance, not two. Each
// scenario gets through twice as much on instances that count only their own.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { toHex } from '../../protocol/bytes.js';
import { ApiClient, newResearcher, PASSWORD } from '../helpers/api-client.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';
import { connectRedis, deleteKeys, REDIS_URL, skipRedisTests } from '../helpers/redis.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const skip = (await skipPostgresTests('shared limits')) || (await skipRedisTests('shared limits'));
const ed = nodeEd25519();
const HTTP_RATE = 2; // a second, with a burst of 5 times that
const HOST_RATE = 1;
const CONNECTIONS_PER_HOST = 2;

describe.skipIf(skip)('limits two instances share through Redis', () => {
  let database: TestDatabase;
  let dataDir: string;
  let a: TestCoordinator;
  let b: TestCoordinator;
  const redisPrefix = `vg-test-${randomBytes(4).toString('hex')}`;
  const volunteers: TestVolunteer[] = [];
  let client = 0;
  /** A client address of its own for each scenario: the proxy (loopback, trusted) names it. */
  const nextAddress = () => `198.51.100.${++client}`;

  beforeAll(async () => {
    database = await createTestDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'vg-limits-'));
    const cluster = {
      dataDir,
      databaseUrl: database.url,
      redisUrl: REDIS_URL,
      redisPrefix,
      trustProxy: ['loopback'],
      httpRatePerIp: HTTP_RATE,
      messageRatePerHost: HOST_RATE,
      connectionsPerHost: CONNECTIONS_PER_HOST,
    };
    a = await startTestCoordinator(cluster);
    b = await startTestCoordinator(cluster);
    const admin = await ApiClient.withToken(a.url, 'admin', TEST_ADMIN_PASSWORD);
    await newResearcher(admin, 'ada');
  });
  afterEach(() => volunteers.splice(0).forEach((v) => v.close()));
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await database?.drop();
    rmSync(dataDir, { recursive: true, force: true });
    const redis = await connectRedis();
    await deleteKeys(redis, redisPrefix);
    await redis.quit();
  });

  /** How many a steady rate with a burst allows over the time the scenario took (one more at the edge). */
  const allowance = (rate: number, startedAt: number) => rate * 5 + Math.ceil(((Date.now() - startedAt) / 1000) * rate) + 1;

  it('gives one client address one HTTP budget across both instances', async () => {
    const from = nextAddress();
    const started = Date.now();
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await fetch(`${(i % 2 ? b : a).url}/healthz`, { headers: { 'x-forwarded-for': from } });
      await r.arrayBuffer();
      statuses.push(r.status);
    }
    const granted = statuses.filter((s) => s === 200).length;
    expect(granted).toBeGreaterThanOrEqual(HTTP_RATE * 5);
    expect(granted).toBeLessThanOrEqual(allowance(HTTP_RATE, started));
    expect(statuses.filter((s) => s !== 200).every((s) => s === 429)).toBe(true);
    // Both instances refused once the shared budget was spent, not only one of them.
    const refusedBy = new Set(statuses.flatMap((s, i) => (s === 429 ? [i % 2] : [])));
    expect(refusedBy).toEqual(new Set([0, 1]));
  });

  it('counts failed logins for an account from one address on both instances together', async () => {
    const from = nextAddress();
    const login = (on: TestCoordinator, password: string) =>
      fetch(`${on.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': from }, body: JSON.stringify({ name: 'ada', password }) });
    // Ten wrong passwords, five through each instance: the pair's limit for the whole cluster.
    for (let i = 0; i < 10; i++) expect((await login(i % 2 ? b : a, 'wrong password')).status).toBe(401);
    // Ten requests spent the address's HTTP burst: a second refills two, so what refuses the next
    // two is the login throttle, however fast the ten went (on a quiet machine, in under a second).
    await sleep((2 / HTTP_RATE) * 1000 + 100);
    for (const on of [a, b]) {
      const refused = await login(on, PASSWORD);
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/too many failed logins for this account from your address/);
    }
    // The account's owner, from another address, is not kept out.
    const elsewhere = await fetch(`${b.url}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': nextAddress() }, body: JSON.stringify({ name: 'ada', password: PASSWORD }) });
    expect(elsewhere.status).toBe(200);
  });

  it('gives a host one message budget over its connections to both instances', async () => {
    const seed = toHex(ed.randomSeed());
    const onA = await TestVolunteer.connect(a.url, { seed });
    const onB = await TestVolunteer.connect(b.url, { seed });
    volunteers.push(onA, onB);
    expect(onB.hostId).toBe(onA.hostId);
    const started = Date.now();
    const codes: string[] = [];
    for (let i = 0; i < 24; i++) {
      const reply = await (i % 2 ? onB : onA).send('tasks.request', { count: 1 });
      codes.push(reply.ok ? 'ok' : reply.error.code);
    }
    const granted = codes.filter((c) => c === 'ok').length;
    expect(granted).toBeGreaterThanOrEqual(HOST_RATE * 5);
    expect(granted).toBeLessThanOrEqual(allowance(HOST_RATE, started));
    expect(codes.filter((c) => c !== 'ok').every((c) => c === 'rate_limited')).toBe(true);
  });

  it('counts a host’s connections on every instance against its limit', async () => {
    const seed = toHex(ed.randomSeed());
    volunteers.push(await TestVolunteer.connect(a.url, { seed }), await TestVolunteer.connect(a.url, { seed }));
    await expect(TestVolunteer.connect(b.url, { seed })).rejects.toThrow(/rate_limited: this host already has 2 connections open/);
    // Once one closes, the other instance lets it in.
    volunteers.shift()!.close();
    await expect.poll(async () => {
      try {
        volunteers.push(await TestVolunteer.connect(b.url, { seed }));
        return true;
      } catch {
        return false;
      }
    }, { timeout: 10_000, interval: 200 }).toBe(true);
  });
});
