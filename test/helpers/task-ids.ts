// A task names neither its replica nor its work unit (coordinator/work/task-ids.ts): what tests
// that look at the rows behind a task use to find them, by the task id. They read through the
// store's SQL, so they work on either backend (SQLite, or the postgres project's PostgreSQL).
import type { Store } from '../../coordinator/store/store.js';

/** The replica row a task id names; throws for an id no task has. */
export async function taskRow(c: { store: Store }, taskId: number): Promise<{ id: number; workunit_id: number }> {
  const row = await c.store.sql.get<{ id: number; workunit_id: number }>('SELECT id, workunit_id FROM replicas WHERE task_id = ?', [taskId]);
  if (!row) throw new Error(`no replica has task id ${taskId}`);
  return row;
}

/** The work unit a task is of. */
export const workunitOfTask = async (c: { store: Store }, task: { taskId: number }): Promise<number> => (await taskRow(c, task.taskId)).workunit_id;

/** The replica a task is. */
export const replicaOfTask = async (c: { store: Store }, task: { taskId: number }): Promise<number> => (await taskRow(c, task.taskId)).id;
