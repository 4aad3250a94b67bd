// Uploaded outputs (migration 12): which task uploaded which file, and which private files
// nothing refers to any more.
import type { SqlExecutor } from './sql/sql.js';

export interface UploadRecord {
  sha256: string;
  size: number;
  uploadedAt: number;
}

/** Where a walk over the private files is: SQLite's rowid, PostgreSQL's key (files have no row number there). */
export type FileCursor = number | string;

/** A private file as the collector sees it: whether anything still needs it. */
export interface PrivateFile {
  /** Pass it to privateFiles for the files after this one. */
  cursor: FileCursor;
  sha256: string;
  /** Nothing refers to it any more, and it is older than the grace period. */
  garbage: boolean;
}

/**
 * Whether private file `f` is garbage: older than the grace period (`@before` is now − grace)
 * and needed by nothing — no upload of it within the grace period, no task still running that
 * uploaded it (it may yet report it), and no result naming it that may still count: a success
 * not forfeited, of a work unit open or done (a done one's results are judged again when a
 * cheater in its quorum is caught). What is left: uploads never reported, outputs of results
 * forfeited, and of work units failed or cancelled.
 */
const GARBAGE = `(f.created_at < @before
  AND NOT EXISTS (SELECT 1 FROM output_uploads u WHERE u.sha256 = f.sha256 AND u.uploaded_at >= @before)
  AND NOT EXISTS (SELECT 1 FROM output_uploads u JOIN replicas r ON r.id = u.replica_id
    WHERE u.sha256 = f.sha256 AND r.status = 'in_progress')
  AND NOT EXISTS (SELECT 1 FROM replicas r INDEXED BY replicas_file_output JOIN workunits w ON w.id = r.workunit_id
    WHERE r.output_hash = f.sha256 AND r.output_json IS NULL AND r.output_hash IS NOT NULL
      AND r.outcome = 'success' AND r.forfeited = 0 AND w.status IN ('active', 'done')))`;

const SQL: Record<string, string> = {
  uploadOf: 'SELECT sha256, size, uploaded_at AS uploadedAt FROM output_uploads WHERE replica_id = ?',
  // The same file again (a retry) moves its time on; another file for the task changes nothing.
  record: `INSERT INTO output_uploads (replica_id, sha256, size, uploaded_at) VALUES (@replica, @sha256, @size, @now)
    ON CONFLICT (replica_id) DO UPDATE SET uploaded_at = excluded.uploaded_at WHERE output_uploads.sha256 = excluded.sha256`,
  privateFiles: `SELECT f.rowid AS cursor, f.sha256, ${GARBAGE} AS garbage
    FROM files f INDEXED BY files_private WHERE f.public = 0 AND f.rowid > @after ORDER BY f.rowid LIMIT @limit`,
  privateFilesByKey: `SELECT f.sha256 AS cursor, f.sha256, ${GARBAGE} AS garbage
    FROM files f WHERE f.public = 0 AND f.sha256 > @after ORDER BY f.sha256 LIMIT @limit`,
  privateFile: 'SELECT 1 AS ok FROM files WHERE sha256 = ? AND public = 0',
  privateFileForUpdate: 'SELECT 1 AS ok FROM files WHERE sha256 = ? AND public = 0 FOR UPDATE',
  // The check and the delete in one statement: nothing can come to need the file in between.
  deleteGarbage: `DELETE FROM files AS f WHERE f.sha256 = @sha256 AND f.public = 0 AND ${GARBAGE}`,
};

export class UploadStore {
  constructor(private readonly sql: SqlExecutor) {}

  /** The file a task uploaded, if it did. */
  async uploadOf(replicaId: number): Promise<UploadRecord | undefined> {
    return (await this.sql.get(SQL.uploadOf!, [replicaId])) as UploadRecord | undefined;
  }

  /** Records a task's upload; false if the task had uploaded another file (the first stands). */
  async record(replicaId: number, sha256: string, size: number, now: number): Promise<boolean> {
    return (await this.sql.run(SQL.record!, { replica: replicaId, sha256, size, now })).changes === 1;
  }

  /** Where a walk over the private files starts. */
  get firstFile(): FileCursor {
    return this.sql.dialect === 'sqlite' ? 0 : '';
  }

  /** The next `limit` private files after `after`, each with whether it is garbage at `before` (now − grace). */
  async privateFiles(after: FileCursor, limit: number, before: number): Promise<PrivateFile[]> {
    const statement = this.sql.dialect === 'sqlite' ? SQL.privateFiles! : SQL.privateFilesByKey!;
    return ((await this.sql.all(statement, { after, limit, before })) as (Omit<PrivateFile, 'garbage'> & { garbage: number })[]).map((f) => ({
      ...f,
      garbage: f.garbage === 1,
    }));
  }

  /**
   * Takes a private file's row until the transaction ends; false if there is none. On
   * PostgreSQL this waits for a transaction storing the same bytes (it holds the row: BlobStore.keep),
   * and the statements after it see what that one committed. A DELETE that waited instead would
   * judge on its own snapshot, from before: it rechecks only the row it deletes, not the uploads
   * that made the file needed, and deleted a file just uploaded again.
   */
  async lockPrivateFile(sha256: string): Promise<boolean> {
    return (await this.sql.get(this.sql.dialect === 'postgres' ? SQL.privateFileForUpdate! : SQL.privateFile!, [sha256])) !== undefined;
  }

  /** Forgets a private file if it is garbage at `before` (now − grace); false if it is not (any more). Take its row first (lockPrivateFile). */
  async deleteIfGarbage(sha256: string, before: number): Promise<boolean> {
    return (await this.sql.run(SQL.deleteGarbage!, { sha256, before })).changes === 1;
  }
}
