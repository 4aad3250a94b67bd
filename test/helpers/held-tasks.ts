// Credit pays no more CPU time than the coordinator saw a task out (coordinator/work/credit.ts,
// creditableCpuMs), and a test's volunteers answer at once: a test whose volunteers say they
// computed for minutes sets their tasks' send time back, as if they had held them that long.
import type { Database } from 'better-sqlite3';

/** As if the coordinator had sent these tasks `ms` earlier than it did (their deadline and hold time with it). */
export function sentEarlier(db: Database, tasks: { taskId: number }[], ms: number): void {
  const setBack = db.prepare('UPDATE replicas SET sent_at = sent_at - @ms, deadline = deadline - @ms, hold_until = hold_until - @ms WHERE id = @id');
  for (const t of tasks) setBack.run({ ms, id: t.taskId });
}
