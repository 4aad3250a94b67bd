// `npm run bench`: the performance benchmark (issue 7). Starts the real coordinator as a child
// process for each scenario, drives it through its real API and volunteer protocol from other
// processes over loopback, prints a table against the targets and writes every figure as JSON.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanUpAll, ROOT, stopChildrenOnSignals } from './children.js';
import { durabilitySetting, NON_PRODUCTION_REASON } from './coordinator-process.js';
import { machine, medians, table, type ScenarioOutcome } from './report.js';
import type { Scenario, Shared } from './scenario.js';
import { ceiling } from './scenarios/ceiling.js';
import { connections } from './scenarios/connections.js';
import { efficiency } from './scenarios/efficiency.js';
import { ingest } from './scenarios/ingest.js';
import { latency } from './scenarios/latency.js';
import { peer } from './scenarios/peer.js';
import { throughput } from './scenarios/throughput.js';
import { DEFAULT_LOAD } from './scenarios/load.js';
import { cluster, DEFAULT_CLUSTER_SIZES } from './scenarios/cluster.js';

// In this order: the ceiling and the throughput set what the latency run paces itself by, and
// the peer (BullMQ) runs right after the throughput it is compared with, so that with --runs N
// the two alternate.
const SCENARIOS: Scenario[] = [ceiling, throughput, peer, latency, connections, ingest, efficiency, cluster];

const USAGE = `Usage: npm run bench -- [options]

  --runs N           run every scenario N times and report the median (default 1; the targets are for 3)
  --quick            a small smoke run (about two minutes): fewer work units and volunteers
  --scenario NAME    run only this scenario (repeatable): ${SCENARIOS.map((s) => s.name).join(', ')}
                     (peer runs throughput too: it reports the ratio measured in the same run)
  --out FILE         where to write the JSON results (default bench/bench-results.json)
  --hosts N          simulated hosts at full load (default ${DEFAULT_LOAD.hosts}, over ${DEFAULT_LOAD.processes} processes)
  --tasks-per-message N  tasks per tasks.request and results per results.report at full load (default ${DEFAULT_LOAD.tasksPerMessage}, at most 64)
  --backend NAME     the database of the scenarios' coordinators: sqlite (default: one coordinator on its
                     embedded file) or postgres (a fresh database on VG_BENCH_POSTGRES_URL, default
                     postgres://postgres@127.0.0.1:5432/postgres, and a redis-server of the benchmark's own);
                     throughput then also runs SQLite in the same scenario, as the baseline
  --coordinators N   coordinator instances sharing that database (default 1; more need --backend postgres);
                     simulated hosts are spread over them
  --cluster-sizes L  the cluster scenario's instance counts on PostgreSQL, e.g. 1,2,4 (the default)
  --profile DIR      each coordinator writes a V8 CPU profile into DIR/<scenario>-run<N>/
                     (summarise one with: npx tsx bench/profile-summary.ts FILE.cpuprofile)
  --help             this text
`;

function options() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '1' },
      quick: { type: 'boolean', default: false },
      scenario: { type: 'string', multiple: true },
      out: { type: 'string', default: join(ROOT, 'bench', 'bench-results.json') },
      profile: { type: 'string' },
      hosts: { type: 'string', default: String(DEFAULT_LOAD.hosts) },
      'tasks-per-message': { type: 'string', default: String(DEFAULT_LOAD.tasksPerMessage) },
      backend: { type: 'string', default: 'sqlite' },
      coordinators: { type: 'string', default: '1' },
      'cluster-sizes': { type: 'string', default: DEFAULT_CLUSTER_SIZES.join(',') },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1 || runs > 20) throw new Error(`--runs takes a whole number from 1 to 20, not "${values.runs}"`);
  const hosts = Number(values.hosts);
  if (!Number.isInteger(hosts) || hosts < 2 || hosts > 1000) throw new Error(`--hosts takes a whole number from 2 to 1000, not "${values.hosts}"`);
  const perMessage = Number(values['tasks-per-message']);
  if (!Number.isInteger(perMessage) || perMessage < 1 || perMessage > 64) throw new Error(`--tasks-per-message takes a whole number from 1 to 64, not "${values['tasks-per-message']}"`);
  const backend = values.backend;
  if (backend !== 'sqlite' && backend !== 'postgres') throw new Error(`--backend takes sqlite or postgres, not "${backend}"`);
  const coordinators = Number(values.coordinators);
  if (!Number.isInteger(coordinators) || coordinators < 1 || coordinators > 8) throw new Error(`--coordinators takes a whole number from 1 to 8, not "${values.coordinators}"`);
  if (coordinators > 1 && backend === 'sqlite') throw new Error('--coordinators above 1 needs --backend postgres: instances share one PostgreSQL database, never one SQLite file');
  const clusterSizes = values['cluster-sizes'].split(',').map((x) => Number(x.trim()));
  if (clusterSizes.length === 0 || clusterSizes.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) throw new Error(`--cluster-sizes takes instance counts from 1 to 8 separated by commas, not "${values['cluster-sizes']}"`);
  const names = values.scenario ?? [];
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; there are ${SCENARIOS.map((s) => s.name).join(', ')}`);
  // A scenario's needs run too, in the list's order (which puts them first).
  const wanted = new Set(names);
  for (const s of SCENARIOS) if (wanted.has(s.name)) for (const n of s.needs ?? []) wanted.add(n);
  return {
    help: values.help,
    runs,
    quick: values.quick,
    scenarios: names.length > 0 ? SCENARIOS.filter((s) => wanted.has(s.name)) : SCENARIOS,
    out: resolve(values.out),
    profileDir: values.profile ? resolve(values.profile) : undefined,
    load: { ...DEFAULT_LOAD, hosts, tasksPerMessage: perMessage },
    deployment: { backend, coordinators } as const,
    clusterSizes: [...new Set(clusterSizes)].sort((a, b) => a - b),
  };
}

async function main(): Promise<number> {
  let o: ReturnType<typeof options>;
  try {
    o = options();
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const outcomes: ScenarioOutcome[] = o.scenarios.map((s) => ({ scenario: s.name, summary: s.summary, runs: [] }));
  const notes = new Set<string>([`coordinator flags not as in production: ${NON_PRODUCTION_REASON}`, `durability as the coordinator sets it: ${durabilitySetting()}`]);
  const started = Date.now();
  // The machine may be shared: what else ran shows in the load average, kept beside the figures.
  const loads: { run: number; scenario: string; before: number; after: number }[] = [];
  const load1 = () => Math.round(loadavg()[0]! * 100) / 100;

  for (let run = 1; run <= o.runs; run++) {
    // Figures of one run feed later scenarios of the same run only.
    const shared: Shared = {};
    for (const [i, s] of o.scenarios.entries()) {
      log(`run ${run}/${o.runs}: ${s.name} (${s.summary})`);
      const t0 = Date.now();
      const loadBefore = load1();
      try {
        const result = await s.run({ quick: o.quick, load: o.load, deployment: o.deployment, clusterSizes: o.clusterSizes, run, shared, log, ...(o.profileDir ? { profileDir: o.profileDir } : {}) });
        outcomes[i]!.runs.push(result);
        for (const n of result.notes ?? []) notes.add(`${s.name}: ${n}`);
        log(`  ${result.figures.map((f) => `${f.name} ${Number.isFinite(f.value) ? f.value.toFixed(f.digits ?? 1) : 'n/a'} ${f.unit}`).join('; ')} (${Math.round((Date.now() - t0) / 1000)} s, load average ${loadBefore} → ${load1()})`);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        outcomes[i]!.runs.push({ error: message });
        log(`  failed: ${message}`);
      }
      loads.push({ run, scenario: s.name, before: loadBefore, after: load1() });
    }
  }

  const seen = loads.flatMap((l) => [l.before, l.after]);
  notes.add(`load average (1 min, ${machine().cpuCount} cores) at the scenarios' starts and ends: ${Math.min(...seen)} to ${Math.max(...seen)}, the benchmark's own processes and any other work on the machine`);
  process.stdout.write(`\n${table(outcomes, o.runs)}\n\n${[...notes].map((n) => `* ${n}`).join('\n')}\n`);
  const doc = {
    machine: machine(),
    options: { runs: o.runs, quick: o.quick, load: o.load, deployment: o.deployment, clusterSizes: o.clusterSizes, scenarios: o.scenarios.map((s) => s.name), profileDir: o.profileDir ?? null },
    durationS: Math.round((Date.now() - started) / 1000),
    durability: durabilitySetting(),
    loadAverages: loads,
    notes: [...notes],
    scenarios: outcomes.map((out) => ({ ...out, medians: medians(out) })),
  };
  writeFileSync(o.out, `${JSON.stringify(doc, null, 2)}\n`);
  process.stdout.write(`\nwrote ${o.out}\n`);
  const failed = outcomes.some((out) => out.runs.some((r) => 'error' in r));
  return failed ? 1 : 0;
}

stopChildrenOnSignals();
let code = 1;
try {
  code = await main();
} catch (e) {
  process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
} finally {
  await cleanUpAll();
}
process.exit(code);
