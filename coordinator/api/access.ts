// What a caller may see: a researcher their own projects and everything in them, an admin
// everything. Someone else's thing answers 404, exactly like a missing one, so ids leak nothing.
import type { AppRecord, ProjectRecord } from '../store/catalog.js';
import type { BatchRow, WorkunitDetailRow } from '../store/report-store.js';
import type { Store } from '../store/store.js';
import type { AccountRecord } from '../store/account-store.js';
import { ApiError } from './api-error.js';

export class Access {
  constructor(private readonly store: Store) {}

  /** The owner filter for lists: undefined for admins (all). */
  ownerFilter(account: AccountRecord): number | undefined {
    return account.role === 'admin' ? undefined : account.id;
  }

  project(account: AccountRecord, id: number): ProjectRecord {
    const p = this.store.catalog.projectById(id);
    if (!p || !this.owns(account, p.ownerId)) throw new ApiError('not_found', `no project ${id}`);
    return p;
  }

  app(account: AccountRecord, id: number): AppRecord {
    const a = this.store.catalog.appById(id);
    if (!a || !this.owns(account, this.store.catalog.projectById(a.projectId)?.ownerId ?? null)) throw new ApiError('not_found', `no app ${id}`);
    return a;
  }

  batch(account: AccountRecord, id: number): BatchRow {
    const b = this.store.reports.batch(id);
    if (!b || !this.owns(account, b.ownerId)) throw new ApiError('not_found', `no batch ${id}`);
    return b;
  }

  workunit(account: AccountRecord, workunitId: number): WorkunitDetailRow {
    const wu = this.store.reports.workunit(workunitId);
    const b = wu && this.store.reports.batch(wu.batchId);
    if (!wu || !b || !this.owns(account, b.ownerId)) throw new ApiError('not_found', `no work unit ${workunitId}`);
    return wu;
  }

  private owns(account: AccountRecord, ownerId: number | null): boolean {
    return account.role === 'admin' || ownerId === account.id;
  }
}
