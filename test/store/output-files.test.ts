// Migration 6 on a database that already has files: none of them counts as an output until it
// is checked, which happens once, the first time it is asked about; an upload marks its file,
// once it has streamed in whole, canonical, hashing to its name and within its size limit.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { utf8 } from '../../protocol/bytes.js';
import { sha256Hex } from '../../protocol/hash.js';
import { BlobStore } from '../../coordinator/files/blob-store.js';
import { OutputFiles } from '../../coordinator/files/output-files.js';
import { SqliteDatabase } from '../../coordinator/store/sql/sqlite-database.js';
import { Repositories } from '../../coordinator/store/store.js';
import { MIGRATIONS, migrate } from '../../coordinator/store/migrations.js';

const T = 1_700_000_000_000;
let dir: string;
let db: Database.Database;
let blobs: BlobStore;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vg-output-files-'));
  db = new Database(join(dir, 'coordinator.sqlite'));
  blobs = new BlobStore(join(dir, 'files'));
  expect(migrate(db, MIGRATIONS.filter((m) => m.version <= 6))).toEqual([1, 2, 3, 4, 5, 6]);
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A file as a coordinator before migration 7 stored it. */
function oldFile(text: string): string {
  const hash = blobs.put(utf8(text));
  db.prepare('INSERT INTO files (sha256, size, created_at) VALUES (?, ?, ?)').run(hash, text.length, T);
  return hash;
}
const mark = (hash: string) => (db.prepare('SELECT canonical_json AS c FROM files WHERE sha256 = ?').get(hash) as { c: number | null }).c;

it('files stored before migration 7 are checked when first asked about, and the answer kept', async () => {
  const canonical = oldFile('{"a":[1,"x"]}');
  const spaced = oldFile('{"a": [1, "x"]}');
  const gone = oldFile('{"b":2}');
  rmSync(blobs.pathOf(gone));
  expect(migrate(db)).toContain(7);
  const outputs = new OutputFiles(blobs);
  const repos = new Repositories(new SqliteDatabase(db));
  expect([mark(canonical), mark(spaced), mark(gone)]).toEqual([null, null, null]);

  expect(await outputs.status(repos, canonical)).toBe('canonical');
  expect(await outputs.status(repos, spaced)).toBe('not_canonical');
  expect(await outputs.status(repos, gone)).toBe('missing');
  expect(await outputs.status(repos, '0'.repeat(64))).toBe('missing');
  expect([mark(canonical), mark(spaced), mark(gone)]).toEqual([1, 0, null]);

  // Kept: the blob is not read again.
  rmSync(blobs.pathOf(canonical));
  expect(await outputs.status(repos, canonical)).toBe('canonical');
});

/** An upload's body, in pieces as a socket would hand them over. */
async function* pieces(bytes: Uint8Array, size = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

it('an upload of an unchecked file marks it canonical; one that does not hash to its name is not kept', async () => {
  const text = '{"a":1}';
  const hash = oldFile(text);
  migrate(db);
  const outputs = new OutputFiles(blobs);
  const repos = new Repositories(new SqliteDatabase(db));
  const received = await outputs.receive(pieces(utf8(text)), hash, 1024);
  if ('code' in received) throw new Error(received.message);
  await outputs.keep(repos, received, hash, T);
  expect(mark(hash)).toBe(1);
  expect(await outputs.receive(pieces(utf8('{"a":2}')), hash, 1024)).toEqual({ code: 'bad_request', message: expect.stringMatching(/hashes to/) });
  expect(readdirSync(join(dir, 'files', 'tmp'))).toEqual([]); // nothing left behind
});

it('checks an upload as it streams in, says where it is wrong, and stops at the size limit', async () => {
  migrate(db);
  const outputs = new OutputFiles(blobs);
  const repos = new Repositories(new SqliteDatabase(db));
  const spaced = utf8(`["${'x'.repeat(600_000)}", 1]`);
  expect(await outputs.receive(pieces(spaced), sha256Hex(spaced), 1024 * 1024)).toEqual({ code: 'bad_request', message: expect.stringMatching(/not canonical JSON .*: white space at byte 600004$/) });
  const fine = utf8(`["${'x'.repeat(600_000)}",1]`);
  expect(await outputs.receive(pieces(fine), sha256Hex(fine), 1024 * 1024)).toEqual({ temp: expect.any(String), size: fine.length });
  expect(await outputs.receive(pieces(fine), sha256Hex(fine), 500_000)).toEqual({ code: 'too_large', message: expect.stringMatching(/larger than 500000 bytes/) });
});
