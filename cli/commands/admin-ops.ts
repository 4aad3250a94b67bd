// Backup, restore and checking of a coordinator's data dir, on its own machine (docs/deploy.md).
// The coordinator's modules (and the SQLite driver) are loaded only when one of these runs.
import { statSync } from 'node:fs';
import { z } from 'zod';
import { defineCommand, flag } from '../command.js';
import { Failure } from '../failure.js';
import { Text } from '../options.js';

const DATA_DIR_FLAG = { env: ['VG_DATA_DIR'] };
const FILES_DIR_FLAG = { env: ['VG_FILES_DIR'] };
const KEY_FILE_FLAG = { env: ['VG_KEY_FILE'] };

/** The options an ops step takes of where things are, those given only. */
const where = (o: { filesDir?: string | undefined; keyFile?: string | undefined }) => ({
  ...(o.filesDir === undefined ? {} : { filesDir: o.filesDir }),
  ...(o.keyFile === undefined ? {} : { keyFile: o.keyFile }),
});

async function ed25519() {
  return (await import('../../protocol/ed25519-node.js')).nodeEd25519();
}

/** Runs an ops step, turning its errors (plain messages) into the CLI's one-line failure. */
async function step<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw new Failure((e as Error).message);
  }
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export const backup = defineCommand({
  words: ['admin', 'backup'],
  summary: "back up a coordinator's data dir, while it runs (database and files; the key if asked)",
  usage: `Usage: volunteer-grid admin backup --data-dir DIR --out FILE [--files-dir FILES] [--key-file KEY] [--include-key]

Run on the coordinator's machine, while it runs or not: a consistent copy of DIR/coordinator.sqlite
(SQLite's online backup API) and every stored file it names, read from DIR/files or the
--files-dir the coordinator was given, in one file (an SQLite database; \`sqlite3 FILE -Atv\`
lists the files in it). It holds every input, result and password hash: keep it as safe as the
data dir.

The coordinator's signing key (DIR/coordinator-key.json, or --key-file) is NOT in the backup
unless you ask: keep a copy of it apart (it never changes), somewhere a lost or stolen backup
does not take it along.
Whoever has the key can sign tasks and credit in the coordinator's name; without it, a restored
ledger no longer verifies and every volunteer refuses the coordinator.

  --data-dir DIR          the coordinator's data dir (env VG_DATA_DIR)
  --out FILE              the backup to write (never overwritten)
  --files-dir FILES       the coordinator's --files-dir, if it has one (env VG_FILES_DIR; default DIR/files)
  --key-file KEY          the coordinator's --key-file, if it has one (env VG_KEY_FILE; default
                          DIR/coordinator-key.json): its public key is recorded, the key only with
                          --include-key
  --include-key           put the signing key in the backup too
`,
  flags: { 'data-dir': DATA_DIR_FLAG, out: flag(), 'files-dir': FILES_DIR_FLAG, 'key-file': KEY_FILE_FLAG, 'include-key': flag(true) },
  schema: z.strictObject({ dataDir: Text(), out: Text(), filesDir: Text().optional(), keyFile: Text().optional(), includeKey: z.boolean().default(false) }),
  async run(o, ctx) {
    const { takeBackup } = await import('../../coordinator/ops/backup.js');
    const ed = await ed25519();
    const r = await step(() => takeBackup(o.dataDir, o.out, { includeKey: o.includeKey, ...where(o) }, ed));
    ctx.print(`backup written to ${r.out} (${mib(statSync(r.out).size)})`);
    ctx.print(`  database schema version ${r.schemaVersion}, ${r.files} files (${mib(r.bytes)}) from ${r.filesDir}${r.collected > 0 ? `, ${r.collected} unneeded uploads removed meanwhile left out` : ''}`);
    ctx.print(`  coordinator key ${r.coordinatorKey}`);
    ctx.print(
      r.keyIncluded
        ? '  the signing key is IN this backup: keep the backup as secret as the key'
        : `  the signing key is NOT in this backup: restoring needs the copy of ${r.keyFile} kept apart (--key FILE)`,
    );
    return 0;
  },
});

export const restore = defineCommand({
  words: ['admin', 'restore'],
  summary: 'restore a backup into an empty data dir, then check it',
  usage: `Usage: volunteer-grid admin restore --backup FILE --data-dir DIR [--files-dir FILES] [--key KEYFILE]

Brings back a backup made by \`admin backup\` into DIR, which must be empty or new (the
coordinator stopped), then checks the result as \`admin verify\` does. The stored files go to
DIR/files, or to --files-dir, which may hold files already (content-addressed: a file there is
the same bytes). The key is taken from --key, else from the backup; it must be the key the
backup's ledger was signed with, and is written to DIR/coordinator-key.json.

  --backup FILE           the backup
  --data-dir DIR          the data dir to restore into (env VG_DATA_DIR)
  --files-dir FILES       where the files go, for a coordinator started with --files-dir FILES
                          (env VG_FILES_DIR; default DIR/files)
  --key KEYFILE           the coordinator-key.json kept apart (for a backup without the key)
`,
  flags: { backup: flag(), 'data-dir': DATA_DIR_FLAG, 'files-dir': FILES_DIR_FLAG, key: flag() },
  schema: z.strictObject({ backup: Text(), dataDir: Text(), filesDir: Text().optional(), key: Text().optional() }),
  async run(o, ctx) {
    const [{ restoreBackup }, { verifyDataDir, formatVerifyReport }] = await Promise.all([
      import('../../coordinator/ops/restore.js'),
      import('../../coordinator/ops/verify.js'),
    ]);
    const ed = await ed25519();
    const files = where({ filesDir: o.filesDir });
    const r = await step(() => restoreBackup(o.backup, o.dataDir, { ...files, ...(o.key === undefined ? {} : { keyFile: o.key }) }, ed));
    ctx.print(`restored the backup of ${r.createdAt} into ${r.dataDir}: ${r.files} files into ${r.filesDir}, key from ${r.keyFrom}`);
    const report = await verifyDataDir(r.dataDir, ed, files);
    ctx.stdout.write(formatVerifyReport(report));
    return report.ok ? 0 : 1;
  },
});

export const verify = defineCommand({
  words: ['admin', 'verify'],
  summary: "check a data dir: database integrity, the ledger against the key, counters, files",
  usage: `Usage: volunteer-grid admin verify --data-dir DIR [--files-dir FILES] [--key-file KEY]

Checks DIR as it lies on disk (best with the coordinator stopped; beside a running one it reads
one consistent snapshot): SQLite's integrity_check; the credit ledger's hash chain and every
signature against the coordinator key (DIR/coordinator-key.json, or --key-file); the counters
kept by triggers (batches, hosts, credit totals) against a recount; every stored file present in
DIR/files (or --files-dir), of its size, with its hash. Prints a line per check and exits 0 when
all pass, 1 when any fails.

  --data-dir DIR          the coordinator's data dir (env VG_DATA_DIR)
  --files-dir FILES       the coordinator's --files-dir, if it has one (env VG_FILES_DIR; default DIR/files)
  --key-file KEY          the coordinator's --key-file, if it has one (env VG_KEY_FILE; default DIR/coordinator-key.json)
`,
  flags: { 'data-dir': DATA_DIR_FLAG, 'files-dir': FILES_DIR_FLAG, 'key-file': KEY_FILE_FLAG },
  schema: z.strictObject({ dataDir: Text(), filesDir: Text().optional(), keyFile: Text().optional() }),
  async run(o, ctx) {
    const { verifyDataDir, formatVerifyReport } = await import('../../coordinator/ops/verify.js');
    const report = await verifyDataDir(o.dataDir, await ed25519(), where(o));
    ctx.stdout.write(formatVerifyReport(report));
    return report.ok ? 0 : 1;
  },
});
