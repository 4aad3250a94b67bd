// A statement written for both backends, as PostgreSQL takes it: `?` and `@name` become `$n`,
// camel-case column aliases are quoted (PostgreSQL folds unquoted names to lower case; SQLite
// keeps what was written, and the store's row types say `workunitId`), and SQLite's planner
// hints (`INDEXED BY name`) are dropped: PostgreSQL plans without them; and the few SQLite
// functions the store uses are said in PostgreSQL's words (sqliteFunctions). Literals, quoted
// names and comments are left as they are.
//
// Parameters carry their type, as on SQLite: a number is bound as `$n::bigint` (an integer) or
// `$n::float8`, so `@now - 60000` or `MAX(@min, ...)` mean on PostgreSQL what they mean on
// SQLite, where PostgreSQL would otherwise guess the type from the context (`integer` from a
// literal, and fail on a millisecond time). Strings and nulls stay untyped: PostgreSQL gives
// them the type of what they are compared with or stored in. (SQLite binds every number as a
// REAL, so the store never divides by a parameter without a CAST.)
import type { SqlParams, SqlValue } from './sql.js';

export interface PostgresStatement {
  /** The text for these values (the values of `values(params)`). */
  text(values: readonly SqlValue[]): string;
  /** The values in `$n` order. */
  values(params: SqlParams): SqlValue[];
}

const CAMEL_ALIAS = /\bAS\s+([a-z][a-z0-9]*[A-Z][A-Za-z0-9]*)\b/g;
const INDEXED_BY = /\s+INDEXED\s+BY\s+[A-Za-z_][A-Za-z0-9_]*/gi;

export function toPostgres(written: string): PostgresStatement {
  const sql = sqliteFunctions(written);
  // The text between placeholders, and which parameter (1-based) each placeholder is.
  const parts: string[] = [];
  const slots: number[] = [];
  let text = '';
  let positional = 0;
  const names: string[] = [];
  let code = '';
  const flushCode = () => {
    text += code.replace(CAMEL_ALIAS, 'AS "$1"').replace(INDEXED_BY, '');
    code = '';
  };
  const placeholder = (slot: number) => {
    flushCode();
    parts.push(text);
    slots.push(slot);
    text = '';
  };
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      flushCode();
      text += sql.slice(i, end);
      i = end;
    } else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      flushCode();
      const stop = end === -1 ? sql.length : end;
      text += sql.slice(i, stop);
      i = stop;
    } else if (c === '?') {
      positional += 1;
      placeholder(positional);
      i += 1;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const match = /^@([A-Za-z_][A-Za-z0-9_]*)/.exec(sql.slice(i))!;
      let index = names.indexOf(match[1]!);
      if (index === -1) index = names.push(match[1]!) - 1;
      placeholder(index + 1);
      i += match[0].length;
    } else {
      code += c;
      i += 1;
    }
  }
  flushCode();
  parts.push(text);
  if (positional > 0 && names.length > 0) throw new Error(`a statement uses both ? and @name parameters: ${sql}`);
  const typed = typedText(parts, slots);
  if (names.length > 0) {
    return {
      text: typed,
      values(params) {
        if (Array.isArray(params)) throw new Error(`the statement takes named parameters (${names.join(', ')}), not a list`);
        const record = params as Readonly<Record<string, SqlValue>>;
        return names.map((name) => {
          if (!(name in record)) throw new Error(`missing parameter @${name}`);
          return record[name]!;
        });
      },
    };
  }
  return {
    text: typed,
    values(params) {
      if (!Array.isArray(params)) throw new Error('the statement takes ? parameters, not named ones');
      if (params.length !== positional) throw new Error(`the statement takes ${positional} parameters, got ${params.length}`);
      return params as SqlValue[];
    },
  };
}

/** The statement's text for values of these types, built once per combination of types. */
function typedText(parts: readonly string[], slots: readonly number[]): (values: readonly SqlValue[]) => string {
  const texts = new Map<string, string>();
  return (values) => {
    let key = '';
    for (const value of values) key += typeOf(value);
    let text = texts.get(key);
    if (text === undefined) {
      text = parts[0]!;
      for (let k = 0; k < slots.length; k++) {
        const slot = slots[k]!;
        const type = key[slot - 1];
        text += `$${slot}${type === 'i' ? '::bigint' : type === 'f' ? '::float8' : ''}${parts[k + 1]!}`;
      }
      texts.set(key, text);
    }
    return text;
  };
}

/**
 * SQLite's functions in PostgreSQL's words: `MAX(a, b, ...)` → `GREATEST(...)` and `MIN(...)` →
 * `LEAST(...)` (the one-argument aggregates stay), `json_extract(x, '$.a.b')` → `(x)::json #>> '{a,b}'`
 * (text, as the store reads it), `json_each(x)` → `json_array_elements_text(x)` (its column is
 * `value` on both).
 *
 * And `IN (SELECT … FROM json_each(x) …)` → `= ANY(ARRAY(SELECT …))`, the same rows: PostgreSQL
 * takes a JSON array's elements to be 100 rows, and against a table it thinks smaller than some
 * ten thousand rows (any table before its first ANALYZE) it then joins by reading the whole
 * table; an array it takes to be 10 elements, and looks them up by index.
 */
export function sqliteFunctions(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    if (c === "'" || c === '"') {
      const end = closingQuote(sql, i, c);
      out += sql.slice(i, end);
      i = end;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
      continue;
    }
    const inList = /^IN\s*\(\s*SELECT\b/i.exec(sql.slice(i, i + 16));
    if (inList && !/[A-Za-z0-9_.]/.test(sql[i - 1] ?? '') && !/\bNOT\s*$/i.test(out)) {
      const open = sql.indexOf('(', i) + 1;
      const { args, end } = callArguments(sql, open);
      const query = args.join(',');
      if (/\bFROM\s+json_each\s*\(/i.test(query)) {
        out += `= ANY(ARRAY(${sqliteFunctions(query)}))`;
        i = end;
        continue;
      }
    }
    const call = /^(MAX|MIN|json_extract|json_each)\s*\(/i.exec(sql.slice(i, i + 16));
    if (call && !/[A-Za-z0-9_.]/.test(sql[i - 1] ?? '')) {
      const open = i + call[0].length;
      const { args, end } = callArguments(sql, open);
      const name = call[1]!.toLowerCase();
      const inner = args.map((a) => sqliteFunctions(a));
      if ((name === 'max' || name === 'min') && inner.length > 1) {
        out += `${name === 'max' ? 'GREATEST' : 'LEAST'}(${inner.join(',')})`;
        i = end;
        continue;
      }
      if (name === 'json_extract') {
        const path = /^\s*'\$((?:\.[A-Za-z_][A-Za-z0-9_]*)+)'\s*$/.exec(inner[1] ?? '');
        if (inner.length !== 2 || !path) throw new Error(`json_extract needs a literal path of names ('$.a.b') on PostgreSQL: ${sql}`);
        out += `((${inner[0]!.trim()})::json #>> '{${path[1]!.slice(1).split('.').join(',')}}')`;
        i = end;
        continue;
      }
      if (name === 'json_each') {
        if (inner.length !== 1) throw new Error(`json_each takes one argument on PostgreSQL: ${sql}`);
        out += `json_array_elements_text(CAST(${inner[0]!.trim()} AS json))`;
        i = end;
        continue;
      }
      out += sql.slice(i, open) + inner.join(',') + ')';
      i = end;
      continue;
    }
    out += c;
    i += 1;
  }
  return out;
}

/** The top-level arguments of the call whose parenthesis opened just before `from`, and the index past its `)`. */
function callArguments(sql: string, from: number): { args: string[]; end: number } {
  const args: string[] = [];
  let depth = 0;
  let start = from;
  for (let i = from; i < sql.length; i++) {
    const c = sql[i]!;
    if (c === "'" || c === '"') i = closingQuote(sql, i, c) - 1;
    else if (c === '(') depth += 1;
    else if (c === ')') {
      if (depth === 0) {
        args.push(sql.slice(start, i));
        return { args, end: i + 1 };
      }
      depth -= 1;
    } else if (c === ',' && depth === 0) {
      args.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  throw new Error(`an unclosed ( in: ${sql}`);
}

/** i: an integer a bigint holds (booleans are stored as 0/1), f: a double (and integers beyond 2^53), _: left to PostgreSQL. */
function typeOf(value: SqlValue): 'i' | 'f' | '_' {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? 'i' : 'f';
  if (typeof value === 'bigint' || typeof value === 'boolean') return 'i';
  return '_';
}

/** The index just past the quote that closes the one at start ('' and "" escape themselves). */
function closingQuote(sql: string, start: number, quote: string): number {
  for (let i = start + 1; i < sql.length; i++) {
    if (sql[i] !== quote) continue;
    if (sql[i + 1] === quote) i += 1;
    else return i + 1;
  }
  throw new Error(`an unclosed ${quote} in: ${sql}`);
}
