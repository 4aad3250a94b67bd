// The credit this host has earned: each receipt checked (coordinator signature, entry hash)
// and appended to receipts.ndjson, which is the host's proof of its credit.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ed25519 } from '../protocol/ed25519.js';
import { ledgerEntryHash } from '../protocol/ledger.js';
import type { CreditReceipt } from '../protocol/messages.js';
import { receiptBody, verifyBody } from '../protocol/signing.js';

export class CreditBook {
  total = 0;
  lastEntryId = 0;
  private readonly file: string;
  private readonly seen = new Set<number>();

  constructor(
    dataDir: string,
    private readonly ed: Ed25519,
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

  /** Keeps the receipts that verify; returns how many were new. */
  add(receipts: CreditReceipt[]): { added: number; rejected: number } {
    let added = 0;
    let rejected = 0;
    for (const r of receipts) {
      if (this.seen.has(r.entryId)) continue;
      const ok =
        r.hostKey === this.hostKey &&
        ledgerEntryHash(r) === r.entryHash &&
        verifyBody(this.ed, this.coordinatorKey, 'creditReceipt', receiptBody(r), r.signature);
      if (!ok) {
        rejected++;
        continue;
      }
      appendFileSync(this.file, `${JSON.stringify(r)}\n`);
      this.count(r);
      added++;
    }
    return { added, rejected };
  }

  private count(r: CreditReceipt): void {
    if (this.seen.has(r.entryId)) return;
    this.seen.add(r.entryId);
    this.total += r.amount;
    this.lastEntryId = Math.max(this.lastEntryId, r.entryId);
  }
}
