// The store contract's lowest layer: SQL statements run on one of two backends, SQLite (the
// embedded default) or PostgreSQL (the cluster), through one asynchronous interface. Statements
// are written once with `?` placeholders; each backend binds them its own way.
import type { HeldWrite } from './write-behind.js';

/** What a statement may be bound to. Booleans are stored as 0/1 on both backends. */
export type SqlValue = string | number | bigint | boolean | null | Uint8Array;

/** Positional (`?`) or named (`@name`) parameters; one statement uses one kind. */
export type SqlParams = readonly SqlValue[] | Readonly<Record<string, SqlValue>>;

export type Dialect = 'sqlite' | 'postgres';

export interface RunResult {
  /** Rows the statement inserted, updated or deleted. */
  changes: number;
}

/** Statements on one connection: inside a transaction when it came from `transaction`. */
export interface SqlExecutor {
  readonly dialect: Dialect;
  all<T>(sql: string, params?: SqlParams): Promise<T[]>;
  /** The first row, or undefined. */
  get<T>(sql: string, params?: SqlParams): Promise<T | undefined>;
  run(sql: string, params?: SqlParams): Promise<RunResult>;
  /**
   * PostgreSQL, in a transaction: takes a transaction-level advisory lock, unless the
   * transaction itself (outside any savepoint) already holds it — then no round trip.
   */
  advisoryXactLock?(key: number): Promise<void>;
  /**
   * In a transaction: values it may reuse for the rest of it, shared by its savepoints and
   * forgotten when any of them rolls back. Absent outside a transaction.
   */
  readonly memo?: Map<string, unknown>;
  /**
   * PostgreSQL, in a transaction: writes to hold back and send together (write-behind.ts), each
   * before whatever statement runs next. Absent where every statement goes at once (SQLite,
   * which has no round trips to save, and outside a transaction).
   */
  hold?<K, V>(kind: HeldWrite<K, V>, key: K, value: V): void;
}

/** A transaction in progress: statements, nested savepoints, and what to do once it commits. */
export interface SqlTransaction extends SqlExecutor {
  /** Runs fn in a savepoint: if it throws, only its own writes are undone, and the error rethrown. */
  savepoint<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /**
   * Runs cb once the outermost transaction has committed; never if it (or the savepoint cb was
   * registered in) rolls back. For telling the world about what is durable, and nothing else.
   */
  afterCommit(cb: () => void): void;
}

export interface TransactionOptions {
  /**
   * Run fn again (in a new transaction) when the database refused the transaction for a
   * conflict it may not have on a second try (PostgreSQL: serialization failure, deadlock).
   * Only for fn whose only effects are its statements and its after-commit callbacks.
   */
  retries?: number;
}

export interface SqlDatabase extends SqlExecutor {
  /** Runs fn in one transaction and commits durably before resolving. */
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

/** A constraint the database enforced, the same on both backends so callers can tell them apart. */
export class ConstraintError extends Error {
  constructor(
    readonly constraint: 'unique' | 'foreign_key' | 'check' | 'not_null' | 'other',
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'ConstraintError';
  }
}

/** A transaction the database refused for a conflict with another one: trying again may succeed. */
export class ConflictError extends Error {
  constructor(
    message: string,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'ConflictError';
  }
}
