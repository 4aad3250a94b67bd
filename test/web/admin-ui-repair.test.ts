// The admin UI's repair tools and the rough edges researchers met, in real headless Chromium
// against a real coordinator. The volunteers are test volunteers on real sockets, so that the
// test decides which task fails, with which error, and which is still out.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App, AppVersion, BatchStatus, Project, Submitted, WorkunitPage } from '../../protocol/api.js';
import { nodeEd25519 } from '../../protocol/ed25519-node.js';
import type { Platform, Result, Task } from '../../protocol/messages.js';
import { buildResult } from '../../protocol/results.js';
import { ensureUiBuilt, logIn } from '../helpers/admin-ui.js';
import { ApiClient, newResearcher, TRIVIAL_MAIN } from '../helpers/api-client.js';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ARTIFACTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'test-artifacts');
const PASSWORD = 'correct-horse-battery-staple';
/** Polls allow for a busy machine (the suite runs two files at once on two cores). */
const POLL = { timeout: 15_000, interval: 100 };
const ed = nodeEd25519();

/** One coordinator, a logged-in page at 1280 px, and what to check after each test. */
function harness(config: Parameters<typeof startTestCoordinator>[0] = {}) {
  const h = {
    c: undefined as unknown as TestCoordinator,
    api: undefined as unknown as ApiClient,
    page: undefined as unknown as Page,
    volunteers: [] as TestVolunteer[],
    pageErrors: [] as string[],
    cspViolations: [] as string[],
  };
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  beforeAll(async () => {
    browser = await launchChromium();
    await ensureUiBuilt();
    h.c = await startTestCoordinator({ adminPassword: PASSWORD, ...config });
    h.api = await ApiClient.withToken(h.c.url, 'admin', PASSWORD);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    h.page = await context.newPage();
    h.page.on('pageerror', (e) => h.pageErrors.push(e.message));
    h.page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) h.cspViolations.push(m.text());
    });
    await logIn(h.page, h.c.url, 'admin', PASSWORD);
  }, 60_000);
  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    h.volunteers.splice(0).forEach((v) => v.close());
    await h.c?.dispose().catch(() => {});
  }, 30_000);
  return h;
}

type Harness = ReturnType<typeof harness>;

async function newProject(api: ApiClient, name: string, description = ''): Promise<{ project: Project; app: App }> {
  const project = (await api.post<Project>('/projects', { name, description })).body;
  const app = (await api.post<App>(`/projects/${project.id}/apps`, { name: 'echo' })).body;
  expect((await api.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN }])).status).toBe(201);
  return { project, app };
}

/** A batch at quorum 1 (one result decides), so that each reported result settles its work unit. */
async function submit(api: ApiClient, appId: number, name: string, inputs: unknown[], replication: Record<string, number> = {}): Promise<number> {
  const r = await api.post<Submitted>(`/apps/${appId}/batches`, { name, replication: { minQuorum: 1, targetNresults: 1, ...replication }, workunits: inputs.map((input) => ({ input })) });
  expect(r.status).toBe(201);
  return r.body.batchId;
}

const statusOf = async (api: ApiClient, id: number) => (await api.get<BatchStatus>(`/batches/${id}`)).body;

async function report(v: TestVolunteer, results: Result[]): Promise<void> {
  const acks = await v.report(results);
  expect(acks.map((a) => a.status)).toEqual(results.map(() => 'accepted'));
}

/** Computes whatever the coordinator hands out until the batch is done. */
async function computeAll(api: ApiClient, v: TestVolunteer, batchId: number): Promise<void> {
  for (let i = 0; i < 50 && (await statusOf(api, batchId)).status !== 'done'; i++) {
    const tasks = await v.requestTasks(64);
    if (tasks.length > 0) await report(v, await Promise.all(tasks.map((t) => v.compute(t))));
  }
  expect((await statusOf(api, batchId)).status).toBe('done');
}

async function volunteer(h: Harness, name: string, platform?: Platform): Promise<TestVolunteer> {
  const v = await TestVolunteer.connect(h.c.url, { name, ...(platform ? { platform } : {}) });
  h.volunteers.push(v);
  return v;
}

/** Goes to a page of the UI (loading it again if it is the one shown) and waits for its heading. */
async function open(h: Harness, hash: string, heading: string | RegExp): Promise<void> {
  const url = `${h.c.url}/admin/#${hash}`;
  if (h.page.url() === url) await h.page.reload();
  else await h.page.goto(url);
  await h.page.getByRole('heading', { name: heading, level: 1 }).waitFor();
}

/** A metric of the batch's progress card, as "label value sub". */
const metric = (page: Page, label: string) => page.locator('.metric').filter({ has: page.getByText(label, { exact: true }) });

/** Whether the page's first table fits its card, and the page its window: nothing scrolls sideways. */
const tableFits = (page: Page) =>
  page
    .locator('.table-wrap')
    .first()
    .evaluate((wrap) => {
      const doc = wrap.ownerDocument;
      return { table: wrap.scrollWidth <= wrap.clientWidth, page: doc.documentElement.scrollWidth <= doc.defaultView!.innerWidth };
    });

async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, name), fullPage: true, animations: 'disabled' });
}

describe.skipIf(skipBrowserTests('admin UI repair e2e'))('the admin UI: repairing batches, and the rough edges', () => {
  const h = harness();
  let flaky: { project: Project; app: App; batchId: number };

  it('ends paging where the list ends: Next is off on the last page, no "Load more" after the last work units', async () => {
    const { page, api } = h;
    const { app } = await newProject(api, 'paging');
    // 100 work units: five full pages of 20, two full pages of 50 in the validation view.
    const batchId = await submit(api, app.id, 'hundred', Array.from({ length: 100 }, (_, i) => i));
    await computeAll(api, await volunteer(h, 'pager'), batchId);

    await open(h, `/batches/${batchId}`, 'hundred');
    const workunits = page.getByRole('region', { name: 'Work units' });
    const next = workunits.getByRole('button', { name: 'Next →' });
    for (let p = 1; p <= 5; p++) {
      await workunits.getByText(`Page ${p}`, { exact: true }).waitFor();
      await expect.poll(() => workunits.getByRole('link', { name: `#${(p - 1) * 20}`, exact: true }).count(), POLL).toBe(1);
      expect(await workunits.locator('tbody tr').count()).toBe(20);
      if (p < 5) {
        expect(await next.isEnabled()).toBe(true);
        await next.click();
      }
    }
    expect(await next.isDisabled()).toBe(true);

    await open(h, `/batches/${batchId}/validation?filter=all`, 'Validation');
    await page.getByRole('region', { name: 'Work unit 49' }).waitFor();
    expect(await page.getByRole('region', { name: /^Work unit \d+$/ }).count()).toBe(50);
    await page.getByRole('button', { name: 'Load more work units' }).click();
    await page.getByRole('region', { name: 'Work unit 99' }).waitFor();
    expect(await page.getByRole('region', { name: /^Work unit \d+$/ }).count()).toBe(100);
    expect(await page.getByRole('button', { name: 'Load more work units' }).count()).toBe(0);
    expect(h.pageErrors).toEqual([]);
  }, 60_000);

  it('fits the Projects and Hosts tables in a window 1280 px wide', async () => {
    const { page, api } = h;
    // Names as long as the API allows, where a table once grew sideways.
    const owner = await newResearcher(api, 'a-researcher-with-a-long-account-name-from-a-big-lab'.slice(0, 64));
    for (let i = 0; i < 3; i++) {
      await owner.post('/projects', {
        name: `climate-ensemble-downscaling-${i}-over-the-alps-at-one-kilometre-for-precipitation-extremes`.slice(0, 100),
        description: 'Downscaling of the CMIP6 ensemble over the Alps at 1 km for precipitation extremes, with bias correction against station data '.repeat(3),
      });
    }
    const platforms: Platform[] = [
      { kind: 'browser', engine: 'chromium 131.0.6778.85', os: 'Windows 11 Enterprise', arch: 'x86_64' },
      { kind: 'node', engine: 'node v22.11.0', os: 'linux', arch: 'x64' },
    ];
    for (let i = 0; i < 4; i++) await volunteer(h, `lab-workstation-${i}.physics.some-long-university-name.example.edu`.slice(0, 64), platforms[i % 2]);

    const fits = () => tableFits(page);
    await open(h, '/projects', 'Projects');
    await page.getByText('climate-ensemble-downscaling-2', { exact: false }).waitFor();
    expect(await fits()).toEqual({ table: true, page: true });
    await screenshot(page, 'admin-projects-1280.png');

    await open(h, '/hosts', 'Hosts');
    await page.getByText('lab-workstation-3.', { exact: false }).first().waitFor();
    expect(await fits()).toEqual({ table: true, page: true });
    await screenshot(page, 'admin-hosts-1280.png');
    expect(h.pageErrors).toEqual([]);
  }, 60_000);

  it('retries the failed work units of one error code, after saying what will happen', async () => {
    const { page, api } = h;
    const { project, app } = await newProject(api, 'repair');
    const batchId = await submit(api, app.id, 'flaky', [1, 2, 3, 4, 5, 6, 7, 8], { maxErrorResults: 0 });
    flaky = { project, app, batchId };
    const v = await volunteer(h, 'flaky-host');
    const tasks = await v.requestTasks(8);
    expect(tasks.map((t) => t.input).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    // Each failing run logged two lines (after three that were not kept).
    const log = (t: Task) => ({ lines: [{ level: 'info' as const, text: `input ${String(t.input)}` }, { level: 'error' as const, text: 'about to throw' }], omitted: 3 });
    const fail = (t: Task, code: string) => buildResult(ed, v.seed, t, { error: { code, message: `${code} on input ${String(t.input)}` } }, { cpuTimeMs: 0, elapsedMs: 0 }, log(t));
    const codeFor: Record<number, string> = { 1: 'app_exception', 2: 'app_exception', 3: 'cpu_limit' };
    await report(v, await Promise.all(tasks.map((t) => (codeFor[t.input as number] ? fail(t, codeFor[t.input as number]!) : v.compute(t)))));
    expect((await statusOf(api, batchId)).workunits).toMatchObject({ active: 0, done: 5, failed: 3 });

    await open(h, `/batches/${batchId}`, 'flaky');
    // Finished: no live badge, no ETA to wait for; the banner says what to do about the failures.
    await page.getByText('Batch complete.').waitFor();
    expect(await page.locator('.live').isHidden()).toBe(true);
    expect(await metric(page, 'Estimated time left').textContent()).toContain('Done');
    expect(await page.getByText('3 failed: once the cause is fixed').count()).toBe(1);

    // The fix: a new version. Then retry only what failed with app_exception.
    expect((await api.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN.replace('echo', 'fixed') }])).status).toBe(201);
    await page.getByRole('button', { name: 'Retry failed work units' }).click();
    const dialog = page.getByRole('dialog', { name: 'Retry failed work units?' });
    await dialog.waitFor();
    expect(await dialog.textContent()).toMatch(/budgets start afresh.*now version 2/);
    expect(await dialog.getByText('All 3 failed work units').count()).toBe(1);
    await dialog.getByLabel('Only those whose last attempt failed with:').check();
    await dialog.getByRole('button', { name: 'Retry' }).click();
    await dialog.getByText('Choose at least one error code').waitFor();
    expect(await dialog.getByLabel(/cpu_limit\s+1 error$/).count()).toBe(1);
    await dialog.getByLabel(/app_exception\s+2 errors$/).check();
    await screenshot(page, 'admin-retry-dialog.png');
    await dialog.getByRole('button', { name: 'Retry' }).click();
    await page.getByText('2 work units retried').waitFor();
    expect((await statusOf(api, batchId)).workunits).toMatchObject({ active: 2, done: 5, failed: 1 });

    // Open again, and live again: the page follows the retried work units to the end.
    await page.locator('.page-title').getByText('active', { exact: true }).waitFor();
    await expect.poll(() => page.locator('.live').isVisible(), POLL).toBe(true);
    await expect.poll(() => page.locator('.legend').textContent(), POLL).toMatch(/Failed 1.*Active 2/);
    const again = await v.requestTasks(8);
    expect(again.map((t) => t.input).sort()).toEqual([1, 2]);
    await report(v, await Promise.all(again.map((t) => v.compute(t))));
    await page.getByText('Batch complete.').waitFor();
    await expect.poll(() => page.locator('.legend').textContent(), POLL).toMatch(/Done 7.*Failed 1/);
    expect(await page.locator('.live').isHidden()).toBe(true);
    await screenshot(page, 'admin-batch-retried.png');

    // The work unit of input 1 ran twice: first with version 1 (the error), then with version 2.
    const first = (await api.get<WorkunitPage>(`/batches/${batchId}/workunits?limit=1`)).body.workunits[0]!;
    await page.getByRole('region', { name: 'Work units' }).getByRole('link', { name: '#0', exact: true }).click();
    await page.getByRole('heading', { name: 'Work unit #0', level: 1 }).waitFor();
    expect(page.url()).toContain(`#/workunits/${first.id}`);
    const rows = page.getByRole('region', { name: 'Replicas' }).locator('tbody tr');
    await expect.poll(() => rows.count(), POLL).toBe(2);
    const cells = await rows.evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())));
    const byVersion = Object.fromEntries(cells.map((c) => [c[2], c]));
    expect(byVersion.v1).toEqual(expect.arrayContaining(['regular', 'client error']));
    expect(byVersion.v2).toEqual(expect.arrayContaining(['regular', 'success']));
    // What the failed run logged is open beside its error; the success logged nothing.
    const failedLog = page.getByLabel(/^App log of replica \d+$/);
    await failedLog.waitFor();
    expect(await failedLog.count()).toBe(1);
    expect(await page.locator('details.app-log[open] summary').textContent()).toBe('App log (the last 2 lines; 3 before them not kept)');
    expect(await failedLog.locator('div').allTextContents()).toEqual(['input 1', 'error: about to throw']);
    expect(h.pageErrors).toEqual([]);
    expect(h.cspViolations).toEqual([]);
  }, 60_000);

  it("shows each app version's state, retires one and brings it back, and says why a broken one is not sent", async () => {
    const { page, api, c } = h;
    const { project, app } = flaky;
    await open(h, `/projects/${project.id}`, 'repair');
    const appRegion = page.getByRole('region', { name: 'App echo' });
    const row = (v: number) => appRegion.locator('tbody tr').filter({ has: page.getByText(`v${v}`, { exact: true }) });
    await expect.poll(() => row(2).textContent(), POLL).toContain('sentnew tasks go out with it');
    expect(await row(1).textContent()).toContain('not sentversion 2 is newer');

    await appRegion.getByRole('button', { name: 'Retire version 2' }).click();
    const dialog = page.getByRole('dialog', { name: 'Retire version 2?' });
    expect(await dialog.textContent()).toContain('New tasks go out with version 1 instead');
    await dialog.getByRole('button', { name: 'Retire' }).click();
    await expect.poll(() => row(2).textContent(), POLL).toContain('retired');
    await expect.poll(() => row(1).textContent(), POLL).toContain('sent');
    expect((await api.get<App>(`/apps/${app.id}`)).body.versions.find((v) => v.version === 2)!.retiredAt).not.toBeNull();
    await appRegion.getByRole('button', { name: 'Bring back version 2' }).click();
    await expect.poll(() => row(2).textContent(), POLL).toContain('sentnew tasks go out with it');
    expect((await api.get<App>(`/apps/${app.id}`)).body.versions.every((v) => v.retiredAt === null)).toBe(true);

    // Version 3 failed to load on every volunteer that ran it (as the coordinator would mark it).
    const v3 = (await api.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: TRIVIAL_MAIN }])).body;
    expect((await c.store.catalog.markVersionBroken(v3.id, 'main.js: SyntaxError: Unexpected token (line 2, column 16)', Date.now()))).toBe(true);
    await open(h, `/projects/${project.id}`, 'repair');
    await expect.poll(() => row(3).textContent(), POLL).toContain('brokenmain.js: SyntaxError: Unexpected token (line 2, column 16)');
    expect(await appRegion.getByText('Version 3 is broken.').count()).toBe(1);
    await screenshot(page, 'admin-app-versions.png');
    expect(h.pageErrors).toEqual([]);
  }, 60_000);

  it('pins a batch to a version, offering only versions that may be sent, and back to the newest', async () => {
    const { page, api } = h;
    const { batchId } = flaky;
    await open(h, `/batches/${batchId}`, 'flaky');
    expect(await page.locator('.page-subtitle').textContent()).toContain('(newest version)');
    await page.getByRole('button', { name: 'Pin to version…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Pin to a version' });
    const choice = dialog.getByLabel('Version');
    await choice.waitFor(); // the dialog opens once the app's versions are loaded
    const options = await choice.locator('option').evaluateAll((os) => os.map((o) => [o.textContent, (o as unknown as { disabled: boolean }).disabled] as const));
    expect(options.map(([, disabled]) => disabled)).toEqual([false, true, false, false]);
    expect(options[1]![0]).toMatch(/^Version 3, .* \(broken: main\.js: SyntaxError/);
    await choice.selectOption('1');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('.page-subtitle').textContent(), POLL).toContain('(pinned to version 1)');
    expect((await statusOf(api, batchId)).appVersion).toBe(1);

    await page.getByRole('button', { name: 'Pin to version…' }).click();
    await dialog.getByLabel('Version').selectOption('');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.locator('.page-subtitle').textContent(), POLL).toContain('(newest version)');
    expect((await statusOf(api, batchId)).appVersion).toBeNull();
    expect(h.pageErrors).toEqual([]);
  }, 60_000);

  it("archives a finished batch: the project's list leaves it out until asked to show archived ones", async () => {
    const { page, api } = h;
    const { project, batchId } = flaky;
    await open(h, `/batches/${batchId}`, 'flaky');
    await page.getByRole('button', { name: 'Archive', exact: true }).click();
    await page.getByText('Archived.', { exact: true }).waitFor();
    expect((await statusOf(api, batchId)).archived).toBe(true);

    await open(h, `/projects/${project.id}`, 'repair');
    const batches = page.getByRole('region', { name: 'Batches' });
    await batches.getByText('No batches but archived ones (1)', { exact: false }).waitFor();
    await batches.getByLabel('Show archived (1)').check();
    await batches.getByRole('link', { name: 'flaky' }).click();
    await page.getByRole('heading', { name: 'flaky', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Unarchive' }).click();
    await page.getByRole('button', { name: 'Archive', exact: true }).waitFor();
    expect((await statusOf(api, batchId)).archived).toBe(false);
    expect(h.pageErrors).toEqual([]);
  }, 60_000);

  it("gives an ETA in a batch's tail, says why there is none when it cannot move, and drops the live badge when it ends", async () => {
    const { page, api, c } = h;
    const { project, app } = await newProject(api, 'tail');
    const batchId = await submit(api, app.id, 'tail', [1, 2, 3, 4, 5, 6, 7, 8]);
    const v = await volunteer(h, 'slow-host');
    const tasks = await v.requestTasks(8);
    expect(tasks).toHaveLength(8);
    await report(v, await Promise.all(tasks.slice(0, 7).map((t) => v.compute(t))));
    // The batch began three minutes ago: its seven results came in then, none in the last minute.
    c.store.db.prepare('UPDATE batches SET created_at = created_at - 180000 WHERE id = ?').run(batchId);
    const tail = await statusOf(api, batchId);
    expect(tail).toMatchObject({ status: 'active', etaMs: null, blocked: [], workunits: { done: 7, active: 1 } });

    await open(h, `/batches/${batchId}`, 'tail');
    await page.getByText('87.5%', { exact: true }).waitFor();
    const eta = metric(page, 'Estimated time left');
    await expect.poll(() => eta.textContent(), POLL).toMatch(/about \d.*at the average rate so far: none finished in the last 1 min/);
    expect(await eta.textContent()).not.toContain('waiting for the first results');
    expect(await page.locator('.live').isVisible()).toBe(true);

    await api.patch(`/projects/${project.id}`, { status: 'paused' });
    await open(h, `/batches/${batchId}`, 'tail');
    await expect.poll(() => eta.textContent(), POLL).toContain('Stalledits project is paused');
    await page.getByRole('link', { name: 'Resume tail' }).waitFor();
    await api.patch(`/projects/${project.id}`, { status: 'active' });

    await report(v, [await v.compute(tasks[7]!)]);
    await page.getByText('Batch complete.').waitFor();
    await expect.poll(() => page.locator('.live').isHidden(), POLL).toBe(true);
    expect(await eta.textContent()).toContain('Done');
    expect(h.pageErrors).toEqual([]);
    expect(h.cspViolations).toEqual([]);
  }, 60_000);
});

describe.skipIf(skipBrowserTests('admin UI sentinels e2e'))('the admin UI: sentinels from the new-batch form', () => {
  // Every task slot is a check here, so that the one sentinel is drawn at once.
  const h = harness({ checkRate: 1 });

  it('submits work-unit lines with a known answer as sentinels, and the work unit says which replicas were', async () => {
    const { page, api } = h;
    const { project, app } = await newProject(api, 'sentinels');
    await open(h, `/projects/${project.id}/new-batch`, 'New batch');
    await page.getByLabel('Batch name').fill('with a sentinel');
    await page.getByText('Paste NDJSON').click();
    await page.getByText('Each line is a work unit (sentinels)').click();
    expect(await page.locator('.explain').textContent()).toContain('is a sentinel: you know its answer');
    await page.getByText('More about sentinels, from the docs').click();
    await expect.poll(() => page.locator('.docs-excerpt').textContent(), POLL).toMatch(/A host that answers one wrongly is caught/);

    const lines = [{ input: 1 }, { input: 2, replication: { minQuorum: 1, targetNresults: 1 } }, { input: 3, expectedOutput: { echo: 3 } }];
    await page.getByLabel('Work units (NDJSON, one {"input": …} per line)').fill(lines.map((l) => JSON.stringify(l)).join('\n'));
    await page.getByText('3 work units, 1 sentinel', { exact: true }).waitFor();
    await screenshot(page, 'admin-new-batch-sentinels.png');
    await page.getByLabel('Quorum').fill('1');
    await page.getByLabel('Initial replicas').fill('1');
    await page.getByRole('button', { name: 'Submit batch' }).click();
    await page.waitForURL(/#\/batches\/\d+$/);
    const batchId = Number(/#\/batches\/(\d+)$/.exec(page.url())![1]);
    await page.getByRole('heading', { name: 'with a sentinel', level: 1 }).waitFor();

    const v = await volunteer(h, 'checked-host');
    const tasks = await v.requestTasks(8);
    expect(tasks.map((t) => t.input).sort()).toEqual([1, 2, 3]);
    await report(v, await Promise.all(tasks.map((t) => v.compute(t))));
    await page.getByText('Batch complete.').waitFor();

    const ids = (await api.get<WorkunitPage>(`/batches/${batchId}/workunits`)).body.workunits.map((w) => w.id);
    const kinds = async (id: number) => {
      await open(h, `/workunits/${id}`, /^Work unit #\d$/);
      const replicas = page.getByRole('region', { name: 'Replicas' });
      await replicas.locator('tbody tr').first().waitFor();
      return replicas.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(1, 3).map((td) => td.textContent)));
    };
    expect(await kinds(ids[0]!)).toEqual([['regular', 'v1']]);
    expect(await kinds(ids[2]!)).toEqual([['sentinel', 'v1']]);
    // Two more columns than before, and the replicas still fit at 1280 px.
    expect(await tableFits(page)).toEqual({ table: true, page: true });
    await screenshot(page, 'admin-workunit-kinds.png');
    expect(h.pageErrors).toEqual([]);
    expect(h.cspViolations).toEqual([]);
  }, 60_000);
});
