// Counts for the page (tasks completed, errors, projects computed for), kept in localStorage:
// they describe this browser's history and are for display only. Credit comes from receipts.
import { z } from 'zod';

const StatsSchema = z.object({
  completed: z.number().int().nonnegative().catch(0),
  errors: z.number().int().nonnegative().catch(0),
  projects: z.record(z.string(), z.object({ apps: z.array(z.string()), tasks: z.number().int().nonnegative() })).catch({}),
});
export type Stats = z.infer<typeof StatsSchema>;

const KEY = 'volunteer-grid.stats';

export function loadStats(): Stats {
  try {
    return StatsSchema.parse(JSON.parse(localStorage.getItem(KEY) ?? '{}'));
  } catch {
    return StatsSchema.parse({});
  }
}

export function saveStats(s: Stats): void {
  try {
    localStorage.setItem(KEY, JSON.stringify(s));
  } catch {
    // display only
  }
}

/** Counts a reported result; `task` is unknown for results journaled before a reload. */
export function countTask(s: Stats, task: { project: string; app: string } | undefined, ok: boolean): void {
  if (ok) s.completed++;
  else s.errors++;
  if (!task || !ok) return;
  const p = (s.projects[task.project] ??= { apps: [], tasks: 0 });
  if (!p.apps.includes(task.app)) p.apps.push(task.app);
  p.tasks++;
}
