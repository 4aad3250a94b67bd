// How deeply a parsed JSON value nests, found without recursion: schema checks recurse once
// per level, so a few kilobytes of brackets could otherwise overflow the stack.

/** True when the value nests deeper than `max` arrays and objects. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === 'object') stack.push({ v: child, depth: depth + 1 });
    }
  }
  return false;
}

const OPEN_ARRAY = 0x5b;
const OPEN_OBJECT = 0x7b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * How deeply JSON text nests, found as it arrives and before anything parses it: JSON.parse
 * takes a second over 4 MiB of brackets, and recursion over the value after that could
 * overflow the stack. Counts brackets outside strings (the only bytes that matter are ASCII, so
 * UTF-8 bytes and UTF-16 text are scanned alike); it does not check that the text is JSON.
 */
export class NestingScan {
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly max: number) {}

  /** Scans the next piece; false once the text has nested deeper than `max`. */
  write(piece: Uint8Array | string): boolean {
    const text = typeof piece === 'string';
    const n = piece.length;
    for (let i = 0; i < n; i++) {
      const c = text ? piece.charCodeAt(i) : piece[i]!;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) this.inString = false;
      } else if (c === QUOTE) this.inString = true;
      else if (c === OPEN_ARRAY || c === OPEN_OBJECT) {
        if (++this.depth > this.max) return false;
      } else if (c === CLOSE_ARRAY || c === CLOSE_OBJECT) this.depth--;
    }
    return true;
  }
}
