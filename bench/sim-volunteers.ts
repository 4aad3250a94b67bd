// A process of simulated volunteers (run as a child of bench/main.ts): connects many hosts,
// each with its own key and connection, then works as told and reports its figures over IPC.
// Usage: node --import tsx bench/sim-volunteers.ts '<SimConfig as JSON>'
import type { UnsignedResult } from '../protocol/messages.js';
import { MAX_RESULTS_PER_REPORT } from '../protocol/limits.js';
import { SimHost } from './sim-host.js';
import { emptySimStats, type FromSim, type Samples, type SimConfig, type SimStats, type ToSim, type WorkMode } from './sim-messages.js';

const send = (m: FromSim) => process.send?.(m);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MAX_ERRORS_KEPT = 5;

const config = JSON.parse(process.argv[2] ?? '{}') as SimConfig;
if (!process.send) {
  process.stderr.write('bench/sim-volunteers.ts runs as a child of bench/main.ts (it needs an IPC channel)\n');
  process.exit(2);
}
// The benchmark is gone: nothing left to report to.
process.on('disconnect', () => process.exit(0));

const urls = config.urls ?? [config.url];
const hosts: SimHost[] = [];
/** The instance each host is on now, as an index into urls. */
const instanceOf = new Map<SimHost, number>();
let stopping = false;
let working: Promise<void>[] = [];
const stats = emptySimStats();
let cpuAtStart = process.cpuUsage();


function noteError(e: unknown): void {
  stats.errorCount++;
  if (stats.errors.length < MAX_ERRORS_KEPT) stats.errors.push(e instanceof Error ? e.message : String(e));
}

async function connectAll(): Promise<void> {
  const started = Date.now();
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < config.hosts) {
      const i = next++;
      const host = new SimHost(`${config.namePrefix}-${i}`, config.verifyEvery);
      try {
        await host.connect(urls[i % urls.length]!);
        hosts.push(host);
        instanceOf.set(host, i % urls.length);
      } catch (e) {
        failed++;
        host.close();
        if (errors.length < MAX_ERRORS_KEPT) errors.push((e as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, config.connectConcurrency) }, worker));
  send({ type: 'ready', connected: hosts.length, failed, connectMs: Date.now() - started, errors, rssBytes: process.memoryUsage().rss });
}

/** One request → compute → report cycle; false when there was no work. */
async function cycle(host: SimHost, count: number): Promise<boolean> {
  const at = Date.now();
  const t0 = performance.now();
  const tasks = await host.request(count);
  record(stats.requests, at, performance.now() - t0, tasks.length);
  if (tasks.length === 0) {
    stats.empty++;
    return false;
  }
  stats.tasks += tasks.length;
  const results: UnsignedResult[] = tasks.map((t) => host.compute(t));
  for (let i = 0; i < results.length; i += MAX_RESULTS_PER_REPORT) {
    const chunk = results.slice(i, i + MAX_RESULTS_PER_REPORT);
    const rAt = Date.now();
    const r0 = performance.now();
    const acks = await host.report(chunk);
    const accepted = acks.filter((a) => a.status === 'accepted').length;
    record(stats.reports, rAt, performance.now() - r0, accepted);
    stats.accepted += accepted;
    stats.rejected += acks.length - accepted;
    const rejection = acks.find((a) => a.status === 'rejected');
    if (rejection) noteError(`result of task ${rejection.taskId} rejected: ${rejection.error?.code ?? '?'}`);
  }
  return true;
}

function record(s: Samples, at: number, ms: number, n: number): void {
  s.at.push(at);
  s.ms.push(Math.round(ms * 1000) / 1000);
  s.n.push(n);
}

async function work(host: SimHost, mode: WorkMode): Promise<void> {
  // Paced hosts start spread over one interval, so their requests do not arrive in bursts.
  const intervalMs = mode.kind === 'paced' ? (mode.count / mode.tasksPerSecondPerHost) * 1000 : 0;
  let next = performance.now() + Math.random() * intervalMs;
  let idleMs = 10;
  if (intervalMs > 0) await sleep(next - performance.now());
  while (!stopping && (host.connected || urls.length > 1)) {
    try {
      if (!host.connected) {
        await failOver(host);
        continue;
      }
      const got = await cycle(host, mode.count);
      if (got && host.lostAt !== undefined) {
        stats.failoverMs.push(Date.now() - host.lostAt);
        host.lostAt = undefined;
      }
      // A host that gets nothing asks again soon (the documented retryAfterMs, 10 s, would
      // only measure idleness), backing off so idle hosts do not load the coordinator.
      if (!got) {
        await sleep(idleMs);
        idleMs = Math.min(idleMs * 2, 200);
        continue;
      }
      idleMs = 10;
    } catch (e) {
      noteError(e);
      await sleep(100);
    }
    if (intervalMs > 0) {
      next += intervalMs;
      const now = performance.now();
      // Behind schedule by more than a cycle: start again from now instead of bursting.
      if (next < now - intervalMs) next = now;
      if (next > now) await sleep(next - now);
    }
  }
}

/** Moves a host whose connection dropped to the next instance that takes it. */
async function failOver(host: SimHost): Promise<void> {
  host.lostAt ??= Date.now();
  for (let k = 1; k <= urls.length && !stopping; k++) {
    const i = (instanceOf.get(host)! + k) % urls.length;
    try {
      await host.connect(urls[i]!);
      instanceOf.set(host, i);
      return;
    } catch {
      host.close();
    }
  }
  // None answered: try again shortly (the reference clients back off the same way).
  await sleep(200);
}

process.on('message', (m: ToSim) => {
  switch (m.type) {
    case 'work':
      stopping = false;
      Object.assign(stats, emptySimStats());
      cpuAtStart = process.cpuUsage();
      working = hosts.map((h) => work(h, m.mode));
      break;
    case 'stop':
      stopping = true;
      void Promise.all(working).then(() => {
        const cpu = process.cpuUsage(cpuAtStart);
        stats.cpuMs = (cpu.user + cpu.system) / 1000;
        send({ type: 'stats', stats });
      });
      break;
    case 'exit':
      for (const h of hosts) h.close();
      process.exit(0);
  }
});

connectAll().catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
