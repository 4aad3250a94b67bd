// The documented nginx config (docs/deploy/nginx-volunteer-grid.conf), run for real on loopback
// in front of a real coordinator: TLS ends at nginx, the volunteer daemon works through it over
// WebSockets, the admin UI logs in with a Secure cookie through it (the origin check sees the
// page's https origin), plain HTTP is sent to HTTPS, and a client's own X-Forwarded-For is not
// believed.
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
    // As docs/deploy.md starts it: loopback only, the proxy trusted, Secure cookies.
    c = await startTestCoordinator({ trustProxy: ['loopback'], secureCookies: true });
    cert = selfSignedCert(dir).cert;
    const proxy = await proxyTo(c.port, dir);
    ({ nginx, httpsUrl, httpPort } = proxy);
  }, 30_000);

  /** nginx with the documented config in front of the coordinator at `port`, its files in `dir`. */
  async function proxyTo(port: number, dir: string): Promise<{ nginx: Nginx; httpsUrl: string; httpPort: number }> {
    const httpsPort = await freePort();
    const httpPort = await freePort();
    const site = substitute(readFileSync(SITE, 'utf8'), [
      ['server 127.0.0.1:8080;', `server 127.0.0.1:${port};`],
      ['listen 80;', `listen 127.0.0.1:${httpPort};`],
      ['listen [::]:80;', ''],
      ['listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`],
      ['listen [::]:443 ssl;', ''],
      ['/etc/letsencrypt/live/grid.example.org/fullchain.pem', cert],
      ['/etc/letsencrypt/live/grid.example.org/privkey.pem', join(dirname(cert), 'key.pem')],
      ['grid.example.org', '127.0.0.1'],
    ]);
    return { nginx: await startNginx(dir, site, [httpsPort, httpPort]), httpsUrl: `https://127.0.0.1:${httpsPort}`, httpPort };
  }

  afterAll(async () => {
    await nginx?.stop();
    await c?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A GET through the proxy that trusts the test's certificate. */
  function get(path: string, headers: Record<string, string> = {}, base = httpsUrl): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(`${base}${path}`, { ca: readFileSync(cert), headers }, (res) => {
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
    const appId = await addPrimesApp(c);
    const batchId = await submitInputs(c, appId, Array.from({ length: 6 }, (_, i) => ({ from: i * 100, to: i * 100 + 100 })), { minQuorum: 1, targetNresults: 1 });
    await c.replicasReady();
    const volunteer = VolunteerProcess.start(httpsUrl, join(dir, 'volunteer'), [], { NODE_EXTRA_CA_CERTS: cert });
    try {
      await volunteer.waitForLog('connected');
      await waitFor('the batch to finish through the proxy', async () => (await c.store.reports.workunitCounts(batchId)).done === 6, 60_000);
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
    // A coordinator whose per-address rate limit allows one request now and the next in 5 s,
    // behind its own nginx: it counts the address nginx names. Once this client's token is
    // spent, a made-up X-Forwarded-For must not buy it a fresh one: nginx replaces the header
    // (were it appended to, the coordinator would take the made-up address as the client's).
    const strict = await startTestCoordinator({ trustProxy: ['loopback'], httpRatePerIp: 0.2 });
    const strictDir = join(dir, 'strict');
    const proxy = await proxyTo(strict.port, strictDir);
    try {
      expect((await get('/healthz', {}, proxy.httpsUrl)).status).toBe(200);
      expect((await get('/healthz', { 'x-forwarded-for': '203.0.113.7' }, proxy.httpsUrl)).status).toBe(429);
      expect(readFileSync(join(strictDir, 'access.log'), 'utf8')).toMatch(/^127\.0\.0\.1 /m);
    } finally {
      await proxy.nginx.stop();
      await strict.dispose();
    }
  });
});
