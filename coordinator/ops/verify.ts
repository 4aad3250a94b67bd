// `admin verify`: checks a data dir as it lies on disk — the database's integrity, the ledger
// chain against the coordinator's key, protocol-3 results against the lists their hosts signed,
// the kept counters against a recount, and every stored file against its hash — and says what it
// found, check by check.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type Database from 'better-sqlite3';
import type { Ed25519 } from '../../protocol/ed25519.js';
import { GENESIS_HASH, verifyLedgerChain } from '../../protocol/ledger.js';
import type { CreditReceipt, ResultListBody } from '../../protocol/messages.js';
import { verifyBody } from '../../protocol/signing.js';
import { blobPath, filesDirOf } from '../files/blob-store.js';
import { keyFileOf, parseCoordinatorKeyFile } from '../identity/coordinator-key.js';
import { storedFiles, unrecordedReferences } from './file-references.js';
import { counterProblems } from './recount.js';
import { databasePath, integrityProblems, openReadOnly, schemaVersion } from './sqlite-file.js';

export interface Check {
  name: string;
  /** What was looked at, in a few words (counts). */
  summary: string;
  problems: string[];
}

export interface VerifyReport {
  dataDir: string;
  /** Where the files were looked for (the data dir's files/ unless --files-dir named another). */
  filesDir: string;
  checks: Check[];
  ok: boolean;
}

/** Ledger entries read per query. */
const LEDGER_PAGE = 5000;

/** Most problems listed per check (the count says how many there were). */
const SHOWN = 20;

export async function verifyDataDir(dataDir: string, ed: Ed25519, options: { filesDir?: string; keyFile?: string } = {}): Promise<VerifyReport> {
  const dir = resolve(dataDir);
  const filesDir = filesDirOf({ dataDir: dir, filesDir: options.filesDir });
  const checks: Check[] = [];
  const keyCheck = checkKey(keyFileOf({ dataDir: dir, keyFile: options.keyFile }), ed);
  checks.push(keyCheck.check);
  let db: Database.Database;
  try {
    db = openReadOnly(databasePath(dir));
  } catch (e) {
    checks.push({ name: 'database', summary: databasePath(dir), problems: [(e as Error).message] });
    return { dataDir: dir, filesDir, checks, ok: false };
  }
  try {
    const integrity = integrityProblems(db);
    checks.push({ name: 'database integrity', summary: `PRAGMA integrity_check, schema version ${schemaVersion(db)}`, problems: integrity });
    if (integrity.length > 0) return { dataDir: dir, filesDir, checks, ok: false };
    // One read transaction: every check sees the same snapshot, even beside a live coordinator.
    const files = db.transaction(() => {
      checks.push(checkLedger(db, ed, keyCheck.publicKey));
      checks.push(checkResultLists(db, ed));
      const counters = counterProblems(db);
      checks.push({ name: 'counters', summary: 'batch, host and credit counters against a recount of their rows', problems: counters });
      return { rows: storedFiles(db), unrecorded: unrecordedReferences(db) };
    })();
    checks.push(await checkFiles(filesDir, files.rows, files.unrecorded));
  } finally {
    db.close();
  }
  return { dataDir: dir, filesDir, checks, ok: checks.every((c) => c.problems.length === 0) };
}

function checkKey(file: string, ed: Ed25519): { check: Check; publicKey?: string } {
  if (!existsSync(file)) {
    return { check: { name: 'coordinator key', summary: file, problems: ['no key file: the ledger cannot be checked without it (a coordinator started with --key-file: give it here too)'] } };
  }
  try {
    const { publicKey } = parseCoordinatorKeyFile(readFileSync(file, 'utf8'), file, ed);
    return { check: { name: 'coordinator key', summary: `public key ${publicKey}`, problems: [] }, publicKey };
  } catch (e) {
    return { check: { name: 'coordinator key', summary: file, problems: [(e as Error).message] } };
  }
}

function checkLedger(db: Database.Database, ed: Ed25519, publicKey: string | undefined): Check {
  const name = 'credit ledger';
  if (!publicKey) return { name, summary: 'not checked', problems: ['no coordinator key to check the signatures against'] };
  const page = db.prepare(`SELECT id AS entryId, COALESCE(task_id, replica_id) AS taskId, workunit_id AS workunitId, host_key AS hostKey, amount,
    granted_at AS grantedAt, prev_hash AS prevHash, entry_hash AS entryHash, signature FROM credit_ledger WHERE id > ? ORDER BY id LIMIT ?`);
  let prev = GENESIS_HASH;
  let after = 0;
  let count = 0;
  for (;;) {
    const entries = page.all(after, LEDGER_PAGE) as CreditReceipt[];
    if (entries.length === 0) break;
    const bad = verifyLedgerChain(ed, publicKey, entries, prev);
    if (bad) return { name, summary: `${count + entries.length}+ entries read`, problems: [`entry ${bad.entryId}: ${bad.problem}`] };
    count += entries.length;
    prev = entries.at(-1)!.entryHash;
    after = entries.at(-1)!.entryId;
  }
  return { name, summary: `${count} entries, chain and signatures verified with the coordinator key`, problems: [] };
}

/**
 * Protocol 3 keeps a report's one signature with the list of its results' hashes (result_lists):
 * each list must verify with its host's key, and each result kept under it must be in it.
 */
function checkResultLists(db: Database.Database, ed: Ed25519): Check {
  const problems: string[] = [];
  let lists = 0;
  const rows = db.prepare(`SELECT l.id, l.signature, l.result_hashes AS hashes, h.public_key AS hostKey
    FROM result_lists l JOIN hosts h ON h.id = l.host_id ORDER BY l.id`);
  for (const l of rows.iterate() as Iterable<{ id: number; signature: string; hashes: string; hostKey: string }>) {
    lists += 1;
    const body: ResultListBody = { hostKey: l.hostKey, resultHashes: JSON.parse(l.hashes) as string[] };
    if (!verifyBody(ed, l.hostKey, 'resultList', body, l.signature)) problems.push(`result list ${l.id}: its signature is not its host's`);
  }
  let results = 0;
  const kept = db.prepare(`SELECT r.id, r.result_hash AS hash, r.result_list_id AS listId, l.result_hashes AS hashes
    FROM replicas r JOIN result_lists l ON l.id = r.result_list_id ORDER BY r.id`);
  for (const r of kept.iterate() as Iterable<{ id: number; hash: string | null; listId: number; hashes: string }>) {
    results += 1;
    if (r.hash === null || !(JSON.parse(r.hashes) as string[]).includes(r.hash)) {
      problems.push(`replica ${r.id}: its result is not one of those result list ${r.listId} signed`);
    }
  }
  return { name: 'result lists', summary: `${lists} lists of ${results} results checked against their hosts' signatures`, problems };
}

async function checkFiles(root: string, rows: { sha256: string; size: number }[], unrecorded: string[]): Promise<Check> {
  const problems = unrecorded.map((sha) => `file ${sha} is named by the database but has no row in files`);
  let bytes = 0;
  for (const { sha256, size } of rows) {
    const path = blobPath(root, sha256);
    if (!existsSync(path)) {
      problems.push(`file ${sha256} is missing (${path})`);
      continue;
    }
    const actual = statSync(path).size;
    if (actual !== size) {
      problems.push(`file ${sha256} has ${actual} bytes, the database says ${size}`);
      continue;
    }
    const hash = await fileHash(path);
    if (hash !== sha256) problems.push(`file ${sha256} hashes to ${hash}: its content is damaged`);
    bytes += actual;
  }
  return { name: 'files', summary: `${rows.length} stored files (${bytes} bytes) hashed`, problems };
}

export function fileHash(path: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolvePromise(h.digest('hex')));
  });
}

/** The report as the operator reads it: a line per check, its problems under it. */
export function formatVerifyReport(report: VerifyReport): string {
  const lines = [`data dir ${report.dataDir}`];
  if (report.filesDir !== filesDirOf({ dataDir: report.dataDir })) lines.push(`files dir ${report.filesDir}`);
  for (const c of report.checks) {
    lines.push(`${c.problems.length === 0 ? 'ok  ' : 'FAIL'}  ${c.name}: ${c.summary}`);
    for (const p of c.problems.slice(0, SHOWN)) lines.push(`        ${p}`);
    if (c.problems.length > SHOWN) lines.push(`        … and ${c.problems.length - SHOWN} more`);
  }
  const failed = report.checks.filter((c) => c.problems.length > 0).length;
  lines.push(report.ok ? 'all checks passed' : `${failed} of ${report.checks.length} checks failed`);
  return `${lines.join('\n')}\n`;
}
