// The database remembers which coordinator key its ledger and tasks are signed with, and every
// instance that opens it must hold that key. Several instances share one database in a cluster:
// one started with a key of its own (a forgotten copy, a fresh data dir) would sign tasks and
// receipts volunteers refuse, and a ledger no one can verify. The first start records the key;
// instances racing on a new database record one between them, and the others are refused.
import type { SqlDatabase } from '../store/sql/sql.js';

export class KeyMismatchError extends Error {
  override name = 'KeyMismatchError';
  constructor(
    readonly databaseKey: string,
    readonly instanceKey: string,
  ) {
    super(
      `this database belongs to the coordinator key ${databaseKey}, but this instance holds ${instanceKey}: ` +
        'give every instance the platform\'s one key file (--key-file FILE, made once by `volunteer-grid admin init-key --key-file FILE`), ' +
        'or start it with the data dir whose key it is',
    );
  }
}

/** Records the key on a database that has none; refuses a key other than the one recorded. */
export async function bindCoordinatorKey(db: SqlDatabase, publicKey: string, now: number): Promise<{ recorded: boolean }> {
  const inserted = await db.run('INSERT INTO coordinator_identity (id, public_key, recorded_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING', [publicKey, now]);
  const row = await db.get<{ public_key: string }>('SELECT public_key FROM coordinator_identity WHERE id = 1');
  if (row!.public_key !== publicKey) throw new KeyMismatchError(row!.public_key, publicKey);
  return { recorded: inserted.changes === 1 };
}
