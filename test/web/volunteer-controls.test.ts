// The volunteer page's history and controls in real headless Chromium against a real
// coordinator: the task list (kept in IndexedDB) with each task's outcome and errors explained
// (a result that lost its quorum vote marked invalid, once the page asks what came of it),
// credit over time per project from the verified receipts, the verified ledger view, worker
// cards whose label is their bar's, the schedule (hours, idle), and the status line naming the
// quota that keeps more tasks back.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { ensurePageBuilt, addApp, readDb } from '../helpers/volunteer-page.js';
import { startTestCoordinator, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { submitInputs } from '../helpers/batches.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ARTIFACTS = join(ROOT, 'test-artifacts');
const ONE_REPLICA = { minQuorum: 1, targetNresults: 1, maxErrorResults: 1, maxTotalResults: 1 };
/** Three replicas at once, two that agree decide: the page's, and two other hosts'. */
const QUORUM_2_OF_3 = { minQuorum: 2, targetNresults: 3, maxErrorResults: 1, maxTotalResults: 3, maxSuccessResults: 3 };

/** Reports 29% (0.29 × 100 is 28.999999999999996), then computes for a fraction of a second. */
const STEADY_APP = `
export default async function run(input, ctx) {
  ctx.progress(0.29);
  let x = 0;
  for (let i = 0; i < input.work; i++) x = (x * 31 + i) % 1000003;
  ctx.progress(1);
  return { x };
}`;

const overCount = (c: TestCoordinator) => readDb(c, (db) => db.prepare(`SELECT COUNT(*) AS n FROM replicas WHERE status = 'over'`).get() as { n: number });
const doneCount = (c: TestCoordinator, batchId: number) =>
  readDb(c, (db) => (db.prepare(`SELECT COUNT(*) AS n FROM workunits WHERE batch_id = ? AND status = 'done'`).get(batchId) as { n: number }).n);
/** Replicas of a batch sent to a host. */
const replicaCount = (c: TestCoordinator, batchId: number) =>
  readDb(c, (db) => (db.prepare(`SELECT COUNT(*) AS n FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ? AND r.status != 'unsent'`).get(batchId) as { n: number }).n);

/** A slow app with a checkpoint per step; its output records every step it resumed at. */
const SLOW_APP = `
export default async function run(input, ctx) {
  const state = ctx.resume ?? { step: 0, x: 0, resumes: [] };
  if (ctx.resume) state.resumes.push(state.step);
  while (state.step < input.steps) {
    let x = state.x;
    for (let i = 0; i < input.work; i++) x = (x * 31 + i) % 1000003;
    state.x = x;
    state.step++;
    ctx.progress(state.step / input.steps);
    await ctx.checkpoint(state);
  }
  return { steps: state.step, resumes: state.resumes };
}`;

/** The rows of the task list: task id → [state, outcome]. */
const taskRows = (page: Page) =>
  page.evaluate(`Object.fromEntries([...document.querySelectorAll('#tasks tbody tr[data-task]')].map((tr) => [tr.dataset.task, [tr.querySelector('.task-state').textContent, tr.querySelector('.task-outcome').textContent, tr.dataset.state]]))`) as Promise<Record<string, [string, string, string]>>;

describe.skipIf(skipBrowserTests('volunteer page controls'))('the volunteer page’s history and controls in Chromium', async () => {
  let browser: Browser | undefined;
  let coordinator: TestCoordinator | undefined;
  let context: BrowserContext | undefined;
  let pageErrors: string[] = [];
  let cspViolations: string[] = [];

  beforeAll(async () => {
    await ensurePageBuilt();
    browser = await launchChromium();
    mkdirSync(ARTIFACTS, { recursive: true });
  }, 60_000);

  afterEach(async () => {
    await context?.close().catch(() => {});
    context = undefined;
    await coordinator?.dispose().catch(() => {});
    coordinator = undefined;
  }, 30_000);

  afterAll(async () => {
    await browser?.close().catch(() => {});
  });

  async function openPage(settings?: object, options: { timezoneId?: string } = {}, setUp?: (c: BrowserContext) => Promise<void>): Promise<Page> {
    context = await browser!.newContext({ viewport: { width: 1280, height: 900 }, ...options });
    await setUp?.(context);
    if (settings) await context.addInitScript(`if (!localStorage.getItem('volunteer-grid.settings')) localStorage.setItem('volunteer-grid.settings', ${JSON.stringify(JSON.stringify(settings))})`);
    const page = await context.newPage();
    pageErrors = [];
    cspViolations = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(`${coordinator!.url}/`);
    await page.waitForSelector('#toggle');
    return page;
  }

  async function start(page: Page): Promise<void> {
    await page.click('#toggle');
    await page.waitForFunction(`document.querySelector('#toggle').textContent === 'Pause'`);
  }

  it('lists every task with its outcome and explains errors, marks a result outvoted invalid, keeps the list across a reload, charts credit per project, and shows the ledger verified', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const alpha = await c.apps.createProject({ name: 'Alpha <b>lab</b>' });
    const beta = await c.apps.createProject({ name: 'Beta' });
    await submitInputs(c, (await addApp(c, alpha, 'steady', STEADY_APP)), [{ work: 10_000_000 }, { work: 10_000_001 }], ONE_REPLICA);
    await submitInputs(c, (await addApp(c, beta, 'quick', 'export default async (input) => input.n * 2;')), [{ n: 1 }, { n: 2 }], ONE_REPLICA);
    await submitInputs(c, (await addApp(c, beta, 'thrower', 'export default async (input) => { throw new Error(`bad input ${input.n}`); };')), [{ n: 7 }], ONE_REPLICA);
    await submitInputs(c, (await addApp(c, alpha, 'endless', 'export default async () => { for (;;) {} };')), [{ n: 1 }], ONE_REPLICA);
    const outvoted = await submitInputs(c, (await addApp(c, beta, 'majority', 'export default async (input) => ({ v: input.n });')), [{ n: 3 }], QUORUM_2_OF_3);

    // Two cores; a task may compute for 12 s (the endless one; the others take well under a second).
    let page = await openPage({ cores: 2, maxTaskMinutes: 0.2 });
    await start(page);

    // A worker card at 0.29 says 29%, as its bar shows (it said 28%).
    const card = `[...document.querySelectorAll('#workers .worker')].find((li) => li.querySelector('progress').value === 0.29)`;
    // Read in the same turn as the bar: the task moves on within a fraction of a second.
    const label = await (await page.waitForFunction(`${card}?.querySelector('.worker-pct').textContent`, null, { timeout: 20_000 })).jsonValue();
    expect(label).toBe('29%');

    await waitFor('every task over', () => overCount(c).n === 7, 45_000);
    // Valid once the receipts arrived; the errors said in words, with their own message; the
    // task of the quorum waits for the other two volunteers' results.
    await page.waitForFunction(
      `document.querySelectorAll('#tasks tbody tr[data-state="valid"]').length === 4 && document.querySelectorAll('#tasks tbody tr[data-state="error"]').length === 2 && document.querySelectorAll('#tasks tbody tr[data-state="pending"]').length === 1`,
      null,
      { timeout: 15_000 },
    );
    const waiting = Object.values(await taskRows(page)).find(([, , state]) => state === 'pending')!;
    expect(waiting.slice(0, 2)).toEqual(['Pending validation', 'Reported; waiting for another volunteer’s result to compare']);

    // The tab closes; meanwhile two other volunteers agree on another answer, and the page's
    // result loses the vote. Opened again, the page asks what came of it: invalid.
    await page.close();
    const others = [await TestVolunteer.connect(c.url, { behaviour: 'colluder' }), await TestVolunteer.connect(c.url, { behaviour: 'colluder' })];
    try {
      for (const v of others) {
        const [task] = await v.requestTasks(1);
        expect(task).toBeDefined();
        expect((await v.report([await v.compute(task!)]))[0]!.status).toBe('accepted');
      }
    } finally {
      for (const v of others) v.close();
    }
    await waitFor('the quorum decided', () => doneCount(c, outvoted) === 1, 10_000);
    page = await context!.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await page.goto(`${c.url}/`);
    await page.waitForFunction(`document.querySelectorAll('#tasks tbody tr[data-state="invalid"]').length === 1`, null, { timeout: 15_000 });
    const rows = await taskRows(page);
    expect(Object.values(rows).map(([state]) => state).sort()).toEqual(['Error', 'Error', 'Invalid', 'Valid', 'Valid', 'Valid', 'Valid']);
    expect(Object.values(rows).find(([, , state]) => state === 'invalid')!.slice(0, 2)).toEqual(['Invalid', 'No credit: the result did not match the others for this work unit']);
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-task-invalid.png'), fullPage: true });
    const errors = Object.values(rows).filter(([, , state]) => state === 'error').map(([, outcome]) => outcome).sort();
    expect(errors[0]).toMatch(/^app_exception: the app threw an error .*Error: bad input 7/);
    expect(errors[1]).toMatch(/^cpu_limit: the task computed longer than your limit allows .*more than 12 s/);
    for (const [state, outcome] of Object.values(rows)) if (state === 'Valid') expect(outcome).toMatch(/^\+[\d.]+ credit/);
    const projects = await page.evaluate(`[...document.querySelectorAll('#tasks tbody tr[data-task] td:first-child .name')].map((e) => e.textContent).sort()`);
    expect(projects).toEqual(['Alpha <b>lab</b>', 'Alpha <b>lab</b>', 'Alpha <b>lab</b>', 'Beta', 'Beta', 'Beta', 'Beta']);

    // The error count leads to the errors, explained.
    expect(await page.textContent('#latest-error')).toMatch(/Latest error: task \d+ \((Beta · thrower|Alpha <b>lab<\/b> · endless)\), (app_exception|cpu_limit): /);
    await page.click('#latest-error a');
    await page.waitForFunction(`document.querySelector('[data-filter="errors"]').getAttribute('aria-selected') === 'true'`);
    expect(Object.keys(await taskRows(page))).toHaveLength(2);

    // Credit over time, per project, from the receipts.
    await page.waitForFunction(`document.querySelectorAll('#credit-chart polyline').length === 3`, null, { timeout: 10_000 });
    const legend = (await page.evaluate(`[...document.querySelectorAll('#credit-legend li')].map((li) => li.textContent)`)) as string[];
    expect(legend).toHaveLength(3);
    expect(legend[0]).toMatch(/^All projects[\d.]+ total · [\d.]+ a day$/);
    expect(legend.slice(1).map((l) => l.replace(/[\d.]+ total.*/, '')).sort()).toEqual(['Alpha <b>lab</b>', 'Beta']);
    expect(await page.evaluate('document.querySelectorAll("main b, main img, main script").length')).toBe(0);
    await page.click('[data-metric="rac"]');
    await page.waitForFunction(`document.querySelector('#credit-chart title').textContent.startsWith('Recent average credit')`);
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-tasks-and-credit.png'), fullPage: true });

    // The list is in IndexedDB: a reload shows the same tasks and outcomes.
    await page.reload();
    await page.waitForFunction(`document.querySelectorAll('#tasks tbody tr[data-task]').length === 7`, null, { timeout: 10_000 });
    expect(await taskRows(page)).toEqual(rows);

    // The ledger link: a readable, verified view.
    await page.click('#ledger-link');
    await page.waitForFunction(`document.querySelector('#ledger-status').dataset.kind === 'ok'`, null, { timeout: 10_000 });
    expect(await page.textContent('#ledger-status')).toMatch(/^Verified: entries 1 to 6 form one unbroken chain, every entry signed by the coordinator key [0-9a-f ]+, the key this browser trusts\.$/);
    expect(await page.evaluate(`document.querySelectorAll('#ledger tbody tr.mine').length`)).toBe(4);
    expect(await page.isVisible('#tasks')).toBe(false);
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-ledger.png'), fullPage: true });
    await page.click('text=← Back to volunteering');
    await page.waitForSelector('#tasks', { state: 'visible' });
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);

    // A ledger changed on the way (one amount raised) does not verify, and says which entry.
    await page.route('**/api/v1/ledger?*', async (route) => {
      const res = await route.fetch();
      const body = (await res.json()) as { entries: { amount: number }[] };
      body.entries[2]!.amount += 1;
      await route.fulfill({ response: res, json: body });
    });
    await page.reload();
    await page.click('#ledger-link');
    await page.waitForFunction(`document.querySelector('#ledger-status').dataset.kind === 'danger'`, null, { timeout: 10_000 });
    expect(await page.textContent('#ledger-status')).toBe('The ledger does not verify: entry 3 hash does not match its content. Do not rely on its figures.');
  }, 120_000);
  it('computes only in the chosen hours, kept across a reload', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'night owls' });
    await submitInputs(c, (await addApp(c, projectId, 'quick', 'export default async (input) => input.n + 1;')), [{ n: 1 }], ONE_REPLICA);
    // In UTC, hours that leave out the present one (two hours ahead: the test cannot cross into them).
    const hour = new Date().getUTCHours();
    const page = await openPage({ scheduleMode: 'hours', fromHour: (hour + 2) % 24, toHour: (hour + 3) % 24 }, { timezoneId: 'UTC' });
    await start(page);
    const hh = (h: number) => `${String(h % 24).padStart(2, '0')}:00`;
    await page.waitForFunction(`document.querySelector('#status').textContent.startsWith('Paused while outside your computing hours')`);
    expect(await page.textContent('#status')).toBe(`Paused while outside your computing hours (${hh(hour + 2)}–${hh(hour + 3)}).`);
    expect(await page.textContent('#schedule-now')).toBe(`Not computing now: outside your computing hours (${hh(hour + 2)}–${hh(hour + 3)}).`);
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-schedule-hours.png'), fullPage: true });
    expect(overCount(c).n).toBe(0);
    expect(await page.textContent('#tasks')).toContain('No tasks yet');

    // From this hour on: it computes.
    await page.selectOption('#from-hour', String(hour));
    await waitFor('the task computed', () => overCount(c).n === 1, 20_000);
    expect(await page.textContent('#schedule-now')).toBe('The schedule allows computing now.');
    await page.reload();
    await page.waitForSelector('#toggle');
    expect(await page.inputValue('#schedule-mode')).toBe('hours');
    expect(await page.inputValue('#from-hour')).toBe(String(hour));
    expect(await page.inputValue('#to-hour')).toBe(String((hour + 3) % 24));
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('computes only while the computer is idle, and says what the browser lets it know', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'idle hands' });
    // Two tasks of about 2 s each, with a checkpoint per step, so a pause holds them there.
    const slow = `export default async (input, ctx) => {
      const s = ctx.resume ?? { step: 0 };
      while (s.step < 20) { let x = 0; for (let i = 0; i < 3e6; i++) x = (x + i) | 0; s.step++; ctx.progress(s.step / 20); await ctx.checkpoint(s); }
      return s.step;
    };`;
    await submitInputs(c, (await addApp(c, projectId, 'slow', slow)), [{ n: 1 }, { n: 2 }], ONE_REPLICA);
    // Three seconds without input (the page offers whole minutes; a test cannot wait for them).
    const page = await openPage({ cores: 1, scheduleMode: 'idle', idleMinutes: 0.05 });
    const support = await page.evaluate(`navigator.permissions.query({ name: 'idle-detection' }).then((p) => p.state, () => 'none')`);
    await start(page);
    // The click on Start was input: it waits for a quiet spell, then computes.
    await page.waitForFunction(`[...document.querySelectorAll('#workers progress')].some((p) => p.value > 0)`, null, { timeout: 20_000 });
    // Moving the mouse pauses it at the next checkpoint.
    const moving = setInterval(() => void page.mouse.move(100 + Math.random() * 300, 100 + Math.random() * 300).catch(() => {}), 200);
    try {
      await page.waitForFunction(`document.querySelector('#status').textContent === 'Paused while you are using this computer.'`, null, { timeout: 10_000 });
      // Nothing computes any more: a task under way stops at its next checkpoint ('paused'), and
      // none starts (on a loaded machine the worker may have finished its task before the input came).
      await page.waitForFunction(
        `[...document.querySelectorAll('#workers .worker')].every((w) => w.dataset.state !== 'running' && w.dataset.state !== 'pausing')`,
        null,
        { timeout: 20_000 },
      );
      // Without idle detection the page says that only its own input counts.
      const note = await page.textContent('#idle-support');
      if (support === 'granted') expect(note).toMatch(/^This browser tells the page when nobody has used the computer/);
      else expect(note).toMatch(/sees only input on this page: typing or clicking in other windows counts as idle/);
      expect(await page.isVisible('#ask-idle')).toBe(support === 'prompt');
      await page.screenshot({ path: join(ARTIFACTS, 'volunteer-schedule-idle.png'), fullPage: true });
    } finally {
      clearInterval(moving);
    }
    // Left alone, it carries on and finishes both.
    await waitFor('both tasks computed', () => overCount(c).n === 2, 45_000);
    expect(pageErrors).toEqual([]);
  }, 90_000);
  it('names the in-flight quota in the status line while it holds back more tasks', async () => {
    // A new host may hold one task in flight: two cores ask for more, and the reply names the quota.
    coordinator = await startTestCoordinator({ newHostTasks: 1, newHostShare: 1 });
    const c = coordinator;
    const projectId = await c.apps.createProject({ name: 'quota' });
    const batch = await submitInputs(c, (await addApp(c, projectId, 'slow', SLOW_APP)), [1, 2, 3].map(() => ({ steps: 60, work: 4_000_000 })), ONE_REPLICA);
    const page = await openPage({ cores: 2 });
    await start(page);
    // The unit test's words (test/volunteer/page-status.test.ts), as the daemon says them.
    const words = 'quota: holds 1 of 1 tasks it may have in flight; more as results are validated';
    await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toBe(`Computing on 2 cores. Thank you! More tasks later: ${words}.`);
    expect(readDb(c, (db) => (db.prepare(`SELECT COUNT(*) AS n FROM replicas WHERE status = 'in_progress'`).get() as { n: number }).n)).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-quota.png'), fullPage: true });

    // One at a time, every task done; with nothing left the quota is no longer what holds work back.
    await waitFor('every task done', () => doneCount(c, batch) === 3, 90_000);
    await expect.poll(() => page.textContent('#status'), { timeout: 30_000 }).toBe('Connected. There is no work right now; checking again shortly.');
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  }, 180_000);
  it('suspends a project’s tasks here, computes only for the projects chosen, with their shares and no new tasks, and tells the coordinator with every request', async () => {
    coordinator = await startTestCoordinator();
    const c = coordinator;
    const alpha = await c.apps.createProject({ name: 'Alpha' });
    const beta = await c.apps.createProject({ name: 'Beta' });
    const delta = await c.apps.createProject({ name: 'Delta' });
    const slowApp = await addApp(c, alpha, 'slow', SLOW_APP);
    const quickA = await addApp(c, alpha, 'quick', 'export default async (input) => input.n * 3;');
    const quickB = await addApp(c, beta, 'quick', 'export default async (input) => input.n * 5;');
    const quickD = await addApp(c, delta, 'quick', 'export default async (input) => input.n * 7;');
    const slow = await submitInputs(c, slowApp, [{ steps: 40, work: 4_000_000 }], ONE_REPLICA);
    const b1 = await submitInputs(c, quickB, [1, 2, 3].map((n) => ({ n })), ONE_REPLICA);

    // What the page asks the coordinator for: the preferences of every tasks.request it sends.
    const sent: unknown[] = [];
    const page = await openPage({ cores: 1 }, {}, (ctx) =>
      ctx.routeWebSocket(/\/socket\.io\//, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((m) => {
          const frame = typeof m === 'string' ? /^42\/volunteer,\d+(\[.*)$/s.exec(m) : null;
          const [event, payload] = frame ? (JSON.parse(frame[1]!) as [string, { preferences?: unknown }]) : [];
          if (event === 'tasks.request') sent.push(payload!.preferences ?? null);
          server.send(m);
        });
        server.onMessage((m) => ws.send(m));
      }),
    );
    // The coordinator's public list, before any task: each project with its apps and progress.
    await page.waitForFunction(`document.querySelector('#projects-note').textContent.startsWith('The coordinator’s 3 projects')`, null, { timeout: 10_000 });
    expect(await page.evaluate(`[...document.querySelectorAll('#projects li.project')].map((li) => li.dataset.project).sort()`)).toEqual(['Alpha', 'Beta', 'Delta']);
    expect(await page.textContent('#projects li[data-project="Alpha"] .project-facts')).toBe('apps: quick, slow · 0 of 1 work units done · 0 tasks done here');
    await start(page);
    const alphaRow = `document.querySelector('#projects li[data-project="Alpha"]')`;
    const card = `[...document.querySelectorAll('#workers .worker')].find((li) => li.querySelector('.worker-title').textContent.startsWith('Alpha · slow'))`;
    await page.waitForFunction(`${card}?.querySelector('progress').value > 0.1`, null, { timeout: 20_000 });

    // Suspend: the slow task stops at its next checkpoint; the core goes to Beta meanwhile.
    await page.click('#projects li[data-project="Alpha"] .project-suspend');
    await page.waitForFunction(`[...document.querySelectorAll('#tasks tbody tr')].some((tr) => tr.querySelector('.task-state').textContent === 'Suspended')`, null, { timeout: 15_000 });
    await waitFor('Beta computed while Alpha is suspended', () => doneCount(c, b1) === 3, 20_000);
    expect(doneCount(c, slow)).toBe(0);
    expect(await page.evaluate(`${alphaRow}.querySelector('.project-badges .warn').textContent`)).toBe('suspended · 1 held');
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-projects-suspended.png'), fullPage: true });
    await page.click('#projects li[data-project="Alpha"] .project-suspend'); // Resume
    await waitFor('the slow task done', () => doneCount(c, slow) === 1, 30_000);
    const { output } = readDb(c, (db) => db.prepare(`SELECT r.output_json AS output FROM replicas r JOIN workunits w ON w.id = r.workunit_id WHERE w.batch_id = ?`).get(slow) as { output: string });
    const resumed = JSON.parse(output) as { steps: number; resumes: number[] };
    expect(resumed.steps).toBe(40);
    expect(resumed.resumes).toHaveLength(1); // from its checkpoint, not from the start
    expect(resumed.resumes[0]).toBeGreaterThan(0);
    expect(sent.every((p) => p === null)).toBe(true); // nothing to say yet: every project, default shares

    // Alpha at a share of 300; no new tasks of Beta: a new batch of each, and only Alpha's computes.
    await page.fill('#projects li[data-project="Alpha"] .project-share', '300');
    await page.press('#projects li[data-project="Alpha"] .project-share', 'Enter');
    await page.check('#projects li[data-project="Beta"] .project-nonew');
    const a2 = await submitInputs(c, quickA, [1, 2].map((n) => ({ n })), ONE_REPLICA);
    const b2 = await submitInputs(c, quickB, [4, 5].map((n) => ({ n })), ONE_REPLICA);
    await waitFor('Alpha’s new batch done', () => doneCount(c, a2) === 2, 20_000);
    expect(replicaCount(c, b2)).toBe(0);
    expect(sent.at(-1)).toEqual({ projects: [{ project: 'Alpha', share: 300 }, { project: 'Beta', noNewTasks: true }] });

    // Only the projects chosen: Beta no longer; new projects off keeps those shown (Delta), and a
    // project that appears later (Epsilon) gets nothing.
    await page.uncheck('#projects li[data-project="Beta"] .project-enabled');
    await page.uncheck('#new-projects');
    expect(await page.isChecked('#projects li[data-project="Delta"] .project-enabled')).toBe(true);
    const epsilon = await c.apps.createProject({ name: 'Epsilon' });
    const e1 = await submitInputs(c, (await addApp(c, epsilon, 'quick', 'export default async (input) => input.n * 11;')), [{ n: 1 }], ONE_REPLICA);
    const d1 = await submitInputs(c, quickD, [{ n: 1 }], ONE_REPLICA);
    const a3 = await submitInputs(c, quickA, [{ n: 3 }], ONE_REPLICA);
    await waitFor('Alpha’s and Delta’s new batches done', () => doneCount(c, a3) === 1 && doneCount(c, d1) === 1, 20_000);
    expect(replicaCount(c, e1)).toBe(0);
    expect(replicaCount(c, b2)).toBe(0);
    expect(sent.at(-1)).toEqual({ projects: [{ project: 'Alpha', share: 300 }, { project: 'Delta' }], onlyListed: true });

    // Kept across a reload.
    await page.reload();
    await page.waitForSelector('#projects li[data-project="Beta"]');
    expect(await page.isChecked('#projects li[data-project="Beta"] .project-enabled')).toBe(false);
    expect(await page.isChecked('#new-projects')).toBe(false);
    expect(await page.inputValue('#projects li[data-project="Alpha"] .project-share')).toBe('300');
    await page.screenshot({ path: join(ARTIFACTS, 'volunteer-projects.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
    expect(cspViolations).toEqual([]);
  }, 120_000);
});
