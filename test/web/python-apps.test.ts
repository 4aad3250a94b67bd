// Python apps end to end: uploaded through the API (which says it found a Python app), run by a
// real daemon and by the volunteer page in real Chromium, each work unit at a quorum of one
// replica from each, so a result is accepted only when Node and Chromium agree bit for bit.
// The example computes digits of pi that another method agrees with; the hostile probe finds
// every way out refused on both platforms and sees the same seeded clock and randomness; an
// exit code is each host's client error with the app's output as its log.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/catalog.js';
import { piHexReference } from '../../examples/pi-hex/inputs.js';
import type { App, AppVersion, BatchStatus, Submitted, WorkunitDetail, WorkunitPage } from '../../protocol/api.js';
import { ApiClient, newApp, newResearcher } from '../helpers/api-client.js';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { PYTHON_PROBE } from '../helpers/python-probe.js';
import { ensurePageBuilt, openStartedPage } from '../helpers/volunteer-page.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

const BOTH = { minQuorum: 2, targetNresults: 2, maxErrorResults: 1, maxTotalResults: 2 };
const enc = new TextEncoder();

describe.skipIf(skipBrowserTests('Python apps e2e'))('Python apps on the daemon and in Chromium', () => {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let c: TestCoordinator | undefined;
  let daemon: VolunteerProcess | undefined;
  let dir: string | undefined;
  let server: Server | undefined;
  let requests = 0;

  beforeAll(async () => {
    await ensurePageBuilt();
    browser = await launchChromium();
    server = createServer((_req, res) => {
      requests++;
      res.end('reached');
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  }, 60_000);
  afterEach(async () => {
    await context?.close().catch(() => {});
    await daemon?.kill9().catch(() => {});
    await c?.dispose().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
    context = daemon = c = dir = undefined;
  }, 30_000);
  afterAll(async () => {
    await browser?.close().catch(() => {});
    await new Promise((resolve) => server?.close(resolve));
  });

  async function openPage(settings: object): Promise<Page> {
    const opened = await openStartedPage(browser!, c!.url, settings);
    context = opened.context;
    return opened.page;
  }

  it('computes the example and the probe at cross-platform quorums, and reports exits', { timeout: 240_000 }, async () => {
    c = await startTestCoordinator();
    const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const upload = async (name: string, files: { name: string; content: Uint8Array }[]) => {
      const { app } = await newApp(ada, name);
      const v = await ada.upload<AppVersion>(`/apps/${app.id}/versions`, files);
      expect(v.status).toBe(201);
      return { app, version: v.body };
    };
    const piHex = await upload('pi-hex', (await EXAMPLES.piHex.files()).map((f) => ({ name: f.name, content: f.bytes })));
    expect(piHex.version).toMatchObject({ kind: 'python', entry: 'main.py' });
    expect((await ada.get<App>(`/apps/${piHex.app.id}`)).body.versions.find((v) => v.version === piHex.version.version)).toMatchObject({ kind: 'python' });
    const probe = await upload('probe', [{ name: 'main.py', content: enc.encode(PYTHON_PROBE) }]);
    const exiting = await upload('exit', [{ name: 'main.py', content: enc.encode('import sys\n\ndef run(input, ctx):\n    print("failing on purpose")\n    sys.exit(input)\n') }]);

    const submit = async (appId: number, name: string, inputs: unknown[], replication = BOTH) => {
      const r = await ada.post<Submitted>(`/apps/${appId}/batches`, { name, replication, workunits: inputs.map((input) => ({ input })) });
      expect(r.status).toBe(201);
      return r.body.batchId;
    };
    const piInputs = [
      { start: 0, count: 16 },
      { start: 1000, count: 16 },
      { start: 20000, count: 8 },
    ];
    const piBatch = await submit(piHex.app.id, 'digits', piInputs);
    const port = (server!.address() as AddressInfo).port;
    const probeBatch = await submit(probe.app.id, 'probe', [{ port }]);
    const exitBatch = await submit(exiting.app.id, 'exit', [7]);

    dir = mkdtempSync(join(tmpdir(), 'vg-python-e2e-'));
    daemon = VolunteerProcess.start(c.url, dir, ['--name', 'node-daemon']);
    const page = await openPage({ nickname: 'chromium-tab', cores: 1, maxTaskMinutes: 3 });

    const status = async (batchId: number) => (await ada.get<BatchStatus>(`/batches/${batchId}`)).body.status;
    for (const b of [piBatch, probeBatch, exitBatch]) await expect.poll(() => status(b), { timeout: 180_000, interval: 500 }).toBe('done');

    const details = async (batchId: number) => {
      const { workunits } = (await ada.get<WorkunitPage>(`/batches/${batchId}/workunits`)).body;
      const out: WorkunitDetail[] = [];
      for (const w of workunits.sort((a, b) => a.seq - b.seq)) out.push((await ada.get<WorkunitDetail>(`/workunits/${w.id}`)).body);
      return out;
    };
    const hosts = (wu: WorkunitDetail) => wu.replicas.map((r) => r.hostName).sort();

    // The example: one replica each from Node and Chromium, valid together, the digits Machin's formula gives.
    for (const [k, wu] of (await details(piBatch)).entries()) {
      expect(wu.status).toBe('done');
      expect(hosts(wu)).toEqual(['chromium-tab', 'node-daemon']);
      const { start, count } = piInputs[k]!;
      for (const r of wu.replicas) expect(r).toMatchObject({ outcome: 'success', validateState: 'valid', output: { start, digits: piHexReference(start, count) } });
    }
    expect(piHexReference(0, 16)).toBe('243F6A8885A308D3'); // pi = 3.243F6A8885A308D3... in hexadecimal

    // The probe: the same report from both (else no quorum): every route refused, the seed's
    // world, the same bits of math.sin, exp and log.
    const [probed] = await details(probeBatch);
    expect(hosts(probed!)).toEqual(['chromium-tab', 'node-daemon']);
    expect(probed!.replicas.map((r) => r.validateState)).toEqual(['valid', 'valid']);
    const report = probed!.replicas[0]!.output as { routes: Record<string, string>; seen: Record<string, unknown> };
    for (const [route, answer] of Object.entries(report.routes)) expect(`${route}: ${answer}`).toMatch(/^[^:]+: refused \(/);
    expect(report.seen).toMatchObject({ platform: 'emscripten', cwd: '/home/pyodide', home: [], 'listdir /': ['dev', 'home', 'lib', 'proc', 'tmp'] });
    expect(requests).toBe(0);

    // An exit code: each host's client error with the code, what the app printed as the replica's log.
    const [exited] = await details(exitBatch);
    expect(exited!.status).toBe('failed');
    expect(hosts(exited!)).toEqual(['chromium-tab', 'node-daemon']);
    for (const r of exited!.replicas) {
      expect(r).toMatchObject({ outcome: 'client_error', error: { code: 'app_exit', message: 'the program exited with code 7' } });
      expect(r.log?.lines, r.hostName ?? '').toEqual([{ level: 'info', text: 'failing on purpose' }]);
    }
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
  });
});
