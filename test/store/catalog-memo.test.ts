// An app and its versions are read once a transaction (every task request reads its apps'), and
// forgotten when the transaction writes a version: a version added, retired, marked broken or
// known to work is what the next read in the same transaction sees. Outside a transaction every
// read goes to the database.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Store } from '../../coordinator/store/store.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { storeBackends } from '../helpers/store-backends.js';

const skipPostgres = await skipPostgresTests('the catalog read once a transaction on PostgreSQL');
const T = 1_796_622_510_507;
const version = (n: number) => ({
  appId: 1, platform: 'any' as const, requirements: {}, bundleHash: `b${n}`, manifest: { entry: 'main.js', files: [] }, signature: 's',
});

for (const backend of storeBackends(skipPostgres)) {
  describe.skipIf(backend.skip)(`the catalog read once a transaction on ${backend.name}`, () => {
    let store: Store;
    let dispose: () => Promise<void>;

    beforeAll(async () => {
      ({ store, dispose } = await backend.open());
      await store.sql.run(`INSERT INTO projects (id, name, created_at) VALUES (1, 'p', ${T})`);
      await store.sql.run(`INSERT INTO apps (id, project_id, name, validation_json, created_at) VALUES (1, 1, 'a', '{"mode":"exact"}', ${T})`);
      await store.transaction((tx) => tx.catalog.insertVersion(version(1), T));
    });
    afterAll(async () => dispose?.());

    it('reads an app and its versions once, and again after the transaction writes a version', async () => {
      await store.transaction(async (tx) => {
        const reads = vi.spyOn(tx.sql, 'all');
        const gets = vi.spyOn(tx.sql, 'get');
        try {
          const [first] = await tx.catalog.versionsOfApp(1);
          expect(await tx.catalog.versionsOfApp(1)).toEqual([first]);
          expect((await tx.catalog.appById(1))?.name).toBe('a');
          expect((await tx.catalog.appById(1))?.name).toBe('a');
          expect(reads).toHaveBeenCalledTimes(1);
          expect(gets).toHaveBeenCalledTimes(1);

          // Each write of a version is seen by the next read.
          expect(await tx.catalog.markVersionBroken(first!.id, 'fails to load', T + 1)).toBe(true);
          expect((await tx.catalog.versionsOfApp(1))[0]!.broken).toEqual({ at: T + 1, reason: 'fails to load' });
          await tx.catalog.insertVersion(version(2), T + 2);
          expect((await tx.catalog.versionsOfApp(1)).map((v) => v.version)).toEqual([2, 1]);
          const [second] = await tx.catalog.versionsOfApp(1);
          await tx.catalog.setVersionRetired(second!.id, T + 3);
          expect((await tx.catalog.versionsOfApp(1))[0]!.retiredAt).toBe(T + 3);
        } finally {
          reads.mockRestore();
          gets.mockRestore();
        }
      });
      // A new transaction reads the database again.
      await store.transaction(async (tx) => expect((await tx.catalog.versionsOfApp(1)).map((v) => v.version)).toEqual([2, 1]));
    });

    it('reads every time outside a transaction', async () => {
      await store.sql.run(`UPDATE app_versions SET retired_at = NULL`);
      expect((await store.catalog.versionsOfApp(1)).map((v) => v.retiredAt)).toEqual([null, null]);
    });
  });
}
