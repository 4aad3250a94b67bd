// What each kind of app costs a volunteer beyond its own computing: the real daemon, one
// thread, runs tasks that compute next to nothing, one fresh daemon per kind. The first task's
// elapsed time is what a kind costs to start on a worker (a JavaScript module loaded into a
// compartment; a WASI program compiled and instantiated, as it is for every task; Pyodide
// loaded for a Python app, once per worker and app version); the rest
// are its cost per task; the gap between tasks is the volunteer's own (the same for every kind).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { onJsonLines } from '../common/json-lines.js';
import { EXAMPLES_DIR } from '../examples/catalog.js';
import { TRIVIAL_APP, trivialLine } from './apps.js';
import { removeDir, spawnTs, stopChild, tempDir } from './children.js';
import type { ResearchClient } from './research-client.js';
import type { Figure } from './scenario.js';
import { round } from './stats.js';

interface KindCase {
  kind: string;
  files: { name: string; content: string | Uint8Array }[];
  line: (i: number) => string;
}

const CASES: KindCase[] = [
  { kind: 'JavaScript', files: [{ name: 'main.js', content: TRIVIAL_APP }], line: trivialLine },
  // The collatz example on a range of two numbers: a 49 KB program that computes nothing much.
  { kind: 'WASI', files: [{ name: 'main.wasm', content: new Uint8Array(readFileSync(join(EXAMPLES_DIR, 'collatz', 'main.wasm'))) }], line: (i) => `{"stdin":"${i + 1} ${i + 3}","output":"json"}` },
  // TRIVIAL_APP's twin: the interpreter reset between tasks is what is left to measure.
  { kind: 'Python', files: [{ name: 'main.py', content: 'def run(input, ctx):\n    return {"n": input["n"], "square": input["n"] * input["n"]}\n' }], line: trivialLine },
];

interface LogLine {
  time: string;
  msg: string;
  [field: string]: unknown;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export async function kindCosts(url: string, research: ResearchClient, tasks: number): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const figures: Figure[] = [];
  const details: Record<string, unknown> = {};
  for (const c of CASES) {
    const appId = await research.createApp(`bench-kind-${c.kind.toLowerCase()}`, c.files);
    const batch = await research.submit(appId, `kind-${c.kind}`, tasks, c.line, { minQuorum: 1, targetNresults: 1 });
    await research.waitReplicas(batch.batchId, tasks, 60_000);
    const dataDir = tempDir('volunteer');
    const lines: LogLine[] = [];
    const daemon = spawnTs('volunteer-node/main.ts', ['--url', url, '--data-dir', dataDir, '--threads', '1', '--display', 'log'], { stdio: ['ignore', 'pipe', 'ignore'] });
    onJsonLines(daemon.stdout!, (line) => lines.push(line as LogLine));
    try {
      await research.waitDone(batch.batchId, 120_000);
    } finally {
      await stopChild(daemon, 10_000);
      removeDir(dataDir);
    }
    const runs = lines
      .filter((l) => l.msg === 'task finished')
      .map((l) => ({ end: Date.parse(l.time), elapsed: Number(l['elapsedMs']) }))
      .sort((a, b) => a.end - b.end);
    if (runs.length < 3) throw new Error(`the daemon logged ${runs.length} finished ${c.kind} tasks`);
    const rest = runs.slice(1).map((r) => r.elapsed);
    const gaps = runs.slice(1).map((r, i) => r.end - r.elapsed - runs[i]!.end);
    figures.push(
      { name: `${c.kind}: first task on a worker`, value: runs[0]!.elapsed, unit: 'ms', digits: 1 },
      { name: `${c.kind}: per task, median`, value: median(rest), unit: 'ms', digits: 2 },
    );
    details[c.kind] = { tasks: runs.length, firstTaskMs: runs[0]!.elapsed, perTaskMedianMs: round(median(rest), 2), perTaskMaxMs: Math.max(...rest), gapBetweenTasksMedianMs: round(median(gaps), 1) };
  }
  return { figures, details };
}
