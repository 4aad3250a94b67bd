// The credit this host has earned: each receipt checked (volunteer-core/credit-receipts.ts)
// and appended to receipts.ndjson, which is the host's proof of its credit.
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { creditAmount, creditUnits } from '../protocol/ledger.js';
import type { CreditReceipt } from '../protocol/messages.js';
import type { VolunteerCrypto } from '../volunteer-core/crypto.js';
import { checkReceipts, CreditTally } from '../volunteer-core/credit-receipts.js';
import { creditOutcomes } from '../volunteer-core/task-history.js';
import type { CreditStore } from '../volunteer-core/task-engine.js';

export class CreditBook implements CreditStore {
  lastEntryId = 0;
  private readonly tally = new CreditTally();
  private readonly file: string;
  private readonly seen = new Set<number>();
  /** When each receipt was granted and its amount in micro-credits, for the credit per day. */
  private readonly grants: { at: number; units: number }[] = [];
  /** Each task's receipts (their amounts), for what the receipts say of it. */
  private readonly byTask = new Map<number, Pick<CreditReceipt, 'taskId' | 'amount'>[]>();

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

  /** What the receipts say of a task: valid and its credit, invalid (taken back), or nothing (none names it). */
  outcomeOf(taskId: number): { state: 'valid' | 'invalid'; credit: number } | undefined {
    const entries = this.byTask.get(taskId);
    return entries && creditOutcomes(entries).get(taskId);
  }

  /** The receipts kept, the last grant, and credit per UTC day over the last `days` days (oldest first). */
  summary(now: number, days = 7): { total: number; receipts: number; lastGrantedAt?: number; days: { day: string; credit: number }[] } {
    const DAY = 86_400_000;
    const today = Math.floor(now / DAY);
    const perDay = new Map<number, number>();
    let last: number | undefined;
    for (const g of this.grants) {
      last = Math.max(last ?? 0, g.at);
      const d = Math.floor(g.at / DAY);
      if (d > today - days) perDay.set(d, (perDay.get(d) ?? 0) + g.units);
    }
    return {
      total: this.total,
      receipts: this.grants.length,
      ...(last === undefined ? {} : { lastGrantedAt: last }),
      days: Array.from({ length: days }, (_, i) => {
        const d = today - days + 1 + i;
        return { day: new Date(d * DAY).toISOString().slice(0, 10), credit: creditAmount(perDay.get(d) ?? 0) };
      }),
    };
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
    this.grants.push({ at: r.grantedAt, units: creditUnits(r.amount) });
    const entries = this.byTask.get(r.taskId) ?? [];
    entries.push({ taskId: r.taskId, amount: r.amount });
    this.byTask.set(r.taskId, entries);
    this.lastEntryId = Math.max(this.lastEntryId, r.entryId);
  }
}
