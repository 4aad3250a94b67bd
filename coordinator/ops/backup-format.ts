// A backup is one SQLite file: a consistent copy of the coordinator's database (SQLite's online
// backup API), with the stored files added in an `sqlar` table — the SQLite Archive format, so
// `sqlite3 FILE -Atv` lists them and `sqlite3 FILE -Ax` extracts them — and a `vg_backup` table
// that says what the backup is. The coordinator's signing key is in it only when asked for.

/** Archive paths of stored files: `files/ab/ab12…`, as under the data dir. */
export const FILES_PREFIX = 'files/';
/** The key file's archive path, when the backup includes it. */
export const KEY_ENTRY = 'coordinator-key.json';
export const FORMAT_VERSION = '1';

export interface BackupInfo {
  format: string;
  createdAt: string;
  /** The public key the ledger is signed with: a restore checks the key it is given against it. */
  coordinatorKey: string;
  keyIncluded: boolean;
  schemaVersion: number;
  files: number;
  bytes: number;
}

export const SQLAR_TABLE = 'CREATE TABLE sqlar (name TEXT PRIMARY KEY, mode INT, mtime INT, sz INT, data BLOB)';
export const INFO_TABLE = 'CREATE TABLE vg_backup (key TEXT PRIMARY KEY, value TEXT NOT NULL)';

export function infoRows(info: BackupInfo): [string, string][] {
  return Object.entries(info).map(([k, v]) => [k, String(v)]);
}

/** The info a backup carries, or a message saying why the file is not a backup of ours. */
export function readInfo(rows: { key: string; value: string }[]): BackupInfo | string {
  const m = new Map(rows.map((r) => [r.key, r.value]));
  if (m.get('format') !== FORMAT_VERSION) return `backup format ${m.get('format') ?? '(none)'}, this coordinator reads format ${FORMAT_VERSION}`;
  const key = m.get('coordinatorKey') ?? '';
  if (!/^[0-9a-f]{64}$/.test(key)) return 'the backup names no coordinator key';
  return {
    format: FORMAT_VERSION,
    createdAt: m.get('createdAt') ?? '',
    coordinatorKey: key,
    keyIncluded: m.get('keyIncluded') === 'true',
    schemaVersion: Number(m.get('schemaVersion') ?? 0),
    files: Number(m.get('files') ?? 0),
    bytes: Number(m.get('bytes') ?? 0),
  };
}
