// Volunteers never notice which instance they talk to: three coordinator processes on one
// PostgreSQL database and one Redis list each other (--cluster-urls); real daemons given one URL
// (or two) learn the rest from the discovery document and pick theirs by key; the instance one of
// them is on is killed with SIGKILL mid-batch; that daemon says it fails over, carries on on
// another instance with the tasks it held, and the batch completes with every result present.
// On the postgres project only: it is a cluster, and needs PostgreSQL and Redis.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Status } from '../../volunteer-node/control-protocol.js';
import { ApiClient, newResearcher, type BatchStatus } from '../helpers/api-client.js';
import { loopApp, startCluster, submitLoopBatch, type TestCluster } from '../helpers/cluster.js';
import { skipPostgresTests, TEST_BACKEND } from '../helpers/postgres.js';
import { skipRedisTests } from '../helpers/redis.js';
import { TEST_ADMIN_PASSWORD, waitFor } from '../helpers/test-coordinator.js';
import { companionJson, VolunteerProcess, type LogLine } from '../helpers/volunteer-process.js';

const skip = TEST_BACKEND !== 'postgres' || (await skipPostgresTests('volunteer failover')) || (await skipRedisTests('volunteer failover'));

const WORKUNITS = 40;
/** Long enough that a kill lands mid-batch on any machine, short enough for two daemons of one thread. */
const APP = loopApp(3_000_000);

describe.skipIf(skip)('volunteers across three coordinator instances', () => {
  const dirs: string[] = [];
  const daemons: VolunteerProcess[] = [];
  let cluster: TestCluster | undefined;
  afterAll(async () => {
    await Promise.all(daemons.map((d) => d.kill9()));
    await cluster?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('a daemon whose instance is killed mid-batch fails over to another, and the batch completes with every result', async () => {
    cluster = await startCluster(3);
    const { urls, instances } = cluster;
    expect(instances.map((c) => c.url)).toEqual(urls);

    const admin = await ApiClient.withToken(urls[0]!, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const batchId = await submitLoopBatch(ada, APP.source, WORKUNITS, { minQuorum: 2, targetNresults: 2 });

    // One given a single instance, one given two as a list: both learn the third from the document.
    for (const url of [urls[0]!, `${urls[1]},${urls[2]}`]) {
      const dir = mkdtempSync(join(tmpdir(), 'vg-failover-daemon-'));
      dirs.push(dir);
      daemons.push(VolunteerProcess.start(url, dir));
    }
    const [first, second] = daemons as [VolunteerProcess, VolunteerProcess];
    const connected = await Promise.all(daemons.map((d) => d.waitForLog('connected')));
    const on = connected.map((l) => l.instance as string);
    for (const url of on) expect(urls).toContain(url);
    for (const d of daemons) expect(d.logged('coordinator instances')[0]?.instances).toHaveLength(3);

    // Somewhere in the middle of the batch, the first daemon's instance dies.
    const via = (url: string) => ApiClient.bearer(url, ada.token!);
    const status = async (url: string) => (await via(url).get<BatchStatus>(`/batches/${batchId}`)).body;
    await waitFor('some work units done', async () => (await status(on[0]!)).workunits.done >= 3, 60_000);
    const killed = on[0]!;
    const victim = instances[urls.indexOf(killed)]!;
    await victim.kill9();
    const survivor = urls.find((u) => u !== killed)!;
    expect((await status(survivor)).workunits.done).toBeLessThan(WORKUNITS);

    // It says so, and where it went; then it connects there.
    const failover = await first.waitForLog('failing over to another coordinator instance', (l) => l.from === killed);
    expect(urls.filter((u) => u !== killed)).toContain(failover.to);
    const after = first.lines.indexOf(failover);
    await waitFor('the first daemon connected elsewhere', () => first.lines.slice(after).some((l) => l.msg === 'connected' && l.instance !== killed), 30_000);
    const moved = first.lines.slice(after).find((l: LogLine) => l.msg === 'connected')!;
    expect(moved.instance).not.toBe(killed);
    // Its status says where it is now, and its order of the three.
    const { status: now } = await companionJson<{ status: Status }>(first.dataDir, 'status');
    expect(now.url).toBe(moved.instance);
    expect(now.connection).toEqual({ state: 'connected', instance: moved.instance });
    expect(now.instances).toEqual(first.logged('coordinator instances')[0]!.instances);

    // Every work unit needs both hosts (quorum 2 of 2): the batch completes only if the first
    // daemon carried on, reporting what it held and computed to the instance it reached.
    await waitFor('the batch done', async () => (await status(survivor)).status === 'done', 120_000);
    expect(first.lines.slice(after).some((l) => l.msg === 'task finished')).toBe(true);
    const results = (await via(survivor).get<string>(`/batches/${batchId}/results`)).text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; status: string; output: unknown });
    expect(results).toHaveLength(WORKUNITS);
    for (const r of results) {
      expect(r.status).toBe('done');
      expect(r.output).toEqual(APP.output(r.seq));
    }
    // Nothing either daemon held was refused or lost on the way: no result rejected, no fatal error.
    for (const d of [first, second]) {
      expect(d.logged('result rejected')).toEqual([]);
      expect(d.child.exitCode).toBeNull();
    }
    expect(await Promise.all(daemons.map((d) => d.stop()))).toEqual([0, 0]);
  }, 240_000);
});
