// The documented nginx config (docs/deploy/nginx-volunteer-grid.conf), run for real on loopback
// in front of a real coordinator: TLS ends at nginx, the volunteer daemon works through it over
// WebSockets, the admin UI logs in with a Secure cookie through it (the origin check sees the
// page's https origin), plain HTTP is sent to HTTPS, and a client's own X-Forwarded-For is not
// believed (last: it empties the client's rate-limit bucket).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureUiBuilt, logIn } from '../helpers/admin-ui.js';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { freePort, selfSignedCert, skipProxyTests, startNginx, substitute, type Nginx } from '../helpers/nginx.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SITE = join(ROOT, 'docs', 'deploy', 'nginx-volunteer-grid.conf');

describe.skipIf(skipProxyTests('reverse proxy'))('behind the documented nginx config', () => {
  let dir: string;
  let c: TestCoordinator;
  let nginx: Nginx;
  let httpsUrl: string;
  let httpPort: number;
  let cert: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vg-proxy-'));
    // As docs/deploy.md starts it: loopback only, the proxy trusted, Secure cookies, a low rate
    // limit per address (which must count each client, not the proxy).
    c = await startTestCoordinator({ trustProxy: ['loopback'], secureCookies: true, httpRatePerIp: 20 });
    const tls = selfSignedCert(dir);
    cert = tls.cert;
    const httpsPort = await freePort();
    httpPort = await freePort();
    const site = substitute(readFileSync(SITE, 'utf8'), [
      ['server 127.0.0.1:8080;', `server 127.0.0.1:${c.port};`],
      ['listen 80;', `listen 127.0.0.1:${httpPort};`],
      ['listen [::]:80;', ''],
      ['listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`],
      ['listen [::]:443 ssl;', ''],
      ['/etc/letsencrypt/live/grid.example.org/fullchain.pem', tls.cert],
      ['/etc/letsencrypt/live/grid.example.org/privkey.pem', tls.key],
      ['grid.example.org', '127.0.0.1'],
    ]);
    nginx = await startNginx(dir, site, [httpsPort, httpPort]);
    httpsUrl = `https://127.0.0.1:${httpsPort}`;
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await c?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A GET through the proxy that trusts the test's certificate. */
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

  it('serves over TLS and sends plain HTTP to HTTPS', async () => {
    const ready = await get('/readyz');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ ready: true });
    const plain = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { redirect: 'manual' });
    expect(plain.status).toBe(301);
    expect(plain.headers.get('location')).toBe(`https://127.0.0.1/healthz`);
  });

  it('lets the volunteer daemon connect over WebSockets and finish tasks', async () => {
    const appId = addPrimesApp(c);
    const batchId = submitInputs(c, appId, Array.from({ length: 6 }, (_, i) => ({ from: i * 100, to: i * 100 + 100 })), { minQuorum: 1, targetNresults: 1 });
    await c.replicasReady();
    const volunteer = VolunteerProcess.start(httpsUrl, join(dir, 'volunteer'), [], { NODE_EXTRA_CA_CERTS: cert });
    try {
      await volunteer.waitForLog('connected');
      await waitFor('the batch to finish through the proxy', () => c.store.reports.workunitCounts(batchId).done === 6, 60_000);
    } finally {
      expect(await volunteer.stop()).toBe(0);
    }
  }, 90_000);

  describe.skipIf(skipBrowserTests('admin UI behind the proxy'))('the admin UI', () => {
    let browser: Browser;
    beforeAll(async () => {
      await ensureUiBuilt();
      browser = await launchChromium();
    }, 120_000);
    afterAll(async () => browser?.close());

    it('logs in with a Secure session cookie and shows the projects', async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      try {
        const page = await context.newPage();
        await logIn(page, httpsUrl, 'admin', TEST_ADMIN_PASSWORD);
        const cookies = await context.cookies(httpsUrl);
        expect(cookies.find((k) => k.name === 'vg_session')?.secure).toBe(true);
        await page.getByRole('heading', { name: 'Projects', level: 1 }).waitFor();
      } finally {
        await context.close();
      }
    }, 60_000);
  });

  it('forwards the client address, replacing one the client made up', async () => {
    // The per-address rate limit counts the address nginx names. Once this client's bucket is
    // empty, a made-up X-Forwarded-For must not buy it a fresh one: nginx replaces the header
    // (were it appended to, the coordinator would take the made-up address as the client's).
    let refused = 0;
    for (let round = 0; round < 10 && refused === 0; round++) {
      const statuses = await Promise.all(Array.from({ length: 20 }, () => get('/healthz').then((r) => r.status)));
      refused += statuses.filter((s) => s === 429).length;
    }
    expect(refused).toBeGreaterThan(0);
    expect((await get('/healthz', { 'x-forwarded-for': '203.0.113.7' })).status).toBe(429);
    expect(readFileSync(join(dir, 'access.log'), 'utf8')).toMatch(/^127\.0\.0\.1 /m);
  });
});
