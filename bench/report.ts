// The results: a table for people (scenario, figure, median of the runs, each run, target,
// pass/fail) and a JSON document with the machine, every figure of every run and the medians.
import { cpus, totalmem } from 'node:os';
import { passes, type Figure, type ScenarioRun, type Target } from './scenario.js';
import { median } from './stats.js';

export interface ScenarioOutcome {
  scenario: string;
  summary: string;
  /** One per run; a run that failed has its error instead. */
  runs: (ScenarioRun | { error: string })[];
}

export interface MedianFigure {
  name: string;
  unit: string;
  median: number;
  perRun: number[];
  target?: Target;
  pass?: boolean;
  digits: number;
}

export function machine(): Record<string, unknown> {
  const list = cpus();
  return {
    cpuModel: list[0]?.model ?? 'unknown',
    cpuCount: list.length,
    memoryMb: Math.round(totalmem() / 1024 / 1024),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    date: new Date().toISOString(),
  };
}

/** Each figure of a scenario with its median over the runs that produced it. */
export function medians(outcome: ScenarioOutcome): MedianFigure[] {
  const byName = new Map<string, Figure[]>();
  for (const run of outcome.runs) {
    if ('error' in run) continue;
    for (const f of run.figures) byName.set(f.name, [...(byName.get(f.name) ?? []), f]);
  }
  return [...byName.entries()].map(([name, figures]) => {
    const first = figures[0]!;
    const m = median(figures.map((f) => f.value));
    const target = first.target;
    const pass = target ? passes({ ...first, value: m }) : undefined;
    return { name, unit: first.unit, median: m, perRun: figures.map((f) => f.value), digits: first.digits ?? 1, ...(target ? { target } : {}), ...(pass === undefined ? {} : { pass }) };
  });
}

const fmt = (v: number, digits: number) => (Number.isFinite(v) ? v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a');

export function table(outcomes: ScenarioOutcome[], runs: number): string {
  const rows: string[][] = [['scenario', 'figure', runs > 1 ? `median of ${runs}` : 'value', ...(runs > 1 ? ['runs'] : []), 'target', 'result']];
  for (const o of outcomes) {
    const failed = o.runs.filter((r): r is { error: string } => 'error' in r);
    for (const f of medians(o)) {
      rows.push([
        o.scenario,
        f.name,
        `${fmt(f.median, f.digits)} ${f.unit}`,
        ...(runs > 1 ? [f.perRun.map((v) => fmt(v, f.digits)).join(' / ')] : []),
        f.target ? `${f.target.op === '>=' ? '≥' : '≤'} ${fmt(f.target.value, 0)} ${f.unit}` : '',
        f.pass === undefined ? '' : f.pass ? 'PASS' : 'FAIL',
      ]);
    }
    for (const e of failed) rows.push([o.scenario, 'run failed', e.error.split('\n')[0]!.slice(0, 100), ...(runs > 1 ? [''] : []), '', 'FAIL']);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...r[c]!].length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  return [line(rows[0]!), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
