import type { Database } from 'better-sqlite3';
import { AccountStore } from './account-store.js';
import { CatalogStore } from './catalog.js';
import { openDatabase } from './database.js';
import { IdentityStore } from './identities.js';
import { LedgerStore } from './ledger-store.js';
import { ReportStore } from './report-store.js';
import { WorkStore } from './work-store.js';

/** The one way into SQL: typed verbs grouped by what they touch, and transactions. */
export class Store {
  readonly identities: IdentityStore;
  readonly catalog: CatalogStore;
  readonly work: WorkStore;
  readonly ledger: LedgerStore;
  readonly accounts: AccountStore;
  readonly reports: ReportStore;

  constructor(readonly db: Database) {
    this.identities = new IdentityStore(db);
    this.catalog = new CatalogStore(db);
    this.work = new WorkStore(db);
    this.ledger = new LedgerStore(db);
    this.accounts = new AccountStore(db);
    this.reports = new ReportStore(db);
  }

  static open(file: string): Store {
    return new Store(openDatabase(file));
  }

  /** Runs fn in one transaction (nested calls join the outer one); commits durably before returning. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
