// Which credit receipts a volunteer keeps: addressed to this host, with the entry hash of the
// coordinator's ledger, signed by the coordinator. The daemon keeps them in a file, the page
// in IndexedDB; both check them here, and add them up with a CreditTally.
import { creditAmount, creditUnits, ledgerEntryHash } from '../protocol/ledger.js';
import { CreditReceiptBodySchema, Hex64, type CreditReceipt } from '../protocol/messages.js';
import { receiptBody, verifyBody } from '../protocol/signing.js';
import type { VolunteerCrypto } from './crypto.js';

export const CreditReceiptSchema = CreditReceiptBodySchema.extend({ signature: Hex64 });

/** The receipts not `known` yet that verify, and how many were refused. */
export async function checkReceipts(
  crypto: VolunteerCrypto,
  coordinatorKey: string,
  hostKey: string,
  incoming: unknown[],
  known: (entryId: number) => boolean,
): Promise<{ fresh: CreditReceipt[]; rejected: number }> {
  const candidates = new Map<number, CreditReceipt>();
  let rejected = 0;
  for (const r of incoming) {
    const parsed = CreditReceiptSchema.safeParse(r);
    if (!parsed.success) rejected++;
    else if (!known(parsed.data.entryId)) candidates.set(parsed.data.entryId, parsed.data);
  }
  const list = [...candidates.values()];
  const ok = await crypto.check((ed) =>
    list.map((r) => r.hostKey === hostKey && ledgerEntryHash(r) === r.entryHash && verifyBody(ed, coordinatorKey, 'creditReceipt', receiptBody(r), r.signature)),
  );
  const fresh = list.filter((_, i) => ok[i]);
  return { fresh, rejected: rejected + list.length - fresh.length };
}

/**
 * A host's credit as the exact sum of its receipts: each amount as whole micro-credits
 * (docs/protocol.md §9), so that a grant and its revocation leave exactly nothing, not 6.9e-18.
 */
export class CreditTally {
  private units = 0;

  add(receipt: Pick<CreditReceipt, 'amount'>): void {
    this.units += creditUnits(receipt.amount);
  }

  /** In credits. */
  get total(): number {
    return creditAmount(this.units);
  }
}
