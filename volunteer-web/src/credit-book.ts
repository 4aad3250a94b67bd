// The credit this browser has earned: each receipt checked (coordinator signature, entry hash,
// addressed to this host) and kept in IndexedDB as the host's proof of its credit. Also the
// recent average credit, computed from the receipts as the coordinator computes RAC
// (coordinator/work/credit.ts: exponential decay, half-life 7 days, in credits a day).
import { ledgerEntryHash } from '../../protocol/ledger.js';
import { CreditReceiptBodySchema, Hex64, type CreditReceipt } from '../../protocol/messages.js';
import { receiptBody, verifyBody } from '../../protocol/signing.js';
import type { BrowserCrypto } from './crypto.js';
import type { Idb } from './idb.js';

const DAY_MS = 86_400_000;
const RAC_HALF_LIFE_MS = 7 * DAY_MS;
const ReceiptSchema = CreditReceiptBodySchema.extend({ signature: Hex64 });

export class CreditBook {
  total = 0;
  lastEntryId = 0;
  private readonly receipts = new Map<number, CreditReceipt>();

  private constructor(
    private readonly db: Idb,
    private readonly crypto: BrowserCrypto,
    private readonly coordinatorKey: string,
    private readonly hostKey: string,
  ) {}

  static async load(db: Idb, crypto: BrowserCrypto, coordinatorKey: string, hostKey: string): Promise<CreditBook> {
    const book = new CreditBook(db, crypto, coordinatorKey, hostKey);
    for (const r of await db.all<unknown>('receipts')) {
      const parsed = ReceiptSchema.safeParse(r);
      if (parsed.success && parsed.data.hostKey === hostKey) book.count(parsed.data);
    }
    return book;
  }

  /** Valid results: each earned exactly one receipt. */
  get validResults(): number {
    return this.receipts.size;
  }

  /** Keeps the receipts that verify; returns how many were new and how many were refused. */
  async add(incoming: unknown[]): Promise<{ added: number; rejected: number }> {
    const fresh: CreditReceipt[] = [];
    let rejected = 0;
    for (const r of incoming) {
      const parsed = ReceiptSchema.safeParse(r);
      if (!parsed.success) rejected++;
      else if (!this.receipts.has(parsed.data.entryId)) fresh.push(parsed.data);
    }
    const ok = await this.crypto.check((ed) =>
      fresh.map(
        (r) => r.hostKey === this.hostKey && ledgerEntryHash(r) === r.entryHash && verifyBody(ed, this.coordinatorKey, 'creditReceipt', receiptBody(r), r.signature),
      ),
    );
    let added = 0;
    for (const [i, r] of fresh.entries()) {
      if (!ok[i]) {
        rejected++;
        continue;
      }
      await this.db.put('receipts', r.entryId, r, true);
      this.count(r);
      added++;
    }
    return { added, rejected };
  }

  /** Recent average credit (credits a day) as it stands at `now`. */
  rac(now = Date.now()): number {
    let rac = 0;
    for (const r of this.receipts.values()) {
      rac += ((r.amount * Math.LN2) / (RAC_HALF_LIFE_MS / DAY_MS)) * Math.pow(0.5, Math.max(0, now - r.grantedAt) / RAC_HALF_LIFE_MS);
    }
    return rac;
  }

  private count(r: CreditReceipt): void {
    if (this.receipts.has(r.entryId)) return;
    this.receipts.set(r.entryId, r);
    this.total += r.amount;
    this.lastEntryId = Math.max(this.lastEntryId, r.entryId);
  }
}
