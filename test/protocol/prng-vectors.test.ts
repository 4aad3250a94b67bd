// docs/apps.md specifies ctx.random() so that a volunteer in another language can reproduce it
// bit for bit. This checks the test vectors printed there against the runtime's generator and
// against a second implementation written from the doc's steps (BigInt, nothing shared with
// app-runtime/prng.ts), so neither the doc nor the code can drift from the other.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { seededRandom } from '../../app-runtime/prng.js';
import { sha256Hex } from '../../protocol/hash.js';
import { utf8 } from '../../protocol/bytes.js';

const ROOT = resolve(import.meta.dirname, '../..');
const Word = z.string().regex(/^[0-9a-f]{8}$/);
const VectorsSchema = z
  .array(
    z.strictObject({
      seed: z.string().regex(/^[0-9a-f]{64}$/),
      state: z.array(Word).length(4),
      steps: z.array(Word).length(8),
      n: z.array(z.number().int().nonnegative().max(2 ** 53 - 1)).length(4),
      random: z.array(z.number()).length(4),
    }),
  )
  .min(3);

/** The first json block after the "Test vectors" heading of docs/apps.md. */
function docVectors(): z.infer<typeof VectorsSchema> {
  const doc = readFileSync(join(ROOT, 'docs/apps.md'), 'utf8');
  const at = doc.indexOf('### Test vectors');
  expect(at, 'docs/apps.md has a "### Test vectors" heading').toBeGreaterThan(0);
  const m = /```json\n([\s\S]*?)```/.exec(doc.slice(at));
  if (!m) throw new Error('docs/apps.md has no json block after "### Test vectors"');
  return VectorsSchema.parse(JSON.parse(m[1]!));
}

// ---- the doc's steps, in BigInt ----

const M32 = 0xffffffffn;
const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M32;

function fromDoc(seedHex: string) {
  const bytes = Buffer.from(seedHex, 'hex').subarray(0, 16); // 1. bytes 0-15 only
  const s = [0, 4, 8, 12].map((i) => BigInt(bytes.readUInt32LE(i))); // 2. little-endian words
  if (s.reduce((a, w) => a | w) === 0n) s[0] = 0x9e3779b9n; // 3. the all-zero state
  const state = [...s];
  const step = (): bigint => {
    // 4. xoshiro128**
    const out = (rotl((s[1]! * 5n) & M32, 7n) * 9n) & M32;
    const t = (s[1]! << 9n) & M32;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11n);
    return out;
  };
  // 5. two steps per double: 27 bits above 26 bits, over 2^53
  const n = (): bigint => {
    const hi = step();
    const lo = step();
    return (hi >> 5n) * 2n ** 26n + (lo >> 6n);
  };
  return { state, step, n };
}

const hex8 = (w: bigint) => w.toString(16).padStart(8, '0');

describe('ctx.random() test vectors in docs/apps.md', () => {
  const vectors = docVectors();

  it('include an all-zero seed, and a seed whose bytes 16-31 differ from a seed of the same first 16 bytes', () => {
    expect(vectors.some((v) => /^0{64}$/.test(v.seed))).toBe(true);
    const sameStart = vectors.filter((v) => v.seed.slice(0, 32) === vectors[0]!.seed.slice(0, 32));
    expect(sameStart.length).toBeGreaterThan(1);
  });

  it.each(vectors.map((v) => [v.seed, v] as const))('seed %s: the runtime gives exactly the doc’s doubles', (_seed, v) => {
    const random = seededRandom(v.seed);
    for (let i = 0; i < v.random.length; i++) {
      const x = random();
      expect(Object.is(x, v.random[i]), `value ${i + 1}: ${x} ≠ ${v.random[i]}`).toBe(true);
      expect(x).toBe(v.n[i]! / 2 ** 53);
    }
  });

  it.each(vectors.map((v) => [v.seed, v] as const))('seed %s: the doc’s steps give its state words, outputs and n', (_seed, v) => {
    const g = fromDoc(v.seed);
    expect(g.state.map(hex8)).toEqual(v.state);
    expect(Array.from({ length: 8 }, () => hex8(g.step()))).toEqual(v.steps);
    const again = fromDoc(v.seed);
    expect(Array.from({ length: 4 }, () => Number(again.n()))).toEqual(v.n);
  });
});

describe('the doc’s steps and the runtime', () => {
  it('agree on 10,000 doubles for each of 20 seeds', () => {
    const seeds = Array.from({ length: 20 }, (_, i) => sha256Hex(utf8(`seed ${i}`)));
    for (const seed of seeds) {
      const runtime = seededRandom(seed);
      const doc = fromDoc(seed);
      for (let i = 0; i < 10_000; i++) {
        const x = runtime();
        if (x !== Number(doc.n()) / 2 ** 53) throw new Error(`seed ${seed}: draw ${i + 1} differs`);
      }
    }
  });
});
