// What a scenario is and what it gives back: named figures, each with its target when the
// issue sets one, plus details for the JSON file. Also the one way scenarios get a coordinator.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ADMIN_PASSWORD } from './coordinator-process.js';
import { Deployment, type DeploymentOptions } from './deployment.js';
import { ResearchClient } from './research-client.js';
import type { Load } from './scenarios/load.js';

export interface Target {
  /** The figure passes when `value op target`. */
  op: '>=' | '<=';
  value: number;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: Target;
  /** Decimal places to print. */
  digits?: number;
}

export interface ScenarioRun {
  figures: Figure[];
  /** Everything else worth keeping in the JSON file. */
  details: Record<string, unknown>;
  /** Said once under the table, e.g. what was not as in production. */
  notes?: string[];
}

export interface Scale {
  quick: boolean;
}

/** Figures one scenario measured that later ones of the same run use. */
export interface Shared {
  /** Validated tasks per second, end to end (throughput scenario). */
  maxTasksPerSecond?: number;
  /** Empty Socket.IO request/ack round trips per second (ceiling scenario). */
  ceilingRoundTripsPerSecond?: number;
  /** Tasks per second that the throughput run's messages carry with no application behind them (ceiling scenario). */
  ceilingTasksPerSecond?: number;
  /** CPU per validated task of each process of the throughput run, ms (the peer scenario compares with them). */
  throughputCpuMsPerTask?: { coordinator: number; volunteers: number };
}

export interface ScenarioContext {
  quick: boolean;
  /** How hosts drive the coordinator at full load. */
  load: Load;
  run: number;
  shared: Shared;
  /** When set, each coordinator writes a V8 CPU profile under this folder. */
  profileDir?: string;
  /** What scenarios run against (--backend, --coordinators): one SQLite coordinator unless told. */
  deployment: Omit<DeploymentOptions, 'cpuProfileDir'>;
  /** The cluster scenario's instance counts (--cluster-sizes). */
  clusterSizes: number[];
  log(line: string): void;
}

export interface Scenario {
  name: string;
  summary: string;
  /** Scenarios whose figures this one reads from `Shared`: run before it in each run, even when not asked for. */
  needs?: string[];
  run(ctx: ScenarioContext): Promise<ScenarioRun>;
}

export function passes(f: Figure): boolean | undefined {
  if (!f.target || !Number.isFinite(f.value)) return f.target ? false : undefined;
  return f.target.op === '>=' ? f.value >= f.target.value : f.value <= f.target.value;
}

/**
 * Runs `fn` against a fresh deployment (the context's, unless `deployment` says otherwise),
 * logged in as its admin on its first instance, and stops it however `fn` ends.
 */
export async function withCoordinator<T>(
  ctx: ScenarioContext,
  scenario: string,
  fn: (coordinator: Deployment, research: ResearchClient) => Promise<T>,
  deployment: Omit<DeploymentOptions, 'cpuProfileDir'> = ctx.deployment,
): Promise<T> {
  let cpuProfileDir: string | undefined;
  if (ctx.profileDir) {
    cpuProfileDir = join(ctx.profileDir, `${scenario}-run${ctx.run}`);
    mkdirSync(cpuProfileDir, { recursive: true });
  }
  const coordinator = await Deployment.start({ ...deployment, ...(cpuProfileDir ? { cpuProfileDir } : {}) });
  try {
    const research = await ResearchClient.login(coordinator.url, 'admin', ADMIN_PASSWORD);
    const result = await fn(coordinator, research);
    if (!coordinator.running) throw new Error(`a coordinator died during the scenario:\n${coordinator.problems().slice(0, 5).join('\n')}`);
    return result;
  } finally {
    await coordinator.stop();
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
