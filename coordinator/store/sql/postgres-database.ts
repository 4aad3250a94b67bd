// The store contract on PostgreSQL (node-postgres): a pool of connections, a transaction on one
// of them at a time, and rows shaped as SQLite gives them (integers as numbers, booleans as 0/1,
// column aliases with their case), so the code above sees one database, whichever it runs on.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { ConflictError, ConstraintError, type RunResult, type SqlDatabase, type SqlParams, type SqlTransaction, type SqlValue, type TransactionOptions } from './sql.js';
import { toPostgres, type PostgresStatement } from './postgres-statement.js';
import { retryConflicts, runAfterCommit, TransactionLostError, TransactionScope } from './transaction-scope.js';
import type { HeldWrite } from './write-behind.js';

const INT8 = 20;
const BOOL = 16;
const NUMERIC = 1700;

/** Values as SQLite returns them: what the store's row types say. */
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === INT8) return parseSafeInteger;
    if (oid === BOOL) return (v: string) => (v === 't' ? 1 : 0);
    if (oid === NUMERIC) return Number;
    return pg.types.getTypeParser(oid, format as 'text');
  }) as pg.CustomTypesConfig['getTypeParser'],
};

function parseSafeInteger(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`integer ${v} is beyond what the coordinator counts exactly`);
  return n;
}

export interface PostgresOptions {
  connectionString: string;
  /** Connections in the pool (default 10). */
  max?: number;
  /** A connection is given up after this long unused (default 30 s). */
  idleTimeoutMillis?: number;
  /** How long to wait for a connection, from the pool or a new one (default 10 s). */
  connectionTimeoutMillis?: number;
  /** Called when an idle connection fails (the server went away): the pool replaces it. */
  onIdleError?: (error: Error) => void;
}

export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  private readonly statements = new Map<string, PostgresStatement>();

  constructor(options: PostgresOptions) {
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: options.max ?? 10,
      idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
      // A server that does not answer fails the request that waited, instead of holding it for ever.
      connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
      types,
    });
    // Without a listener, an idle connection's error (a restarted server) would crash the process.
    this.pool.on('error', (error) => options.onIdleError?.(error));
  }

  async all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    return (await this.query<T>(this.pool, sql, params)).rows;
  }

  async get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return (await this.query<T>(this.pool, sql, params)).rows[0];
  }

  async run(sql: string, params?: SqlParams): Promise<RunResult> {
    return { changes: (await this.query(this.pool, sql, params)).rowCount ?? 0 };
  }

  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return retryConflicts(() => this.once(fn), options.retries ?? 0);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async once<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    const client = await this.connect();
    // The pool listens only to idle connections: one that fails while in use reports it here,
    // and its query fails as well (which is what this transaction acts on).
    const ignore = () => undefined;
    client.on('error', ignore);
    const scope = new TransactionScope();
    let result: T;
    let discard = false;
    try {
      await this.command(client, 'BEGIN');
      const tx = new PostgresTransaction(this, client, scope, 0);
      result = await fn(tx);
      await tx.writeHeld();
      await this.command(client, 'COMMIT');
    } catch (error) {
      // A connection that failed is not given back to be used again. (When it failed during
      // COMMIT, whether the transaction committed is unknown: nothing was acknowledged, and
      // everything retried is idempotent.)
      // A stale prepared statement stays on its connection: that connection goes too.
      const stale = !isConnectionError(error) && isStalePlan(error);
      discard = stale || isConnectionError(error);
      if (!discard) await this.command(client, 'ROLLBACK').catch(() => (discard = true));
      if (stale || !discard || error instanceof TransactionLostError) throw error;
      throw new TransactionLostError('the connection to PostgreSQL was lost', error);
    } finally {
      client.off('error', ignore);
      client.release(discard);
    }
    runAfterCommit(scope.committed());
    return result;
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw translateError(error);
    }
  }

  async command(client: pg.PoolClient, sql: string): Promise<void> {
    try {
      await client.query(sql);
    } catch (error) {
      throw translateError(error);
    }
  }

  private readonly names = new Map<string, string>();

  /** A prepared statement's name: the same for the same text, on every connection. */
  private statementName(text: string): string {
    let name = this.names.get(text);
    if (!name) {
      name = `vg_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      this.names.set(text, name);
    }
    return name;
  }

  /**
   * On a pool (outside a transaction) statements go unnamed: a prepared one left on a pooled
   * connection could not be told apart from the others if it went stale (below).
   */
  async query<T>(on: pg.Pool | pg.PoolClient, sql: string, params: SqlParams | undefined): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = toPostgres(sql);
      this.statements.set(sql, statement);
    }
    try {
      const values = statement.values(params ?? []);
      const text = statement.text(values);
      // Named, so each connection parses and plans it once, not at every call: planning was most
      // of PostgreSQL's CPU per task on the volunteers' hot path.
      const bound = values.map(bindValue);
      if (on === this.pool) return await on.query<T & pg.QueryResultRow>(text, bound);
      return await on.query<T & pg.QueryResultRow>({ name: this.statementName(text), text, values: bound });
    } catch (error) {
      throw translateError(error);
    }
  }
}

class PostgresTransaction implements SqlTransaction {
  readonly dialect = 'postgres' as const;

  constructor(
    private readonly database: PostgresDatabase,
    private readonly client: pg.PoolClient,
    private readonly scope: TransactionScope,
    private readonly depth: number,
  ) {}

  async all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    await this.before();
    return (await this.database.query<T>(this.client, sql, params)).rows;
  }

  async get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    await this.before();
    return (await this.database.query<T>(this.client, sql, params)).rows[0];
  }

  async run(sql: string, params?: SqlParams): Promise<RunResult> {
    await this.before();
    return { changes: (await this.database.query(this.client, sql, params)).rowCount ?? 0 };
  }

  hold<K, V>(kind: HeldWrite<K, V>, key: K, value: V): void {
    this.scope.checkDepth(this.depth);
    this.scope.behind.hold(kind, key, value);
  }

  /** Writes what is held, before anything else runs: what runs next sees it. */
  async writeHeld(): Promise<void> {
    this.scope.checkDepth(this.depth);
    if (this.scope.behind.empty || this.writing) return;
    this.writing = true;
    try {
      await this.scope.behind.flush(this);
    } finally {
      this.writing = false;
    }
  }

  /** Set while held writes are being written: their own statements go straight on. */
  private writing = false;

  private async before(): Promise<void> {
    this.scope.checkDepth(this.depth);
    if (!this.writing) await this.writeHeld();
  }

  get memo(): Map<string, unknown> {
    return this.scope.memo;
  }

  afterCommit(cb: () => void): void {
    this.scope.afterCommit(this.depth, cb);
  }

  async advisoryXactLock(key: number): Promise<void> {
    if (this.scope.heldLocks.has(key)) return;
    await this.run(`SELECT pg_advisory_xact_lock(${Math.trunc(key)})`);
    // One taken in a savepoint is let go if the savepoint rolls back: only the outermost level's are kept.
    if (this.depth === 0) this.scope.heldLocks.add(key);
  }

  async savepoint<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    // What this level holds is written at this level, not in the savepoint (undone with it).
    await this.writeHeld();
    const name = this.scope.enter();
    await this.database.command(this.client, `SAVEPOINT ${name}`);
    try {
      const inner = new PostgresTransaction(this.database, this.client, this.scope, this.depth + 1);
      const result = await fn(inner);
      await inner.writeHeld();
      await this.database.command(this.client, `RELEASE SAVEPOINT ${name}`);
      this.scope.leave(true);
      return result;
    } catch (error) {
      // What the savepoint held goes with it.
      this.scope.behind.discard();
      this.scope.leave(false);
      if (isConnectionError(error)) throw new TransactionLostError('the connection to PostgreSQL was lost', error);
      try {
        await this.database.command(this.client, `ROLLBACK TO SAVEPOINT ${name}`);
        await this.database.command(this.client, `RELEASE SAVEPOINT ${name}`);
      } catch (rollbackError) {
        throw new TransactionLostError('the transaction could not be rolled back to its savepoint', rollbackError);
      }
      throw error;
    }
  }
}

function bindValue(value: SqlValue): unknown {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value);
  return value;
}

/** SQLSTATE classes: 08 connection exception, 57P01–03 the server is shutting down or restarting. */
function isConnectionError(error: unknown): boolean {
  if (error instanceof TransactionLostError) return true;
  const code = (error as { code?: unknown }).code ?? (error as { cause?: { code?: unknown } }).cause?.code;
  if (typeof code !== 'string') return error instanceof Error && /Connection terminated|connection.*(ended|closed)|ECONNRESET|ECONNREFUSED/i.test(error.message);
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE';
}

/**
 * A statement prepared on a connection before another instance's migration changed the columns
 * it returns (`SELECT *` after `ADD COLUMN`, in a rolling upgrade): PostgreSQL refuses it from
 * then on, on that connection.
 */
function isStalePlan(error: unknown): boolean {
  const e = (error as { cause?: unknown }).cause ?? error;
  return (e as { code?: unknown }).code === '0A000' && /cached plan/i.test((e as Error).message ?? '');
}

function translateError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return error;
  const message = (error as Error).message;
  if (code === '23505') return new ConstraintError('unique', message, error);
  if (code === '23503') return new ConstraintError('foreign_key', message, error);
  if (code === '23514') return new ConstraintError('check', message, error);
  if (code === '23502') return new ConstraintError('not_null', message, error);
  if (code.startsWith('23')) return new ConstraintError('other', message, error);
  // serialization_failure, deadlock_detected: the transaction may succeed if tried again.
  if (code === '40001' || code === '40P01') return new ConflictError(message, error);
  // On a fresh connection (its own is discarded) the statement is prepared again.
  if (isStalePlan(error)) return new ConflictError(message, error);
  return error;
}
