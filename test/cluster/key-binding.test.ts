// A database belongs to one coordinator key: a coordinator started on it with another key (a
// fresh key file, another instance's) refuses to start and says which keys differ; instances
// racing on a new PostgreSQL database record one key between them. The one key file every
// instance is given is made once by `admin init-key`, and an instance never makes a --key-file.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bindCoordinatorKey, KeyMismatchError } from '../../coordinator/identity/key-binding.js';
import { KEY_FILE_NAME } from '../../coordinator/identity/coordinator-key.js';
import { runCli } from '../helpers/cli-process.js';
import { migratePostgres } from '../../coordinator/store/postgres/migrate.js';
import { PostgresDatabase } from '../../coordinator/store/sql/postgres-database.js';
import { createTestDatabase, skipPostgresTests } from '../helpers/postgres.js';
import { startTestCoordinator } from '../helpers/test-coordinator.js';

const skipPostgres = await skipPostgresTests('coordinator key binding on PostgreSQL');

const dirs: string[] = [];
const temp = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('the coordinator key a database belongs to', () => {
  it('is recorded at the first start, kept across restarts, and another key is refused', async () => {
    const first = await startTestCoordinator();
    const dataDir = first.dataDir;
    const key = first.key.publicKey;
    await first.close();

    const again = await startTestCoordinator({ dataDir });
    expect(again.key.publicKey).toBe(key);
    await again.close();

    // The key file lost (or another instance's data dir): a new key is made, and refused.
    rmSync(join(dataDir, KEY_FILE_NAME));
    const refused = startTestCoordinator({ dataDir });
    await expect(refused).rejects.toBeInstanceOf(KeyMismatchError);
    await expect(refused).rejects.toThrow(new RegExp(`belongs to the coordinator key ${key}, but this instance holds [0-9a-f]{64}`));
    rmSync(dataDir, { recursive: true, force: true });
  });
});

describe.skipIf(skipPostgres)('instances with different keys on one new PostgreSQL database', () => {
  it('record one key between them; the others are refused', async () => {
    const database = await createTestDatabase();
    const instances = Array.from({ length: 4 }, () => new PostgresDatabase({ connectionString: database.url, max: 1 }));
    try {
      await migratePostgres(instances[0]!);
      const keys = instances.map((_, i) => String(i).repeat(64));
      const outcomes = await Promise.allSettled(instances.map((db, i) => bindCoordinatorKey(db, keys[i]!, 1)));
      const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
      expect(won).toHaveLength(1);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(KeyMismatchError);
      // The winner starts again as often as it likes.
      expect(await bindCoordinatorKey(instances[2]!, keys[won[0]!]!, 2)).toEqual({ recorded: false });
    } finally {
      await Promise.all(instances.map((db) => db.close()));
      await database.drop();
    }
  });
});

describe('the key file every instance is given', () => {
  it('is made once by admin init-key: owner-only, its public key printed, never replaced', async () => {
    const keyFile = join(temp('vg-init-key-'), 'coordinator-key.json');
    const made = await runCli(['admin', 'init-key', '--key-file', keyFile]);
    expect(made.code, made.stderr).toBe(0);
    const { publicKey } = JSON.parse(readFileSync(keyFile, 'utf8')) as { publicKey: string };
    expect(made.stdout).toContain(`public key: ${publicKey}`);
    expect((statSync(keyFile).mode & 0o777).toString(8)).toBe('600');

    const again = await runCli(['admin', 'init-key'], { VG_KEY_FILE: keyFile });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/exists already: a coordinator key is made once/);
    expect(JSON.parse(readFileSync(keyFile, 'utf8'))).toMatchObject({ publicKey });

    const nowhere = await runCli(['admin', 'init-key', '--key-file', join(keyFile, '..', 'missing', 'key.json')]);
    expect(nowhere.code).toBe(1);
    expect(nowhere.stderr).toMatch(/missing does not exist: make it first/);
  });

  it('is what a coordinator signs with; one that names a file not made yet refuses to start, saying how to make it', async () => {
    const keyFile = join(temp('vg-key-file-'), 'platform.key');
    const missing = startTestCoordinator({ dataDir: temp('vg-key-file-data-'), keyFile });
    await expect(missing).rejects.toThrow(`no coordinator key at ${keyFile}: make it once with \`volunteer-grid admin init-key --key-file ${keyFile}\``);

    expect((await runCli(['admin', 'init-key', '--key-file', keyFile])).code).toBe(0);
    const c = await startTestCoordinator({ keyFile });
    try {
      expect(c.key.publicKey).toBe((JSON.parse(readFileSync(keyFile, 'utf8')) as { publicKey: string }).publicKey);
      expect(c.keyFile).toBe(keyFile);
      const wellKnown = (await (await fetch(`${c.url}/.well-known/volunteer-grid.json`)).json()) as { coordinatorKey: string };
      expect(wellKnown.coordinatorKey).toBe(c.key.publicKey);
    } finally {
      await c.dispose();
    }
  });
});

describe.skipIf(skipPostgres)('instances started at once on one new PostgreSQL database', () => {
  it('with keys of their own, made at their first start: one starts, the other is refused and told of --key-file and init-key', async () => {
    const database = await createTestDatabase();
    const [one, two] = [temp('vg-key-race-'), temp('vg-key-race-')];
    try {
      const outcomes = await Promise.allSettled([one, two].map((dataDir) => startTestCoordinator({ dataDir, databaseUrl: database.url })));
      const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as Error] : []));
      await Promise.all(started.map((c) => c.close()));
      expect({ started: started.length, refused: refused.length }).toEqual({ started: 1, refused: 1 });
      expect(refused[0]).toBeInstanceOf(KeyMismatchError);
      expect(refused[0]!.message).toMatch(/give every instance the platform's one key file \(--key-file FILE, made once by `volunteer-grid admin init-key --key-file FILE`\)/);
    } finally {
      await database.drop();
    }
  });

  it('given one key file made by init-key: both start, and sign with it', async () => {
    const database = await createTestDatabase();
    const keyFile = join(temp('vg-key-shared-'), 'coordinator-key.json');
    expect((await runCli(['admin', 'init-key', '--key-file', keyFile])).code).toBe(0);
    try {
      const outcomes = await Promise.allSettled([temp('vg-key-one-'), temp('vg-key-two-')].map((dataDir) => startTestCoordinator({ dataDir, databaseUrl: database.url, keyFile })));
      const started = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
      await Promise.all(started.map((c) => c.close()));
      expect(outcomes.map((o) => (o.status === 'rejected' ? String(o.reason) : 'started'))).toEqual(['started', 'started']);
      expect(new Set(started.map((c) => c.key.publicKey)).size).toBe(1);
    } finally {
      await database.drop();
    }
  });
});
