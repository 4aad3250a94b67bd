// The coordinator's SQLite file as the operator's tools read it: directly, read-only, without
// the store (so backups and checks need none of its methods, and run beside a live coordinator:
// WAL lets a reader see one consistent snapshot while the coordinator writes).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';

export const DATABASE_FILE_NAME = 'coordinator.sqlite';

export function databasePath(dataDir: string): string {
  return join(resolve(dataDir), DATABASE_FILE_NAME);
}

/** Opens a coordinator database read-only; throws a readable error when there is none. */
export function openReadOnly(file: string): Database.Database {
  if (!existsSync(file)) throw new Error(`no coordinator database at ${file}`);
  return new Database(file, { readonly: true, fileMustExist: true });
}

/** The newest migration the database has had, 0 for none. */
export function schemaVersion(db: Database.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  return (db.prepare('SELECT COALESCE(MAX(version), 0) AS v FROM schema_migrations').get() as { v: number }).v;
}

/** PRAGMA integrity_check: [] when SQLite finds nothing wrong, else its messages (at most 100). */
export function integrityProblems(db: Database.Database): string[] {
  const rows = db.prepare('PRAGMA integrity_check(100)').all() as { integrity_check: string }[];
  const lines = rows.map((r) => r.integrity_check);
  return lines.length === 1 && lines[0] === 'ok' ? [] : lines;
}
