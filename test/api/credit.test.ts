// Credit that cannot be minted, through the real HTTP API and real volunteer sockets: a
// researcher's fpopsEst of 1e21 earns its hosts what they measured, not billions on the public
// leaderboards; only an admin sets a project's credit cap, which the project shows, and lowering
// it takes back what was granted above it with receipts the volunteers can add up exactly; and
// volunteers claiming days of CPU time for tasks they held for moments earn those moments.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import { creditAmount, verifyLedgerChain } from '../../protocol/ledger.js';
import { microForCpuMs } from '../../coordinator/work/credit.js';
import type { CreditReceipt, LedgerPage } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { CreditTally } from '../../volunteer-core/credit-receipts.js';
import { ApiClient, expectError, newApp, newResearcher, type Leaderboard, type Project, type ProjectDetail, type Submitted } from '../helpers/api-client.js';
import { sentEarlier } from '../helpers/held-tasks.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ed = nodeEd25519();
/**
 * Each volunteer says every task took 2 s of CPU (2 × 200 × 10 / 86,400 credits on the reference
 * core), and held it 2.5 s: credit pays no more than the coordinator saw a task out.
 */
const TIMING = { cpuTimeMs: 2_000, elapsedMs: 2_500 };
const EARNED = 0.046296;

describe('credit through the API', () => {
  let c: TestCoordinator;
  let admin: ApiClient;
  let ada: ApiClient;
  let project: Project;
  let volunteers: TestVolunteer[];
  const anonymous = () => ApiClient.anonymous(c.url);
  const hostTotals = async () => (await anonymous().get<Leaderboard>('/leaderboards/hosts')).body.entries.map((e) => e.totalCredit);
  const ledger = async () => (await (await fetch(`${c.url}/api/v1/ledger?after=0&limit=1000`)).json()) as LedgerPage;
  const tally = (receipts: CreditReceipt[]) => {
    const t = new CreditTally();
    for (const r of receipts) t.add(r);
    return t.total;
  };

  beforeAll(async () => {
    c = await startTestCoordinator();
    admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    ada = await newResearcher(admin, 'ada');
    let app;
    ({ project, app } = await newApp(ada, 'minting'));
    const submitted = await ada.post<Submitted>(`/apps/${app.id}/batches`, {
      name: 'a trivial task worth billions',
      replication: { fpopsEst: 1e21 },
      workunits: [{ input: 1 }, { input: 2 }, { input: 3 }],
    });
    expect(submitted.status).toBe(201);
    await c.replicasReady();
    volunteers = [await TestVolunteer.connect(c.url, { name: 'a' }), await TestVolunteer.connect(c.url, { name: 'b' })];
    for (const v of volunteers) {
      const tasks = await v.requestTasks(3);
      expect(tasks).toHaveLength(3);
      await sentEarlier(c.store.sql, tasks, TIMING.elapsedMs);
      const acks = await v.report(tasks.map((t) => buildResult(ed, v.seed, t, { output: { echo: t.input } }, TIMING)));
      expect(acks.map((a) => a.status)).toEqual(['accepted', 'accepted', 'accepted']);
    }
    await waitFor('the receipts', () => volunteers.every((v) => v.receipts.length === 3));
  });
  afterAll(async () => {
    for (const v of volunteers ?? []) v.close();
    await c?.dispose();
  });

  it('a researcher’s fpopsEst of 1e21 earns the hosts the CPU time they measured, not billions on the leaderboards', async () => {
    const page = await ledger();
    expect(page.entries.map((e) => e.amount)).toEqual(Array(6).fill(EARNED));
    expect(verifyLedgerChain(ed, page.coordinatorKey, page.entries)).toBeUndefined();
    expect(await hostTotals()).toEqual([0.138888, 0.138888]);
    for (const kind of ['users', 'hosts']) {
      for (const e of (await anonymous().get<Leaderboard>(`/leaderboards/${kind}`)).body.entries) expect(e.totalCredit).toBeLessThan(1);
    }
    for (const v of volunteers) expect(tally(v.receipts)).toBe(0.138888);
  });

  it('shows every project’s cap; a researcher cannot set it', async () => {
    const mine = await ada.get<ProjectDetail>(`/projects/${project.id}`);
    expect(mine.body.creditCap).toEqual({ maxPerResult: 1000, isDefault: true, correcting: false });
    expectError(await ada.request('PUT', `/projects/${project.id}/credit-cap`, { json: { maxCreditPerResult: 1e9 } }), 403, 'forbidden');
    expect((await ada.get<{ projects: Project[] }>('/projects')).body.projects[0]!.creditCap).toEqual({ maxPerResult: 1000, isDefault: true, correcting: false });
  });

  it('refuses a bad cap, and a project that does not exist', async () => {
    const put = (id: number, json: unknown) => admin.request('PUT', `/projects/${id}/credit-cap`, { json });
    expectError(await put(project.id, { maxCreditPerResult: -1 }), 400, 'bad_request', /maxCreditPerResult/);
    expectError(await put(project.id, {}), 400, 'bad_request', /maxCreditPerResult/);
    expectError(await put(project.id, { maxCreditPerResult: 1, extra: true }), 400, 'bad_request');
    expectError(await put(99_999, { maxCreditPerResult: 1 }), 404, 'not_found');
  });

  it('an admin lowers it: credit above it is taken back with signed entries the volunteers add up exactly', async () => {
    const set = await admin.request<Project>('PUT', `/projects/${project.id}/credit-cap`, { json: { maxCreditPerResult: 0.01 } });
    expect(set.status).toBe(200);
    expect(set.body.creditCap).toMatchObject({ maxPerResult: 0.01, isDefault: false });
    await c.correctCredit();
    expect((await ada.get<Project>(`/projects/${project.id}`)).body.creditCap).toEqual({ maxPerResult: 0.01, isDefault: false, correcting: false });

    const page = await ledger();
    expect(page.entries.slice(6).map((e) => e.amount)).toEqual(Array(6).fill(-0.036296));
    expect(verifyLedgerChain(ed, page.coordinatorKey, page.entries)).toBeUndefined();
    expect(await hostTotals()).toEqual([0.03, 0.03]);
    await waitFor('the corrections', () => volunteers.every((v) => v.receipts.length === 6));
    for (const v of volunteers) expect(tally(v.receipts)).toBe(0.03);

    // Back to the coordinator's default: nothing is given back, and nothing more taken.
    const reset = await admin.request<Project>('PUT', `/projects/${project.id}/credit-cap`, { json: { maxCreditPerResult: null } });
    expect(reset.body.creditCap).toMatchObject({ maxPerResult: 1000, isDefault: true });
    await c.correctCredit();
    expect((await ledger()).entries).toHaveLength(12);
    expect(await hostTotals()).toEqual([0.03, 0.03]);
  });
});

describe('volunteers claiming more CPU time than they held their tasks', () => {
  it('earn no more than the time between sending each task and receiving its result', async () => {
    const c = await startTestCoordinator();
    const volunteers: TestVolunteer[] = [];
    try {
      const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
      const ada = await newResearcher(admin, 'ada');
      const { app } = await newApp(ada, 'inflated');
      const submitted = await ada.post<Submitted>(`/apps/${app.id}/batches`, { name: 'claimed for days', replication: { fpopsEst: 1e21 }, workunits: [{ input: 1 }] });
      expect(submitted.status).toBe(201);
      await c.replicasReady();
      volunteers.push(await TestVolunteer.connect(c.url, { name: 'a' }), await TestVolunteer.connect(c.url, { name: 'b' }));
      // Two colluders agree on the output and each claim 11 days of CPU (a million seconds), at once.
      const lie = { cpuTimeMs: 1e9, elapsedMs: 1e9 };
      const started = Date.now();
      const tasks = await Promise.all(volunteers.map((v) => v.requestTasks(1)));
      const acks = await Promise.all(volunteers.map((v, i) => v.report([buildResult(ed, v.seed, tasks[i]![0]!, { output: { echo: 1 } }, lie)])));
      const held = Date.now() - started;
      expect(acks.flat().map((a) => a.status)).toEqual(['accepted', 'accepted']);
      await waitFor('the receipts', () => volunteers.every((v) => v.receipts.length === 1));
      // Each earns at most what the time it held its task is worth on the reference core, not the
      // 1,000 credits of the cap the claim would reach.
      for (const v of volunteers) {
        expect(v.receipts[0]!.amount).toBeLessThanOrEqual(creditAmount(microForCpuMs(held)));
        expect(v.receipts[0]!.amount).toBeLessThan(1);
      }
      console.log(`two hosts claimed 1e9 ms of CPU for tasks held about ${held} ms: granted ${volunteers.map((v) => v.receipts[0]!.amount).join(', ')} credits`);
    } finally {
      volunteers.forEach((v) => v.close());
      await c.dispose();
    }
  });
});
