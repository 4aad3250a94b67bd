// Which stored files the database needs: large inputs of work units, the files of app versions,
// and outputs that travelled as files. Each must have a row in `files` and its blob on disk.
import type Database from 'better-sqlite3';

const REFERENCED = `
  SELECT input_hash AS sha256 FROM workunits WHERE input_json IS NULL
  UNION SELECT output_hash FROM replicas WHERE output_json IS NULL AND output_hash IS NOT NULL
  UNION SELECT f.value ->> '$.sha256' FROM app_versions v, json_each(v.manifest_json, '$.files') f`;

/** Whether anything in the database names this file (a missing blob nothing names is no loss). */
export function isReferenced(db: Database.Database, sha256: string): boolean {
  return db.prepare(`SELECT 1 FROM (${REFERENCED}) WHERE sha256 = ?`).get(sha256) !== undefined;
}

/** Files something names that have no row in `files`. */
export function unrecordedReferences(db: Database.Database): string[] {
  return (db.prepare(`SELECT r.sha256 FROM (${REFERENCED}) r LEFT JOIN files f ON f.sha256 = r.sha256 WHERE f.sha256 IS NULL LIMIT 1000`).all() as { sha256: string }[]).map(
    (r) => r.sha256,
  );
}

/** The rows of `files`: what the blob store must hold. */
export function storedFiles(db: Database.Database): { sha256: string; size: number }[] {
  return db.prepare('SELECT sha256, size FROM files ORDER BY sha256').all() as { sha256: string; size: number }[];
}
