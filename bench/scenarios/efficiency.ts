// Volunteer efficiency: the real Node daemon runs tasks of about 100 ms of compute, and we
// measure the share of each thread's wall time that went to app code: the elapsedMs each
// result reports (read back through the API, and in the daemon's log with when it ended).
// Then what each kind of app (JavaScript, WASI, Python) costs to start on a worker and per task
// (bench/kind-costs.ts).
import { availableParallelism } from 'node:os';
import { onJsonLines } from '../../common/json-lines.js';
import { BUSY_APP, busyLine, calibrateBusyLoop } from '../apps.js';
import { kindCosts } from '../kind-costs.js';
import { removeDir, spawnTs, stopChild, tempDir } from '../children.js';
import { round, sum } from '../stats.js';
import { withCoordinator, type Scenario } from '../scenario.js';

const TASK_MS = 100;

interface LogLine {
  time: string;
  msg: string;
  [field: string]: unknown;
}

export const efficiency: Scenario = {
  name: 'efficiency',
  summary: `share of each Node volunteer thread's wall time spent in app code, ${TASK_MS} ms tasks`,
  async run(ctx) {
    const threads = availableParallelism();
    const perThread = ctx.quick ? 20 : 60;
    const workunits = threads * perThread;
    const { iterations, measuredMs } = calibrateBusyLoop(TASK_MS);
    return withCoordinator(ctx, 'efficiency', async (coordinator, research) => {
      const appId = await research.createApp('bench-busy', [{ name: 'main.js', content: BUSY_APP }]);
      // Quorum 1: one daemon is one host, and a host never gets two replicas of a work unit.
      const batch = await research.submit(appId, 'busy', workunits, busyLine(iterations), { minQuorum: 1, targetNresults: 1 });
      await research.waitReplicas(batch.batchId, workunits, 60_000);

      const dataDir = tempDir('volunteer');
      const lines: LogLine[] = [];
      const spawnedAt = Date.now();
      const daemon = spawnTs('volunteer-node/main.ts', ['--url', coordinator.url, '--data-dir', dataDir, '--threads', String(threads), '--display', 'log'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      onJsonLines(daemon.stdout!, (line) => lines.push(line as LogLine));
      let stderr = '';
      daemon.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
      try {
        await research.waitDone(batch.batchId, ctx.quick ? 120_000 : 300_000);
      } catch (e) {
        throw new Error(`${(e as Error).message}; the daemon said: ${stderr.slice(-500)} ${lines.slice(-3).map((l) => l.msg).join(' | ')}`);
      } finally {
        await stopChild(daemon, 10_000);
        removeDir(dataDir);
      }

      // Each task's run on its thread, from the log: it ended when "task finished" was logged,
      // and started elapsedMs before (the daemon times it on the same clock, at the same moment).
      const runs = lines
        .filter((l) => l.msg === 'task finished')
        .map((l) => ({ end: Date.parse(l.time), start: Date.parse(l.time) - Number(l['elapsedMs']), elapsed: Number(l['elapsedMs']), cpu: Number(l['cpuTimeMs']) }));
      if (runs.length < threads + 1) throw new Error(`the daemon logged ${runs.length} finished tasks`);
      const starts = runs.map((r) => r.start).sort((a, b) => a - b);
      // Steady state: from when every thread is computing (sandbox workers take a while to
      // boot) to when the last task started (after it, threads run out of work, not time).
      const from = starts[threads - 1]!;
      const to = starts[starts.length - 1]!;
      const overlap = (r: { start: number; end: number }) => Math.max(0, Math.min(r.end, to) - Math.max(r.start, from));
      const steadyShare = sum(runs.map(overlap)) / (threads * (to - from));

      // The brief's figure, from what the results say (read back through the API), over the
      // whole run: first task handed to a thread to the last one finished.
      const elapsed: number[] = [];
      const cpu: number[] = [];
      for (const id of await research.workunitIds(batch.batchId)) {
        for (const r of (await research.workunit(id)).replicas) {
          if (r.outcome !== 'success') continue;
          elapsed.push(r.elapsedMs ?? 0);
          cpu.push(r.cpuTimeMs ?? 0);
        }
      }
      const firstStarted = Math.min(...lines.filter((l) => l.msg === 'task started').map((l) => Date.parse(l.time)));
      const wholeSpanMs = Math.max(...runs.map((r) => r.end)) - firstStarted;
      const startedTwice = lines.filter((l) => l.msg === 'task started').length - new Set(lines.filter((l) => l.msg === 'task started').map((l) => l['taskId'])).size;
      const kinds = await kindCosts(coordinator.url, research, ctx.quick ? 15 : 40);
      return {
        figures: [
          { name: 'app share of thread time, steady', value: 100 * steadyShare, unit: '%', target: { op: '>=', value: 95 }, digits: 1 },
          { name: 'app share of thread time, whole run', value: (100 * sum(elapsed)) / (threads * wholeSpanMs), unit: '%', digits: 1 },
          { name: 'app CPU share, whole run', value: (100 * sum(cpu)) / (threads * wholeSpanMs), unit: '%', digits: 1 },
          { name: 'mean task elapsed', value: sum(elapsed) / Math.max(1, elapsed.length), unit: 'ms', digits: 1 },
          { name: 'gap between tasks, steady', value: ((1 - steadyShare) * threads * (to - from)) / Math.max(1, runs.filter((r) => r.start >= from && r.start < to).length), unit: 'ms', digits: 1 },
          ...kinds.figures,
        ],
        details: {
          threads,
          tasks: elapsed.length,
          calibration: { iterations, measuredMs: round(measuredMs, 1), targetMs: TASK_MS },
          steadyWindowMs: to - from,
          wholeSpanMs,
          firstTaskStartedAfterSpawnMs: firstStarted - spawnedAt,
          sandboxBootMs: from - firstStarted,
          sumElapsedMs: sum(elapsed),
          sumElapsedInLogMs: sum(runs.map((r) => r.elapsed)),
          sumCpuMs: sum(cpu),
          tasksStartedTwice: startedTwice,
          warnings: lines.filter((l) => /warn|error/.test(String(l['level']))).map((l) => l.msg).slice(0, 5),
          kinds: kinds.details,
        },
        notes:
          startedTwice > 0
            ? [`the daemon started ${startedTwice} task(s) twice on two threads (TaskEngine.dispatch re-entered through the pool's onIdle before the task was marked running): one thread's first task is wasted`]
            : [],
      };
    });
  },
};
