// The credit this browser has earned: each receipt checked (volunteer-core/credit-receipts.ts)
// and kept in IndexedDB as the host's proof of its credit. Also the recent average credit,
// computed from the receipts as the coordinator computes RAC (volunteer-core/credit-history.ts).
import { creditUnits } from '../../protocol/ledger.js';
import type { CreditReceipt } from '../../protocol/messages.js';
import type { VolunteerCrypto } from '../../volunteer-core/crypto.js';
import { racAt } from '../../volunteer-core/credit-history.js';
import { checkReceipts, CreditReceiptSchema as ReceiptSchema, CreditTally } from '../../volunteer-core/credit-receipts.js';
import type { CreditStore } from '../../volunteer-core/task-engine.js';
import type { Idb } from './idb.js';

export class CreditBook implements CreditStore {
  lastEntryId = 0;
  private readonly receipts = new Map<number, CreditReceipt>();
  private readonly tally = new CreditTally();

  private constructor(
    private readonly db: Idb,
    private readonly crypto: VolunteerCrypto,
    private readonly coordinatorKey: string,
    private readonly hostKey: string,
  ) {}

  static async load(db: Idb, crypto: VolunteerCrypto, coordinatorKey: string, hostKey: string): Promise<CreditBook> {
    const book = new CreditBook(db, crypto, coordinatorKey, hostKey);
    for (const r of await db.all<unknown>('receipts')) {
      const parsed = ReceiptSchema.safeParse(r);
      if (parsed.success && parsed.data.hostKey === hostKey) book.count(parsed.data);
    }
    return book;
  }

  /** The sum of the receipts, in credits. */
  get total(): number {
    return this.tally.total;
  }

  /**
   * Valid results: tasks with a grant (a receipt of amount ≥ 0) that no later entry took back
   * entirely. A result found invalid later has a revocation that leaves it nothing; a correction
   * (an admin lowered the project's credit cap) takes back only what was above the cap, and the
   * result stays valid — unless the cap is 0, which the receipts cannot tell from a revocation.
   */
  get validResults(): number {
    const tasks = new Map<number, { granted: boolean; taken: boolean; units: number }>();
    for (const r of this.receipts.values()) {
      const t = tasks.get(r.taskId) ?? { granted: false, taken: false, units: 0 };
      if (r.amount >= 0) t.granted = true;
      else t.taken = true;
      t.units += creditUnits(r.amount);
      tasks.set(r.taskId, t);
    }
    let n = 0;
    for (const t of tasks.values()) if (t.granted && (!t.taken || t.units > 0)) n++;
    return n;
  }

  /** Keeps the receipts that verify; returns how many were new and how many were refused. */
  async add(incoming: unknown[]): Promise<{ added: number; rejected: number }> {
    const { fresh, rejected } = await checkReceipts(this.crypto, this.coordinatorKey, this.hostKey, incoming, (id) => this.receipts.has(id));
    for (const r of fresh) {
      await this.db.put('receipts', r.entryId, r, true);
      this.count(r);
    }
    return { added: fresh.length, rejected };
  }

  /** Recent average credit (credits a day) as it stands at `now`. */
  rac(now = Date.now()): number {
    return racAt(this.receipts.values(), now);
  }

  /** Every receipt kept (each verified when it came), oldest entry first. */
  all(): CreditReceipt[] {
    return [...this.receipts.values()].sort((a, b) => a.entryId - b.entryId);
  }

  private count(r: CreditReceipt): void {
    if (this.receipts.has(r.entryId)) return;
    this.receipts.set(r.entryId, r);
    this.tally.add(r);
    this.lastEntryId = Math.max(this.lastEntryId, r.entryId);
  }
}
