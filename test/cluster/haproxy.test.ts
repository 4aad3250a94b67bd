// The documented HAProxy config (docs/deploy/haproxy-volunteer-grid.cfg), run for real on loopback
// in front of two coordinator processes on one PostgreSQL database and one Redis: TLS ends at
// HAProxy, a real volunteer daemon works through it, and when the instance the daemon is connected
// to is killed with SIGKILL mid-batch, HAProxy takes it out of rotation, the daemon reconnects
// through it to the other instance, and the batch completes with every result.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BatchStatus, Submitted } from '../helpers/api-client.js';
import { ApiClient, newResearcher, type App } from '../helpers/api-client.js';
import { runCli } from '../helpers/cli-process.js';
import { spawnCoordinator, type CoordinatorProcess } from '../helpers/coordinator-process.js';
import { skipHaproxyTests, startHaproxy, type Haproxy } from '../helpers/haproxy.js';
import { freePort, selfSignedCert, substitute } from '../helpers/nginx.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';
import { connectRedis, deleteKeys, REDIS_URL, skipRedisTests } from '../helpers/redis.js';
import { TEST_ADMIN_PASSWORD, waitFor } from '../helpers/test-coordinator.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CONFIG = join(ROOT, 'docs', 'deploy', 'haproxy-volunteer-grid.cfg');
const skip = skipHaproxyTests('cluster behind HAProxy') || (await skipPostgresTests('cluster behind HAProxy')) || (await skipRedisTests('cluster behind HAProxy'));

/** A task that takes a while (a few hundred ms of arithmetic), so that a batch is still running when an instance dies. */
const SLOW_MAIN = `export default async function run(input) {
  let x = input.seed;
  for (let i = 0; i < input.steps; i++) x = (x * 31 + i) % 1000003;
  return { seed: input.seed, x };
}
`;
const WORKUNITS = 24;

describe.skipIf(skip)('a cluster behind the documented HAProxy config', () => {
  let dir: string;
  let database: TestDatabase;
  const redisPrefix = `vg-test-${randomBytes(4).toString('hex')}`;
  const instances: CoordinatorProcess[] = [];
  let haproxy: Haproxy;
  let httpsUrl: string;
  let cert: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vg-haproxy-'));
    database = await createTestDatabase();
    // As docs/deploy.md lays it out: a data dir each, one files directory and one key file
    // (made once with admin init-key) that every instance is given.
    const keyFile = join(dir, 'coordinator-key.json');
    const made = await runCli(['admin', 'init-key', '--key-file', keyFile]);
    expect(made.code, made.stderr).toBe(0);
    const args = ['--database-url', database.url, '--redis-url', REDIS_URL, '--redis-prefix', redisPrefix, '--trust-proxy', 'loopback',
      '--files-dir', join(dir, 'files'), '--key-file', keyFile,
      '--demo-workunits', '0', '--admin-password', TEST_ADMIN_PASSWORD, '--check-rate', '0', '--disconnect-grace-ms', '2000'];
    for (const name of ['coordinator-1', 'coordinator-2']) {
      mkdirSync(join(dir, name));
      instances.push(await spawnCoordinator(join(dir, name), args));
    }

    const keys = selfSignedCert(dir);
    cert = keys.cert;
    // HAProxy wants the certificate and its key in one file.
    const pem = join(dir, 'grid.pem');
    writeFileSync(pem, readFileSync(keys.cert, 'utf8') + readFileSync(keys.key, 'utf8'));
    const [httpsPort, httpPort] = [await freePort(), await freePort()];
    const ports = instances.map((i) => new URL(i.url).port);
    const config = substitute(readFileSync(CONFIG, 'utf8'), [
      ['log stdout format raw local0 info', 'log stdout format raw local0 notice'],
      // The test's own file-descriptor limit, not a server's (HAProxy needs two per connection).
      ['maxconn 20000', 'maxconn 1000'],
      ['bind :80', `bind 127.0.0.1:${httpPort}`],
      ['bind :443 ssl crt /etc/haproxy/certs/grid.example.org.pem', `bind 127.0.0.1:${httpsPort} ssl crt ${pem}`],
      ['server coordinator-1 10.0.0.11:8080 check cookie c1', `server coordinator-1 127.0.0.1:${ports[0]} check cookie c1`],
      ['server coordinator-2 10.0.0.12:8080 check cookie c2', `server coordinator-2 127.0.0.1:${ports[1]} check cookie c2`],
      ['    server coordinator-3 10.0.0.13:8080 check cookie c3\n', ''],
    ]);
    haproxy = await startHaproxy(dir, config, [httpsPort, httpPort]);
    httpsUrl = `https://127.0.0.1:${httpsPort}`;
  }, 90_000);

  afterAll(async () => {
    await haproxy?.stop();
    for (const i of instances) if (i.child.exitCode === null && i.child.signalCode === null) await i.stop();
    await database?.drop();
    const redis = await connectRedis();
    await deleteKeys(redis, redisPrefix);
    await redis.quit();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A GET through HAProxy that trusts the test's certificate. */
  function get(path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${httpsUrl}${path}`, { ca: readFileSync(cert), headers }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.once('error', reject);
      req.end();
    });
  }

  it('serves over TLS from a ready instance', async () => {
    await waitFor('HAProxy to find the instances ready', async () => (await get('/readyz')).status === 200, 15_000);
    expect(JSON.parse((await get('/readyz')).body)).toMatchObject({ ready: true });
  });

  it('keeps a volunteer computing through HAProxy when its instance is killed, and the batch completes', async () => {
    const admin = await ApiClient.withToken(instances[0]!.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const project = await ada.post<{ id: number }>('/projects', { name: 'slow' });
    const app = await ada.post<App>(`/projects/${project.body.id}/apps`, { name: 'slow' });
    expect((await ada.upload(`/apps/${app.body.id}/versions`, [{ name: 'main.js', content: SLOW_MAIN }])).status).toBe(201);
    const workunits = Array.from({ length: WORKUNITS }, (_, i) => ({ input: { seed: i, steps: 30_000_000 } }));
    const submitted = await ada.post<Submitted>(`/apps/${app.body.id}/batches`, { name: 'through haproxy', replication: { minQuorum: 1, targetNresults: 1 }, workunits });
    expect(submitted.status).toBe(201);
    const batchId = submitted.body.batchId;
    const status = async (via: CoordinatorProcess) => (await ApiClient.bearer(via.url, ada.token!).get<BatchStatus>(`/batches/${batchId}`)).body;

    const volunteer = VolunteerProcess.start(httpsUrl, join(dir, 'volunteer'), [], { NODE_EXTRA_CA_CERTS: cert });
    try {
      const first = await volunteer.waitForLog('connected');
      await waitFor('a few results', async () => (await status(instances[0]!)).workunits.done >= 3, 60_000);
      // The instance the daemon's connection reached says so in its log.
      const onIt = instances.findIndex((i) => i.output.join('').includes('"msg":"host connected"'));
      expect(onIt).toBeGreaterThanOrEqual(0);
      const [victim, survivor] = [instances[onIt]!, instances[1 - onIt]!];
      await victim.kill9();
      const killedAt = Date.now();
      // The daemon reconnects through HAProxy (to the only instance left) and goes on.
      await volunteer.waitForLog('connected', (l) => l !== first && volunteer.logged('connected').indexOf(l) > 0, 30_000);
      const back = Date.now() - killedAt;
      await waitFor('the batch to complete on the surviving instance', async () => (await status(survivor)).status === 'done', 120_000);
      const done = await status(survivor);
      expect(done.workunits).toMatchObject({ total: WORKUNITS, done: WORKUNITS, failed: 0 });
      expect(survivor.output.join('')).toMatch(/"msg":"host connected"/);
      // Every result is there, once.
      const results = (await ApiClient.bearer(survivor.url, ada.token!).get<string>(`/batches/${batchId}/results`)).text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { output: { seed: number } });
      expect(results.map((r) => r.output.seed).sort((x, y) => x - y)).toEqual(Array.from({ length: WORKUNITS }, (_, i) => i));
      console.log(`[haproxy] the daemon was connected again ${back} ms after its instance was killed`);
    } finally {
      expect(await volunteer.stop()).toBe(0);
    }
  }, 240_000);
});
