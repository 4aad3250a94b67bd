import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { Database as Db } from 'better-sqlite3';
import { migrate } from './migrations.js';

/**
 * Opens (creating if needed) the coordinator's SQLite database in WAL mode with full
 * durability: a commit returns only once it is on disk, so acknowledging after a commit
 * never acknowledges something a crash can lose.
 */
export function openDatabase(file: string): Db {
  // Owner-only from the start: it holds password hashes and every input and result. SQLite
  // creates the -wal and -shm files with the database file's mode.
  if (file !== ':memory:' && file !== '' && !existsSync(file)) closeSync(openSync(file, 'a', 0o600));
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}
