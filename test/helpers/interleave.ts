// Scripted interleavings of two instances' transactions on one PostgreSQL database: `first`
// runs up to a point of its choosing and keeps its transaction open while `second` runs; `first`
// commits once `second` has finished or is waiting for a lock (on what `first` holds, or the
// ledger's turn: advisory locks count). No sleeps: the server says who waits.
import type { SqlExecutor } from '../../coordinator/store/sql/sql.js';
import { waitFor } from './test-coordinator.js';

export function latch(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** Sessions of this database waiting for a lock. */
export async function lockWaiters(sql: Pick<SqlExecutor, 'get'>): Promise<number> {
  return (await sql.get<{ n: number }>("SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))!.n;
}

/**
 * Runs `first` until it calls hold(), starts `second`, and lets `first` go on once `second`
 * has finished or waits for a lock. `secondWaited`: it was still running, blocked, when released.
 */
export async function interleave<T, U>(
  sql: Pick<SqlExecutor, 'get'>,
  first: (hold: () => Promise<void>) => Promise<T>,
  second: () => Promise<U>,
): Promise<{ first: T; second: U; secondWaited: boolean }> {
  const release = latch();
  const reached = latch();
  const one = first(() => {
    reached.open();
    return release.wait;
  }).finally(() => reached.open());
  void one.catch(() => undefined);
  await reached.wait;
  let settled = false;
  const two = second().finally(() => (settled = true));
  void two.catch(() => undefined);
  await waitFor('the second instance to finish, or wait for the first', async () => settled || (await lockWaiters(sql)) > 0);
  const secondWaited = !settled;
  release.open();
  return { first: await one, second: await two, secondWaited };
}
