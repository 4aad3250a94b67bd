// Brings a PostgreSQL database to the schema this coordinator knows. Several instances start at
// once against one database: a transaction-scoped advisory lock lets one of them migrate while the
// others wait, then find nothing left to do. DDL is transactional on PostgreSQL, so a migration
// is applied whole or not at all.
import { IDENTITY_TABLE, INSTANCE_COLUMNS, LEASES_TABLE, type Migration } from '../migrations.js';
import type { SqlDatabase } from '../sql/sql.js';
import { COUNTS_ONCE, POSTGRES_BASELINE, POSTGRES_BASELINE_VERSION } from './schema.js';

/** Any constant the coordinator alone uses as an advisory lock key ("vg-migrate"). */
const MIGRATION_LOCK = 0x76672d6d;

/** Migrations after the baseline, numbered as SQLite's are. */
export const POSTGRES_MIGRATIONS: Migration[] = [
  {
    version: 14,
    name: 'recent work per host and project, for volunteers resource shares',
    sql: `
CREATE TABLE host_project_work (
  host_id BIGINT NOT NULL REFERENCES hosts(id),
  project_id BIGINT NOT NULL REFERENCES projects(id),
  work DOUBLE PRECISION NOT NULL CHECK (work >= 0),
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (host_id, project_id)
);
`,
  },
  { version: 15, name: 'leases for jobs one instance runs at a time', sql: LEASES_TABLE },
  { version: 16, name: 'the coordinator key the database belongs to', sql: IDENTITY_TABLE },
  {
    version: 17,
    name: 'task ids that say nothing: random, drawn when a replica is assigned',
    sql: `
-- SQLite's migration 17, which says why.
ALTER TABLE replicas ADD COLUMN task_id BIGINT;
UPDATE replicas SET task_id = id WHERE host_id IS NOT NULL;
CREATE UNIQUE INDEX replicas_task ON replicas(task_id) WHERE task_id IS NOT NULL;
ALTER TABLE credit_ledger ADD COLUMN task_id BIGINT;
`,
  },
  {
    version: 18,
    name: 'results a host is told lost their quorum vote',
    sql: `
-- SQLite's migration 18, which says why.
ALTER TABLE replicas ADD COLUMN lost_quorum BIGINT NOT NULL DEFAULT 0;
UPDATE replicas SET lost_quorum = 1 WHERE kind = 'regular' AND validate_state = 'invalid' AND forfeited = 0;
`,
  },
  { version: 19, name: 'the instance a host is connected to and a batch is submitted on', sql: INSTANCE_COLUMNS },
  { version: 20, name: 'counting triggers that write each change once, and only when a count changes', sql: COUNTS_ONCE },
];

/** Applies what is missing; returns the versions it applied (none when another instance did). */
export async function migratePostgres(db: SqlDatabase, migrations: Migration[] = POSTGRES_MIGRATIONS): Promise<number[]> {
  if (db.dialect !== 'postgres') throw new Error('migratePostgres needs a PostgreSQL database');
  return db.transaction(async (tx) => {
    await tx.run(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    await tx.run('CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    const applied = new Set((await tx.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version));
    const newest = Math.max(0, ...applied);
    const known = Math.max(POSTGRES_BASELINE_VERSION, ...migrations.map((m) => m.version));
    if (newest > known) {
      throw new Error(`the database has schema version ${newest}, newer than this coordinator knows (${known}); upgrade the coordinator`);
    }
    const done: number[] = [];
    const all = [{ version: POSTGRES_BASELINE_VERSION, name: `baseline: the schema of SQLite migrations 1-${POSTGRES_BASELINE_VERSION}`, sql: POSTGRES_BASELINE }, ...migrations];
    for (const m of all.sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      // Only the baseline may start an empty database; a later migration needs the one before.
      if (m.version !== POSTGRES_BASELINE_VERSION && !applied.has(POSTGRES_BASELINE_VERSION) && !done.includes(POSTGRES_BASELINE_VERSION)) {
        throw new Error(`migration ${m.version} needs the baseline schema first`);
      }
      await tx.savepoint(async (sp) => {
        for (const statement of splitStatements(m.sql)) await sp.run(statement);
        await sp.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, Date.now()]);
      });
      done.push(m.version);
    }
    return done;
  });
}

/**
 * A migration's statements one by one (a prepared statement holds one). Splits at semicolons
 * that end a line outside dollar-quoted function bodies.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let current = '';
  let inBody = false;
  for (const line of sql.split('\n')) {
    if (/^\s*--/.test(line) && !inBody) continue;
    current += `${line}\n`;
    const dollars = line.match(/\$\$/g)?.length ?? 0;
    if (dollars % 2 === 1) inBody = !inBody;
    if (!inBody && /;\s*$/.test(line)) {
      statements.push(current.trim().replace(/;$/, ''));
      current = '';
    }
  }
  if (current.trim()) statements.push(current.trim());
  return statements;
}
