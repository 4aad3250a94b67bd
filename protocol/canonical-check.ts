// Are these bytes exactly the canonical JSON of some value? Read a chunk at a time, without
// building the value: parsing a 64 MiB output to encode it again costs gigabytes and tens of
// seconds (a 64 MiB `[{},{},…]`: 3.5 GB and 29 s here), this holds only the nesting and the
// last key of each open object. It accepts exactly the bytes
// `utf8(canonicalJson(JSON.parse(text)))` gives back unchanged; test/protocol/canonical-check.test.ts
// holds it to that definition.
import { MAX_DEPTH } from './canonical.js';

// What comes next outside strings, numbers and literals.
const VALUE = 0;
const FIRST_VALUE_OR_END = 1; // after `[`
const FIRST_KEY_OR_END = 2; // after `{`
const KEY = 3; // after `,` in an object
const COLON = 4;
const AFTER_VALUE = 5; // `,` or the closing bracket; nothing at all once the top value is over
// Inside a token.
const STRING = 6;
const NUMBER = 7;
const LITERAL = 8;

/** Longest canonical number: `-0.0000012345678901234567` has 25 characters; longer is never canonical. */
const MAX_NUMBER_CHARS = 32;
/** Integers JSON.stringify writes digit for digit (any of up to 15 digits is exact in a double). */
const SHORT_INTEGER = /^(?:0|-?[1-9][0-9]{0,14})$/;
const NUMBER_SYNTAX = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
/** What JSON.stringify writes with a two-character escape (\b \t \n \f \r \" \\), by the letter after the backslash. */
const SHORT_ESCAPES: Record<number, number> = { 0x62: 0x08, 0x74: 0x09, 0x6e: 0x0a, 0x66: 0x0c, 0x72: 0x0d, 0x22: 0x22, 0x5c: 0x5c };

interface Frame {
  object: boolean;
  /** The last key of an object, to see that keys are sorted and distinct. */
  lastKey: string | undefined;
}

export class CanonicalJsonCheck {
  private problem: string | undefined;
  private offset = 0;
  private state = VALUE;
  private readonly stack: Frame[] = [];
  private done = false;
  // In a string.
  private isKey = false;
  private key = '';
  /** Code units of the key not yet in `key`: appended in blocks, since a string built a character at a time costs tens of bytes per character. */
  private keyUnits: number[] = [];
  private escape = false;
  private hexLeft = 0;
  private hexValue = 0;
  private afterHighEscape = false;
  private utf8Left = 0;
  private utf8Lo = 0x80;
  private utf8Hi = 0xbf;
  private codePoint = 0;
  // In a number or a literal.
  private token = '';
  private literal = '';

  /** Checks the next bytes; returns the first problem found so far. */
  write(chunk: Uint8Array): string | undefined {
    if (this.problem !== undefined) return this.problem;
    let i = 0;
    const n = chunk.length;
    while (i < n && this.problem === undefined) {
      const b = chunk[i]!;
      const at = this.offset + i;
      switch (this.state) {
        case STRING: {
          // The common case, many bytes at a time: printable ASCII that needs no escape.
          if (!this.escape && this.hexLeft === 0 && this.utf8Left === 0 && !this.isKey) {
            let j = i;
            while (j < n) {
              const c = chunk[j]!;
              if (c < 0x20 || c >= 0x80 || c === 0x22 || c === 0x5c) break;
              j++;
            }
            if (j > i) {
              this.afterHighEscape = false;
              i = j;
              continue;
            }
          }
          this.stringByte(b, at);
          i++;
          break;
        }
        case NUMBER: {
          let j = i;
          while (j < n && isNumberByte(chunk[j]!)) j++;
          if (this.token.length + (j - i) > MAX_NUMBER_CHARS) {
            this.fail('a number longer than any canonical number', at);
            break;
          }
          this.token += String.fromCharCode.apply(null, chunk.subarray(i, j) as unknown as number[]);
          i = j;
          if (i < n) this.endNumber(this.offset + i); // and the byte after it is read again, after the value
          break;
        }
        case LITERAL:
          if (b !== this.literal.charCodeAt(0)) this.fail(`unexpected byte ${hexByte(b)}`, at);
          this.literal = this.literal.slice(1);
          if (this.literal === '') this.endValue();
          i++;
          break;
        default:
          this.structural(b, at);
          i++;
      }
    }
    this.offset += n;
    return this.problem;
  }

  /** No more bytes: returns the problem, if any. */
  end(): string | undefined {
    if (this.problem !== undefined) return this.problem;
    if (this.state === NUMBER) this.endNumber(this.offset);
    if (this.problem === undefined && !this.done) this.fail(this.offset === 0 ? 'no value' : 'the value is cut short', this.offset);
    return this.problem;
  }

  private fail(what: string, at: number): void {
    this.problem ??= `${what} at byte ${at}`;
  }

  private structural(b: number, at: number): void {
    if (this.done) return this.fail(isSpace(b) ? 'white space' : 'more after the value', at);
    const top = this.stack[this.stack.length - 1];
    switch (this.state) {
      case FIRST_VALUE_OR_END:
        if (b === 0x5d) return this.close();
        return this.startValue(b, at);
      case VALUE:
        return this.startValue(b, at);
      case FIRST_KEY_OR_END:
      case KEY:
        if (b === 0x7d && this.state === FIRST_KEY_OR_END) return this.close();
        if (b !== 0x22) return this.unexpected(b, at, 'a key');
        return this.startString(true);
      case COLON:
        if (b !== 0x3a) return this.unexpected(b, at, '":"');
        this.state = VALUE;
        return;
      case AFTER_VALUE:
        if (b === 0x2c) {
          this.state = top!.object ? KEY : VALUE;
          return;
        }
        if ((b === 0x5d && !top!.object) || (b === 0x7d && top!.object)) return this.close();
        return this.unexpected(b, at, top!.object ? '"," or "}"' : '"," or "]"');
    }
  }

  private unexpected(b: number, at: number, wanted: string): void {
    this.fail(isSpace(b) ? 'white space' : `unexpected byte ${hexByte(b)} where ${wanted} belongs`, at);
  }

  private startValue(b: number, at: number): void {
    if (this.stack.length > MAX_DEPTH) return this.fail(`nesting deeper than ${MAX_DEPTH} levels`, at);
    if (b === 0x7b || b === 0x5b) {
      this.stack.push({ object: b === 0x7b, lastKey: undefined });
      this.state = b === 0x7b ? FIRST_KEY_OR_END : FIRST_VALUE_OR_END;
    } else if (b === 0x22) this.startString(false);
    else if (b === 0x2d || (b >= 0x30 && b <= 0x39)) {
      this.state = NUMBER;
      this.token = String.fromCharCode(b);
    } else if (b === 0x6e || b === 0x74 || b === 0x66) {
      this.state = LITERAL;
      this.literal = b === 0x6e ? 'ull' : b === 0x74 ? 'rue' : 'alse';
    } else this.unexpected(b, at, 'a value');
  }

  private close(): void {
    this.stack.pop();
    this.endValue();
  }

  /** A value is over: a member or element of the container it is in, or the whole document. */
  private endValue(): void {
    this.state = AFTER_VALUE;
    if (this.stack.length === 0) this.done = true;
  }

  private endNumber(at: number): void {
    const text = this.token;
    if (SHORT_INTEGER.test(text)) return this.endValue(); // most numbers, quickly
    if (!NUMBER_SYNTAX.test(text)) return this.fail(`a malformed number "${text}"`, at - text.length);
    const n = Number(text);
    // As canonicalJson writes it: shortest round trip, -0 as 0, nothing that is not finite.
    if (!Number.isFinite(n) || JSON.stringify(n === 0 ? 0 : n) !== text) {
      return this.fail(`the number "${text}" not as canonical JSON writes it`, at - text.length);
    }
    this.endValue();
  }

  private startString(isKey: boolean): void {
    this.state = STRING;
    this.isKey = isKey;
    this.key = '';
    this.afterHighEscape = false;
  }

  private stringByte(b: number, at: number): void {
    if (this.utf8Left > 0) {
      if (b < this.utf8Lo || b > this.utf8Hi) return this.fail('invalid UTF-8', at);
      this.codePoint = (this.codePoint << 6) | (b & 0x3f);
      this.utf8Lo = 0x80;
      this.utf8Hi = 0xbf;
      if (--this.utf8Left === 0) this.char(this.codePoint);
      return;
    }
    if (this.hexLeft > 0) {
      const digit = b >= 0x30 && b <= 0x39 ? b - 0x30 : b >= 0x61 && b <= 0x66 ? b - 0x57 : -1;
      if (digit < 0) return this.fail(b >= 0x41 && b <= 0x46 ? 'upper-case hex in a \\u escape' : 'a malformed \\u escape', at);
      this.hexValue = this.hexValue * 16 + digit;
      if (--this.hexLeft === 0) this.unicodeEscape(this.hexValue, at);
      return;
    }
    if (this.escape) {
      this.escape = false;
      if (b === 0x75) {
        this.hexLeft = 4;
        this.hexValue = 0;
        return;
      }
      const c = SHORT_ESCAPES[b];
      if (c === undefined) return this.fail(b === 0x2f ? 'an escaped "/" (canonical JSON writes it as it is)' : 'a malformed escape', at);
      return this.char(c);
    }
    if (b === 0x22) return this.endString(at);
    if (b === 0x5c) {
      this.escape = true;
      return;
    }
    if (b < 0x20) return this.fail('a control character not escaped', at);
    if (b < 0x80) return this.char(b);
    // The first byte of a multi-byte character: the ranges of the Unicode Standard's table 3-7,
    // so no overlong forms, no surrogates, nothing past U+10FFFF.
    if (b >= 0xc2 && b <= 0xdf) this.lead(1, b & 0x1f, 0x80, 0xbf);
    else if (b >= 0xe0 && b <= 0xef) this.lead(2, b & 0x0f, b === 0xe0 ? 0xa0 : 0x80, b === 0xed ? 0x9f : 0xbf);
    else if (b >= 0xf0 && b <= 0xf4) this.lead(3, b & 0x07, b === 0xf0 ? 0x90 : 0x80, b === 0xf4 ? 0x8f : 0xbf);
    else this.fail('invalid UTF-8', at);
  }

  private lead(left: number, bits: number, lo: number, hi: number): void {
    this.utf8Left = left;
    this.codePoint = bits;
    this.utf8Lo = lo;
    this.utf8Hi = hi;
  }

  /** JSON.stringify escapes only control characters (without a short form) and lone surrogates as \u. */
  private unicodeEscape(v: number, at: number): void {
    const where = at - 5;
    if (v < 0x20) {
      if (v === 0x08 || v === 0x09 || v === 0x0a || v === 0x0c || v === 0x0d) return this.fail('a \\u escape where canonical JSON writes a short one', where);
      return this.char(v);
    }
    if (v >= 0xdc00 && v <= 0xdfff && this.afterHighEscape) return this.fail('an escaped surrogate pair (canonical JSON writes the character)', where - 6);
    if (v < 0xd800 || v > 0xdfff) return this.fail('a \\u escape of a character canonical JSON writes as it is', where);
    this.char(v);
    this.afterHighEscape = v <= 0xdbff;
  }

  /** One character of the string, by code point (or a lone surrogate): kept only for a key. */
  private char(c: number): void {
    this.afterHighEscape = false;
    if (!this.isKey) return;
    if (c > 0xffff) this.keyUnits.push(0xd800 + ((c - 0x10000) >> 10), 0xdc00 + ((c - 0x10000) & 0x3ff));
    else this.keyUnits.push(c);
    if (this.keyUnits.length >= 8192) this.flushKey();
  }

  private flushKey(): void {
    this.key += String.fromCharCode(...this.keyUnits);
    this.keyUnits = [];
  }

  private endString(at: number): void {
    if (!this.isKey) return this.endValue();
    this.flushKey();
    const top = this.stack[this.stack.length - 1]!;
    // Sorted by UTF-16 code units, as canonicalJson sorts them, and no key twice.
    if (top.lastKey !== undefined && !(this.key > top.lastKey)) {
      return this.fail(this.key === top.lastKey ? `the key "${this.key.slice(0, 40)}" twice` : `the key "${this.key.slice(0, 40)}" out of order`, at);
    }
    top.lastKey = this.key;
    this.key = '';
    this.isKey = false;
    this.state = COLON;
  }
}

/** The problem with bytes that are not exactly a value's canonical JSON, or undefined. */
export function canonicalJsonProblem(bytes: Uint8Array): string | undefined {
  const check = new CanonicalJsonCheck();
  return check.write(bytes) ?? check.end();
}

const isNumberByte = (b: number) => (b >= 0x30 && b <= 0x39) || b === 0x2e || b === 0x65 || b === 0x45 || b === 0x2b || b === 0x2d;
const isSpace = (b: number) => b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
const hexByte = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;
