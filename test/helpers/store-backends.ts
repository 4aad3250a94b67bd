// The store on each backend, for suites that run the same tests on both: SQLite on a file in a
// temp dir, PostgreSQL on a fresh database (migrated), each removed by its dispose.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../coordinator/store/store.js';
import { createTestDatabase } from './postgres.js';

export interface StoreBackend {
  name: 'SQLite' | 'PostgreSQL';
  /** PostgreSQL's suite is skipped when no server answers (skipPostgresTests decides). */
  skip: boolean;
  open(): Promise<{ store: Store; dispose(): Promise<void> }>;
}

/** `skipPostgres`: what skipPostgresTests said for the suite. */
export function storeBackends(skipPostgres: boolean): StoreBackend[] {
  return [
    {
      name: 'SQLite',
      skip: false,
      async open() {
        const dir = mkdtempSync(join(tmpdir(), 'vg-store-'));
        const store = Store.open(join(dir, 'coordinator.sqlite'));
        return { store, dispose: async () => (await store.close(), rmSync(dir, { recursive: true, force: true })) };
      },
    },
    {
      name: 'PostgreSQL',
      skip: skipPostgres,
      async open() {
        const database = await createTestDatabase();
        const store = await Store.openPostgres(database.url);
        return { store, dispose: async () => (await store.close(), await database.drop()) };
      },
    },
  ];
}
