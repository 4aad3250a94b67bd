// GET /metrics on its own listener, scraped while a real batch runs: the counters and gauges move
// as the batch does, and the public port does not serve them.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPrimesApp, submitInputs } from '../helpers/batches.js';
import { startTestCoordinator, TEST_BACKEND, waitFor, type TestCoordinator } from '../helpers/test-coordinator.js';
import { TestVolunteer } from '../helpers/test-volunteer.js';

let c: TestCoordinator;
const volunteers: TestVolunteer[] = [];

beforeAll(async () => {
  c = await startTestCoordinator({ metricsPort: 0 });
});
afterAll(async () => {
  volunteers.forEach((v) => v.close());
  await c.dispose();
});

type Samples = Map<string, number>;

/** The text format's samples by `name{labels}` (labels as written), comments left out. */
async function scrape(): Promise<Samples> {
  const res = await fetch(c.metricsUrl!);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples: Samples = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const value = (s: Samples, key: string) => s.get(key) ?? 0;

describe('metrics', () => {
  it('are off unless asked for, and never on the public port', async () => {
    expect((await fetch(`${c.url}/metrics`)).status).toBe(404);
    expect(new URL(c.metricsUrl!).hostname).toBe('127.0.0.1');
    expect(new URL(c.metricsUrl!).port).not.toBe(String(c.port));
    expect((await fetch(c.metricsUrl!.replace('/metrics', '/healthz'))).status).toBe(404);
    const plain = await startTestCoordinator();
    try {
      expect(plain.metricsUrl).toBeUndefined();
      expect((await fetch(`${plain.url}/metrics`)).status).toBe(404);
    } finally {
      await plain.dispose();
    }
  });

  it('move as a real batch does', async () => {
    const appId = await addPrimesApp(c);
    const batchId = await submitInputs(c, appId, Array.from({ length: 20 }, (_, i) => ({ from: i * 50, to: i * 50 + 50 })));
    await c.replicasReady();
    const start = await scrape();
    expect(value(start, 'vg_workunits{state="active"}')).toBe(20);
    expect(value(start, 'vg_tasks_assigned_total')).toBe(0);
    expect(value(start, 'vg_ledger_entries')).toBe(0);
    // Process and event-loop metrics come with them.
    expect(start.has('process_cpu_user_seconds_total')).toBe(true);
    expect(start.has('nodejs_eventloop_lag_seconds')).toBe(true);

    // One host takes ten tasks: assigned, in flight, not yet reported.
    const a = await TestVolunteer.connect(c.url, { platform: { kind: 'node', os: 'linux', arch: 'x64' } });
    const b = await TestVolunteer.connect(c.url, { platform: { kind: 'browser' } });
    volunteers.push(a, b);
    const tasks = await a.requestTasks(10, []);
    expect(tasks).toHaveLength(10);
    const held = await scrape();
    expect(value(held, 'vg_tasks_assigned_total')).toBe(10);
    expect(value(held, 'vg_replicas_in_flight')).toBe(10);
    expect([...held.keys()].filter((k) => k.startsWith('vg_hosts_connected{'))).toHaveLength(2);
    expect(value(held, 'vg_volunteer_message_seconds_count{event="tasks.request"}')).toBeGreaterThanOrEqual(1);
    expect(value(held, 'vg_group_commit_messages_count')).toBeGreaterThanOrEqual(1);
    expect(value(held, 'vg_group_commit_seconds_sum')).toBeGreaterThan(0);

    // Reported: received and accepted, nothing judged yet at quorum 2.
    await a.report(await Promise.all(tasks.map((t) => a.compute(t))));
    const reported = await scrape();
    expect(value(reported, 'vg_results_received_total{status="accepted"}')).toBe(10);
    expect(value(reported, 'vg_replicas_in_flight')).toBe(0);
    expect(value(reported, 'vg_workunits{state="done"}')).toBe(0);
    expect(value(reported, 'vg_volunteer_message_seconds_count{event="results.report"}')).toBe(1);

    // Both hosts finish the batch: every work unit done, every result judged valid and credited.
    const done = async () => (await c.store.reports.workunitCounts(batchId)).done === 20;
    await Promise.all([a.work(done), b.work(done)]);
    await waitFor('the batch to finish', done);
    const end = await scrape();
    expect(value(end, 'vg_workunits{state="done"}')).toBe(20);
    expect(value(end, 'vg_workunits{state="active"}')).toBe(0);
    expect(value(end, 'vg_results_received_total{status="accepted"}')).toBe(40);
    expect(value(end, 'vg_tasks_assigned_total')).toBe(40);
    expect(value(end, 'vg_results_validated_total')).toBe(40);
    expect(value(end, 'vg_results_judged{verdict="valid"}')).toBe(40);
    expect(value(end, 'vg_ledger_entries')).toBe(40);
    expect(value(end, 'vg_group_commit_messages_count')).toBeGreaterThan(value(reported, 'vg_group_commit_messages_count'));
    expect([...end.entries()].filter(([k]) => k.startsWith('vg_hosts_connected{')).reduce((n, [, v]) => n + v, 0)).toBe(2);

    // A host that leaves is no longer counted.
    b.close();
    const online = async () => [...(await scrape()).entries()].filter(([k]) => k.startsWith('vg_hosts_connected{')).reduce((n, [, v]) => n + v, 0);
    for (let tries = 0; (await online()) !== 1; tries++) {
      if (tries > 200) throw new Error('the host that left is still counted');
      await new Promise((r) => setTimeout(r, 25));
    }
  });

  it('say which background jobs this instance runs: alone, all of them', async () => {
    const held = [...(await scrape()).entries()].filter(([k]) => k.startsWith('vg_lease_held{'));
    expect(held.map(([k]) => k).sort()).toEqual(
      [...['deadline-sweep', 'host-recheck', 'credit-correction', 'priority-lowering', 'output-collection', 'cancellations'], ...(TEST_BACKEND === 'postgres' ? ['abandoned-submissions', 'orphaned-hosts', 'orphaned-batches'] : [])]
        .map((job) => `vg_lease_held{job="${job}"}`)
        .sort(),
    );
    expect(held.every(([, v]) => v === 1)).toBe(true);
  });

  it('are every metric the sample Grafana dashboard queries', async () => {
    const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'deploy', 'grafana-dashboard.json');
    const dashboard = JSON.parse(readFileSync(file, 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    const queried = new Set(exprs.flatMap((e) => e.match(/\b(?:vg|nodejs|process)_[a-z0-9_]+/g) ?? []));
    expect(queried.size).toBeGreaterThan(10);
    const served = new Set([...(await scrape()).keys()].map((k) => k.split('{')[0]!));
    expect([...queried].filter((name) => !served.has(name))).toEqual([]);
  });

  it('count client errors by code, and refusals by a rate limit', async () => {
    const limited = await startTestCoordinator({ metricsPort: 0, httpRatePerIp: 1 });
    try {
      // Bursts of 5 allowed, then 429s.
      const codes = await Promise.all(Array.from({ length: 12 }, () => fetch(`${limited.url}/healthz`).then((r) => r.status)));
      const refused = codes.filter((s) => s === 429).length;
      expect(refused).toBeGreaterThan(0);
      const res = await fetch(limited.metricsUrl!);
      const text = await res.text();
      expect(text).toContain(`vg_rate_limited_total{limit="http"} ${refused}`);

      const appId = await addPrimesApp(limited);
      await submitInputs(limited, appId, [{ from: 0, to: 10 }], { minQuorum: 1, targetNresults: 1 });
      await limited.replicasReady();
      const failing = await TestVolunteer.connect(limited.url, { behaviour: 'failing' });
      volunteers.push(failing);
      const [task] = await failing.requestTasks(1, []);
      await failing.report([await failing.compute(task!)]);
      const after = await (await fetch(limited.metricsUrl!)).text();
      expect(after).toContain('vg_result_errors_total{code="app_error"} 1');
    } finally {
      await limited.dispose();
    }
  });
});
