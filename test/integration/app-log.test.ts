// What an app logs reaches the researcher: a real daemon runs an app that logs through its
// console and ctx.log, one input throws; each replica's detail in the API shows the lines its
// run logged (the last ones, when there were many), beside the version it ran and its error.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { App, BatchStatus, Submitted, WorkunitDetail, WorkunitPage } from '../../protocol/api.js';
import { MAX_RESULT_LOG_LINES } from '../../protocol/limits.js';
import { ApiClient, newApp, newResearcher } from '../helpers/api-client.js';
import { startTestCoordinator, TEST_ADMIN_PASSWORD, type TestCoordinator } from '../helpers/test-coordinator.js';
import { VolunteerProcess } from '../helpers/volunteer-process.js';

let c: TestCoordinator | undefined;
let daemon: VolunteerProcess | undefined;
let dir: string | undefined;
afterEach(async () => {
  await daemon?.kill9();
  await c?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
  c = daemon = dir = undefined;
});

const LOGGING_APP = `console.log('loaded');
export default async function run(input, ctx) {
  console.info('input', input.n, { mode: input.mode });
  if (input.mode === 'throw') {
    console.warn('about to fail on', input.n);
    throw new Error('cannot use ' + input.n);
  }
  if (input.mode === 'chatty') for (let i = 1; i <= 300; i++) ctx.log('step', i);
  ctx.log('done with', input.n);
  return input.n * 2;
}
`;

describe('the app log of each replica', () => {
  it('shows what the app logged in the run, for successes and errors, bounded', { timeout: 60_000 }, async () => {
    c = await startTestCoordinator();
    const admin = await ApiClient.withToken(c.url, 'admin', TEST_ADMIN_PASSWORD);
    const ada = await newResearcher(admin, 'ada');
    const { app } = await newApp(ada, 'logging');
    expect((await ada.upload(`/apps/${app.id}/versions`, [{ name: 'main.js', content: LOGGING_APP }])).status).toBe(201);
    const version = Math.max(...(await ada.get<App>(`/apps/${app.id}`)).body.versions.map((v) => v.version));
    const inputs = [{ n: 1, mode: 'ok' }, { n: 2, mode: 'throw' }, { n: 3, mode: 'chatty' }];
    const submitted = await ada.post<Submitted>(`/apps/${app.id}/batches`, {
      name: 'logs',
      replication: { minQuorum: 1, targetNresults: 1, maxErrorResults: 0 },
      workunits: inputs.map((input) => ({ input })),
    });
    expect(submitted.status).toBe(201);
    dir = mkdtempSync(join(tmpdir(), 'vg-app-log-'));
    daemon = VolunteerProcess.start(c.url, dir, ['--name', 'logger']);
    await expect.poll(async () => (await ada.get<BatchStatus>(`/batches/${submitted.body.batchId}`)).body.status, { timeout: 45_000, interval: 250 }).toBe('done');

    const { workunits } = (await ada.get<WorkunitPage>(`/batches/${submitted.body.batchId}/workunits`)).body;
    const detail = async (seq: number) => {
      const wu = workunits.find((w) => w.seq === seq)!;
      const [replica] = (await ada.get<WorkunitDetail>(`/workunits/${wu.id}`)).body.replicas;
      return replica!;
    };

    const ok = await detail(0);
    expect(ok).toMatchObject({ outcome: 'success', appVersion: version, output: 2 });
    expect(ok.log).toEqual({
      lines: [
        { level: 'info', text: 'loaded' },
        { level: 'info', text: 'input 1 {"mode":"ok"}' },
        { level: 'info', text: 'done with 1' },
      ],
      omitted: 0,
    });

    const failed = await detail(1);
    expect(failed).toMatchObject({ outcome: 'client_error', error: { code: 'app_exception', message: expect.stringContaining('cannot use 2') } });
    expect(failed.log!.lines.map((l) => [l.level, l.text])).toEqual([
      ['info', 'loaded'],
      ['info', 'input 2 {"mode":"throw"}'],
      ['warn', 'about to fail on 2'],
    ]);

    // 300 steps: the runtime keeps 200 lines of a run and says so; the result carries the last 100.
    const chatty = await detail(2);
    expect(chatty.log!.lines).toHaveLength(MAX_RESULT_LOG_LINES);
    expect(chatty.log!.lines.at(-1)).toEqual({ level: 'warn', text: '(the app logged more than 200 lines in this run; the rest are not kept)' });
    expect(chatty.log!.lines.at(-2)).toEqual({ level: 'info', text: 'step 198' });
    expect(chatty.log!.omitted).toBe(201 - MAX_RESULT_LOG_LINES);
  });
});
