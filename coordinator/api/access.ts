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

  async project(account: AccountRecord, id: number): Promise<ProjectRecord> {
    const p = await this.store.catalog.projectById(id);
    if (!p || !this.owns(account, p.ownerId)) throw new ApiError('not_found', `no project ${id}`);
    return p;
  }

  async app(account: AccountRecord, id: number): Promise<AppRecord> {
    const a = await this.store.catalog.appById(id);
    if (!a || !this.owns(account, (await this.store.catalog.projectById(a.projectId))?.ownerId ?? null)) throw new ApiError('not_found', `no app ${id}`);
    return a;
  }

  async batch(account: AccountRecord, id: number): Promise<BatchRow> {
    const b = await this.store.reports.batch(id);
    if (!b || !this.owns(account, b.ownerId)) throw new ApiError('not_found', `no batch ${id}`);
    return b;
  }

  async workunit(account: AccountRecord, workunitId: number): Promise<WorkunitDetailRow> {
    const wu = await this.store.reports.workunit(workunitId);
    const b = wu && (await this.store.reports.batch(wu.batchId));
    if (!wu || !b || !this.owns(account, b.ownerId)) throw new ApiError('not_found', `no work unit ${workunitId}`);
    return wu;
  }

  private owns(account: AccountRecord, ownerId: number | null): boolean {
    return account.role === 'admin' || ownerId === account.id;
  }
}
