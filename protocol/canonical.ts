// Canonical JSON: the one byte encoding that is hashed and signed.
// Object keys sorted by UTF-16 code units, no white space, strings and numbers as
// ECMAScript's JSON.stringify writes them (the rules of RFC 8785, JCS). Only JSON values
// are allowed: no undefined, functions, non-finite numbers or sparse holes.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export class CanonicalEncodingError extends Error {
  constructor(path: string, what: string) {
    super(`cannot encode ${what} at ${path || '(root)'} as canonical JSON`);
    this.name = 'CanonicalEncodingError';
  }
}

export function canonicalJson(value: unknown): string {
  try {
    return encode(value, 0);
  } catch (e) {
    if (e instanceof Unencodable) throw new CanonicalEncodingError(e.path.reverse().join(''), e.what);
    throw e;
  }
}

/** Deepest nesting canonical JSON allows: a value inside 64 arrays or objects at most. */
export const MAX_DEPTH = 64;

/**
 * What cannot be encoded, and where: each level it passes on the way out adds its step to the
 * path (built only then: a path string made for every value took most of the encoding time).
 */
class Unencodable {
  readonly path: string[] = [];
  constructor(readonly what: string) {}
}

function encode(value: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw new Unencodable(`nesting deeper than ${MAX_DEPTH}`);
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Unencodable(String(value));
      // -0 and 0 must encode alike so equal results hash alike.
      return JSON.stringify(value === 0 ? 0 : value);
    case 'object': {
      if (Array.isArray(value)) {
        const items: string[] = [];
        for (let i = 0; i < value.length; i++) {
          try {
            if (!(i in value)) throw new Unencodable('an array hole');
            items.push(encode(value[i], depth + 1));
          } catch (e) {
            if (e instanceof Unencodable) e.path.push(`[${i}]`);
            throw e;
          }
        }
        return `[${items.join(',')}]`;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new Unencodable(`an object of class ${proto?.constructor?.name ?? 'unknown'}`);
      }
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record).sort();
      const members: string[] = [];
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue; // as JSON.stringify: absent and undefined are one
        try {
          members.push(`${JSON.stringify(key)}:${encode(member, depth + 1)}`);
        } catch (e) {
          if (e instanceof Unencodable) e.path.push(`.${key}`);
          throw e;
        }
      }
      return `{${members.join(',')}}`;
    }
    default:
      throw new Unencodable(`a value of type ${typeof value}`);
  }
}
