// Checks a report's result signatures before the report enters a transaction: all at once, on
// Node's thread pool, so the check uses the machine's other cores and no transaction (nor the
// group commit it shares) waits for it. Result intake takes the verdicts as given.
import type { Ed25519AsyncVerify } from '../../protocol/ed25519.js';
import type { Result } from '../../protocol/messages.js';
import { resultBody, verifyBodyAsync } from '../../protocol/signing.js';

/**
 * One per result, in the report's order: whether its signature verifies with the key the result
 * names. Intake first checks that this key is the reporting host's, so together they say what
 * verifying with the host's key would.
 */
export type SignatureVerdicts = readonly boolean[];

export function verifyResultSignatures(ed: Ed25519AsyncVerify, results: readonly Result[]): Promise<SignatureVerdicts> {
  return Promise.all(results.map((r) => verifyBodyAsync(ed, r.hostKey, 'result', resultBody(r), r.signature)));
}
