// Ed25519 behind one small interface, so each part picks its implementation at the edge:
// Node's built-in on the coordinator (fast), tweetnacl in browsers without WebCrypto Ed25519.
// Keys are raw: a 32-byte seed as the secret, a 32-byte public key; signatures are 64 bytes.

export interface Ed25519 {
  publicKeyFromSeed(seed: Uint8Array): Uint8Array;
  sign(message: Uint8Array, seed: Uint8Array): Uint8Array;
  verify(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean;
  randomSeed(): Uint8Array;
}

/**
 * Verifying on other threads (Node's thread pool), so a busy coordinator uses the machine's other
 * cores. A separate interface because browsers (tweetnacl) have no such pool: only the coordinator asks for it.
 */
export interface Ed25519AsyncVerify {
  /** Resolves false, never rejects, for a signature or key that is malformed or not on the curve. */
  verifyAsync(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean>;
}

export const ED25519_SEED_BYTES = 32;
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
