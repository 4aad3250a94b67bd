// Writes a PostgreSQL transaction holds back (sql/write-behind.ts) behave as if each had run when
// it was held: the next statement of any kind sees them, a savepoint that rolls back takes its
// own with it and no other level's, the commit keeps them, and a failing one fails its level.
// SQLite holds nothing (no round trips to save).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../coordinator/store/store.js';
import type { HeldWrite } from '../../coordinator/store/sql/write-behind.js';
import { skipPostgresTests } from '../helpers/postgres.js';
import { storeBackends } from '../helpers/store-backends.js';

const skipPostgres = await skipPostgresTests('writes held back on PostgreSQL');
const [sqlite, postgres] = storeBackends(skipPostgres);

/** Sets notes(id).text, the last value held for an id winning; counts its statements. */
function notes(): HeldWrite<number, string> & { statements: number } {
  const kind = {
    name: 'notes',
    statements: 0,
    async write(sql: Parameters<HeldWrite<number, string>['write']>[0], held: ReadonlyMap<number, string>) {
      kind.statements += 1;
      await sql.run('INSERT INTO notes (id, text) SELECT CAST(j.id AS BIGINT), j.text FROM json_to_recordset(CAST(@rows AS json)) AS j(id BIGINT, text TEXT) ON CONFLICT (id) DO UPDATE SET text = excluded.text', {
        rows: JSON.stringify([...held].map(([id, text]) => ({ id, text }))),
      });
    },
  };
  return kind;
}

describe('writes held back', () => {
  it('SQLite holds nothing: every statement goes at once', async () => {
    const { store, dispose } = await sqlite!.open();
    try {
      await store.transaction(async (tx) => expect(tx.sql.hold).toBeUndefined());
    } finally {
      await dispose();
    }
  });

  describe.skipIf(postgres!.skip)('on PostgreSQL', () => {
    let store: Store;
    let dispose: () => Promise<void>;
    const all = async () => store.sql.all<{ id: number; text: string }>('SELECT id, text FROM notes ORDER BY id');

    beforeAll(async () => {
      ({ store, dispose } = await postgres!.open());
      await store.sql.run('CREATE TABLE notes (id BIGINT PRIMARY KEY, text TEXT NOT NULL CHECK (text <> \'\'))');
    });
    afterAll(async () => dispose?.());

    it('are written together before the next statement, which sees them, and before the commit', async () => {
      await store.sql.run('DELETE FROM notes');
      const kind = notes();
      const seen = await store.transaction(async (tx) => {
        tx.sql.hold!(kind, 1, 'a');
        tx.sql.hold!(kind, 2, 'b');
        tx.sql.hold!(kind, 1, 'c');
        expect(kind.statements).toBe(0);
        const rows = await tx.sql.all('SELECT id, text FROM notes ORDER BY id');
        tx.sql.hold!(kind, 3, 'd');
        return rows;
      });
      expect(seen).toEqual([{ id: 1, text: 'c' }, { id: 2, text: 'b' }]);
      expect(kind.statements).toBe(2);
      expect(await all()).toEqual([{ id: 1, text: 'c' }, { id: 2, text: 'b' }, { id: 3, text: 'd' }]);
    });

    it('a savepoint rolled back takes what it held, and only that; one kept keeps it', async () => {
      await store.sql.run('DELETE FROM notes');
      const kind = notes();
      await store.transaction(async (tx) => {
        tx.sql.hold!(kind, 1, 'outer');
        await expect(
          tx.savepoint(async (inner) => {
            inner.sql.hold!(kind, 2, 'undone');
            throw new Error('the message failed');
          }),
        ).rejects.toThrow('the message failed');
        await tx.savepoint(async (inner) => inner.sql.hold!(kind, 3, 'kept'));
        tx.sql.hold!(kind, 4, 'after');
      });
      expect(await all()).toEqual([{ id: 1, text: 'outer' }, { id: 3, text: 'kept' }, { id: 4, text: 'after' }]);
    });

    it('one that fails fails its savepoint, as its statement would have, and leaves the others', async () => {
      await store.sql.run('DELETE FROM notes');
      const kind = notes();
      await store.transaction(async (tx) => {
        await tx.savepoint(async (inner) => inner.sql.hold!(kind, 1, 'fine'));
        await expect(tx.savepoint(async (inner) => inner.sql.hold!(kind, 2, ''))).rejects.toThrow(/check/i);
        await tx.savepoint(async (inner) => inner.sql.hold!(kind, 3, 'also fine'));
      });
      expect(await all()).toEqual([{ id: 1, text: 'fine' }, { id: 3, text: 'also fine' }]);
    });

    it('a transaction whose held writes fail at its commit keeps nothing', async () => {
      await store.sql.run('DELETE FROM notes');
      const kind = notes();
      await expect(
        store.transaction(async (tx) => {
          await tx.sql.run("INSERT INTO notes (id, text) VALUES (9, 'direct')");
          tx.sql.hold!(kind, 1, '');
        }),
      ).rejects.toThrow(/check/i);
      expect(await all()).toEqual([]);
    });
  });
});

// A check passed by a host not distrusted is held on PostgreSQL (identities' CHECKS_PASSED): the
// same counts as the statement SQLite runs, and a distrusted host's, whose trust may come back,
// goes at once after what was held before it.
for (const backend of storeBackends(skipPostgres)) {
  describe.skipIf(backend.skip)(`checks passed on ${backend.name}`, () => {
    it('raise a trusted host’s counts as the statement would, held or not; a distrusted host wins its trust back', async () => {
      const { store, dispose } = await backend.open();
      try {
        await store.sql.run("INSERT INTO users (id, name, created_at) VALUES (1, 'u', 0)");
        await store.sql.run(`INSERT INTO hosts (id, public_key, user_id, platform_kind, platform_class, platform_json, capabilities_json, created_at, last_seen_at,
          consecutive_valid, distrusted_at) VALUES (1, 'h1', 1, 'node', 'node', '{}', '{}', 0, 0, 4, NULL), (2, 'h2', 1, 'node', 'node', '{}', '{}', 0, 0, 2, 5)`);
        const seen = await store.transaction(async (tx) => {
          await tx.identities.recordCheckPassed(1, 3, false);
          await tx.identities.recordCheckPassed(1, 3, false);
          await tx.identities.recordCheckPassed(2, 3, true);
          return tx.sql.all('SELECT id, sentinels_passed AS passed, consecutive_valid AS valid, distrusted_at AS distrusted FROM hosts ORDER BY id');
        });
        expect(seen.map((r) => Object.fromEntries(Object.entries(r as object).map(([k, v]) => [k, v === null ? null : Number(v)])))).toEqual([
          { id: 1, passed: 2, valid: 6, distrusted: null },
          { id: 2, passed: 1, valid: 3, distrusted: null },
        ]);
      } finally {
        await dispose();
      }
    });
  });
}
