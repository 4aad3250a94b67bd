// `admin backup`: a consistent backup of a data dir while the coordinator runs and serves.
// The database first, through SQLite's online backup API from a read-only connection (WAL: the
// coordinator keeps writing meanwhile); then the files that copy names. Files are immutable and
// written before the rows that name them commit, so every file the copy names is on disk — unless
// the output collector removed an unneeded upload since, which the copy then forgets too.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Ed25519 } from '../../protocol/ed25519.js';
import { syncDir } from '../../common/durable-file.js';
import { blobPath, filesDirOf } from '../files/blob-store.js';
import { keyFileOf, parseCoordinatorKeyFile } from '../identity/coordinator-key.js';
import { FILES_PREFIX, FORMAT_VERSION, INFO_TABLE, infoRows, KEY_ENTRY, SQLAR_TABLE, type BackupInfo } from './backup-format.js';
import { isReferenced, storedFiles } from './file-references.js';
import { databasePath, integrityProblems, openReadOnly, schemaVersion } from './sqlite-file.js';

export interface BackupResult extends BackupInfo {
  out: string;
  /** Where the files were read from. */
  filesDir: string;
  /** Where the key was read from. */
  keyFile: string;
  /** Unneeded uploads the collector removed while the backup ran: left out, and forgotten in the copy. */
  collected: number;
}

export async function takeBackup(dataDir: string, outFile: string, options: { includeKey: boolean; filesDir?: string; keyFile?: string }, ed: Ed25519): Promise<BackupResult> {
  const dir = resolve(dataDir);
  const root = filesDirOf({ dataDir: dir, filesDir: options.filesDir });
  const out = resolve(outFile);
  if (existsSync(out)) throw new Error(`${out} already exists; choose another name (a backup never overwrites a file)`);
  const keyFile = keyFileOf({ dataDir: dir, keyFile: options.keyFile });
  if (!existsSync(keyFile)) throw new Error(`no coordinator key at ${keyFile}${options.keyFile === undefined ? ' (a coordinator started with --key-file: give it here too)' : ''}`);
  const keyText = readFileSync(keyFile, 'utf8');
  const { publicKey } = parseCoordinatorKeyFile(keyText, keyFile, ed);

  const partial = `${out}.partial-${process.pid}`;
  closeSync(openSync(partial, 'w', 0o600)); // owner-only: it holds every input, result and password hash
  try {
    const source = openReadOnly(databasePath(dir));
    try {
      // After a first step, the rest in one step: one read snapshot, so writes by the coordinator
      // (another connection) cannot make SQLite start the copy over and over.
      await source.backup(partial, { progress: ({ remainingPages }) => Math.max(remainingPages, 1) });
    } finally {
      source.close();
    }
    const copy = new Database(partial);
    let result: BackupResult;
    try {
      copy.pragma('journal_mode = DELETE'); // one self-contained file, no -wal beside it
      const problems = integrityProblems(copy);
      if (problems.length > 0) throw new Error(`the copied database fails its integrity check: ${problems.slice(0, 3).join('; ')}`);
      copy.exec(SQLAR_TABLE);
      copy.exec(INFO_TABLE);
      const add = copy.prepare('INSERT INTO sqlar (name, mode, mtime, sz, data) VALUES (?, ?, ?, ?, ?)');
      const forget = copy.prepare('DELETE FROM files WHERE sha256 = ?');
      const now = Math.floor(Date.now() / 1000);
      let files = 0;
      let bytes = 0;
      let collected = 0;
      for (const { sha256, size } of storedFiles(copy)) {
        const path = blobPath(root, sha256);
        if (!existsSync(path)) {
          if (isReferenced(copy, sha256)) throw new Error(`file ${sha256} is named by the database but missing from ${path}; run admin verify`);
          forget.run(sha256);
          collected += 1;
          continue;
        }
        const data = readFileSync(path);
        if (data.length !== size || createHash('sha256').update(data).digest('hex') !== sha256) {
          throw new Error(`file ${sha256} is damaged (${path}); run admin verify`);
        }
        copy.transaction(() => add.run(`${FILES_PREFIX}${sha256.slice(0, 2)}/${sha256}`, 0o100600, now, data.length, data))();
        files += 1;
        bytes += data.length;
      }
      if (options.includeKey) add.run(KEY_ENTRY, 0o100600, now, Buffer.byteLength(keyText), Buffer.from(keyText));
      const info: BackupInfo = {
        format: FORMAT_VERSION,
        createdAt: new Date().toISOString(),
        coordinatorKey: publicKey,
        keyIncluded: options.includeKey,
        schemaVersion: schemaVersion(copy),
        files,
        bytes,
      };
      const put = copy.prepare('INSERT INTO vg_backup (key, value) VALUES (?, ?)');
      copy.transaction(() => infoRows(info).forEach(([k, v]) => put.run(k, v)))();
      result = { ...info, out, filesDir: root, keyFile, collected };
    } finally {
      copy.close();
    }
    const fd = openSync(partial, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(partial, out);
    syncDir(resolve(out, '..'));
    return result;
  } catch (e) {
    rmSync(partial, { force: true });
    throw e;
  }
}
