// Writes a PostgreSQL transaction holds back and sends together: judging a report's work units
// wrote each one's valid states, credits, trust, ledger entries and end as statements of its own,
// a round trip each. Held, they go as one statement of each kind, just before the next statement
// of any other kind, before a savepoint opens or is let go, and before the commit: whatever runs
// next sees them, as if each had run when it was held. Writes that could not be merged in any
// order (one that reads, one whose result is needed) are never held.
import type { SqlExecutor } from './sql.js';

/** An id list as a PostgreSQL array literal (ids are integers), as held writes bind their keys. */
export const idArray = (ids: Iterable<number>): string => `{${[...ids].join(',')}}`;

/** One kind of held write: how held values merge, and the statement(s) that write them all. */
export interface HeldWrite<K, V> {
  readonly name: string;
  /** The value held for a key once another comes for it (default: the later one). */
  merge?(held: V, next: V): V;
  /** Writes every held value, in the order their keys were first held. */
  write(sql: SqlExecutor, held: ReadonlyMap<K, V>): Promise<void>;
}

export class WriteBehind {
  private readonly held = new Map<HeldWrite<unknown, unknown>, Map<unknown, unknown>>();

  get empty(): boolean {
    return this.held.size === 0;
  }

  hold<K, V>(kind: HeldWrite<K, V>, key: K, value: V): void {
    const k = kind as HeldWrite<unknown, unknown>;
    let values = this.held.get(k);
    if (!values) this.held.set(k, (values = new Map()));
    const before = values.get(key) as V | undefined;
    values.set(key, before !== undefined && kind.merge ? kind.merge(before, value) : value);
  }

  /**
   * Writes what is held, each kind in the order it was first held. Taken first: a write that
   * fails is not tried again (its savepoint, or transaction, is rolled back and what it held with it).
   */
  async flush(sql: SqlExecutor): Promise<void> {
    if (this.held.size === 0) return;
    const held = [...this.held];
    this.held.clear();
    for (const [kind, values] of held) await kind.write(sql, values);
  }

  /** Forgets what is held: the level it was held in rolled back. */
  discard(): void {
    this.held.clear();
  }
}
