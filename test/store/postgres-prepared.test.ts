// Statements in a PostgreSQL transaction are prepared once per connection. One prepared before
// another instance's migration changed the columns it returns (a rolling upgrade) is refused on
// that connection from then on: the transaction fails as a conflict, which a retry gets past,
// and the connection is not used again.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { ConflictError } from '../../coordinator/store/sql/sql.js';
import { createTestDatabase, skipPostgresTests, type TestDatabase } from '../helpers/postgres.js';

const skip = await skipPostgresTests('prepared statements on PostgreSQL');

describe.skipIf(skip)('prepared statements on PostgreSQL', () => {
  let database: TestDatabase;
  let db: PostgresDatabase;
  const other = () => new pg.Client({ connectionString: database.url });

  beforeAll(async () => {
    database = await createTestDatabase();
    // One connection: the transaction after the migration meets the statement prepared before it.
    db = new PostgresDatabase({ connectionString: database.url, max: 1 });
    await db.run('CREATE TABLE things (id BIGINT PRIMARY KEY, name TEXT NOT NULL)');
    await db.run("INSERT INTO things (id, name) VALUES (1, 'one')");
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  const readAll = () => db.transaction((tx) => tx.all<Record<string, unknown>>('SELECT * FROM things ORDER BY id'));

  it('gets past a statement gone stale by another instance’s migration', async () => {
    expect(await readAll()).toEqual([{ id: 1, name: 'one' }]);
    const migrating = other();
    await migrating.connect();
    await migrating.query("ALTER TABLE things ADD COLUMN size BIGINT NOT NULL DEFAULT 0");
    await migrating.end();
    // Without a retry the transaction is refused as a conflict, and its connection goes...
    await expect(readAll()).rejects.toBeInstanceOf(ConflictError);
    // ...so the next one, on a fresh connection, prepares the statement again.
    expect(await readAll()).toEqual([{ id: 1, name: 'one', size: 0 }]);
  });

  it('retries such a transaction when told to', async () => {
    const migrating = other();
    await migrating.connect();
    await migrating.query('ALTER TABLE things ADD COLUMN note TEXT');
    await migrating.end();
    expect(await db.transaction((tx) => tx.all('SELECT * FROM things ORDER BY id'), { retries: 1 })).toEqual([{ id: 1, name: 'one', size: 0, note: null }]);
  });
});
