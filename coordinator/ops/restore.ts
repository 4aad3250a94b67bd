// `admin restore`: a backup made by `admin backup` brought back into an empty data dir — the
// database (without the archive's own tables), every stored file checked against its hash, and
// the coordinator key: from the backup if it holds one, else the copy the operator kept apart,
// which must be the key the ledger was signed with.
import { createHash } from 'node:crypto';
import { chmodSync, closeSync, copyFileSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Ed25519 } from '../../protocol/ed25519.js';
import { syncDir, writeFileDurably } from '../../common/durable-file.js';
import { blobPath, filesDirOf } from '../files/blob-store.js';
import { KEY_FILE_NAME, parseCoordinatorKeyFile } from '../identity/coordinator-key.js';
import { FILES_PREFIX, KEY_ENTRY, readInfo, type BackupInfo } from './backup-format.js';
import { DATABASE_FILE_NAME, integrityProblems, openReadOnly } from './sqlite-file.js';

export interface RestoreResult extends BackupInfo {
  dataDir: string;
  /** Where the files went: the data dir's files/, or the directory --files-dir named. */
  filesDir: string;
  /** Where the key came from: the backup, or the file given. */
  keyFrom: string;
}

/** Reads what a backup file says about itself; throws when it is not a backup. */
export function backupInfo(file: string): BackupInfo {
  const db = openReadOnly(resolve(file));
  try {
    return infoOf(db, file);
  } finally {
    db.close();
  }
}

function infoOf(db: Database.Database, file: string): BackupInfo {
  const hasInfo = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vg_backup'").get();
  if (!hasInfo) throw new Error(`${file} is not a volunteer-grid backup (no vg_backup table)`);
  const info = readInfo(db.prepare('SELECT key, value FROM vg_backup').all() as { key: string; value: string }[]);
  if (typeof info === 'string') throw new Error(`${file}: ${info}`);
  return info;
}

/**
 * Restores into `dataDir`, which must be empty or new. The files go to `options.filesDir` if
 * given, which may hold files already (a directory the instances of a cluster share): they are
 * content-addressed, so one already there is the same bytes, written again unchanged.
 */
export function restoreBackup(backupFile: string, dataDir: string, options: { keyFile?: string; filesDir?: string }, ed: Ed25519): RestoreResult {
  const file = resolve(backupFile);
  const dir = resolve(dataDir);
  const root = filesDirOf({ dataDir: dir, filesDir: options.filesDir });
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new Error(`${dir} is not empty: restore only into an empty or new data dir (move the old one aside first)`);
  }
  const backup = openReadOnly(file);
  let info: BackupInfo;
  let keyText: string;
  let keyFrom: string;
  try {
    info = infoOf(backup, file);
    const problems = integrityProblems(backup);
    if (problems.length > 0) throw new Error(`${file} fails its integrity check: ${problems.slice(0, 3).join('; ')}`);
    const inBackup = backup.prepare('SELECT data FROM sqlar WHERE name = ?').get(KEY_ENTRY) as { data: Buffer } | undefined;
    if (options.keyFile !== undefined) {
      keyText = readFileSync(resolve(options.keyFile), 'utf8');
      keyFrom = resolve(options.keyFile);
    } else if (inBackup) {
      keyText = inBackup.data.toString('utf8');
      keyFrom = 'the backup';
    } else {
      throw new Error(
        `${file} does not hold the coordinator key (it was made without --include-key): give the copy kept apart with --key FILE ` +
          `(its public key is ${info.coordinatorKey})`,
      );
    }
    const { publicKey } = parseCoordinatorKeyFile(keyText, keyFrom, ed);
    if (publicKey !== info.coordinatorKey) {
      throw new Error(`${keyFrom} holds key ${publicKey}, but the backup's ledger was signed with ${info.coordinatorKey}: give the right key`);
    }
  } finally {
    backup.close();
  }

  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const dbFile = join(dir, DATABASE_FILE_NAME);
  const partial = `${dbFile}.restoring`;
  try {
    copyFileSync(file, partial);
    chmodSync(partial, 0o600);
    const db = new Database(partial);
    try {
      const entries = db.prepare('SELECT name, sz, data FROM sqlar WHERE name LIKE ? ORDER BY name').iterate(`${FILES_PREFIX}%`) as Iterable<{
        name: string;
        sz: number;
        data: Buffer;
      }>;
      const blobs: { path: string; data: Buffer }[] = [];
      for (const e of entries) {
        const sha256 = e.name.slice(e.name.lastIndexOf('/') + 1);
        if (e.data.length !== e.sz || createHash('sha256').update(e.data).digest('hex') !== sha256) throw new Error(`${file}: stored file ${e.name} is damaged`);
        blobs.push({ path: blobPath(root, sha256), data: e.data });
        if (blobs.length >= 64) writeBlobs(blobs.splice(0));
      }
      writeBlobs(blobs);
      db.exec('DROP TABLE sqlar; DROP TABLE vg_backup;');
      db.exec('VACUUM');
      db.pragma('journal_mode = WAL'); // as the coordinator runs it
    } finally {
      db.close();
    }
    const fd = openSync(partial, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(partial, dbFile);
    writeFileDurably(join(dir, KEY_FILE_NAME), keyText, 0o600);
    syncDir(dir);
  } catch (e) {
    rmSync(partial, { force: true });
    throw e;
  }
  return { ...info, dataDir: dir, filesDir: root, keyFrom };
}

/** Writes blobs owner-only and durably; one already there is replaced by the same bytes, atomically. */
function writeBlobs(blobs: { path: string; data: Buffer }[]): void {
  for (const { path, data } of blobs) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    writeFileDurably(path, data, 0o600);
  }
}
