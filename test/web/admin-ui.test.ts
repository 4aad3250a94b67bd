// The admin web UI end to end, in real headless Chromium against a real coordinator with two
// real volunteer daemons: log in, create a project and an app, upload the primes example,
// submit a batch, watch it finish live (no reload), download the results and check them.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES, EXAMPLES_DIR } from '../../examples/catalog.js';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const ADMIN_PASSWORD = 'correct-horse-battery-staple';
const WORKUNITS = 36;
/** Polls allow for a busy machine (the suite runs two files at once on two cores). */
const POLL = { timeout: 15_000, interval: 100 };
/** Text that would run or render as markup if the UI ever used innerHTML. */
const HOSTILE = '<img src=x onerror="window.__pwned=1"><b>bold</b>';

type RunFn = (input: unknown, ctx: object) => Promise<unknown>;

/** The app's outputs computed here, trusted and unsandboxed, to check the grid's against. */
async function expectedOutputs(inputs: unknown[]): Promise<unknown[]> {
  const mod = (await import(pathToFileURL(join(EXAMPLES_DIR, 'primes', 'main.js')).href)) as { default: RunFn };
  const ctx = { resume: undefined, random: () => 0, progress: () => {}, checkpoint: async () => {}, file: async () => new Uint8Array() };
  const outputs: unknown[] = [];
  for (const input of inputs) outputs.push(JSON.parse(JSON.stringify(await mod.default(input, ctx))));
  return outputs;
}

/** The UI is served from dist/admin; `npm test` builds it first, a lone vitest run may not have. */
async function ensureUiBuilt(): Promise<void> {
  if (existsSync(join(ROOT, 'dist', 'admin', 'index.html'))) return;
  const { build } = await import('vite');
  await build({ configFile: join(ROOT, 'admin-ui', 'vite.config.ts'), logLevel: 'warn' });
}

describe.skipIf(skipBrowserTests('admin UI e2e'))('the admin web UI in Chromium', () => {
  let coordinator: TestCoordinator | undefined;
  const volunteers: VolunteerProcess[] = [];
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let page: Page;
  const pageErrors: string[] = [];
  const cspViolations: string[] = [];
  const requests: string[] = [];
  let dir: string | undefined;

  beforeAll(async () => {
    browser = await launchChromium();
    dir = mkdtempSync(join(tmpdir(), 'vg-admin-e2e-'));
    await ensureUiBuilt();
    coordinator = await startTestCoordinator({ adminPassword: ADMIN_PASSWORD });
    for (const i of [1, 2]) volunteers.push(VolunteerProcess.start(coordinator.url, mkdtempSync(join(dir, `volunteer-${i}-`)), ['--name', `e2e-volunteer-${i}`]));
    context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
    page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await Promise.all(volunteers.map((v) => v.waitForLog('connected')));
  }, 60_000);

  afterAll(async () => {
    // Each step on its own, so one failing still lets the others clean up.
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await Promise.all(volunteers.map((v) => v.kill9().catch(() => {})));
    await coordinator?.dispose().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('runs a batch of the primes example from login to downloaded, checked results', async () => {
    const url = coordinator!.url;
    const inputs = EXAMPLES.primes.inputs(WORKUNITS);
    const expected = expectedOutputs(inputs);

    // Log in: a wrong password is refused clearly, the right one gets in.
    await page.goto(`${url}/admin/`);
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), POLL).toContain('Wrong name or password');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
    await expect.poll(() => page.getByLabel('Signed in as').textContent(), POLL).toContain('admin');

    // A project whose description is hostile markup: it must show as text.
    await page.getByRole('button', { name: 'New project' }).click();
    await page.getByLabel('Project name').fill('e2e primes');
    await page.getByLabel('Description').fill(HOSTILE);
    await page.getByRole('button', { name: 'Create project' }).click();
    await page.getByRole('heading', { name: 'e2e primes', level: 1 }).waitFor();
    await expect.poll(() => page.locator('.page-subtitle').textContent(), POLL).toBe(HOSTILE);
    expect(await page.locator('main img, main b').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();

    // An app, then its first version: the example's files through the file input.
    await page.getByRole('button', { name: 'New app' }).click();
    await page.getByLabel('App name').fill('primes');
    await page.getByRole('button', { name: 'Create app' }).click();
    const app = page.getByRole('region', { name: 'App primes' });
    await app.waitFor();
    const fileDir = mkdtempSync(join(dir!, 'app-'));
    const files = await EXAMPLES.primes.files();
    for (const f of files) writeFileSync(join(fileDir, f.name), f.bytes);
    await app.getByRole('button', { name: 'Upload new version' }).click();
    await app.getByLabel('Files').setInputFiles(files.map((f) => join(fileDir, f.name)));
    await app.getByRole('button', { name: 'Upload version' }).click();
    await app.getByText('v1', { exact: true }).waitFor();
    for (const f of files) await app.getByText(f.name, { exact: true }).waitFor();
    // What the upload found the version to be, in the toast and the versions table.
    await page.getByText(/version 1 uploaded: a JavaScript module, entry main\.js/).waitFor();
    await app.getByText('JavaScript module', { exact: true }).waitFor();

    // A batch with a broken line is refused with its line number, and nothing is created.
    await page.getByRole('link', { name: 'New batch' }).first().click();
    await page.getByRole('heading', { name: 'New batch', level: 1 }).waitFor();
    await page.getByLabel('Batch name').fill('e2e run');
    await page.getByText('Paste NDJSON').click();
    const ndjson = inputs.map((i) => JSON.stringify(i)).join('\n');
    const pasted = page.getByLabel('Inputs (NDJSON, one JSON value per line)');
    await pasted.fill(`${JSON.stringify(inputs[0])}\n{"from": 1, oops}\n`);
    await page.getByRole('button', { name: 'Submit batch' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), POLL).toContain('line 2');
    await pasted.fill(ndjson);
    await page.getByRole('button', { name: 'Submit batch' }).click();

    // The batch page follows the batch live: it reaches 100% with no reload.
    await page.waitForURL(/#\/batches\/\d+$/);
    const batchId = Number(/#\/batches\/(\d+)$/.exec(page.url())![1]);
    await page.getByRole('heading', { name: 'e2e run', level: 1 }).waitFor();
    await page.evaluate(() => ((globalThis as { __sameDocument?: boolean }).__sameDocument = true));
    const progress = page.getByRole('progressbar', { name: 'Batch progress' });
    await expect.poll(() => progress.getAttribute('aria-valuenow'), { timeout: 40_000, interval: 250 }).toBe('100');
    await page.getByText('Batch complete.').waitFor();
    expect(await page.evaluate(() => (globalThis as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    // Pushed over Socket.IO, not polled: the status itself was fetched once, for the first paint.
    expect(requests.filter((r) => r === `GET /api/v1/batches/${batchId}`)).toHaveLength(1);
    await expect.poll(() => page.locator('.legend').textContent(), POLL).toContain(`Done ${WORKUNITS}`);

    const workunits = page.getByRole('region', { name: 'Work units' });
    await expect.poll(() => workunits.getByText('done', { exact: true }).count(), POLL).toBe(20);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'admin-batch.png'), fullPage: true, animations: 'disabled' });

    // Download the results through the page's link and check every output.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download results', exact: true }).click()]);
    expect(download.suggestedFilename()).toBe(`batch-${batchId}-results.ndjson`);
    const lines = readFileSync(await download.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; status: string; output: unknown });
    expect(lines.map((l) => l.seq)).toEqual(inputs.map((_, i) => i));
    expect(lines.every((l) => l.status === 'done')).toBe(true);
    expect(lines.map((l) => l.output)).toEqual(await expected);

    // A work unit's detail shows both volunteers' agreeing replicas.
    await page.getByRole('link', { name: '#0', exact: true }).click();
    await page.getByRole('heading', { name: 'Work unit #0', level: 1 }).waitFor();
    const replicas = page.getByRole('region', { name: 'Replicas' });
    for (const name of ['e2e-volunteer-1', 'e2e-volunteer-2']) await replicas.getByText(name, { exact: false }).first().waitFor();

    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  }, 60_000);

  it('says, before and after, that a password change (on the account page) revokes every API token, and it does', async () => {
    const url = coordinator!.url;
    await page.goto(`${url}/admin/#/tokens`);
    await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor();
    await page.getByLabel('Token name').fill('e2e laptop');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = await page.locator('#new-token').inputValue();
    expect(token).toMatch(/^vgt_/);
    const asToken = () => fetch(`${url}/api/v1/session`, { headers: { authorization: `Bearer ${token}` } }).then((r) => r.status);
    expect(await asToken()).toBe(200);

    // The password is the account's, not a token's: it is changed on the account page.
    expect(await page.getByLabel('Current password').count()).toBe(0);
    await page.getByRole('link', { name: 'Account', exact: true }).click();
    await page.getByRole('heading', { name: 'Your account', level: 1 }).waitFor();
    expect(await page.getByText('revokes all your API tokens').count()).toBe(1);
    await page.getByLabel('Current password').fill(ADMIN_PASSWORD);
    await page.getByLabel('New password').fill('a-new-e2e-password');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect.poll(() => page.getByRole('region', { name: 'Your password' }).textContent(), POLL).toContain('all your API tokens revoked');
    expect(await asToken()).toBe(401);
    await page.getByRole('link', { name: 'make a new token' }).click();
    await page.getByText('No API tokens').waitFor();
    // The session that made the change stays signed in.
    await page.reload();
    await page.getByRole('heading', { name: 'API tokens', level: 1 }).waitFor();
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  }, 30_000);
});
