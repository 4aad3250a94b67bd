// ctx.random(): xoshiro128** seeded from the work unit's rngSeed. Integer arithmetic only, so
// every engine (Node, Chromium, Firefox, WebKit) produces the same sequence. docs/apps.md
// specifies it bit for bit, with test vectors, for volunteers written in other languages.
import { fromHex } from '../protocol/bytes.js';

export function seededRandom(seedHex: string): () => number {
  const next = seededWords(seedHex);
  // 53 random bits: a uniform double in [0, 1).
  return () => ((next() >>> 5) * 67108864 + (next() >>> 6)) / 9007199254740992;
}

/** The same generator's raw 32-bit outputs (unsigned): what a WASI program's random_get reads, little-endian. */
export function seededWords(seedHex: string): () => number {
  const seed = fromHex(seedHex);
  if (seed.length < 16) throw new Error('an rngSeed has at least 16 bytes');
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  let a = view.getUint32(0, true);
  let b = view.getUint32(4, true);
  let c = view.getUint32(8, true);
  let d = view.getUint32(12, true);
  if ((a | b | c | d) === 0) a = 0x9e3779b9; // the all-zero state never leaves zero

  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return result;
  };
  return next;
}

const rotl = (x: number, k: number) => (x << k) | (x >>> (32 - k));
