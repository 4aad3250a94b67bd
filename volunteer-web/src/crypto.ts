// Ed25519 and SHA-256 in the browser: WebCrypto where the browser has it (native, fast),
// tweetnacl and @noble/hashes otherwise (WebCrypto exists only in secure contexts, so a
// coordinator reached over plain http on a LAN address gets the fallbacks).
//
// protocol/verify.ts and protocol/ledger.ts are the one definition of what a volunteer checks,
// and they verify synchronously through the Ed25519 interface. WebCrypto is asynchronous, so
// `check` runs such a check twice: once to learn which signatures it needs (answering "valid"
// so the check goes on to its other tests), then again with WebCrypto's answers, in order.
// Builders that sign (buildResult) run the same way: once to learn what to sign, once with the
// signatures.
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { concatBytes, fromHex, toHex } from '../../protocol/bytes.js';
import type { Ed25519 } from '../../protocol/ed25519.js';
import { tweetnaclEd25519 } from '../../protocol/ed25519-tweetnacl.js';
import { signingBytes } from '../../protocol/signing.js';
import type { VolunteerCrypto } from '../../volunteer-core/crypto.js';

export interface BrowserCrypto extends VolunteerCrypto {
  /** 'webcrypto' or 'tweetnacl': shown on the page, so a volunteer can see what checks their tasks. */
  readonly ed25519: 'webcrypto' | 'tweetnacl';
  publicKeyFromSeed(seedHex: string): string;
  randomSeedHex(): string;
}

// DER prefix that wraps a raw 32-byte Ed25519 seed as PKCS#8 (RFC 8410).
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');

// RFC 8032, test 1: the empty message. A browser that verifies it has working Ed25519.
const PROBE = {
  publicKey: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  signature: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
};

/** WebCrypto wants ArrayBuffer-backed views. */
const buf = (b: Uint8Array): Uint8Array<ArrayBuffer> => (b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b));

async function nativeVerify(subtle: SubtleCrypto, message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    const key = await subtle.importKey('raw', buf(publicKey), { name: 'Ed25519' }, false, ['verify']);
    return await subtle.verify({ name: 'Ed25519' }, key, buf(signature), buf(message));
  } catch {
    return false; // not a point on the curve: no valid signature can exist
  }
}

async function hasNativeEd25519(subtle: SubtleCrypto | undefined): Promise<boolean> {
  if (!subtle) return false;
  try {
    return await nativeVerify(subtle, new Uint8Array(0), fromHex(PROBE.signature), fromHex(PROBE.publicKey));
  } catch {
    return false;
  }
}

type Call = [message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array];

export async function browserCrypto(): Promise<BrowserCrypto> {
  const nacl = tweetnaclEd25519();
  const subtle = globalThis.isSecureContext ? globalThis.crypto?.subtle : undefined;
  const native = await hasNativeEd25519(subtle);
  const signingKeys = new Map<string, Promise<CryptoKey>>();

  const nativeSign = async (seedHex: string, message: Uint8Array): Promise<Uint8Array> => {
    let key = signingKeys.get(seedHex);
    if (!key) {
      key = subtle!.importKey('pkcs8', buf(concatBytes(PKCS8_PREFIX, fromHex(seedHex))), { name: 'Ed25519' }, false, ['sign']);
      signingKeys.set(seedHex, key);
    }
    return new Uint8Array(await subtle!.sign({ name: 'Ed25519' }, await key, buf(message)));
  };

  const withAnswers = (answer: (c: Call) => boolean): Ed25519 => ({ ...nacl, verify: (m, s, k) => answer([m, s, k]) });

  return {
    ed25519: native ? 'webcrypto' : 'tweetnacl',

    async check(run) {
      if (!native || !subtle) return run(nacl);
      const calls: Call[] = [];
      run(withAnswers((c) => (calls.push(c), true)));
      const answers = await Promise.all(calls.map(([m, s, k]) => nativeVerify(subtle, m, s, k)));
      let i = 0;
      return run(withAnswers(() => answers[i++] ?? false));
    },

    async sign(seedHex, domain, body) {
      const message = signingBytes(domain, body);
      if (!native || !subtle) return toHex(nacl.sign(message, fromHex(seedHex)));
      return toHex(await nativeSign(seedHex, message));
    },

    async signWith(seedHex, build) {
      if (!native || !subtle) return build(nacl);
      const messages: Uint8Array[] = [];
      build({ ...nacl, sign: (m) => (messages.push(m), new Uint8Array(64)) });
      const signatures = await Promise.all(messages.map((m) => nativeSign(seedHex, m)));
      let i = 0;
      return build({ ...nacl, sign: () => signatures[i++] ?? new Uint8Array(64) });
    },

    async sha256Hex(bytes) {
      if (subtle) return toHex(new Uint8Array(await subtle.digest('SHA-256', buf(bytes))));
      return toHex(nobleSha256(bytes));
    },

    publicKeyFromSeed: (seedHex) => toHex(nacl.publicKeyFromSeed(fromHex(seedHex))),
    randomSeedHex: () => toHex(nacl.randomSeed()),
  };
}
