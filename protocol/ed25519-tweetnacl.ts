import nacl from 'tweetnacl';
import type { Ed25519 } from './ed25519.js';
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES } from './ed25519.js';

/** Pure-JS Ed25519 (tweetnacl): for browsers without WebCrypto Ed25519, and to prove interop. */
export function tweetnaclEd25519(): Ed25519 {
  return {
    publicKeyFromSeed(seed) {
      return nacl.sign.keyPair.fromSeed(seed).publicKey;
    },
    sign(message, seed) {
      return nacl.sign.detached(message, nacl.sign.keyPair.fromSeed(seed).secretKey);
    },
    verify(message, signature, publicKey) {
      if (publicKey.length !== ED25519_PUBLIC_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return false;
      return nacl.sign.detached.verify(message, signature, publicKey);
    },
    randomSeed() {
      return nacl.randomBytes(32);
    },
  };
}
