// The cross-port attack, in real headless Chromium: a researcher logged in to the admin UI opens
// a page served from another port of the same host. SameSite does not separate ports, so the
// browser sends the researcher's session cookie with that page's WebSocket to /admin; the
// coordinator must refuse it, as it refuses that page's API requests. The admin UI itself (same
// origin) must still follow its batches live, and a page elsewhere with an API token may.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { startTestCoordinator, type TestCoordinator } from '../helpers/test-coordinator.js';
import { ApiClient, newApp, type Submitted } from '../helpers/api-client.js';

const ADMIN_PASSWORD = 'correct-horse-battery-staple';
const POLL = { timeout: 15_000, interval: 100 };

/**
 * A page that speaks Socket.IO's wire protocol over a plain WebSocket (no client library to
 * serve): connects to /admin (with `auth` if the URL's hash carries a token), asks to watch the
 * batch, and leaves in window.__outcome what the coordinator answered.
 */
const ATTACKER_PAGE = `<!doctype html><meta charset="utf-8"><title>another app on this host</title><script>
const params = new URLSearchParams(location.search);
const token = location.hash.slice(1);
const ws = new WebSocket('ws://' + params.get('target') + '/socket.io/?EIO=4&transport=websocket');
window.__outcome = 'pending';
ws.onmessage = (m) => {
  const d = String(m.data);
  if (d === '2') return ws.send('3');
  if (d.startsWith('0{')) return ws.send('40/admin,' + (token ? JSON.stringify({ token }) : ''));
  if (d.startsWith('40/admin,')) return ws.send('42/admin,1["batch.watch",{"batchId":' + params.get('batch') + '}]');
  if (d.startsWith('44/admin,')) window.__outcome = 'refused: ' + JSON.parse(d.slice(9)).message;
  if (d.startsWith('43/admin,1')) window.__outcome = 'read: ' + d.slice(10);
};
ws.onerror = () => { window.__outcome = 'socket error'; };
fetch('http://' + params.get('target') + '/api/v1/batches', { credentials: 'include' }).then(
  (r) => (window.__fetch = 'answered ' + r.status),
  () => (window.__fetch = 'blocked'),
);
</script>`;

describe.skipIf(skipBrowserTests('cross-origin e2e'))('a page on another port of the same host', () => {
  let coordinator: TestCoordinator | undefined;
  let other: Server | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let batchId: number;
  let token: string;
  const apiSeenFromOtherPort: number[] = [];

  beforeAll(async () => {
    browser = await launchChromium();
    coordinator = await startTestCoordinator({ adminPassword: ADMIN_PASSWORD });
    const admin = await ApiClient.withToken(coordinator.url, 'admin', ADMIN_PASSWORD);
    token = admin.token!;
    const { app } = await newApp(admin, 'private-research');
    batchId = (await admin.post<Submitted>(`/apps/${app.id}/batches`, { name: 'unpublished results', workunits: [{ input: 1 }] })).body.batchId;
    other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(ATTACKER_PAGE));
    await new Promise<void>((resolve) => other!.listen(0, '127.0.0.1', resolve));
    context = await browser.newContext();
  }, 60_000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await new Promise<void>((resolve) => (other ? other.close(() => resolve()) : resolve()));
    await coordinator?.dispose().catch(() => {});
  }, 30_000);

  it("cannot use the logged-in researcher's cookie to read their batches; the admin UI still follows them live", async () => {
    const url = coordinator!.url;
    const page = await context!.newPage();
    await page.goto(`${url}/admin/`);
    await page.getByLabel('Name').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();

    const attackerUrl = `http://127.0.0.1:${(other!.address() as AddressInfo).port}/?target=${new URL(url).host}&batch=${batchId}`;
    const attacker = await context!.newPage();
    // What the coordinator answered the page's API request: the page cannot read it (no CORS
    // headers), so Playwright reports no response; the DevTools protocol still sees its status.
    const cdp = await context!.newCDPSession(attacker);
    const urls = new Map<string, string>();
    cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
    cdp.on('Network.responseReceivedExtraInfo', (e) => {
      if (urls.get(e.requestId)?.endsWith('/api/v1/batches')) apiSeenFromOtherPort.push(e.statusCode);
    });
    await cdp.send('Network.enable');
    await attacker.goto(attackerUrl);
    await expect.poll(() => attacker.evaluate(() => (globalThis as { __outcome?: string }).__outcome), POLL).not.toBe('pending');
    const outcome = await attacker.evaluate(() => (globalThis as { __outcome?: string }).__outcome);
    expect(outcome).toMatch(/^refused: forbidden: a page at http:\/\/127\.0\.0\.1:\d+ may not use this coordinator's session cookie/);
    expect(outcome).not.toContain('unpublished results');
    // Its API request went out with the cookie; the coordinator refused it (it used to answer 200).
    await expect.poll(() => apiSeenFromOtherPort, POLL).toEqual([403]);

    // With an API token (no cookie involved) a page elsewhere may follow the batch.
    const withToken = await context!.newPage();
    await withToken.goto(`${attackerUrl}#${token}`);
    await expect.poll(() => withToken.evaluate(() => (globalThis as { __outcome?: string }).__outcome), POLL).toContain('unpublished results');

    // The admin UI, on the coordinator's own origin, still gets its batch status pushed.
    await page.goto(`${url}/admin/#/batches/${batchId}`);
    await page.getByRole('heading', { name: 'unpublished results', level: 1 }).waitFor();
    await expect.poll(() => page.locator('.live').textContent(), POLL).toBe('Live');
  }, 60_000);
});
