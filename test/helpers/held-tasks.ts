// Credit pays no more CPU time than the coordinator saw a task out (coordinator/work/credit.ts,
// creditableCpuMs), and a test's volunteers answer at once: a test whose volunteers say they
// computed for minutes sets their tasks' send time back, as if they had held them that long.
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';

/** As if the coordinator had sent these tasks `ms` earlier than it did (their deadline and hold time with it), on either backend. */
export async function sentEarlier(sql: SqlExecutor, tasks: { taskId: number }[], ms: number): Promise<void> {
  for (const t of tasks) {
    await sql.run('UPDATE replicas SET sent_at = sent_at - @ms, deadline = deadline - @ms, hold_until = hold_until - @ms WHERE task_id = @id', { ms, id: t.taskId });
  }
}
