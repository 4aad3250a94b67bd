// What the volunteer engine needs of Ed25519 and SHA-256. The browser answers asynchronously
// (WebCrypto, see volunteer-web/src/crypto.ts); Node answers at once through protocol/'s
// synchronous Ed25519, wrapped here.
import type { Ed25519 } from '../protocol/ed25519.js';
import { sha256Hex } from '../protocol/hash.js';
import { signBody, type SigningDomain } from '../protocol/signing.js';

export interface VolunteerCrypto {
  /** Runs a synchronous check of protocol/verify.ts (or ledger.ts) with the best Ed25519 available. */
  check<T>(run: (ed: Ed25519) => T): Promise<T>;
  sign(seedHex: string, domain: SigningDomain, body: unknown): Promise<string>;
  /** Runs a synchronous builder that signs with `seedHex` (protocol/results.ts's buildResult). */
  signWith<T>(seedHex: string, build: (ed: Ed25519) => T): Promise<T>;
  sha256Hex(bytes: Uint8Array): Promise<string>;
}

/** The interface over a synchronous Ed25519 (Node's crypto, or tweetnacl). */
export function syncCrypto(ed: Ed25519): VolunteerCrypto {
  return {
    check: async (run) => run(ed),
    sign: async (seedHex, domain, body) => signBody(ed, seedHex, domain, body),
    signWith: async (_seedHex, build) => build(ed),
    sha256Hex: async (bytes) => sha256Hex(bytes),
  };
}

