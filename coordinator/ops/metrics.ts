// The coordinator's metrics in the Prometheus text format (prom-client). Counted at the edges —
// each volunteer message as it is answered, each refusal by a rate limit, each group commit — and
// read at scrape time from what the database already keeps (work units per state, verdicts, the
// ledger's length), so nothing in the store or the work layer knows about them. Served only on
// their own listen address (--metrics-port), never beside the public routes.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Reply } from '../../protocol/messages.js';
import type { DbStats } from './db-stats.js';

export interface MetricSources {
  /** Hosts with an authenticated connection, by platform class. */
  hostsByPlatform(): Map<string, number>;
  /** The database's counts (undefined when it cannot be read now: the gauges keep their last values). */
  dbStats(): Promise<DbStats | undefined>;
  /** Each background job, and whether this instance holds its lease (runs it) now. */
  leasesHeld?(): Map<string, boolean>;
}

export type Refusal = 'http' | 'connect' | 'message';

/** Client error codes are the volunteers' words: at most this many distinct ones get a label of their own. */
const MAX_ERROR_CODES = 32;
const ERROR_CODE = /^[a-z][a-z0-9_]{0,39}$/;

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class CoordinatorMetrics {
  readonly registry = new Registry();
  private readonly tasksAssigned: Counter;
  private readonly resultsReceived: Counter<'status'>;
  private readonly resultErrors: Counter<'code'>;
  private readonly messageSeconds: Histogram<'event'>;
  private readonly refusals: Counter<'limit'>;
  private readonly commitSize: Histogram;
  private readonly commitSeconds: Histogram;
  private readonly errorCodes = new Set<string>();

  constructor(sources: MetricSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'vg_hosts_connected',
      help: 'Hosts with an authenticated volunteer connection, by platform class',
      labelNames: ['platform'],
      registers,
      collect() {
        this.reset();
        for (const [platform, n] of sources.hostsByPlatform()) this.set({ platform }, n);
      },
    });
    new Gauge({
      name: 'vg_lease_held',
      help: 'Whether this instance holds the lease of a background job, and so runs it (1) or not (0); of several instances, one holds each',
      labelNames: ['job'],
      registers,
      collect() {
        for (const [job, held] of sources.leasesHeld?.() ?? []) this.set({ job }, held ? 1 : 0);
      },
    });
    this.tasksAssigned = new Counter({ name: 'vg_tasks_assigned_total', help: 'Tasks sent to hosts in answer to tasks.request', registers });
    this.resultsReceived = new Counter({
      name: 'vg_results_received_total',
      help: 'Results reported by hosts, by how the coordinator acknowledged them (accepted, duplicate, rejected)',
      labelNames: ['status'],
      registers,
    });
    this.resultErrors = new Counter({
      name: 'vg_result_errors_total',
      help: `Results reported as client errors, by error code (codes past the first ${MAX_ERROR_CODES} distinct ones count as "other")`,
      labelNames: ['code'],
      registers,
    });
    this.messageSeconds = new Histogram({
      name: 'vg_volunteer_message_seconds',
      help: 'Time from a volunteer message to its answer, commit included (tasks.request: assignment; results.report: report)',
      labelNames: ['event'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.refusals = new Counter({
      name: 'vg_rate_limited_total',
      help: 'Refused by a rate limit: http (requests per address), connect (Socket.IO connections per address), message (volunteer messages)',
      labelNames: ['limit'],
      registers,
    });
    this.commitSize = new Histogram({
      name: 'vg_group_commit_messages',
      help: 'Volunteer messages that shared one durable commit',
      buckets: [1, 2, 4, 8, 16, 32, 64],
      registers,
    });
    this.commitSeconds = new Histogram({
      name: 'vg_group_commit_seconds',
      help: "A group commit's transaction, from its first message to the end of its commit (the fsync is most of it)",
      buckets: LATENCY_BUCKETS,
      registers,
    });

    // Series that exist from the start (at 0), so rates and dashboards have them before the first event.
    for (const limit of ['http', 'connect', 'message'] satisfies Refusal[]) this.refusals.inc({ limit }, 0);
    for (const status of ['accepted', 'duplicate', 'rejected']) this.resultsReceived.inc({ status }, 0);
    this.resultErrors.inc({ code: 'other' }, 0);

    // Read from the database at scrape time, one read for all of them: prom-client collects
    // every metric at once, and those collected together share the read in flight.
    let stats: DbStats | undefined;
    // Verdicts are reached inside the work layer, by whichever result completes a quorum: counted
    // here as the growth of the totals the database keeps, from this start on.
    const validated = new Counter({ name: 'vg_results_validated_total', help: 'Results judged valid (since this start)', registers, collect: () => refresh() });
    const invalid = new Counter({ name: 'vg_results_invalid_total', help: 'Results judged invalid (since this start)', registers, collect: () => refresh() });
    let verdictsSeen: DbStats['results'] | undefined;
    const judged = (r: DbStats['results']) => {
      // The first read is the baseline; a withdrawn verdict lowers a total, so growth is counted from the highest seen.
      if (verdictsSeen) {
        if (r.valid > verdictsSeen.valid) validated.inc(r.valid - verdictsSeen.valid);
        if (r.invalid > verdictsSeen.invalid) invalid.inc(r.invalid - verdictsSeen.invalid);
      }
      verdictsSeen = { valid: Math.max(r.valid, verdictsSeen?.valid ?? 0), invalid: Math.max(r.invalid, verdictsSeen?.invalid ?? 0), clientError: r.clientError };
    };
    let reading: Promise<void> | undefined;
    const refresh = (): Promise<void> =>
      (reading ??= sources
        .dbStats()
        .then((s) => {
          if (!s) return;
          stats = s;
          judged(s.results);
        })
        .finally(() => (reading = undefined)));
    // The baseline: what the database held when the metrics began.
    void refresh();
    new Gauge({
      name: 'vg_workunits',
      help: 'Work units by state',
      labelNames: ['state'],
      registers,
      async collect() {
        await refresh();
        if (!stats) return;
        for (const [state, n] of Object.entries(stats.workunits)) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'vg_replicas_in_flight',
      help: 'Replicas sent to a host and not yet reported',
      registers,
      async collect() {
        await refresh();
        if (stats) this.set(stats.replicasInFlight);
      },
    });
    new Gauge({
      name: 'vg_ledger_entries',
      help: 'Entries in the credit ledger',
      registers,
      async collect() {
        await refresh();
        if (stats) this.set(stats.ledgerEntries);
      },
    });
    new Gauge({
      name: 'vg_results_judged',
      help: 'Results kept as valid, invalid or client error now (all time)',
      labelNames: ['verdict'],
      registers,
      async collect() {
        await refresh();
        if (!stats) return;
        const r = stats.results;
        this.set({ verdict: 'valid' }, r.valid);
        this.set({ verdict: 'invalid' }, r.invalid);
        this.set({ verdict: 'client_error' }, r.clientError);
      },
    });
  }

  /** A volunteer message answered: what it asked, what it was told, how long that took. */
  volunteerMessage(event: string, payload: unknown, reply: Reply<object>, seconds: number): void {
    this.messageSeconds.observe({ event }, seconds);
    if (!reply.ok) {
      if (reply.error.code === 'rate_limited') this.refusals.inc({ limit: 'message' });
      return;
    }
    if (event === 'tasks.request') {
      const tasks = (reply as { tasks?: unknown[] }).tasks;
      if (tasks) this.tasksAssigned.inc(tasks.length);
    } else if (event === 'results.report') {
      for (const ack of (reply as { results?: { status: string }[] }).results ?? []) this.resultsReceived.inc({ status: ack.status });
      for (const r of (payload as { results?: { outcome?: string; error?: { code?: string } }[] } | undefined)?.results ?? []) {
        if (r.outcome === 'error') this.resultErrors.inc({ code: this.errorLabel(r.error?.code) });
      }
    }
  }

  refused(limit: Refusal): void {
    this.refusals.inc({ limit });
  }

  groupCommitted(messages: number, seconds: number): void {
    this.commitSize.observe(messages);
    this.commitSeconds.observe(seconds);
  }

  private errorLabel(code: string | undefined): string {
    if (code === undefined || !ERROR_CODE.test(code)) return 'other';
    if (this.errorCodes.has(code)) return code;
    if (this.errorCodes.size >= MAX_ERROR_CODES) return 'other';
    this.errorCodes.add(code);
    return code;
  }
}

/**
 * Serves GET /metrics, and nothing else, on its own address: metrics say how busy the coordinator
 * is and who connects, not for the public (bind it to loopback or a private network).
 */
export async function serveMetrics(metrics: CoordinatorMetrics, port: number, host: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return { server, url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics` };
}
