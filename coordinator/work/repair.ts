// What a researcher does after something went wrong: retry a batch's failed work units (all, or
// those that failed with given error codes) once a fixed version is in, a chunk per transaction;
// pin a batch to a version, or to none.
import type { Store } from '../store/store.js';
import type { Outbox } from './outbox.js';
import type { Transitioner } from './transitioner.js';
import { DomainError } from '../domain-error.js';

export class RepairError extends DomainError {
  override name = 'RepairError';
}

export class Repair {
  constructor(
    private readonly store: Store,
    private readonly transitioner: Transitioner,
  ) {}

  /**
   * Opens up to `limit` failed work units of the batch again, in one transaction: what they had
   * counts for nothing (their budgets start afresh, and every host may take them again), and they
   * get new replicas at once. Returns how many, and whether that was all.
   */
  async retryPart(batchId: number, codes: string[] | undefined, limit: number, outbox: Outbox, now: number): Promise<{ retried: number; done: boolean }> {
    return await this.store.transaction(async (tx) => {
      if (!(await tx.work.batchIsActive(batchId))) throw new RepairError(`batch ${batchId} was cancelled: its work units cannot be retried`, 'conflict');
      const ids = await tx.work.failedWorkunitsOfBatch(batchId, codes, limit);
      for (const id of ids) {
        if (await tx.work.retryWorkunit(id)) await this.transitioner.transition(tx, id, now, outbox);
      }
      return { retried: ids.length, done: ids.length < limit };
    });
  }

  /** Pins a batch to version `version` of its app (null: the newest, as by default). */
  async pin(batchId: number, appId: number, version: number | null): Promise<void> {
    // One transaction: the version cannot be found broken or retired between the check and the pin.
    await this.store.transaction(async ({ catalog, work }) => {
      if (version === null) return await work.pinBatch(batchId, null);
      const v = (await catalog.versionsOfApp(appId)).find((x) => x.version === version);
      if (!v) throw new RepairError(`the batch's app has no version ${version}`, 'not_found');
      if (v.broken) throw new RepairError(`version ${version} is broken: ${v.broken.reason}`, 'conflict');
      if (v.retiredAt !== null) throw new RepairError(`version ${version} is retired; bring it back first`, 'conflict');
      await work.pinBatch(batchId, v.id);
    });
  }
}
