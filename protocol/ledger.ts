// The credit ledger's hash chain, shared so that anyone holding a copy can check it.
import { jsonHash } from './hash.js';
import type { CreditReceipt, CreditReceiptBody } from './messages.js';
import type { Ed25519 } from './ed25519.js';
import { receiptBody, verifyBody } from './signing.js';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * Credit is counted in whole micro-credits. A receipt's `amount` is a decimal number of credits
 * (the signed format), an exact multiple of 10⁻⁶ for every entry since migration 9; sum receipts
 * as integers of these units, never as floating-point credits (docs/protocol.md §9).
 */
export const MICRO_PER_CREDIT = 1_000_000;

/**
 * The whole micro-credits of an amount of credits: round(amount × 10⁶), halves away from zero so
 * that a grant and its revocation cancel exactly (also for entries older than migration 9, whose
 * amounts were not yet multiples of 10⁻⁶).
 */
export function creditUnits(amount: number): number {
  return Math.sign(amount) * Math.round(Math.abs(amount) * MICRO_PER_CREDIT);
}

/** Micro-credits as a decimal number of credits: what receipts and the API show. */
export function creditAmount(units: number): number {
  return units / MICRO_PER_CREDIT;
}

export type LedgerEntryContent = Omit<CreditReceiptBody, 'entryHash'>;

/** An entry's hash covers its content and the previous entry's hash. */
export function ledgerEntryHash(entry: LedgerEntryContent): string {
  const { entryId, taskId, workunitId, hostKey, amount, grantedAt, prevHash } = entry;
  return jsonHash({ entryId, taskId, workunitId, hostKey, amount, grantedAt, prevHash });
}

export type LedgerProblem = { entryId: number; problem: string };

/**
 * Checks a run of consecutive ledger entries: each hash matches its content, each links to
 * the one before, and each carries the coordinator's signature. Returns the first problem.
 */
export function verifyLedgerChain(
  ed: Ed25519,
  coordinatorKey: string,
  entries: CreditReceipt[],
  prevHash = GENESIS_HASH,
): LedgerProblem | undefined {
  let prev = prevHash;
  for (const e of entries) {
    if (e.prevHash !== prev) return { entryId: e.entryId, problem: 'does not link to the entry before it' };
    if (ledgerEntryHash(e) !== e.entryHash) return { entryId: e.entryId, problem: 'hash does not match its content' };
    if (!verifyBody(ed, coordinatorKey, 'creditReceipt', receiptBody(e), e.signature))
      return { entryId: e.entryId, problem: 'signature is not the coordinator’s' };
    prev = e.entryHash;
  }
  return undefined;
}
