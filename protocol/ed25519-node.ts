import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import type { Ed25519, Ed25519AsyncVerify } from './ed25519.js';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SEED_BYTES, ED25519_SIGNATURE_BYTES } from './ed25519.js';

// DER prefixes that wrap a raw Ed25519 key as PKCS#8 / SPKI (RFC 8410).
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

const MAX_CACHED_KEYS = 50_000;

/** Node's built-in Ed25519 (about 100× tweetnacl); byte-compatible with tweetnacl and RFC 8032. */
export function nodeEd25519(): Ed25519 & Ed25519AsyncVerify {
  // Parsing a key costs more than verifying with it: keep recent ones.
  const publicKeys = new Map<string, KeyObject>();
  const privateKeys = new Map<string, KeyObject>();

  function cached(cache: Map<string, KeyObject>, raw: Uint8Array, make: () => KeyObject): KeyObject {
    const id = Buffer.from(raw).toString('hex');
    let key = cache.get(id);
    if (!key) {
      if (cache.size >= MAX_CACHED_KEYS) cache.clear();
      key = make();
      cache.set(id, key);
    }
    return key;
  }

  const privateKey = (seed: Uint8Array) => {
    if (seed.length !== ED25519_SEED_BYTES) throw new Error(`an Ed25519 seed has ${ED25519_SEED_BYTES} bytes`);
    return cached(privateKeys, seed, () =>
      createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' }),
    );
  };

  /** The key to verify with; undefined when no valid signature can exist (wrong lengths, not a point). */
  const publicKeyOf = (publicKey: Uint8Array, signature: Uint8Array): KeyObject | undefined => {
    if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return undefined;
    try {
      return cached(publicKeys, publicKey, () =>
        createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' }),
      );
    } catch {
      return undefined; // not a point on the curve: no valid signature can exist
    }
  };

  return {
    publicKeyFromSeed(seed) {
      const der = createPublicKey(privateKey(seed)).export({ format: 'der', type: 'spki' });
      return new Uint8Array(der.subarray(SPKI_PREFIX.length));
    },
    sign(message, seed) {
      return new Uint8Array(sign(null, message, privateKey(seed)));
    },
    verify(message, signature, publicKey) {
      const key = publicKeyOf(publicKey, signature);
      if (!key) return false;
      try {
        return verify(null, message, key, signature);
      } catch {
        return false; // a key OpenSSL refuses to verify with: no valid signature can exist
      }
    },
    verifyAsync(message, signature, publicKey) {
      const key = publicKeyOf(publicKey, signature);
      if (!key) return Promise.resolve(false);
      return new Promise((resolve) => {
        try {
          // With a callback, the check itself runs in libuv's thread pool, not on this thread.
          verify(null, message, key, signature, (error, valid) => resolve(!error && valid));
        } catch {
          resolve(false);
        }
      });
    },
    randomSeed() {
      return new Uint8Array(randomBytes(ED25519_SEED_BYTES));
    },
  };
}
