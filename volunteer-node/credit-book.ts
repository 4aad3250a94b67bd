// The credit this host has earned: each receipt checked (volunteer-core/credit-receipts.ts)
// and appended to receipts.ndjson, which is the host's proof of its credit.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CreditReceipt } from '../protocol/messages.js';
import type { VolunteerCrypto } from '../volunteer-core/crypto.js';
import { checkReceipts, CreditTally } from '../volunteer-core/credit-receipts.js';
import type { CreditStore } from '../volunteer-core/task-engine.js';

export class CreditBook implements CreditStore {
  lastEntryId = 0;
  private readonly tally = new CreditTally();
  private readonly file: string;
  private readonly seen = new Set<number>();

  constructor(
    dataDir: string,
    private readonly crypto: VolunteerCrypto,
    private readonly coordinatorKey: string,
    private readonly hostKey: string,
  ) {
    this.file = join(dataDir, 'receipts.ndjson');
    if (!existsSync(this.file)) return;
    for (const line of readFileSync(this.file, 'utf8').split('\n')) {
      if (line.trim() === '') continue;
      try {
        this.count(JSON.parse(line) as CreditReceipt);
      } catch {
        // a line cut short by a crash: the receipt comes again from credit.receipts
      }
    }
  }

  /** The sum of the receipts, in credits. */
  get total(): number {
    return this.tally.total;
  }

  /** Keeps the receipts that verify; returns how many were new and how many were refused. */
  async add(receipts: unknown[]): Promise<{ added: number; rejected: number }> {
    const { fresh, rejected } = await checkReceipts(this.crypto, this.coordinatorKey, this.hostKey, receipts, (id) => this.seen.has(id));
    for (const r of fresh) {
      appendFileSync(this.file, `${JSON.stringify(r)}\n`);
      this.count(r);
    }
    return { added: fresh.length, rejected };
  }

  private count(r: CreditReceipt): void {
    if (this.seen.has(r.entryId)) return;
    this.seen.add(r.entryId);
    this.tally.add(r);
    this.lastEntryId = Math.max(this.lastEntryId, r.entryId);
  }
}
