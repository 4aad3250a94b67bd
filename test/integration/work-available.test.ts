// First results fast: a volunteer that found no work is told over its connection the moment work
// it may take appears, rather than finding it at its next poll. Against the real coordinator, a
// socket volunteer and the real daemon, with polls set far apart so that only the push can be
// what brings the work.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Submitted } from '../../protocol/api.js';
import { ApiClient, newApp, newResearcher } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

let c: TestCoordinator | undefined;
const volunteers: TestVolunteer[] = [];
let daemon: VolunteerProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  volunteers.splice(0).forEach((v) => v.close());
  await daemon?.kill9();
  daemon = undefined;
  await c?.dispose();
  c = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

/** Polls a minute apart: longer than any wait below. */
const IDLE_RETRY_MS = 60_000;

describe('idle volunteers are told when work appears', () => {
  it('a socket volunteer that found no work gets tasks.available when a batch is submitted, and only then', async () => {
    c = await startTestCoordinator({ idleRetryMs: IDLE_RETRY_MS });
    const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const { app } = await newApp(ada, 'push');
    const [idle, busy] = [await TestVolunteer.connect(c.url), await TestVolunteer.connect(c.url)];
    volunteers.push(idle, busy);
    const told = { idle: 0, busy: 0 };
    idle.socket.on('tasks.available', () => told.idle++);
    busy.socket.on('tasks.available', () => told.busy++);
    const empty = await idle.send<{ tasks: unknown[]; retryAfterMs: number }>('tasks.request', { count: 4 });
    expect(empty.ok && [empty.tasks, empty.retryAfterMs]).toEqual([[], IDLE_RETRY_MS]);

    const r = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'pushed', workunits: [{ input: 1 }, { input: 2 }] });
    expect(r.status).toBe(201);
    await waitFor('the push', () => told.idle > 0, 10_000);
    expect(told.busy).toBe(0); // it never asked and found nothing
    expect(await idle.requestTasks(4)).toHaveLength(2);
  });

  it('the real daemon, idle, takes a new batch’s first task at once, not at its next poll', async () => {
    c = await startTestCoordinator({ idleRetryMs: IDLE_RETRY_MS });
    const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const { app } = await newApp(ada, 'push-daemon');
    dir = mkdtempSync(join(tmpdir(), 'vg-push-daemon-'));
    daemon = VolunteerProcess.start(c.url, dir);
    const hosts = () => (c!.store.db.prepare('SELECT COUNT(*) AS n FROM hosts').get() as { n: number }).n;
    await waitFor('the daemon connected', () => hosts() === 1, 20_000);
    // Time to ask once, find nothing and be told to wait a minute.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const r = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'first results fast', workunits: [{ input: 7 }], replication: { minQuorum: 1, targetNresults: 1 } });
    expect(r.status).toBe(201);
    await waitFor('the first result', async () => (await c!.store.reports.workunitCounts(r.body.batchId)).done === 1, 30_000);
  }, 60_000);
});
