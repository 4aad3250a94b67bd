// Which schema a database has, and the newest this code knows: what /readyz's `migrations` check
// compares. A database migrated further by a newer instance (PostgreSQL, shared) is not one this
// coordinator should serve.
import { MIGRATIONS } from './migrations.js';
import { POSTGRES_MIGRATIONS } from './postgres/migrate.js';
import { POSTGRES_BASELINE_VERSION } from './postgres/schema.js';
import type { Dialect, SqlExecutor } from './sql/sql.js';

/** The newest migration this code has for a backend (both number theirs alike). */
export function knownSchemaVersion(dialect: Dialect): number {
  const versions = dialect === 'postgres' ? [POSTGRES_BASELINE_VERSION, ...POSTGRES_MIGRATIONS.map((m) => m.version)] : MIGRATIONS.map((m) => m.version);
  return Math.max(0, ...versions);
}

/** The newest migration applied to the database (0 for none); throws when the database does not answer. */
export async function appliedSchemaVersion(sql: SqlExecutor): Promise<number> {
  // PostgreSQL returns BIGINT as a string.
  const row = await sql.get<{ v: number | string | null }>('SELECT MAX(version) AS v FROM schema_migrations');
  return Number(row?.v ?? 0);
}
