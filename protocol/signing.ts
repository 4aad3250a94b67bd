// What is signed, and how: every signature covers `domain tag + "\n" + canonical JSON`, so a
// signature made for one purpose (a task) can never be replayed as another (a result).
import { fromHex, toHex, utf8 } from './bytes.js';
import { canonicalJson } from './canonical.js';
import type { Ed25519, Ed25519AsyncVerify } from './ed25519.js';
import { jsonHash } from './hash.js';
import type {
  AppManifest,
  AuthProof,
  CreditReceiptBody,
  ResultBody,
  TaskBody,
  UploadProof,
} from './messages.js';

export const SIGNING_DOMAINS = {
  task: 'volunteer-grid/v1/task',
  result: 'volunteer-grid/v1/result',
  auth: 'volunteer-grid/v1/auth',
  appVersion: 'volunteer-grid/v1/app-version',
  creditReceipt: 'volunteer-grid/v1/credit-receipt',
  upload: 'volunteer-grid/v1/upload',
  // Protocol 3: one signature over a reply's tasks, or a report's results (signed-lists.ts).
  taskList: 'volunteer-grid/v3/task-list',
  resultList: 'volunteer-grid/v3/result-list',
} as const;

export type SigningDomain = keyof typeof SIGNING_DOMAINS;

export function signingBytes(domain: SigningDomain, body: unknown): Uint8Array {
  return utf8(`${SIGNING_DOMAINS[domain]}\n${canonicalJson(body)}`);
}

export function signBody(ed: Ed25519, seedHex: string, domain: SigningDomain, body: unknown): string {
  return toHex(ed.sign(signingBytes(domain, body), fromHex(seedHex)));
}

export function verifyBody(
  ed: Ed25519,
  publicKeyHex: string,
  domain: SigningDomain,
  body: unknown,
  signatureHex: string,
): boolean {
  const keys = decodeKeys(publicKeyHex, signatureHex);
  return keys !== undefined && ed.verify(signingBytes(domain, body), keys.signature, keys.publicKey);
}

/** verifyBody on another thread: the signing bytes are made here, the check runs elsewhere. */
export async function verifyBodyAsync(
  ed: Ed25519AsyncVerify,
  publicKeyHex: string,
  domain: SigningDomain,
  body: unknown,
  signatureHex: string,
): Promise<boolean> {
  const keys = decodeKeys(publicKeyHex, signatureHex);
  return keys !== undefined && (await ed.verifyAsync(signingBytes(domain, body), keys.signature, keys.publicKey));
}

/** Undefined when either is not hex: no signature can verify. */
function decodeKeys(publicKeyHex: string, signatureHex: string): { publicKey: Uint8Array; signature: Uint8Array } | undefined {
  try {
    return { signature: fromHex(signatureHex), publicKey: fromHex(publicKeyHex) };
  } catch {
    return undefined;
  }
}

// Each signed document carries its signature beside its body; these pick the body out.

export function taskBody(task: TaskBody): TaskBody {
  const { taskId, workunitId, hostKey, appVersionHash, inputHash, deadline, rngSeed, fpopsEst, issuedAt } = task;
  return { taskId, workunitId, hostKey, appVersionHash, inputHash, deadline, rngSeed, fpopsEst, issuedAt };
}

export function resultBody(result: ResultBody): ResultBody {
  const { taskId, workunitId, hostKey, outcome, outputHash, error, cpuTimeMs, elapsedMs, log, logOmitted } = result;
  return { taskId, workunitId, hostKey, outcome, outputHash, error, cpuTimeMs, elapsedMs, log, logOmitted };
}

export function receiptBody(receipt: CreditReceiptBody): CreditReceiptBody {
  const { entryId, taskId, workunitId, hostKey, amount, grantedAt, prevHash, entryHash } = receipt;
  return { entryId, taskId, workunitId, hostKey, amount, grantedAt, prevHash, entryHash };
}

/** A task's input is signed through its hash: verify that an inline input matches it. */
export function inputMatches(input: unknown, inputHash: string): boolean {
  return jsonHash(input) === inputHash;
}

export type { AppManifest, AuthProof, UploadProof };
