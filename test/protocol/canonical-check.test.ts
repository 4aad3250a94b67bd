// The streaming check must accept exactly what its definition does: bytes that
// `utf8(canonicalJson(JSON.parse(text)))` gives back unchanged. Checked on hand-picked cases and
// on seeded random values, their encodings, and mutations of them, fed in random chunks.
import { describe, expect, it } from 'vitest';
import { utf8 } from '../../protocol/bytes.js';
import { canonicalJson } from '../../protocol/canonical.js';
import { CanonicalJsonCheck, canonicalJsonProblem } from '../../protocol/canonical-check.js';
import { seeded, type Seeded } from '../reliability/seeded-random.js';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The definition: parse, encode again, compare bytes. */
function isCanonical(bytes: Uint8Array): boolean {
  try {
    return Buffer.from(utf8(canonicalJson(JSON.parse(strict.decode(bytes))))).equals(Buffer.from(bytes));
  } catch {
    return false;
  }
}

/** The check, with the bytes cut into chunks at the given places. */
function checkInChunks(bytes: Uint8Array, cuts: number[]): string | undefined {
  const check = new CanonicalJsonCheck();
  let from = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length)].sort((a, b) => a - b)) {
    check.write(bytes.subarray(from, cut));
    from = cut;
  }
  check.write(bytes.subarray(from));
  return check.end();
}

const STRING_PARTS = ['a', 'Z', ' ', '"', '\\', '/', '\b', '\t', '\n', '\f', '\r', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '\ufeff', '\uffff', '😀', '\ud800', '\udc00', '\udbff\udfff', '10', '9', '__proto__', 'e'];
const NUMBERS = [0, -0, 1, -1, 9, 10, 1.5, -2.25, 0.1, 1e21, 1e-7, 1e-6, 123456789012345680000, 5e-324, 1.7976931348623157e308, -1.2345678901234567e-308, 2 ** 53, 0.000001234567890123456];

function randomString(rng: Seeded, max = 4): string {
  let s = '';
  for (let i = rng.int(0, max); i > 0; i--) s += STRING_PARTS[rng.int(0, STRING_PARTS.length - 1)];
  return s;
}

function randomValue(rng: Seeded, depth: number): unknown {
  const k = rng.int(0, depth >= 4 ? 5 : 7);
  if (k === 0) return null;
  if (k === 1) return rng.next() < 0.5;
  if (k === 2) return NUMBERS[rng.int(0, NUMBERS.length - 1)]!;
  if (k === 3) return rng.next() * 10 ** rng.int(-10, 25) * (rng.next() < 0.5 ? -1 : 1);
  if (k <= 5) return randomString(rng);
  if (k === 6) return Array.from({ length: rng.int(0, 4) }, () => randomValue(rng, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = rng.int(0, 4); i > 0; i--) Object.defineProperty(o, randomString(rng, 2), { value: randomValue(rng, depth + 1), enumerable: true, configurable: true, writable: true });
  return o;
}

const ESCAPES = ['\\u0000', '\\u001f', '\\u0041', '\\ud800', '\\udc00', '\\ud83d\\ude00', '\\/', '\\n', '\\u000a', '\\uD800'];

/** Ways of spoiling bytes: most make them non-canonical, some leave them canonical. */
function mutate(rng: Seeded, bytes: Uint8Array): Uint8Array {
  const a = [...bytes];
  const at = rng.int(0, a.length);
  const interesting = [0x20, 0x0a, 0x22, 0x5c, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0x30, 0x31, 0x2d, 0x2e, 0x65, 0x45, 0x2b, 0x75, 0x41, 0x61, 0x66, 0x80, 0xbf, 0xc3, 0xed, 0xef, 0xf0, 0xf4, 0xff];
  switch (rng.int(0, 6)) {
    case 0:
      a.splice(at, 1);
      break;
    case 1:
      a.splice(at, 0, interesting[rng.int(0, interesting.length - 1)]!);
      break;
    case 2:
      a[Math.min(at, a.length - 1)] = interesting[rng.int(0, interesting.length - 1)]!;
      break;
    case 3:
      a.splice(at, 0, ...utf8(ESCAPES[rng.int(0, ESCAPES.length - 1)]!));
      break;
    case 4:
      a.length = at;
      break;
    case 5: {
      const b = rng.int(0, a.length - 1);
      [a[at], a[b]] = [a[b]!, a[at]!];
      break;
    }
    default:
      a.splice(at, 0, ...a.slice(at, at + rng.int(1, 8)));
  }
  return Uint8Array.from(a.filter((x) => x !== undefined));
}

describe('the canonical JSON check', () => {
  it.each([
    ['null', true],
    ['0', true],
    ['-0', false],
    ['1e21', false],
    ['1e+21', true],
    ['1E+21', false],
    ['0.1', true],
    ['.1', false],
    ['01', false],
    ['1.0', false],
    ['100', true],
    ['1e2', false],
    ['1e400', false],
    ['"a/b"', true],
    ['"a\\/b"', false],
    ['"\\u0000\\u001f\\b\\t\\n\\f\\r\\"\\\\"', true],
    ['"\\u0008"', false],
    ['"\\u000A"', false],
    ['"\\ud800"', true],
    ['"\\ud800\\udc00"', false],
    ['"\\udc00\\ud800"', true],
    ['"\\uD800"', false],
    ['"\u2028\u007f"', true],
    ['"\t"', false],
    ['{"a":1,"b":[true,false,null]}', true],
    ['{"b":1,"a":1}', false],
    ['{"a":1,"a":1}', false],
    ['{"10":1,"9":2}', true],
    ['{"9":2,"10":1}', false],
    ['{"😀":1,"\uffff":2}', true],
    ['{"\uffff":2,"😀":1}', false],
    ['{"__proto__":1}', true],
    ['[]', true],
    ['{}', true],
    ['[1,]', false],
    ['{"a":1,}', false],
    ['[1] ', false],
    [' [1]', false],
    ['', false],
    ['nul', false],
    ['nulll', false],
    ['"abc', false],
    ['[1', false],
    ['{"a"}', false],
    ['{"a":}', false],
  ])('%s: canonical %s, as the definition says', (text, canonical) => {
    const bytes = utf8(text);
    expect(isCanonical(bytes)).toBe(canonical);
    expect(canonicalJsonProblem(bytes) === undefined).toBe(canonical);
    expect(checkInChunks(bytes, Array.from({ length: bytes.length }, (_, i) => i)) === undefined).toBe(canonical);
  });

  it('refuses bytes that are not UTF-8: overlong forms, surrogates, past U+10FFFF, cut short', () => {
    for (const bytes of [[0xc0, 0xaf], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf5, 0x80, 0x80, 0x80], [0xc3], [0xe2, 0x82], [0x80], [0xff]]) {
      const quoted = Uint8Array.from([0x22, ...bytes, 0x22]);
      expect(isCanonical(quoted)).toBe(false);
      expect(canonicalJsonProblem(quoted)).toMatch(/invalid UTF-8/);
    }
    expect(canonicalJsonProblem(Uint8Array.from([0x22, 0xf0, 0x9f, 0x98, 0x80, 0x22]))).toBeUndefined(); // "😀"
  });

  it('allows nesting 64 levels deep, as canonicalJson does, and no deeper', () => {
    const nested = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;
    expect(canonicalJsonProblem(utf8(nested(64)))).toBeUndefined();
    expect(isCanonical(utf8(nested(65)))).toBe(false);
    expect(canonicalJsonProblem(utf8(nested(65)))).toMatch(/nesting deeper than 64/);
    expect(canonicalJsonProblem(utf8(`${'['.repeat(65)}${']'.repeat(65)}`))).toBeUndefined();
    expect(canonicalJsonProblem(utf8(`${'['.repeat(66)}${']'.repeat(66)}`))).toMatch(/nesting deeper/);
  });

  it('says what is wrong and where', () => {
    expect(canonicalJsonProblem(utf8('{"a": 1}'))).toBe('white space at byte 5');
    expect(canonicalJsonProblem(utf8('{"b":1,"a":2}'))).toBe('the key "a" out of order at byte 9');
    expect(canonicalJsonProblem(utf8('[1.50]'))).toBe('the number "1.50" not as canonical JSON writes it at byte 1');
    expect(canonicalJsonProblem(utf8('1}\n{"seq":5}'))).toBe('more after the value at byte 1');
  });

  it('agrees with the definition on random values, their other encodings and mutations, in random chunks', () => {
    const rng = seeded('canonical-check');
    let accepted = 0;
    let refused = 0;
    for (let i = 0; i < 4000; i++) {
      const value = randomValue(rng, 0);
      const canonical = utf8(canonicalJson(value));
      const candidates = [
        canonical,
        utf8(JSON.stringify(value, null, rng.int(0, 1))),
        mutate(rng, canonical),
        mutate(rng, mutate(rng, canonical)),
      ];
      for (const bytes of candidates) {
        const expected = isCanonical(bytes);
        const cuts = Array.from({ length: rng.int(0, 5) }, () => rng.int(0, bytes.length));
        const problem = checkInChunks(bytes, cuts);
        if ((problem === undefined) !== expected) throw new Error(`disagrees on ${JSON.stringify(Buffer.from(bytes).toString('latin1'))}: definition ${expected}, check ${problem ?? 'canonical'}`);
        if (expected) accepted++;
        else refused++;
      }
    }
    // Both answers were put to the test many times.
    expect(accepted).toBeGreaterThan(4000);
    expect(refused).toBeGreaterThan(4000);
  });

  it('checks 64 MiB of small objects in bounded memory and a fraction of the time parsing takes', () => {
    const unit = utf8('{"a":[1,"x"]},');
    const chunk = new Uint8Array(unit.length * 65_536);
    for (let i = 0; i < 65_536; i++) chunk.set(unit, i * unit.length);
    const check = new CanonicalJsonCheck();
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    check.write(utf8('['));
    let written = 1;
    while (written + chunk.length < 64 * 1024 * 1024) {
      expect(check.write(chunk)).toBeUndefined();
      written += chunk.length;
    }
    expect(check.write(utf8('{}]'))).toBeUndefined();
    expect(check.end()).toBeUndefined();
    const ms = performance.now() - started;
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(16 * 1024 * 1024);
    console.log(`canonical check: 64 MiB in ${ms.toFixed(0)} ms`);
  });
});
