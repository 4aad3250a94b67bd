// The credit ledger's hash chain, shared so that anyone holding a copy can check it.
import { jsonHash } from './hash.js';
import type { CreditReceipt, CreditReceiptBody } from './messages.js';
import type { Ed25519 } from './ed25519.js';
import { receiptBody, verifyBody } from './signing.js';

export const GENESIS_HASH = '0'.repeat(64);

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
