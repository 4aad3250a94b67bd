// The volunteer page across two coordinator instances, in real headless Chromium: served by one,
// it reads the instances from its origin's discovery document, connects to its first choice by
// its host key (the other origin, as often as not: a cross-origin WebSocket, files and uploads),
// and when that instance is killed with SIGKILL it fails over to the other and finishes the batch.
// On the postgres project only: two instances need one PostgreSQL database and one Redis.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instanceOrder } from '../../volunteer-core/instance-order.js';
import { ApiClient, newResearcher, type BatchStatus } from '../helpers/api-client.js';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { loopApp, startCluster, submitLoopBatch, type TestCluster } from '../helpers/cluster.js';
import { skipPostgresTests, TEST_BACKEND } from '../helpers/postgres.js';
import { skipRedisTests } from '../helpers/redis.js';
import { TEST_ADMIN_PASSWORD, waitFor } from '../helpers/test-coordinator.js';
import { ensurePageBuilt, openStartedPage } from '../helpers/volunteer-page.js';

const skip = TEST_BACKEND !== 'postgres' || skipBrowserTests('page failover') || (await skipPostgresTests('page failover')) || (await skipRedisTests('page failover'));

const WORKUNITS = 20;
const APP = loopApp(10_000_000);

describe.skipIf(skip)('the volunteer page across two coordinator instances', () => {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let cluster: TestCluster | undefined;
  beforeAll(async () => {
    await ensurePageBuilt();
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await cluster?.close();
  });

  /** The instance the page says it is on (or tries), whether connected there, and in words. */
  const instanceOf = async (page: Page) => ({
    url: await page.getAttribute('#coordinator-instance', 'data-url'),
    connected: (await page.getAttribute('#coordinator-instance', 'data-connected')) === 'true',
    text: (await page.textContent('#coordinator-instance')) ?? '',
  });

  it('connects to its first choice from the list, fails over when that instance is killed, and finishes the batch', async () => {
    cluster = await startCluster(2);
    const { urls, instances } = cluster;
    const ada = await newResearcher(await ApiClient.withToken(urls[0]!, 'admin', TEST_ADMIN_PASSWORD), 'ada');
    const batchId = await submitLoopBatch(ada, APP.source, WORKUNITS, { minQuorum: 1, targetNresults: 1 });

    // Served by the first instance; CSP violations would show on the console.
    const opened = await openStartedPage(browser!, urls[0]!, { cores: 1, nickname: 'failover-tab' });
    context = opened.context;
    const { page } = opened;
    const cspViolations: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    await waitFor('the page connected to an instance', async () => (await instanceOf(page)).connected, 30_000);
    const hostKey = (await page.getAttribute('#host-fingerprint', 'data-key'))!;
    const [firstChoice, secondChoice] = instanceOrder(hostKey, urls) as [string, string];
    const before = await instanceOf(page);
    expect(before.url).toBe(firstChoice);
    expect(before.text).toContain('first choice of 2');

    const status = async (url: string) => (await ApiClient.bearer(url, ada.token!).get<BatchStatus>(`/batches/${batchId}`)).body;
    await waitFor('some of the batch computed', async () => (await status(firstChoice)).workunits.done >= 2, 60_000);
    await instances[urls.indexOf(firstChoice)]!.kill9();
    expect((await status(secondChoice)).workunits.done).toBeLessThan(WORKUNITS);

    await waitFor('the page on its second choice', async () => {
      const now = await instanceOf(page);
      return now.connected && now.url === secondChoice;
    }, 30_000);
    expect((await instanceOf(page)).text).toContain('choice 2 of 2');
    expect(await page.textContent('#activity')).toContain(`The coordinator instance at ${firstChoice} failed`);

    await waitFor('the batch done', async () => (await status(secondChoice)).status === 'done', 120_000);
    const results = (await ApiClient.bearer(secondChoice, ada.token!).get<string>(`/batches/${batchId}/results`)).text.trim().split('\n').map((l) => JSON.parse(l) as { seq: number; output: unknown });
    expect(results).toHaveLength(WORKUNITS);
    for (const r of results) expect(r.output).toEqual(APP.output(r.seq));
    expect(cspViolations).toEqual([]);
  }, 240_000);
});
