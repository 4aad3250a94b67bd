// The store contract on the embedded SQLite database (better-sqlite3): one connection, so one
// transaction at a time. Statements run synchronously underneath; a transaction holds the
// connection across its awaits, and statements from outside it wait for it to end, so nothing
// ever reads or writes inside someone else's transaction.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Database, Statement } from 'better-sqlite3';
import { ConflictError, ConstraintError, type RunResult, type SqlDatabase, type SqlParams, type SqlTransaction, type SqlValue, type TransactionOptions } from './sql.js';
import { retryConflicts, runAfterCommit, TransactionLostError, TransactionScope } from './transaction-scope.js';

type Bindable = number | string | bigint | Buffer | null;

export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite' as const;
  private readonly statements = new Map<string, Statement>();
  private held = false;
  private readonly waiting: (() => void)[] = [];
  /**
   * Set in a transaction's own async context: a statement or transaction on the database from
   * there would wait for that transaction to end, which waits for it: a deadlock, refused loudly.
   */
  private readonly inside = new AsyncLocalStorage<{ open: boolean }>();

  constructor(readonly db: Database) {}

  /** Whether a transaction holds the connection now. */
  get busy(): boolean {
    return this.held;
  }

  all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    return this.outside(() => this.allNow<T>(sql, params));
  }

  get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    return this.outside(() => this.getNow<T>(sql, params));
  }

  run(sql: string, params?: SqlParams): Promise<RunResult> {
    return this.outside(() => this.runNow(sql, params));
  }

  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    return retryConflicts(() => this.once(fn), options.retries ?? 0);
  }

  /** Closes once the transaction in progress, and those waiting for the connection, are done. */
  async close(): Promise<void> {
    if (!this.db.open) return;
    await this.acquire();
    try {
      if (this.db.open) this.db.close();
    } finally {
      this.release();
    }
  }

  private async once<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    this.refuseInside('a transaction');
    await this.acquire();
    const scope = new TransactionScope();
    let result: T;
    try {
      // IMMEDIATE: take the write lock now, so a second process on the same file waits here
      // (busy_timeout) instead of failing at its first write.
      this.exec('BEGIN IMMEDIATE');
      try {
        const context = { open: true };
        try {
          result = await this.inside.run(context, () => fn(new SqliteTransaction(this, scope, 0)));
        } finally {
          // Timers and promises started in it keep the context: only while it is open do they count as inside.
          context.open = false;
        }
        this.exec('COMMIT');
      } catch (error) {
        if (this.db.inTransaction) this.exec('ROLLBACK');
        throw error;
      }
    } finally {
      this.release();
    }
    runAfterCommit(scope.committed());
    return result;
  }

  /** A statement from outside any transaction: at once when the connection is free, else after. */
  private outside<T>(statement: () => T): Promise<T> {
    if (this.held) this.refuseInside('a statement');
    if (!this.held) {
      try {
        return Promise.resolve(statement());
      } catch (error) {
        return Promise.reject(error);
      }
    }
    return this.acquire().then(() => {
      try {
        return statement();
      } finally {
        this.release();
      }
    });
  }

  private refuseInside(what: string): void {
    if (this.inside.getStore()?.open) {
      throw new Error(`${what} on the database from inside a transaction would wait for that transaction forever: use the transaction's executor (tx)`);
    }
  }

  private acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.held = false;
  }

  exec(sql: string): void {
    try {
      this.db.exec(sql);
    } catch (error) {
      throw translateError(error);
    }
  }

  allNow<T>(sql: string, params?: SqlParams): T[] {
    return this.call(sql, params, (s, p) => s.all(...p) as T[]);
  }

  getNow<T>(sql: string, params?: SqlParams): T | undefined {
    return this.call(sql, params, (s, p) => s.get(...p) as T | undefined);
  }

  runNow(sql: string, params?: SqlParams): RunResult {
    return this.call(sql, params, (s, p) => ({ changes: s.run(...p).changes }));
  }

  private call<R>(sql: string, params: SqlParams | undefined, use: (s: Statement, p: unknown[]) => R): R {
    let statement = this.statements.get(sql);
    try {
      if (!statement) {
        statement = this.db.prepare(sql);
        this.statements.set(sql, statement);
      }
      return use(statement, bind(params));
    } catch (error) {
      throw translateError(error);
    }
  }
}

class SqliteTransaction implements SqlTransaction {
  readonly dialect = 'sqlite' as const;

  constructor(
    private readonly database: SqliteDatabase,
    private readonly scope: TransactionScope,
    private readonly depth: number,
  ) {}

  async all<T>(sql: string, params?: SqlParams): Promise<T[]> {
    this.scope.checkDepth(this.depth);
    return this.database.allNow<T>(sql, params);
  }

  async get<T>(sql: string, params?: SqlParams): Promise<T | undefined> {
    this.scope.checkDepth(this.depth);
    return this.database.getNow<T>(sql, params);
  }

  async run(sql: string, params?: SqlParams): Promise<RunResult> {
    this.scope.checkDepth(this.depth);
    return this.database.runNow(sql, params);
  }

  get memo(): Map<string, unknown> {
    return this.scope.memo;
  }

  afterCommit(cb: () => void): void {
    this.scope.afterCommit(this.depth, cb);
  }

  async savepoint<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T> {
    this.scope.checkDepth(this.depth);
    const name = this.scope.enter();
    this.database.exec(`SAVEPOINT ${name}`);
    try {
      const result = await fn(new SqliteTransaction(this.database, this.scope, this.depth + 1));
      this.database.exec(`RELEASE ${name}`);
      this.scope.leave(true);
      return result;
    } catch (error) {
      this.scope.leave(false);
      // SQLite rolls the whole transaction back on some errors (a full disk, I/O): then what
      // came before this savepoint is lost too, and the transaction must fail as one.
      if (!this.database.db.inTransaction) throw new TransactionLostError('the database rolled the whole transaction back', error);
      this.database.exec(`ROLLBACK TO ${name}`);
      this.database.exec(`RELEASE ${name}`);
      throw error;
    }
  }
}

function bind(params: SqlParams | undefined): unknown[] {
  if (params === undefined) return [];
  if (Array.isArray(params)) return params.map(bindValue);
  const named: Record<string, Bindable> = {};
  for (const [key, value] of Object.entries(params as Record<string, SqlValue>)) named[key] = bindValue(value);
  return [named];
}

function bindValue(value: SqlValue): Bindable {
  if (typeof value === 'boolean') return value ? 1 : 0;
  if (value instanceof Uint8Array && !Buffer.isBuffer(value)) return Buffer.from(value);
  return value as Bindable;
}

function translateError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return error;
  const message = (error as Error).message;
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return new ConstraintError('unique', message, error);
  if (code === 'SQLITE_CONSTRAINT_FOREIGNKEY') return new ConstraintError('foreign_key', message, error);
  if (code === 'SQLITE_CONSTRAINT_CHECK') return new ConstraintError('check', message, error);
  if (code === 'SQLITE_CONSTRAINT_NOTNULL') return new ConstraintError('not_null', message, error);
  if (code.startsWith('SQLITE_CONSTRAINT')) return new ConstraintError('other', message, error);
  if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_')) return new ConflictError(message, error);
  return error;
}
