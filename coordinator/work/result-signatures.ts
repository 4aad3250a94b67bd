// Checks a report's signatures before the report enters a transaction: on Node's thread pool, so
// the check uses the machine's other cores and no transaction (nor the group commit it shares)
// waits for it. Protocol 2 signs each result (one check a result), protocol 3 the report's list
// of results (one check a report). Result intake takes the verdicts as given.
import type { Ed25519AsyncVerify } from '../../protocol/ed25519.js';
import type { Result, SignedResultList, UnsignedResult } from '../../protocol/messages.js';
import { resultListVerdicts } from '../../protocol/signed-lists.js';
import { resultBody, verifyBodyAsync } from '../../protocol/signing.js';

/** What a report's signatures say of its results. */
export interface SignatureVerdicts {
  /**
   * One per result, in the report's order: whether it is signed by the key it names (its own
   * signature, or the report's list covers it). Intake first checks that this key is the
   * reporting host's, so together they say what verifying with the host's key would.
   */
  readonly signed: readonly boolean[];
  /** Protocol 3: the list whose signature was checked, kept with the results it covers. */
  readonly list?: SignedResultList;
}

/** Protocol 2: each result's own signature. */
export async function verifyResultSignatures(ed: Ed25519AsyncVerify, results: readonly Result[]): Promise<SignatureVerdicts> {
  return { signed: await Promise.all(results.map((r) => verifyBodyAsync(ed, r.hostKey, 'result', resultBody(r), r.signature))) };
}

/** Protocol 3: the report's one signature, then which results its list covers (all or none but a changed one). */
export async function verifyResultList(ed: Ed25519AsyncVerify, results: readonly UnsignedResult[], list: SignedResultList): Promise<SignatureVerdicts> {
  const { hostKey, resultHashes, signature } = list;
  const verified = await verifyBodyAsync(ed, hostKey, 'resultList', { hostKey, resultHashes }, signature);
  return verified ? { signed: resultListVerdicts(true, list, results), list } : { signed: results.map(() => false) };
}
