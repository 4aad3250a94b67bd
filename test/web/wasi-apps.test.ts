// WASI programs end to end: uploaded through the API (which says it found a WASI program), run
// by a real daemon and by the volunteer page in real Chromium, each work unit at a quorum of
// one replica from each, so a result is accepted only when Node and Chromium agree bit for bit.
// The example computes the reference answers; the hostile probe sees on both platforms the same
// seeded clock and randomness and nothing of either machine; a non-zero exit is each host's
// client error with its code and the program's stderr; an endless program is stopped on the
// page by its time limit, and the page's worker goes on to the next task.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../examples/catalog.js';
import { collatzReference } from '../../examples/collatz/inputs.js';
import type { App, AppVersion, BatchStatus, Submitted, WorkunitDetail, WorkunitPage } from '../../protocol/api.js';
import { ApiClient, newApp, newResearcher } from '../helpers/api-client.js';
import { launchChromium, skipBrowserTests } from '../helpers/chromium.js';
import { ensurePageBuilt, openStartedPage } from '../helpers/volunteer-page.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';
import { PROBE_WASM } from '../helpers/wasi-probe.js';

const BOTH = { minQuorum: 2, targetNresults: 2, maxErrorResults: 1, maxTotalResults: 2 };

describe.skipIf(skipBrowserTests('WASI apps e2e'))('WASI programs on the daemon and in Chromium', () => {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let c: TestCoordinator | undefined;
  let daemon: VolunteerProcess | undefined;
  let dir: string | undefined;

  beforeAll(async () => {
    await ensurePageBuilt();
    browser = await launchChromium();
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
  });

  async function openPage(settings: object): Promise<Page> {
    const opened = await openStartedPage(browser!, c!.url, settings);
    context = opened.context;
    return opened.page;
  }

  it('computes the example and the probe at cross-platform quorums, and reports exits and time limits', { timeout: 150_000 }, async () => {
    c = await startTestCoordinator();
    const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const upload = async (name: string, files: { name: string; content: Uint8Array }[]) => {
      const { app } = await newApp(ada, name);
      const v = await ada.upload<AppVersion>(`/apps/${app.id}/versions`, files);
      expect(v.status).toBe(201);
      return { app, version: v.body };
    };
    const collatz = await upload('collatz', (await EXAMPLES.collatz.files()).map((f) => ({ name: f.name, content: f.bytes })));
    expect(collatz.version).toMatchObject({ kind: 'wasi', entry: 'main.wasm' });
    expect((await ada.get<App>(`/apps/${collatz.app.id}`)).body.versions.find((v) => v.version === collatz.version.version)).toMatchObject({ kind: 'wasi' });
    const probe = await upload('probe', [{ name: 'main.wasm', content: PROBE_WASM }]);

    const submit = async (appId: number, name: string, inputs: unknown[], replication = BOTH) => {
      const r = await ada.post<Submitted>(`/apps/${appId}/batches`, { name, replication, workunits: inputs.map((input) => ({ input })) });
      expect(r.status).toBe(201);
      return r.body.batchId;
    };
    const collatzInputs = EXAMPLES.collatz.inputs(3).map((i, k) => ({ ...i, stdin: `${1 + k * 150_000} ${1 + (k + 1) * 150_000}` }));
    const collatzBatch = await submit(collatz.app.id, 'ranges', collatzInputs);
    const probeBatch = await submit(probe.app.id, 'probe', [{ args: ['report'], files: { 'data.txt': 'from the work unit' }, output: 'json' }, { args: ['sleep'], output: 'json' }]);
    const exitBatch = await submit(probe.app.id, 'exit', [{ args: ['exit', '7'] }]);

    dir = mkdtempSync(join(tmpdir(), 'vg-wasi-e2e-'));
    daemon = VolunteerProcess.start(c.url, dir, ['--name', 'node-daemon']);
    const page = await openPage({ nickname: 'chromium-tab', cores: 1, maxTaskMinutes: 0.05 });

    const status = async (batchId: number) => (await ada.get<BatchStatus>(`/batches/${batchId}`)).body.status;
    for (const b of [collatzBatch, probeBatch, exitBatch]) await expect.poll(async () => (await status(b)), { timeout: 90_000, interval: 500 }).toBe('done');

    const details = async (batchId: number) => {
      const { workunits } = (await ada.get<WorkunitPage>(`/batches/${batchId}/workunits`)).body;
      const out: WorkunitDetail[] = [];
      // One request at a time: a handful, and no burst of connections for the coordinator's per-address limit.
      for (const w of workunits.sort((a, b) => a.seq - b.seq)) out.push((await ada.get<WorkunitDetail>(`/workunits/${w.id}`)).body);
      return out;
    };
    const hosts = (wu: WorkunitDetail) => wu.replicas.map((r) => r.hostName).sort();

    // The example: one replica each from Node and Chromium, valid together, the reference answer.
    for (const [k, wu] of (await details(collatzBatch)).entries()) {
      expect(wu.status).toBe('done');
      expect(hosts(wu)).toEqual(['chromium-tab', 'node-daemon']);
      const [lo, hi] = collatzInputs[k]!.stdin.split(' ').map(Number) as [number, number];
      for (const r of wu.replicas) expect(r).toMatchObject({ outcome: 'success', validateState: 'valid', output: collatzReference(lo, hi) });
    }

    // The probe: the same report from both (else no quorum), and it names nothing of either machine.
    const [report, sleep] = await details(probeBatch);
    for (const wu of [report!, sleep!]) {
      expect(hosts(wu)).toEqual(['chromium-tab', 'node-daemon']);
      expect(wu.replicas.map((r) => r.validateState)).toEqual(['valid', 'valid']);
    }
    expect(report!.replicas[0]!.output).toMatchObject({
      args: ['main.wasm', 'report'],
      env: 0,
      files: ['data.txt'],
      opens: { '/etc/passwd': false, '/proc/self/environ': false, '../etc/passwd': false, '/../../etc/hostname': false, '/dev/urandom': false, 'data.txt': true },
      data: 'from the work unit',
      cwd: '/',
    });
    expect(sleep!.replicas[0]!.output).toEqual({ slept: 5 });

    // A non-zero exit: each host's client error with the code, stderr as the replica's log.
    const [exited] = await details(exitBatch);
    expect(exited!.status).toBe('failed');
    expect(hosts(exited!)).toEqual(['chromium-tab', 'node-daemon']);
    for (const r of exited!.replicas) {
      expect(r).toMatchObject({ outcome: 'client_error', error: { code: 'app_exit', message: 'the program exited with code 7' } });
      expect(r.log?.lines, r.hostName ?? '').toEqual([
        { level: 'info', text: 'failing on purpose' },
        { level: 'info', text: 'with code 7' },
      ]);
    }

    // An endless program: the page stops it at its time limit (3 s), and computes the next task.
    await daemon.kill9();
    daemon = undefined;
    const one = { minQuorum: 1, targetNresults: 1, maxErrorResults: 0, maxTotalResults: 1 };
    const spin = await submit(probe.app.id, 'spin', [{ args: ['spin'] }], one);
    await expect.poll(async () => (await status(spin)), { timeout: 30_000, interval: 500 }).toBe('done');
    const [spun] = await details(spin);
    expect(spun!.replicas[0]).toMatchObject({ hostName: 'chromium-tab', outcome: 'client_error', error: { code: 'cpu_limit' } });
    const after = await submit(collatz.app.id, 'after', [{ stdin: '1 1000', output: 'json' }], one);
    await expect.poll(async () => (await status(after)), { timeout: 30_000, interval: 500 }).toBe('done');
    expect((await details(after))[0]!.replicas[0]).toMatchObject({ hostName: 'chromium-tab', output: collatzReference(1, 1000) });
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
  });
});
