// A database belongs to one coordinator key: a coordinator started on it with another key (a
// fresh key file, another instance's) refuses to start and says which keys differ; instances
// racing on a new PostgreSQL database record one key between them.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bindCoordinatorKey, KeyMismatchError } from '../../coordinator/identity/key-binding.js';
import { KEY_FILE_NAME } from '../../coordinator/identity/coordinator-key.js';
import { migratePostgres } from '../../coordinator/store/postgres/migrate.js';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { createTestDatabase, skipPostgresTests } from '../helpers/postgres.js';
import { startTestCoordinator } from '../helpers/test-coordinator.js';

const skipPostgres = await skipPostgresTests('coordinator key binding on PostgreSQL');

describe('the coordinator key a database belongs to', () => {
  it('is recorded at the first start, kept across restarts, and another key is refused', async () => {
    const first = await startTestCoordinator();
    const dataDir = first.dataDir;
    const key = first.key.publicKey;
    await first.close();

    const again = await startTestCoordinator({ dataDir });
    expect(again.key.publicKey).toBe(key);
    await again.close();

    // The key file lost (or another instance's data dir): a new key is made, and refused.
    rmSync(join(dataDir, KEY_FILE_NAME));
    const refused = startTestCoordinator({ dataDir });
    await expect(refused).rejects.toBeInstanceOf(KeyMismatchError);
    await expect(refused).rejects.toThrow(new RegExp(`belongs to the coordinator key ${key}, but this instance holds [0-9a-f]{64}`));
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe.skipIf(skipPostgres)('instances with different keys on one new PostgreSQL database', () => {
  it('record one key between them; the others are refused', async () => {
    const database = await createTestDatabase();
    const instances = Array.from({ length: 4 }, () => new PostgresDatabase({ connectionString: database.url, max: 1 }));
    try {
      await migratePostgres(instances[0]!);
      const keys = instances.map((_, i) => String(i).repeat(64));
      const outcomes = await Promise.allSettled(instances.map((db, i) => bindCoordinatorKey(db, keys[i]!, 1)));
      const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(KeyMismatchError);
      // The winner starts again as often as it likes.
      expect(await bindCoordinatorKey(instances[2]!, keys[won[0]!]!, 2)).toEqual({ recorded: false });
    } finally {
      await Promise.all(instances.map((db) => db.close()));
      await database.drop();
    }
  });
});
